//! `serve` tried as an attacker on the network would: every request that is not the one
//! right request is refused with its status, logged without the token, and no answer ever
//! carries a byte of the token or of the CA key lying next to it.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read as _, Write as _};
use std::time::Duration;

use support::*;

/// A request, who sends it, and the status it must get.
struct Case {
    what: &'static str,
    from: &'static str,
    request: Vec<u8>,
    status: u16,
    /// The `reason=` the server's log line must give (None: hyper refuses before routing).
    reason: &'static str,
}

fn case(
    what: &'static str,
    from: &'static str,
    request: Vec<u8>,
    status: u16,
    reason: &'static str,
) -> Case {
    Case {
        what,
        from,
        request,
        status,
        reason,
    }
}

fn attacks(dir: &ServerDir) -> Vec<Case> {
    let auth = Some(bearer());
    let auth = auth.as_deref();
    let absolute_ca = dir.path("server/tls/server-ca.key");
    let absolute_ca = absolute_ca.to_str().unwrap();
    let absolute_token = dir.token_path();
    let absolute_token = absolute_token.to_str().unwrap();
    let long_target = format!("/node-token/{}", "a".repeat(4000));
    let huge_target = format!("/{}", "a".repeat(20_000));
    let mut cases = vec![
        // Paths: the token's own spellings and the CA key's, with a valid secret and address,
        // so that nothing but the path is wrong.
        case(
            "dot-dot",
            AGENT_IP,
            get("/../server-ca.key", auth),
            404,
            "not_found",
        ),
        case(
            "dot-dot after the token",
            AGENT_IP,
            get("/node-token/../server-ca.key", auth),
            404,
            "not_found",
        ),
        case(
            "dot-dot into tls",
            AGENT_IP,
            get("/../tls/server-ca.key", auth),
            404,
            "not_found",
        ),
        case(
            "encoded dot-dot",
            AGENT_IP,
            get("/%2e%2e/server-ca.key", auth),
            404,
            "not_found",
        ),
        case(
            "encoded slash",
            AGENT_IP,
            get("/..%2fserver-ca.key", auth),
            404,
            "not_found",
        ),
        case(
            "double-encoded",
            AGENT_IP,
            get("/%252e%252e/server-ca.key", auth),
            404,
            "not_found",
        ),
        case(
            "encoded token path",
            AGENT_IP,
            get("/%6eode-token", auth),
            404,
            "not_found",
        ),
        case(
            "double slash",
            AGENT_IP,
            get("//node-token", auth),
            404,
            "not_found",
        ),
        case(
            "double slash to the key",
            AGENT_IP,
            get("//server-ca.key", auth),
            404,
            "not_found",
        ),
        case(
            "dot segment",
            AGENT_IP,
            get("/./node-token", auth),
            404,
            "not_found",
        ),
        case(
            "trailing slash",
            AGENT_IP,
            get("/node-token/", auth),
            404,
            "not_found",
        ),
        case(
            "query",
            AGENT_IP,
            get("/node-token?file=server-ca.key", auth),
            404,
            "not_found",
        ),
        case(
            "sibling by name",
            AGENT_IP,
            get("/server-ca.key", auth),
            404,
            "not_found",
        ),
        case(
            "absolute path of the key",
            AGENT_IP,
            get(absolute_ca, auth),
            404,
            "not_found",
        ),
        case(
            "absolute path of the token",
            AGENT_IP,
            get(absolute_token, auth),
            404,
            "not_found",
        ),
        case(
            "system file",
            AGENT_IP,
            get("/etc/shadow", auth),
            404,
            "not_found",
        ),
        case(
            "absolute-form URI",
            AGENT_IP,
            get("http://127.0.0.110/node-token", auth),
            404,
            "not_found",
        ),
        case(
            "backslashes",
            AGENT_IP,
            get("/node-token\\..\\server-ca.key", auth),
            404,
            "not_found",
        ),
        case(
            "encoded NUL",
            AGENT_IP,
            get("/node-token%00.key", auth),
            404,
            "not_found",
        ),
        case(
            "directory listing",
            AGENT_IP,
            get("/", auth),
            404,
            "not_found",
        ),
        case(
            "long path",
            AGENT_IP,
            get(&long_target, auth),
            414,
            "target_too_long",
        ),
        // Bytes hyper refuses before any routing: answered 400/431 and logged as malformed.
        case(
            "raw NUL",
            AGENT_IP,
            b"GET /node-token\0 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
            "malformed",
        ),
        case(
            "raw backslash start",
            AGENT_IP,
            get("\\..\\server-ca.key", auth),
            400,
            "malformed",
        ),
        case(
            "space in path",
            AGENT_IP,
            b"GET /node token HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
            "malformed",
        ),
        case(
            "huge path",
            AGENT_IP,
            get(&huge_target, auth),
            431,
            "malformed",
        ),
        case(
            "not HTTP",
            AGENT_IP,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec(),
            400,
            "malformed",
        ),
        // Secrets.
        case(
            "no secret",
            AGENT_IP,
            get("/node-token", None),
            401,
            "missing_secret",
        ),
        case(
            "wrong secret",
            AGENT_IP,
            get(
                "/node-token",
                Some("Bearer s3cret-0f-the-day-0123456789abcdeX"),
            ),
            401,
            "wrong_secret",
        ),
        case(
            "secret prefix",
            AGENT_IP,
            get("/node-token", Some("Bearer s3cret")),
            401,
            "wrong_secret",
        ),
        case(
            "basic auth",
            AGENT_IP,
            get("/node-token", Some("Basic YWRtaW46YWRtaW4=")),
            401,
            "missing_secret",
        ),
        // Address: the right request from the wrong host, even for /healthz.
        case(
            "stranger",
            STRANGER_IP,
            get("/node-token", auth),
            403,
            "not_allowed",
        ),
        case(
            "stranger, healthz",
            STRANGER_IP,
            get("/healthz", None),
            403,
            "not_allowed",
        ),
        case(
            "stranger, traversal",
            STRANGER_IP,
            get("/../server-ca.key", auth),
            403,
            "not_allowed",
        ),
    ];
    for method in [
        "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "HEAD", "PROPFIND",
    ] {
        let request = format!(
            "{method} /node-token HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 0\r\n\r\n",
            bearer()
        );
        cases.push(Case {
            what: method,
            from: AGENT_IP,
            request: request.into_bytes(),
            status: 405,
            reason: "method_not_allowed",
        });
    }
    cases
}

