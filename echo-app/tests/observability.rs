//! Metrics, probes and logs.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Server, get};

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{series} not in:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn metrics_count_requests_by_route_and_status_with_latency() {
    let server = Server::start(&["-listen=127.0.0.1:0", "-text=m", "-status-code=201"], &[]);
    for _ in 0..3 {
        get(server.addr, "/x");
    }
    get(server.addr, "/health");
    let text = get(server.addr, "/metrics").text();
    assert_eq!(
        metric(
            &text,
            "echo_app_http_requests_total{route=\"echo\",status=\"201\"}"
        ),
        3.0
    );
    assert_eq!(
        metric(
            &text,
            "echo_app_http_requests_total{route=\"health\",status=\"200\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "echo_app_http_request_duration_seconds_count{route=\"echo\"}"
        ),
        3.0
    );
    assert!(
        metric(
            &text,
            "echo_app_http_request_duration_seconds_sum{route=\"echo\"}"
        ) > 0.0
    );
    // The scrape itself is in flight while it renders.
    assert_eq!(metric(&text, "echo_app_http_requests_in_flight"), 1.0);
    assert!(metric(&text, "echo_app_connections_accepted_total") >= 5.0);
    assert_eq!(
        metric(&text, "echo_app_info{mode=\"http-echo\",version=\"0.1.0\"}"),
        1.0
    );
    assert!(text.contains("# TYPE echo_app_http_request_duration_seconds histogram"));
}

#[test]
fn probes_answer() {
    let server = Server::start(&["-listen=127.0.0.1:0", "-text=p"], &[]);
    let healthz = get(server.addr, "/healthz");
    assert_eq!((healthz.status, healthz.text().as_str()), (200, "ok\n"));
    let readyz = get(server.addr, "/readyz");
    assert_eq!((readyz.status, readyz.text().as_str()), (200, "ok\n"));
}

#[test]
fn json_logs_are_one_object_per_line_on_both_streams() {
    let server = Server::start(&["-listen=127.0.0.1:0", "-text=j", "-log-format=json"], &[]);
    get(server.addr, "/json?q=1");
    let lines = server.stdout_lines(1);
    let access: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(access["path"], "/json");
    assert_eq!(access["method"], "GET");
    assert_eq!(access["status"], 200);
    assert_eq!(access["bytes"], 2);
    assert_eq!(access["host"], "test.local");
    assert_eq!(access["user_agent"], "it/1");
    assert!(access["remote"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(access["duration_seconds"].as_f64().unwrap() >= 0.0);
    server.signal("TERM");
    let (_, _, stderr) = server.wait();
    for line in &stderr {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(
            event["level"].is_string() && event["message"].is_string(),
            "{line}"
        );
    }
    assert!(stderr.iter().any(|l| l.contains("server is listening on")));
}

#[test]
fn the_access_log_can_be_switched_off() {
    let server = Server::start(
        &["-listen=127.0.0.1:0", "-text=quiet", "-access-log=false"],
        &[],
    );
    for _ in 0..5 {
        get(server.addr, "/");
    }
    server.signal("TERM");
    let (_, stdout, _) = server.wait();
    assert!(stdout.is_empty(), "{stdout:?}");
}

#[test]
fn every_logged_request_is_flushed_at_exit() {
    let server = Server::start(&["-listen=127.0.0.1:0", "-text=flush"], &[]);
    for i in 0..300 {
        get(server.addr, &format!("/{i}"));
    }
    server.signal("TERM");
    let (_, stdout, _) = server.wait();
    // Every line once (worker threads' lines interleave by batch, so not in request order).
    let mut paths: Vec<usize> = stdout
        .iter()
        .map(|l| l.split(' ').nth(5).unwrap()[1..].parse().unwrap())
        .collect();
    paths.sort_unstable();
    assert_eq!(paths, (0..300).collect::<Vec<_>>());
}
