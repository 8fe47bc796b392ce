//! `probe_until` against real HTTP servers on 127.0.0.1 (real time: about 2 s in total).
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lab_gitops::probe::{ProbeError, probe_until, probe_until_exactly};
use support::server::{TestServer, respond};

/// Answers like the playground app: v1 for the first `v1_answers` requests, then v2.
fn rolling_app(v1_answers: usize) -> (TestServer, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let server = TestServer::start(move |_req| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            let version = if n < v1_answers { "v1" } else { "v2" };
            respond(
                200,
                "application/json",
                format!("{{\"status\":\"ok\", \"message\": \"{version}\"}}"),
            )
        }
    });
    (server, hits)
}

#[tokio::test]
async fn the_probe_polls_until_the_new_version_answers() {
    let (server, hits) = rolling_app(2);
    let url = format!("http://127.0.0.1:{}/", server.port);
    let report = probe_until(&url, "\"v2\"", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(report.attempts, 3);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(report.body, "{\"status\":\"ok\", \"message\": \"v2\"}");
}

#[tokio::test]
async fn a_probe_that_never_sees_the_version_times_out_with_the_last_answer() {
    let (server, _) = rolling_app(usize::MAX);
    let url = format!("http://127.0.0.1:{}/", server.port);
    let err = probe_until(&url, "\"v2\"", Duration::from_millis(1200))
        .await
        .unwrap_err();
    let ProbeError::Timeout { last, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(last, "200 OK {\"status\":\"ok\", \"message\": \"v1\"}");
    assert!(
        err.to_string().starts_with(&format!(
            "{url} did not answer with `\"v2\"` within 1s (last: 200 OK"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn errors_and_non_2xx_answers_do_not_count() {
    let server = TestServer::start(|_req| async { respond(503, "text/plain", "v2 draining\n") });
    let url = format!("http://127.0.0.1:{}/", server.port);
    let err = probe_until(&url, "v2", Duration::from_millis(700))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("(last: 503 Service Unavailable v2 draining)"),
        "{err}"
    );

    let closed = format!("http://127.0.0.1:{}/", support::free_port());
    let err = probe_until(&closed, "v2", Duration::from_millis(700))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Connection refused"), "{err}");
}

#[tokio::test]
async fn an_exact_probe_wants_the_whole_body_and_nothing_more() {
    let server = TestServer::start(|_req| async {
        respond(
            200,
            "application/json",
            "{\"status\":\"ok\", \"message\": \"v1\"} (stale cache)".to_owned(),
        )
    });
    let url = format!("http://127.0.0.1:{}/", server.port);
    let wanted = "{\"status\":\"ok\", \"message\": \"v1\"}";
    assert!(
        probe_until(&url, wanted, Duration::from_secs(2))
            .await
            .is_ok()
    );
    let err = probe_until_exactly(&url, wanted, Duration::from_millis(700))
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::Timeout { .. }), "{err:?}");

    let (app, _) = rolling_app(0);
    let url = format!("http://127.0.0.1:{}/", app.port);
    let report = probe_until_exactly(
        &url,
        "{\"status\":\"ok\", \"message\": \"v2\"}",
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(report.attempts, 1);
}
