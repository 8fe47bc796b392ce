//! `--wait` against kube-rs's tower-test mock API server: every request the library makes is
//! asserted (method, URI, headers, body) and answered with what an API server running Argo CD
//! would send. The clock is paused, so timeouts cost no real time.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use lab_gitops::image::ImageMatcher;
use lab_gitops::rollout::{
    self, AppRef, Expectation, Goal, Milestone, WaitError, request_hard_refresh, wait_for_rollout,
};
use serde_json::{Value, json};

mod support;

use support::application::{application, old_status, status};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

const REV: &str = "0123456789abcdef0123456789abcdef01234567";
const APP_PATH: &str = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications";
const LIST_URI: &str = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications?\
                        &fieldSelector=metadata.name%3Dplayground&limit=500";

fn mock() -> (Client, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), handle)
}

fn app() -> AppRef {
    AppRef::new("argocd", "playground")
}

fn expect() -> Expectation {
    Expectation {
        revision: Some(REV.to_owned()),
        image_tag: Some("v2".to_owned()),
        image: Some(ImageMatcher::parse("echo-app").unwrap()),
    }
}

fn json_response(code: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

/// A watch response: one JSON event per line, then the end of the stream.
fn watch_response(events: &[(&str, Value)]) -> Response<Body> {
    let mut body = Vec::new();
    for (kind, object) in events {
        serde_json::to_writer(&mut body, &json!({"type": kind, "object": object})).unwrap();
        body.push(b'\n');
    }
    Response::builder().body(Body::from(body)).unwrap()
}

fn watch_uri(resource_version: &str) -> String {
    format!(
        "{APP_PATH}?&watch=true&timeoutSeconds=290&fieldSelector=metadata.name%3Dplayground\
         &allowWatchBookmarks=true&resourceVersion={resource_version}"
    )
}

/// Takes the next request, asserts its method and URI, and returns it with its reply handle.
async fn next(
    handle: &mut Handle,
    method: Method,
    uri: &str,
) -> (
    Request<Body>,
    tower_test::mock::SendResponse<Response<Body>>,
) {
    let (request, send) = handle.next_request().await.expect("another request");
    assert_eq!(request.method(), method);
    assert_eq!(request.uri().to_string(), uri);
    (request, send)
}

/// The refresh: a PATCH of the Application under our field manager.
async fn next_refresh(
    handle: &mut Handle,
) -> (
    Request<Body>,
    tower_test::mock::SendResponse<Response<Body>>,
) {
    let uri = format!("{APP_PATH}/playground?&fieldManager=gitops-bumper");
    next(handle, Method::PATCH, &uri).await
}

/// The watcher's list of the one Application; the list's version is the object's, so the watch
/// that follows starts from it.
async fn answer_list(handle: &mut Handle, object: Value) {
    let (_, send) = next(handle, Method::GET, LIST_URI).await;
    let version = object["metadata"]["resourceVersion"].clone();
    send.send_response(json_response(
        StatusCode::OK,
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationList",
                "metadata": {"resourceVersion": version}, "items": [object]}),
    ));
}

async fn answer_watch(handle: &mut Handle, resource_version: &str, events: &[(&str, Value)]) {
    let (_, send) = next(handle, Method::GET, &watch_uri(resource_version)).await;
    send.send_response(watch_response(events));
}

