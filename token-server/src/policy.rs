//! The rules of `serve`, with no I/O: which request targets exist, which refusal each bad
//! request earns, and the fetch budget (time and count).
//!
//! The request target is compared byte for byte as it came on the wire, never decoded or
//! normalised: `/node-token` is the only file, so `%2e%2e`, `//`, `\`, `/./` and every other
//! spelling is simply another, unknown path. Nothing here ever turns a request into a
//! filesystem path.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode, Uri};

/// The path the token is served at.
pub const TOKEN_PATH: &str = "/node-token";
/// Longer request targets are answered 414 before anything else looks at them.
pub const MAX_TARGET_LEN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Token,
    Healthz,
    Metrics,
}

/// Why a request gets no token. Each has one status and one metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The peer is outside `--allow`.
    NotAllowed,
    /// Any target other than the three paths, in any spelling.
    NotFound,
    TargetTooLong,
    MethodNotAllowed,
    MissingSecret,
    WrongSecret,
    /// `--ttl` has passed.
    Expired,
    /// `--max-fetches` tokens were served already.
    Spent,
    /// hyper could not parse the request (bad bytes, head too large, timeout).
    Malformed,
}

impl Refusal {
    pub const ALL: [Refusal; 9] = [
        Refusal::NotAllowed,
        Refusal::NotFound,
        Refusal::TargetTooLong,
        Refusal::MethodNotAllowed,
        Refusal::MissingSecret,
        Refusal::WrongSecret,
        Refusal::Expired,
        Refusal::Spent,
        Refusal::Malformed,
    ];

    pub fn status(self) -> StatusCode {
        match self {
            Refusal::NotAllowed => StatusCode::FORBIDDEN,
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::TargetTooLong => StatusCode::URI_TOO_LONG,
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::MissingSecret | Refusal::WrongSecret => StatusCode::UNAUTHORIZED,
            Refusal::Expired | Refusal::Spent => StatusCode::GONE,
            Refusal::Malformed => StatusCode::BAD_REQUEST,
        }
    }

    /// The metrics label and the `reason` field of the log line.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::NotAllowed => "not_allowed",
            Refusal::NotFound => "not_found",
            Refusal::TargetTooLong => "target_too_long",
            Refusal::MethodNotAllowed => "method_not_allowed",
            Refusal::MissingSecret => "missing_secret",
            Refusal::WrongSecret => "wrong_secret",
            Refusal::Expired => "expired",
            Refusal::Spent => "spent",
            Refusal::Malformed => "malformed",
        }
    }

    /// The response body: one sentence a person reading curl's output can act on.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotAllowed => "forbidden: this address is not in the server's --allow list\n",
            Refusal::NotFound => "not found: the only file served is /node-token\n",
            Refusal::TargetTooLong => "request target too long\n",
            Refusal::MethodNotAllowed => "method not allowed: use GET\n",
            Refusal::MissingSecret => {
                "unauthorized: send the shared secret as `Authorization: Bearer <secret>`\n"
            }
            Refusal::WrongSecret => "unauthorized: the shared secret does not match\n",
            Refusal::Expired => "gone: the token's time to live (--ttl) has run out\n",
            Refusal::Spent => "gone: the token was fetched as many times as allowed\n",
            Refusal::Malformed => "bad request\n",
        }
    }
}

/// Maps a request line to a route. Only origin-form targets without a query name a route.
pub fn route(method: &Method, uri: &Uri) -> Result<Route, Refusal> {
    let target = uri.path_and_query().map_or("", |pq| pq.as_str());
    if target.len() > MAX_TARGET_LEN {
        return Err(Refusal::TargetTooLong);
    }
    if uri.scheme().is_some() || uri.authority().is_some() {
        return Err(Refusal::NotFound);
    }
    let route = match target {
        TOKEN_PATH => Route::Token,
        "/healthz" => Route::Healthz,
        "/metrics" => Route::Metrics,
        _ => return Err(Refusal::NotFound),
    };
    if method != Method::GET {
        return Err(Refusal::MethodNotAllowed);
    }
    Ok(route)
}

/// Whether the budget still allows a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetState {
    Open,
    Expired,
    Spent,
}

impl BudgetState {
    pub fn refusal(self) -> Option<Refusal> {
        match self {
            BudgetState::Open => None,
            BudgetState::Expired => Some(Refusal::Expired),
            BudgetState::Spent => Some(Refusal::Spent),
        }
    }
}

/// `--ttl` and `--max-fetches`: how long and how often the token may be handed out.
#[derive(Debug)]
pub struct Budget {
    deadline: Instant,
    /// Fetches left; `None` means unlimited.
    remaining: Mutex<Option<u64>>,
}

/// A fetch that was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    /// Fetches left after this one (`None`: unlimited).
    pub left: Option<u64>,
}

impl Granted {
    /// This fetch used up the budget: the server can wind down.
    pub fn spent(self) -> bool {
        self.left == Some(0)
    }
}

