//! The two roles end to end on loopback, as p1 uses them: `serve` on 127.0.0.110 for the
//! agent only, `fetch` from 127.0.0.111 started before K3s has written the token.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use support::*;

fn p1_server(dir: &ServerDir) -> Server {
    Server::start(&[
        "--file",
        dir.token_path().to_str().unwrap(),
        "--allow",
        "127.0.0.111/32",
        "--secret-env",
        "TS_SECRET",
        "--max-fetches",
        "1",
        "--linger",
        "500ms",
    ])
}

#[test]
fn the_agent_gets_the_token_that_appears_after_it_started_waiting() {
    let dir = ServerDir::new(false);
    let mut server = p1_server(&dir);
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("agent-token");
    let url = server.url();
    let fetcher = {
        let out = out.clone();
        std::thread::spawn(move || {
            fetch(
                &[
                    "--url",
                    &url,
                    "--bind",
                    AGENT_IP,
                    "--secret-env",
                    "TS_SECRET",
                    "--out",
                    out.to_str().unwrap(),
                    "--timeout",
                    "30s",
                ],
                SECRET,
                Duration::from_secs(60),
            )
        })
    };
    // The fetcher is refused with 503 until K3s writes the file.
    assert!(
        server
            .log
            .wait_for("answering 503 until it does", Duration::from_secs(10)),
        "{}",
        server.log.text()
    );
    assert!(!out.exists());
    std::thread::sleep(Duration::from_millis(300));
    let appeared = Instant::now();
    dir.write_token();
    let fetched = fetcher.join().unwrap();
    let waited = appeared.elapsed();

    assert!(fetched.status.success(), "{}", fetched.log.text());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), format!("{TOKEN}\n"));
    assert_eq!(mode_of(&out), 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(out_dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "only the token file, no temporary");
    assert!(
        fetched.stdout.is_empty(),
        "with --out nothing goes to stdout"
    );
    // A loose bound that only a broken backoff would break; the figure is measured in
    // bench/token-server.sh.
    assert!(
        waited < Duration::from_secs(5),
        "the fetch took {waited:?} after the file appeared"
    );

    // One fetch was the budget: serve lingers, then exits 0 by itself.
    let status = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    let log = server.log.text();
    assert!(log.contains("served the token peer=127.0.0.111:"), "{log}");
    server.log.assert_no_secrets();
    fetched.log.assert_no_secrets();
    assert!(fetched.log.text().contains("wrote the token (mode 0600)"));
}

#[test]
fn without_out_the_token_goes_to_stdout() {
    let dir = ServerDir::new(true);
    let server = p1_server(&dir);
    let fetched = fetch(
        &[
            "--url",
            &server.url(),
            "--bind",
            AGENT_IP,
            "--secret-env",
            "TS_SECRET",
        ],
        SECRET,
        Duration::from_secs(30),
    );
    assert!(fetched.status.success(), "{}", fetched.log.text());
    assert_eq!(fetched.stdout, format!("{TOKEN}\n"));
    fetched.log.assert_no_secrets();
}

#[test]
fn a_wrong_secret_fails_at_once_with_exit_4() {
    let dir = ServerDir::new(true);
    let server = p1_server(&dir);
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("agent-token");
    let started = Instant::now();
    let fetched = fetch(
        &[
            "--url",
            &server.url(),
            "--bind",
            AGENT_IP,
            "--secret-env",
            "TS_SECRET",
            "--out",
            out.to_str().unwrap(),
        ],
        "another-secret-of-the-right-length",
        Duration::from_secs(30),
    );
    assert_eq!(fetched.status.code(), Some(4), "{}", fetched.log.text());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no retrying on 401"
    );
    let log = fetched.log.text();
    assert!(log.contains("answered 401 Unauthorized"), "{log}");
    assert!(
        log.contains("the shared secret is missing or wrong"),
        "{log}"
    );
    assert!(!out.exists());
    assert!(!log.contains("another-secret"), "{log}");
}

#[test]
fn an_address_outside_allow_fails_with_exit_4() {
    let dir = ServerDir::new(true);
    let server = p1_server(&dir);
    let fetched = fetch(
        &[
            "--url",
            &server.url(),
            "--bind",
            STRANGER_IP,
            "--secret-env",
            "TS_SECRET",
        ],
        SECRET,
        Duration::from_secs(30),
    );
    assert_eq!(fetched.status.code(), Some(4));
    assert!(
        fetched
            .log
            .text()
            .contains("not in the server's --allow list")
    );
    assert!(fetched.stdout.is_empty());
}