#[tokio::test(start_paused = true)]
async fn refresh_then_watch_from_progressing_to_synced_healthy_with_the_new_image() {
    let (client, mut handle) = mock();
    let server = tokio::spawn(async move {
        let (request, send) = next_refresh(&mut handle).await;
        assert_eq!(
            request.headers()["content-type"],
            "application/merge-patch+json"
        );
        let body = request.into_body().collect_bytes().await.unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}})
        );
        send.send_response(json_response(
            StatusCode::OK,
            &application("100", old_status()),
        ));

        answer_list(&mut handle, application("100", old_status())).await;
        let mut running = status(REV, "OutOfSync", "Healthy", &["echo-app:v1"]);
        running["operationState"] = json!({"phase": "Running", "message": "syncing"});
        answer_watch(
            &mut handle,
            "100",
            &[
                ("MODIFIED", application("101", running)),
                (
                    "MODIFIED",
                    application(
                        "102",
                        status(
                            REV,
                            "Synced",
                            "Progressing",
                            &["echo-app:v1", "echo-app:v2"],
                        ),
                    ),
                ),
                (
                    "MODIFIED",
                    application("103", status(REV, "Synced", "Healthy", &["echo-app:v2"])),
                ),
            ],
        )
        .await;
    });

    request_hard_refresh(client.clone(), &app()).await.unwrap();
    let mut seen = Vec::new();
    let report = wait_for_rollout(client, &app(), &expect(), Duration::from_secs(60), |m| {
        seen.push(match m {
            Milestone::Observed { state, .. } => state.clone(),
            Milestone::Reached { goal, .. } => format!("reached {goal}"),
        });
    })
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(1), server)
        .await
        .unwrap()
        .unwrap();

    assert_eq!(
        seen,
        [
            "sync Synced at fedcba9, health Healthy",
            "sync OutOfSync at 0123456, health Healthy, operation Running",
            "reached revision seen",
            "sync Synced at 0123456, health Progressing",
            "reached Synced",
            "reached image deployed",
            "sync Synced at 0123456, health Healthy",
            "reached Healthy",
        ]
    );
    let goals: Vec<Goal> = report.reached.iter().map(|(g, _)| *g).collect();
    assert_eq!(
        goals,
        [Goal::Revision, Goal::Synced, Goal::Image, Goal::Healthy]
    );
    assert_eq!(report.status.summary.images, ["echo-app:v2"]);
}

#[tokio::test(start_paused = true)]
async fn degraded_at_the_new_revision_fails_with_the_applications_message() {
    let (client, mut handle) = mock();
    let server = tokio::spawn(async move {
        answer_list(&mut handle, application("100", old_status())).await;
        let mut degraded = status(REV, "Synced", "Degraded", &["echo-app:v2"]);
        degraded["health"]["message"] =
            json!("Deployment \"playground\" exceeded its progress deadline");
        answer_watch(
            &mut handle,
            "100",
            &[
                (
                    "MODIFIED",
                    application(
                        "101",
                        status(REV, "Synced", "Progressing", &["echo-app:v2"]),
                    ),
                ),
                ("MODIFIED", application("102", degraded)),
            ],
        )
        .await;
    });
    let err = wait_for_rollout(client, &app(), &expect(), Duration::from_secs(60), |_| {})
        .await
        .unwrap_err();
    server.await.unwrap();
    assert!(matches!(err, WaitError::Degraded { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "Application argocd/playground is Degraded: Deployment \"playground\" exceeded its \
         progress deadline"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_sync_of_the_new_revision_fails_with_the_operation_message() {
    let (client, mut handle) = mock();
    let server = tokio::spawn(async move {
        let mut failed = status(REV, "OutOfSync", "Healthy", &["echo-app:v1"]);
        failed["operationState"] = json!({
            "phase": "Failed",
            "message": "one or more objects failed to apply",
            "syncResult": {"revision": REV}
        });
        answer_list(&mut handle, application("100", failed)).await;
    });
    let err = wait_for_rollout(client, &app(), &expect(), Duration::from_secs(60), |_| {})
        .await
        .unwrap_err();
    server.await.unwrap();
    assert_eq!(
        err.to_string(),
        "Application argocd/playground: sync Failed: one or more objects failed to apply"
    );
}

#[tokio::test(start_paused = true)]
async fn a_timeout_reports_what_is_missing_and_the_last_state() {
    let (client, mut handle) = mock();
    let server = tokio::spawn(async move {
        let mut stuck = old_status();
        stuck["conditions"] =
            json!([{"type": "ComparisonError", "message": "failed to fetch from Git"}]);
        answer_list(&mut handle, application("100", stuck)).await;
        // The watch is accepted but nothing ever changes.
        let (_request, _send) = next(&mut handle, Method::GET, &watch_uri("100")).await;
        std::future::pending::<()>().await;
    });
    let started = tokio::time::Instant::now();
    let err = wait_for_rollout(client, &app(), &expect(), Duration::from_secs(30), |_| {})
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    let WaitError::Timeout {
        missing, waited, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(
        missing,
        &[Goal::Revision, Goal::Synced, Goal::Healthy, Goal::Image]
    );
    assert_eq!(*waited, Duration::from_secs(30));
    assert_eq!(
        err.to_string(),
        "Application argocd/playground did not roll out within 30s: still waiting for revision \
         seen, Synced, Healthy, image deployed (last seen: sync Synced at fedcba9, health \
         Healthy; ComparisonError: failed to fetch from Git)"
    );
    server.abort();
}

#[tokio::test(start_paused = true)]
async fn an_ended_watch_resumes_from_the_last_version_and_410_gone_relists() {
    let (client, mut handle) = mock();
    let server = tokio::spawn(async move {
        answer_list(&mut handle, application("100", old_status())).await;
        answer_watch(
            &mut handle,
            "100",
            &[(
                "MODIFIED",
                application(
                    "101",
                    status(REV, "Synced", "Progressing", &["echo-app:v2"]),
                ),
            )],
        )
        .await;
        // The stream ended: the next watch starts where the last event left off…
        answer_watch(
            &mut handle,
            "101",
            &[(
                "ERROR",
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                       "message": "too old resource version: 101 (250)",
                       "reason": "Expired", "code": 410}),
            )],
        )
        .await;
        // …and an expired version means listing it again.
        answer_list(
            &mut handle,
            application("250", status(REV, "Synced", "Healthy", &["echo-app:v2"])),
        )
        .await;
    });
    let report = wait_for_rollout(client, &app(), &expect(), Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(1), server)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.status.health.status.as_deref(), Some("Healthy"));
}

#[tokio::test(start_paused = true)]
async fn a_missing_application_is_named_with_what_to_check() {
    let (client, mut handle) = mock();
    let server = tokio::spawn(async move {
        let (_, send) = next_refresh(&mut handle).await;
        send.send_response(json_response(
            StatusCode::NOT_FOUND,
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "message": "applications.argoproj.io \"playground\" not found",
                    "reason": "NotFound", "code": 404}),
        ));
    });
    let err = request_hard_refresh(client, &app()).await.unwrap_err();
    server.await.unwrap();
    assert_eq!(
        err.to_string(),
        "Application argocd/playground not found; check --app and --app-namespace, and that \
         the kube context is the cluster running Argo CD"
    );
}