impl Budget {
    pub fn new(start: Instant, ttl: Duration, max_fetches: Option<u64>) -> Self {
        Self {
            deadline: start + ttl,
            remaining: Mutex::new(max_fetches),
        }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn state(&self, now: Instant) -> BudgetState {
        if now >= self.deadline {
            return BudgetState::Expired;
        }
        match *self.remaining.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(0) => BudgetState::Spent,
            _ => BudgetState::Open,
        }
    }

    /// Takes one fetch, atomically: of two concurrent last fetches only one is granted.
    pub fn take(&self, now: Instant) -> Result<Granted, Refusal> {
        if now >= self.deadline {
            return Err(Refusal::Expired);
        }
        let mut remaining = self.remaining.lock().unwrap_or_else(|e| e.into_inner());
        match *remaining {
            None => Ok(Granted { left: None }),
            Some(0) => Err(Refusal::Spent),
            Some(n) => {
                *remaining = Some(n - 1);
                Ok(Granted { left: Some(n - 1) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn exactly_three_targets_exist() {
        assert_eq!(route(&Method::GET, &uri("/node-token")), Ok(Route::Token));
        assert_eq!(route(&Method::GET, &uri("/healthz")), Ok(Route::Healthz));
        assert_eq!(route(&Method::GET, &uri("/metrics")), Ok(Route::Metrics));
    }

    #[test]
    fn every_other_spelling_is_not_found() {
        for target in [
            "/",
            "/node-token/",
            "//node-token",
            "/./node-token",
            "/x/../node-token",
            "/%6eode-token",
            "/node%2dtoken",
            "/node-token?x=1",
            "/node-token?",
            "/NODE-TOKEN",
            "/..",
            "/%2e%2e/server-ca.key",
            "/..%2fserver-ca.key",
            "/node-token/../tls/server-ca.key",
            "/var/lib/rancher/k3s/server/tls/server-ca.key",
            "/server-ca.key",
            "/node-token\\..\\server-ca.key",
            "*",
            "http://127.0.0.110/node-token",
            "http://127.0.0.110:8080/../server-ca.key",
        ] {
            assert_eq!(
                route(&Method::GET, &uri(target)),
                Err(Refusal::NotFound),
                "{target}"
            );
        }
    }

    #[test]
    fn long_targets_are_refused_before_matching() {
        let long = format!("/{}", "a".repeat(MAX_TARGET_LEN));
        assert_eq!(
            route(&Method::GET, &uri(&long)),
            Err(Refusal::TargetTooLong)
        );
        let just_fits = format!("/{}", "a".repeat(MAX_TARGET_LEN - 1));
        assert_eq!(
            route(&Method::GET, &uri(&just_fits)),
            Err(Refusal::NotFound)
        );
    }

    #[test]
    fn only_get_is_allowed_on_known_paths() {
        for method in [
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
            Method::TRACE,
            Method::PATCH,
            Method::from_bytes(b"PROPFIND").unwrap(),
        ] {
            assert_eq!(
                route(&method, &uri("/node-token")),
                Err(Refusal::MethodNotAllowed),
                "{method}"
            );
            assert_eq!(route(&method, &uri("/nope")), Err(Refusal::NotFound));
        }
    }

    #[test]
    fn refusals_have_the_statuses_of_the_http_spec() {
        let statuses: Vec<u16> = Refusal::ALL.iter().map(|r| r.status().as_u16()).collect();
        assert_eq!(statuses, [403, 404, 414, 405, 401, 401, 410, 410, 400]);
        let mut labels: Vec<&str> = Refusal::ALL.iter().map(|r| r.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Refusal::ALL.len());
    }

    #[test]
    fn the_budget_counts_down_and_then_refuses() {
        let start = Instant::now();
        let budget = Budget::new(start, Duration::from_secs(60), Some(2));
        assert_eq!(budget.state(start), BudgetState::Open);
        assert_eq!(budget.take(start), Ok(Granted { left: Some(1) }));
        let last = budget.take(start).unwrap();
        assert!(last.spent());
        assert_eq!(budget.state(start), BudgetState::Spent);
        assert_eq!(budget.take(start), Err(Refusal::Spent));
    }

    #[test]
    fn the_budget_expires_at_the_deadline() {
        let start = Instant::now();
        let ttl = Duration::from_secs(600);
        let budget = Budget::new(start, ttl, None);
        let before = start + ttl - Duration::from_millis(1);
        assert_eq!(budget.take(before), Ok(Granted { left: None }));
        assert!(!budget.take(before).unwrap().spent());
        assert_eq!(budget.state(start + ttl), BudgetState::Expired);
        assert_eq!(budget.take(start + ttl), Err(Refusal::Expired));
        assert_eq!(BudgetState::Expired.refusal(), Some(Refusal::Expired));
    }

    #[test]
    fn concurrent_last_fetches_get_one_token() {
        let start = Instant::now();
        let budget = std::sync::Arc::new(Budget::new(start, Duration::from_secs(60), Some(1)));
        let granted: usize = (0..8)
            .map(|_| {
                let b = budget.clone();
                std::thread::spawn(move || b.take(start).is_ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum();
        assert_eq!(granted, 1);
    }
}