#[test]
fn no_request_but_the_right_one_gets_a_byte_of_the_token_or_the_key() {
    let dir = ServerDir::new(true);
    let server = Server::start(&[
        "--file",
        dir.token_path().to_str().unwrap(),
        "--allow",
        "127.0.0.111/32",
        "--secret-env",
        "TS_SECRET",
    ]);
    let cases = attacks(&dir);
    let mut failures = Vec::new();
    for c in &cases {
        let answer = raw(c.from, server.addr, &c.request);
        answer.assert_leaks_nothing();
        if answer.status != c.status {
            failures.push(format!(
                "{}: expected {}, got {}\n{}",
                c.what, c.status, answer.status, answer.head
            ));
        }
        if c.status == 405 {
            assert_eq!(answer.header("allow").as_deref(), Some("GET"), "{}", c.what);
        }
        if c.status == 401 {
            assert!(
                answer
                    .header("www-authenticate")
                    .is_some_and(|v| v.starts_with("Bearer")),
                "{}",
                c.what
            );
        }
    }
    assert!(
        failures.is_empty(),
        "wrong statuses:\n{}",
        failures.join("\n")
    );

    // Every refusal is counted under its reason.
    let metrics = raw(AGENT_IP, server.addr, &get("/metrics", None));
    let metrics = String::from_utf8(metrics.body).unwrap();
    for reason in [
        "not_found",
        "target_too_long",
        "malformed",
        "missing_secret",
        "wrong_secret",
        "not_allowed",
        "method_not_allowed",
    ] {
        let expected = cases.iter().filter(|c| c.reason == reason).count() as u64;
        let series = format!("token_server_refused_total{{reason=\"{reason}\"}}");
        assert_eq!(metric(&metrics, &series), expected, "{series}");
    }
    assert_eq!(metric(&metrics, "token_server_fetches_total"), 0);

    // Every refusal is logged with who and why.
    assert!(
        server
            .log
            .wait_for("reason=method_not_allowed", Duration::from_secs(5))
    );
    let log = server.log.text();
    for reason in [
        "not_found",
        "target_too_long",
        "malformed",
        "missing_secret",
        "wrong_secret",
        "not_allowed",
    ] {
        let expected = cases.iter().filter(|c| c.reason == reason).count();
        let logged = log
            .lines()
            .filter(|l| l.contains(&format!("reason={reason}")))
            .count();
        assert_eq!(logged, expected, "log lines with reason={reason}:\n{log}");
    }
    assert!(
        log.contains("peer=127.0.0.112:"),
        "the stranger's address is logged:\n{log}"
    );

    // The one right request works, so the refusals above were not a broken server.
    let ok = raw(AGENT_IP, server.addr, &get("/node-token", Some(&bearer())));
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, format!("{TOKEN}\n").as_bytes());
    assert_eq!(ok.header("cache-control").as_deref(), Some("no-store"));
    assert!(
        server
            .log
            .wait_for("served the token", Duration::from_secs(5))
    );
    server.log.assert_no_secrets();
}

