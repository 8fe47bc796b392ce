//! Exit codes and messages, as hashicorp/http-echo gives them.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{BIN, Server};

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("ECHO_TEXT")
        .env_remove("APP_VERSION");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn missing_text_is_127() {
    let (code, _, err) = run(&["-text="], &[]);
    assert_eq!(
        (code, err.as_str()),
        (127, "Missing -text option or ECHO_TEXT env var!\n")
    );
    let (code, _, _) = run(&[], &[("ECHO_TEXT", "")]);
    assert_eq!(code, 127);
}

#[test]
fn extra_arguments_are_127() {
    let (code, _, err) = run(&["-text=a", "b"], &[]);
    assert_eq!((code, err.as_str()), (127, "Too many arguments!\n"));
}

#[test]
fn bad_flags_are_2_with_usage() {
    let (code, _, err) = run(&["-bogus"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("flag provided but not defined: -bogus\nUsage of echo-app:\n"),
        "{err}"
    );
    let (code, _, err) = run(&["-text=a", "-status-code", "abc"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("invalid value \"abc\" for flag -status-code: parse error\n"),
        "{err}"
    );
}

#[test]
fn help_is_0_and_lists_every_flag() {
    let (code, out, err) = run(&["-h"], &[]);
    assert_eq!((code, out.as_str()), (0, ""));
    for flag in [
        "-listen",
        "-text",
        "-status-code",
        "-version",
        "-get",
        "-drain-timeout",
        "-log-format",
    ] {
        assert!(
            err.contains(&format!("  {flag}")),
            "{flag} missing from:\n{err}"
        );
    }
}

#[test]
fn version_goes_to_stdout() {
    let (code, out, _) = run(&["-version"], &[]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!("echo-app v{} (", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    assert!(out.contains("\nBuilt: "), "{out}");
}

#[test]
fn a_port_in_use_is_1_with_go_message() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap();
    let (code, _, err) = run(&["-text=a", &format!("-listen={addr}")], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "server exited with: listen tcp {addr}: bind: address already in use"
        )),
        "{err}"
    );
}

#[test]
fn an_unparseable_listen_address_is_1() {
    let (code, _, err) = run(&["-text=a", "-listen=5678"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("listen tcp: address 5678: missing port in address"),
        "{err}"
    );
}

#[test]
fn interrupt_exits_2_in_http_echo_mode_and_0_in_playground_mode() {
    for sig in ["TERM", "INT"] {
        let server = Server::start(&["-listen=127.0.0.1:0", "-text=a"], &[]);
        server.signal(sig);
        let (status, _, err) = server.wait();
        assert_eq!(status.code(), Some(2), "SIG{sig}");
        assert!(
            err.iter()
                .any(|l| l.contains("received interrupt, shutting down...")),
            "{err:?}"
        );
    }
    let server = Server::start(&["-listen=127.0.0.1:0"], &[]);
    server.signal("TERM");
    assert_eq!(server.wait().0.code(), Some(0));
}

#[test]
fn get_fetches_a_url_and_reports_failures() {
    let server = Server::start(&["-listen=127.0.0.1:0", "-text=reachable"], &[]);
    let (code, out, _) = run(&["-get", &format!("http://{}/x", server.addr)], &[]);
    assert_eq!((code, out.as_str()), (0, "reachable\n"));

    let failing = Server::start(
        &["-listen=127.0.0.1:0", "-text=no", "-status-code=503"],
        &[],
    );
    let (code, out, err) = run(&["-get", &format!("http://{}/", failing.addr)], &[]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("answered 503"), "{err}");

    let closed = common::free_port();
    let (code, _, err) = run(&["-get", &format!("http://127.0.0.1:{closed}/")], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot connect to 127.0.0.1:"), "{err}");

    let (code, _, err) = run(&["-get", "http://app-one/"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("must be an IP address"), "{err}");
}