#[tokio::test(start_paused = true)]
async fn a_forbidden_watch_fails_at_once_instead_of_waiting_out_the_timeout() {
    let (client, mut handle) = mock();
    let server = tokio::spawn(async move {
        answer_list(&mut handle, application("100", old_status())).await;
        let (_, send) = next(&mut handle, Method::GET, &watch_uri("100")).await;
        send.send_response(json_response(
            StatusCode::FORBIDDEN,
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "message": "applications.argoproj.io is forbidden: cannot watch",
                    "reason": "Forbidden", "code": 403}),
        ));
    });
    let started = tokio::time::Instant::now();
    let err = wait_for_rollout(client, &app(), &expect(), Duration::from_secs(60), |_| {})
        .await
        .unwrap_err();
    server.await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert!(err.to_string().contains("cannot watch"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_deleted_application_ends_the_wait() {
    let (client, mut handle) = mock();
    let server = tokio::spawn(async move {
        answer_list(&mut handle, application("100", old_status())).await;
        answer_watch(
            &mut handle,
            "100",
            &[("DELETED", application("101", old_status()))],
        )
        .await;
    });
    let err = wait_for_rollout(client, &app(), &expect(), Duration::from_secs(60), |_| {})
        .await
        .unwrap_err();
    server.await.unwrap();
    assert!(matches!(err, WaitError::Deleted(_)), "{err:?}");
}

#[test]
fn the_application_resource_is_argo_cds() {
    let resource = rollout::application_resource();
    assert_eq!(
        (
            resource.group.as_str(),
            resource.version.as_str(),
            resource.kind.as_str(),
            resource.plural.as_str()
        ),
        ("argoproj.io", "v1alpha1", "Application", "applications")
    );
}