#[test]
fn after_the_fetch_budget_the_token_is_gone_and_serve_exits() {
    let dir = ServerDir::new(true);
    let mut server = Server::start(&[
        "--file",
        dir.token_path().to_str().unwrap(),
        "--allow",
        "127.0.0.111/32",
        "--secret-env",
        "TS_SECRET",
        "--max-fetches",
        "1",
        "--linger",
        "2s",
    ]);
    let first = raw(AGENT_IP, server.addr, &get("/node-token", Some(&bearer())));
    assert_eq!(first.status, 200);
    let second = raw(AGENT_IP, server.addr, &get("/node-token", Some(&bearer())));
    assert_eq!(second.status, 410, "{}", second.head);
    second.assert_leaks_nothing();
    let status = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", server.log.text());
    let log = server.log.text();
    assert!(log.contains("reason=spent"), "{log}");
    assert!(log.contains("the fetch budget (1) is spent"), "{log}");
    server.log.assert_no_secrets();
}

#[test]
fn after_the_ttl_the_token_is_gone_and_serve_exits() {
    let dir = ServerDir::new(true);
    let mut server = Server::start(&[
        "--file",
        dir.token_path().to_str().unwrap(),
        "--allow",
        "127.0.0.111/32",
        "--ttl",
        "1s",
        "--linger",
        "3s",
    ]);
    // Before the TTL the token is served (no secret configured here) ...
    assert_eq!(
        raw(AGENT_IP, server.addr, &get("/node-token", None)).status,
        200
    );
    assert!(
        server
            .log
            .wait_for("the TTL of 1s ran out", Duration::from_secs(5))
    );
    // ... after it, no more.
    let late = raw(AGENT_IP, server.addr, &get("/node-token", None));
    assert_eq!(late.status, 410, "{}", late.head);
    late.assert_leaks_nothing();
    let status = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    assert!(server.log.text().contains("reason=expired"));
    server.log.assert_no_secrets();
}

#[test]
fn a_missing_token_file_gets_503_with_retry_after() {
    let dir = ServerDir::new(false);
    let server = Server::start(&[
        "--file",
        dir.token_path().to_str().unwrap(),
        "--allow",
        "127.0.0.111/32",
    ]);
    let answer = raw(AGENT_IP, server.addr, &get("/node-token", None));
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after").as_deref(), Some("1"));
    answer.assert_leaks_nothing();
    // A half-written file is not served either.
    std::fs::write(dir.token_path(), &TOKEN[..40]).unwrap();
    assert_eq!(
        raw(AGENT_IP, server.addr, &get("/node-token", None)).status,
        503
    );
    dir.write_token();
    let answer = raw(AGENT_IP, server.addr, &get("/node-token", None));
    assert_eq!(answer.status, 200);
    let metrics =
        String::from_utf8(raw(AGENT_IP, server.addr, &get("/metrics", None)).body).unwrap();
    assert_eq!(metric(&metrics, "token_server_not_ready_total"), 2);
    assert_eq!(metric(&metrics, "token_server_fetches_total"), 1);
    assert_eq!(metric(&metrics, "token_server_token_present"), 1);
    // Without --max-fetches, and with the warnings that says so.
    let log = server.log.text();
    assert!(log.contains("no shared secret"), "{log}");
    assert!(log.contains("no --max-fetches"), "{log}");
    server.log.assert_no_secrets();
}

#[test]
fn healthz_answers_allowed_peers() {
    let dir = ServerDir::new(false);
    let server = Server::start(&[
        "--file",
        dir.token_path().to_str().unwrap(),
        "--allow",
        "127.0.0.111/32",
    ]);
    let answer = raw(AGENT_IP, server.addr, &get("/healthz", None));
    assert_eq!(
        (answer.status, answer.body.as_slice()),
        (200, b"ok\n".as_slice())
    );
}

#[test]
fn a_request_head_that_never_ends_is_dropped_and_logged() {
    let dir = ServerDir::new(true);
    let server = Server::start(&[
        "--file",
        dir.token_path().to_str().unwrap(),
        "--allow",
        "127.0.0.111/32",
    ]);
    let mut stream = connect_from(ip(AGENT_IP), server.addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
        .write_all(b"GET /node-token HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "closed after {:?}",
        started.elapsed()
    );
    assert!(
        server
            .log
            .wait_for("reason=malformed", Duration::from_secs(5))
    );
    assert!(
        server.log.text().contains("timeout"),
        "{}",
        server.log.text()
    );
}

#[test]
fn strangers_holding_connections_cannot_crowd_out_the_agent() {
    let dir = ServerDir::new(true);
    let server = Server::start(&[
        "--file",
        dir.token_path().to_str().unwrap(),
        "--allow",
        "127.0.0.111/32",
    ]);
    // Six idle connections from a stranger: four fit its pool, two are closed at once.
    let idle: Vec<_> = (0..6)
        .map(|_| connect_from(ip(STRANGER_IP), server.addr))
        .collect();
    let ok = raw(AGENT_IP, server.addr, &get("/node-token", None));
    assert_eq!(ok.status, 200);
    let metrics =
        String::from_utf8(raw(AGENT_IP, server.addr, &get("/metrics", None)).body).unwrap();
    assert_eq!(
        metric(&metrics, "token_server_connections_dropped_total"),
        2
    );
    drop(idle);
}
