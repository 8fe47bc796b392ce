//! playground mode: a drop-in for wil42/playground (port 8888, byte-exact JSON).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Server, get, raw};

#[test]
fn root_answers_the_exact_playground_body() {
    for (env, expected) in [
        (&[][..], r#"{"status":"ok", "message": "v1"}"#),
        (
            &[("APP_VERSION", "v2")][..],
            r#"{"status":"ok", "message": "v2"}"#,
        ),
    ] {
        let server = Server::start(&["-listen=127.0.0.1:0"], env);
        let reply = get(server.addr, "/");
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.body,
            expected.as_bytes(),
            "body must be byte-exact, no newline"
        );
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
}

#[test]
fn other_paths_and_methods_are_refused_in_json() {
    let server = Server::start(&["-listen=127.0.0.1:0"], &[("APP_VERSION", "v2")]);
    let missing = get(server.addr, "/nope");
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("not found"));
    let post = raw(
        server.addr,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(post.status, 405);
    // The endpoints of both modes work here too.
    assert_eq!(get(server.addr, "/health").status, 200);
    assert_eq!(get(server.addr, "/healthz").status, 200);
    assert_eq!(get(server.addr, "/readyz").status, 200);
    let metrics = get(server.addr, "/metrics").text();
    assert!(
        metrics.contains("echo_app_info{mode=\"playground\",version=\"v2\"} 1"),
        "{metrics}"
    );
}