#[test]
fn nobody_listening_times_out_with_exit_3() {
    // A port that was just free: nothing answers there.
    let port = TcpListener::bind((SERVER_IP, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://{SERVER_IP}:{port}/node-token");
    let started = Instant::now();
    let fetched = fetch(
        &["--url", &url, "--timeout", "1s"],
        SECRET,
        Duration::from_secs(30),
    );
    let took = started.elapsed();
    assert_eq!(fetched.status.code(), Some(3), "{}", fetched.log.text());
    let log = fetched.log.text();
    assert!(log.contains("no token from"), "{log}");
    assert!(log.contains("Connection refused"), "{log}");
    assert!(took >= Duration::from_millis(800), "gave up after {took:?}");
}

#[test]
fn a_body_that_is_not_a_token_is_never_written() {
    let page = "<html><body>Index of /</body></html>\n".to_owned();
    let huge = "a".repeat(100_000);
    for (body, why) in [
        (page, "space, a control character"),
        (huge, "longer than 512 bytes"),
    ] {
        let addr = impostor(body);
        let out_dir = tempfile::tempdir().unwrap();
        let out = out_dir.path().join("agent-token");
        let fetched = fetch(
            &[
                "--url",
                &format!("http://{addr}/node-token"),
                "--out",
                out.to_str().unwrap(),
            ],
            SECRET,
            Duration::from_secs(30),
        );
        assert_eq!(fetched.status.code(), Some(5), "{}", fetched.log.text());
        let log = fetched.log.text();
        assert!(log.contains("is not a K3s token"), "{log}");
        assert!(log.contains(why), "{log}");
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 0);
    }
}

/// A web server on 127.0.0.110 that answers every request 200 with `body`.
fn impostor(body: String) -> std::net::SocketAddr {
    let listener = TcpListener::bind((SERVER_IP, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[test]
fn bad_arguments_are_refused_with_one_clear_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let open_secret = dir.path().join("secret");
    std::fs::write(&open_secret, SECRET).unwrap();
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            // A TEST-NET-2 address: not local, so it cannot be bound; nothing is sent.
            args(&[
                "fetch",
                "--url",
                "http://127.0.0.110:1/node-token",
                "--bind",
                "198.51.100.7",
            ]),
            1,
            "--bind 198.51.100.7: cannot use it as a local address",
        ),
        (
            args(&["serve", "--listen", "0.0.0.0:8080"]),
            1,
            "would listen on every interface",
        ),
        (
            args(&[
                "serve",
                "--listen",
                "127.0.0.110:0",
                "--allow",
                "127.0.0.111/24",
            ]),
            2,
            "has host bits set",
        ),
        (
            args(&["serve", "--listen", "127.0.0.110:0", "--ttl", "0s"]),
            2,
            "must be longer than zero",
        ),
        (
            args(&["serve", "--listen", "127.0.0.110:0", "--ttl", "ten"]),
            2,
            "write e.g. 10m",
        ),
        (
            args(&["serve", "--listen", "127.0.0.110:0", "--max-fetches", "0"]),
            2,
            "--max-fetches",
        ),
        (
            args(&[
                "serve",
                "--listen",
                "127.0.0.110:0",
                "--file",
                dir.path().to_str().unwrap(),
            ]),
            1,
            "is a directory",
        ),
        (
            args(&[
                "serve",
                "--listen",
                "127.0.0.110:0",
                "--secret-file",
                open_secret.to_str().unwrap(),
            ]),
            1,
            "chmod 600",
        ),
        (
            args(&[
                "serve",
                "--listen",
                "127.0.0.110:0",
                "--secret-env",
                "TS_NOT_SET",
            ]),
            1,
            "TS_NOT_SET is not set",
        ),
        (
            args(&["fetch", "--url", "https://127.0.0.110/node-token"]),
            2,
            "https is not supported",
        ),
        (
            args(&[
                "fetch",
                "--url",
                "http://127.0.0.110:1/node-token",
                "--out",
                "/nonexistent-dir/x",
            ]),
            1,
            "/nonexistent-dir",
        ),
        (
            args(&[
                "fetch",
                "--url",
                "http://127.0.0.110:1/node-token",
                "--secret-file",
                "a",
                "--secret-env",
                "B",
            ]),
            2,
            "cannot be used with",
        ),
    ];
    for (argv, code, needle) in cases {
        let output = std::process::Command::new(BIN)
            .args(&argv)
            .env_remove("TS_NOT_SET")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{argv:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{argv:?}: expected {needle:?} in {stderr}"
        );
    }
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}
