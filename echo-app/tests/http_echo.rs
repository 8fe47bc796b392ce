//! http-echo mode, driven over real sockets: everything a manifest written for
//! hashicorp/http-echo relies on.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Server, get, raw};

#[test]
fn every_go_flag_spelling_serves_the_text() {
    for args in [
        &["-text=hi there"][..],
        &["-text", "hi there"],
        &["--text=hi there"],
        &["--text", "hi there"],
    ] {
        let mut full = args.to_vec();
        full.push("-listen=127.0.0.1:0");
        let server = Server::start(&full, &[]);
        let reply = get(server.addr, "/");
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (200, "hi there\n"),
            "{args:?}"
        );
    }
}

#[test]
fn echo_text_env_is_used_and_the_flag_wins() {
    let server = Server::start(&["-listen=127.0.0.1:0"], &[("ECHO_TEXT", "from env")]);
    assert_eq!(get(server.addr, "/").text(), "from env\n");
    let server = Server::start(
        &["-listen=127.0.0.1:0", "-text=from flag"],
        &[("ECHO_TEXT", "from env")],
    );
    assert_eq!(get(server.addr, "/").text(), "from flag\n");
}

#[test]
fn every_path_and_method_echoes_but_exactly_slash_health() {
    let server = Server::start(
        &[
            "-listen=127.0.0.1:0",
            "-text=Hello from app1",
            "-status-code=418",
        ],
        &[],
    );
    for path in [
        "/",
        "/anything/else?x=1",
        "/health/",
        "/Health",
        "/%2e%2e/x",
    ] {
        let reply = get(server.addr, path);
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (418, "Hello from app1\n"),
            "{path}"
        );
    }
    let post = raw(
        server.addr,
        b"POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    )
    .unwrap();
    assert_eq!(
        (post.status, post.text().as_str()),
        (418, "Hello from app1\n")
    );
    // /health ignores -status-code and answers its own body.
    let health = get(server.addr, "/health");
    assert_eq!(
        (health.status, health.text().as_str()),
        (200, "{\"status\":\"ok\"}\n")
    );
    assert_eq!(health.header("x-app-name"), Some("http-echo"));
}

#[test]
fn headers_match_http_echo() {
    let server = Server::start(&["-listen=127.0.0.1:0", "-text=plain"], &[]);
    let reply = get(server.addr, "/");
    assert_eq!(reply.header("x-app-name"), Some("http-echo"));
    assert_eq!(
        reply.header("x-app-version"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(reply.header("content-length"), Some("6"));
    assert!(reply.header("date").is_some());

    let html = Server::start(&["-listen=127.0.0.1:0", "-text=<h1>app3</h1>"], &[]);
    assert_eq!(
        get(html.addr, "/").header("content-type"),
        Some("text/html; charset=utf-8")
    );
}

#[test]
fn head_gets_the_headers_only() {
    let server = Server::start(&["-listen=127.0.0.1:0", "-text=hello-world"], &[]);
    let (head, next) =
        common::bodiless_then_health(server.addr, b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("12"))
    );
    assert_eq!(
        head.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(next.text(), "{\"status\":\"ok\"}\n", "HEAD sent body bytes");
}

#[test]
fn no_content_and_not_modified_send_no_body() {
    for code in ["204", "304"] {
        let server = Server::start(
            &["-listen=127.0.0.1:0", "-text=ignored", "-status-code", code],
            &[],
        );
        let (reply, next) =
            common::bodiless_then_health(server.addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(reply.status.to_string(), code);
        assert_eq!(reply.header("content-type"), None, "{code}");
        assert_eq!(
            next.text(),
            "{\"status\":\"ok\"}\n",
            "{code}: the bodiless reply leaked bytes"
        );
    }
}

#[test]
fn access_log_lines_have_http_echo_layout_and_skip_health() {
    let server = Server::start(&["-listen=127.0.0.1:0", "-text=Hello"], &[]);
    let _ = get(server.addr, "/health");
    let _ = get(server.addr, "/some/path?query=1");
    let lines = server.stdout_lines(1);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    // 2026/11/30 02:18:13 test.local 127.0.0.1:40000 "GET /some/path HTTP/1.1" 200 6 "it/1" 12.3µs
    let fields: Vec<&str> = line.splitn(5, ' ').collect();
    let date = fields[0].as_bytes();
    assert!(
        date.len() == 10 && date[4] == b'/' && date[7] == b'/',
        "{line}"
    );
    assert_eq!(fields[1].len(), 8, "{line}");
    assert_eq!(fields[2], "test.local");
    assert!(fields[3].starts_with("127.0.0.1:"), "{line}");
    let rest = fields[4];
    assert!(
        rest.starts_with("\"GET /some/path HTTP/1.1\" 200 6 \"it/1\" "),
        "{line}"
    );
    let duration = rest.rsplit(' ').next().unwrap();
    assert!(
        duration.ends_with("ns") || duration.ends_with("µs") || duration.ends_with("ms"),
        "{line}"
    );
}

#[test]
fn listen_accepts_go_address_forms() {
    let port = common::free_port();
    let any = Server::start(&[&format!("-listen=:{port}"), "-text=any"], &[]);
    // An empty host listens on every interface, IPv4 and IPv6 alike.
    assert_eq!(
        get(format!("127.0.0.1:{port}").parse().unwrap(), "/").text(),
        "any\n"
    );
    if std::net::TcpStream::connect(("::1", port)).is_ok() {
        assert_eq!(
            get(format!("[::1]:{port}").parse().unwrap(), "/").text(),
            "any\n"
        );
    } else {
        eprintln!("skipped: this machine has no IPv6 loopback; checked IPv4 only");
    }
    drop(any);
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let v6 = Server::start(&["-listen=[::1]:0", "-text=v6"], &[]);
        assert!(v6.addr.is_ipv6());
        assert_eq!(get(v6.addr, "/").text(), "v6\n");
    } else {
        eprintln!("skipped: this machine has no IPv6 loopback for -listen=[::1]:0");
    }
}
