//! Which handler a request goes to, and what each one answers: pure rules, no I/O.

use hyper::Method;

use crate::flags::Mode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// http-echo: the text, on every path that is not one of the endpoints below.
    Echo,
    /// http-echo's own health check, `{"status":"ok"}`; kept in playground mode too.
    Health,
    /// Liveness: the process is serving.
    Healthz,
    /// Readiness: 503 from the moment a shutdown signal arrives.
    Readyz,
    Metrics,
    /// playground: `GET /`.
    Root,
    NotFound,
    MethodNotAllowed,
}

impl Route {
    pub const ALL: [Route; 8] = [
        Route::Echo,
        Route::Health,
        Route::Healthz,
        Route::Readyz,
        Route::Metrics,
        Route::Root,
        Route::NotFound,
        Route::MethodNotAllowed,
    ];

    /// The `route` label in metrics.
    pub fn label(self) -> &'static str {
        match self {
            Route::Echo => "echo",
            Route::Health => "health",
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            Route::Metrics => "metrics",
            Route::Root => "root",
            Route::NotFound => "not_found",
            Route::MethodNotAllowed => "method_not_allowed",
        }
    }

    /// Every status this route can answer with, given http-echo's `-status-code`.
    pub fn statuses(self, echo_status: u16) -> Vec<u16> {
        match self {
            Route::Echo => vec![echo_status],
            Route::Readyz => vec![200, 503],
            Route::NotFound => vec![404],
            Route::MethodNotAllowed => vec![405],
            Route::Health | Route::Healthz | Route::Metrics | Route::Root => vec![200],
        }
    }

    /// Probes and scrapes are not written to the access log (http-echo skips `/health` too).
    pub fn is_logged(self) -> bool {
        matches!(
            self,
            Route::Echo | Route::Root | Route::NotFound | Route::MethodNotAllowed
        )
    }
}

/// Routes a request. In http-echo mode every path but the four fixed endpoints echoes, with
/// any method; `/health` matches exactly (`/health/` echoes), as Go's ServeMux does.
pub fn route(mode: &Mode, method: &Method, path: &str) -> Route {
    match path {
        "/health" => return Route::Health,
        "/healthz" => return Route::Healthz,
        "/readyz" => return Route::Readyz,
        "/metrics" => return Route::Metrics,
        _ => {}
    }
    match mode {
        Mode::HttpEcho { .. } => Route::Echo,
        Mode::Playground { .. } if path == "/" => {
            if method == Method::GET || method == Method::HEAD {
                Route::Root
            } else {
                Route::MethodNotAllowed
            }
        }
        Mode::Playground { .. } => Route::NotFound,
    }
}

/// wil42/playground's answer, byte for byte: note the spaces after the comma and the second
/// colon, and none after the first.
pub fn playground_body(version: &str) -> String {
    let mut escaped = String::with_capacity(version.len());
    for c in version.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            c if (c as u32) < 0x20 => escaped.push_str(&format!("\\u{:04x}", c as u32)),
            c => escaped.push(c),
        }
    }
    format!("{{\"status\":\"ok\", \"message\": \"{escaped}\"}}")
}

/// Statuses whose responses carry no body, whatever the handler writes.
pub fn allows_body(status: u16) -> bool {
    !(status == 204 || status == 304 || (100..200).contains(&status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo() -> Mode {
        Mode::HttpEcho {
            text: "x".into(),
            status: 200,
        }
    }
    fn playground() -> Mode {
        Mode::Playground {
            version: "v1".into(),
        }
    }

    #[test]
    fn http_echo_answers_every_path_and_method_but_the_endpoints() {
        for path in [
            "/",
            "/anything/else",
            "/health/",
            "/HEALTH",
            "/healthcheck",
            "//x",
        ] {
            for method in [Method::GET, Method::POST, Method::DELETE, Method::HEAD] {
                assert_eq!(
                    route(&echo(), &method, path),
                    Route::Echo,
                    "{method} {path}"
                );
            }
        }
        assert_eq!(route(&echo(), &Method::GET, "/health"), Route::Health);
        assert_eq!(route(&echo(), &Method::GET, "/readyz"), Route::Readyz);
        assert_eq!(route(&echo(), &Method::GET, "/healthz"), Route::Healthz);
        assert_eq!(route(&echo(), &Method::GET, "/metrics"), Route::Metrics);
    }

    #[test]
    fn playground_serves_get_and_head_on_root_only() {
        assert_eq!(route(&playground(), &Method::GET, "/"), Route::Root);
        assert_eq!(route(&playground(), &Method::HEAD, "/"), Route::Root);
        assert_eq!(
            route(&playground(), &Method::POST, "/"),
            Route::MethodNotAllowed
        );
        assert_eq!(route(&playground(), &Method::GET, "/x"), Route::NotFound);
        assert_eq!(route(&playground(), &Method::GET, "/health"), Route::Health);
    }

    #[test]
    fn playground_body_is_byte_exact() {
        assert_eq!(playground_body("v1"), r#"{"status":"ok", "message": "v1"}"#);
        assert_eq!(playground_body("v2"), r#"{"status":"ok", "message": "v2"}"#);
        assert_eq!(
            playground_body("a\"b"),
            r#"{"status":"ok", "message": "a\"b"}"#
        );
    }

    #[test]
    fn bodiless_statuses() {
        assert!(!allows_body(204));
        assert!(!allows_body(304));
        assert!(allows_body(200));
        assert!(allows_body(500));
    }

    #[test]
    fn only_traffic_routes_are_logged() {
        let logged: Vec<Route> = Route::ALL.into_iter().filter(|r| r.is_logged()).collect();
        assert_eq!(
            logged,
            [
                Route::Echo,
                Route::Root,
                Route::NotFound,
                Route::MethodNotAllowed
            ]
        );
    }
}
