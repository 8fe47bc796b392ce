//! Part 3's Kubernetes side (Argo CD, the Git server, the Application) against a fake API
//! server on kube-rs's tower-test mock: the exact requests, in order, and what each wait
//! waits for. The real pinned Argo CD manifest (see `common::pinned_argocd_manifest`) is what
//! gets applied; where it cannot be had, the tests that need it say `skipped: <reason>`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fake_api;

use std::time::Duration;

use bootstrap::gitops::argocd::{self, Manifest, Waits};
use bootstrap::gitops::{application, gitserver};
use fake_api::{Call, FakeApi, StatusRule};
use serde_json::{Value, json};

/// The pinned manifest, or None after a visible skip of `test`.
fn fixture(test: &str) -> Option<String> {
    common::pinned_argocd_manifest()
        .map_err(|why| common::skip(test, &why))
        .ok()
}

fn manifest(test: &str) -> Option<Manifest> {
    fixture(test).map(|text| Manifest::parse(&text).unwrap())
}

#[test]
fn the_fixture_is_the_pinned_file_and_splits_into_3_crds_and_56_objects() {
    let Some(text) =
        fixture("the_fixture_is_the_pinned_file_and_splits_into_3_crds_and_56_objects")
    else {
        return;
    };
    argocd::verify(text.as_bytes(), "fixture").unwrap();
    let manifest = Manifest::parse(&text).unwrap();
    assert_eq!((manifest.crds.len(), manifest.rest.len()), (3, 56));
    assert_eq!(manifest.names_of("Deployment").len(), 6);
    assert_eq!(
        manifest.names_of("StatefulSet"),
        ["argocd-application-controller"]
    );
    for obj in &manifest.rest {
        let gvk = bootstrap::k8s::apply::gvk_of(obj).unwrap();
        assert!(
            bootstrap::k8s::apply::builtin_resource(&gvk).is_some(),
            "{gvk:?} has no table entry"
        );
    }
}

#[test]
fn a_changed_byte_is_refused() {
    let Some(text) = fixture("a_changed_byte_is_refused") else {
        return;
    };
    let mut text = text.into_bytes();
    text[100] ^= 1;
    let err = argocd::verify(&text, "install.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not the pinned 9a87f2b3"), "{err}");
    assert!(err.contains("refusing it"), "{err}");
}

fn quick() -> Waits {
    Waits {
        crd_established: Duration::from_millis(200),
        workloads_ready: Duration::from_millis(200),
        admin_secret: Duration::from_millis(200),
    }
}

/// Everything becomes ready as soon as it is applied, except the Deployment named `stuck`.
fn healthy_except(stuck: &'static str) -> StatusRule {
    Box::new(move |path, object| {
        if path.contains("/customresourcedefinitions/") {
            return Some(json!({"conditions": [{"type": "Established", "status": "True"}]}));
        }
        let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
        let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
        if path.contains("/deployments/") {
            let available = if path.ends_with(&format!("/{stuck}")) {
                0
            } else {
                replicas
            };
            let mut status = json!({"observedGeneration": generation, "replicas": replicas,
                "updatedReplicas": replicas, "availableReplicas": available});
            if available == 0 {
                status["conditions"] = json!([{"type": "Available", "status": "False",
                    "message": "Deployment does not have minimum availability."}]);
            }
            return Some(status);
        }
        if path.contains("/statefulsets/") {
            return Some(
                json!({"replicas": replicas, "readyReplicas": replicas, "updatedReplicas": replicas}),
            );
        }
        None
    })
}

fn seed_admin_secret(api: &FakeApi) {
    api.seed(
        "/api/v1/namespaces/argocd/secrets/argocd-initial-admin-secret",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "argocd-initial-admin-secret", "namespace": "argocd"},
               "data": {"password": "czNjcjN0"}}),
    );
}

fn patches(calls: &[Call]) -> Vec<&Call> {
    calls.iter().filter(|c| c.method == "PATCH").collect()
}

#[tokio::test]
async fn a_fresh_install_applies_all_59_objects_server_side_crds_first_then_waits() {
    let (client, api) = FakeApi::start(healthy_except("-none-"));
    seed_admin_secret(&api);
    let Some(manifest) =
        manifest("a_fresh_install_applies_all_59_objects_server_side_crds_first_then_waits")
    else {
        return;
    };
    let mut lines = Vec::new();
    let installed = argocd::install(&client, &manifest, quick(), &mut |l| lines.push(l))
        .await
        .unwrap();
    assert_eq!(installed.admin_password.as_deref(), Some("s3cr3t"));
    assert!(installed.applied);

    let calls = api.calls();
    let applied = patches(&calls);
    // The namespace, 59 objects, then the namespace again with the "installed" mark.
    assert_eq!(applied.len(), 61);
    for p in &applied {
        assert_eq!(
            p.content_type.as_deref(),
            Some("application/apply-patch+yaml"),
            "{}",
            p.path
        );
        assert!(p.query.contains("fieldManager=bootstrap"), "{}", p.query);
        assert!(p.query.contains("force=true"), "{}", p.query);
    }
    assert_eq!(applied[0].path, "/api/v1/namespaces/argocd");
    let crds: Vec<&str> = applied[1..4].iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        crds,
        [
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/applications.argoproj.io",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/applicationsets.argoproj.io",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/appprojects.argoproj.io",
        ]
    );
    // Each CRD is read back Established before the first other object is applied.
    let first_other = calls
        .iter()
        .position(|c| {
            c.method == "PATCH"
                && !c.path.contains("customresourcedefinitions")
                && c.path != "/api/v1/namespaces/argocd"
        })
        .unwrap();
    // (kube's await_condition: a list of the one CRD by name, then a watch if need be)
    let established_reads = calls[..first_other]
        .iter()
        .filter(|c| {
            c.method == "GET"
                && c.path.ends_with("/customresourcedefinitions")
                && c.query.contains("fieldSelector=metadata.name%3D")
                && !c.query.contains("watch=true")
        })
        .count();
    assert_eq!(established_reads, 3);
    // Namespaced objects land in argocd, RBAC's cluster kinds at cluster scope.
    let rest = &applied[4..60];
    for c in rest {
        assert!(
            c.path.contains("/namespaces/argocd/") || c.path.contains("/clusterrole"),
            "{}",
            c.path
        );
    }
    assert_eq!(
        rest.iter()
            .filter(|c| c
                .path
                .starts_with("/apis/apps/v1/namespaces/argocd/deployments/"))
            .count(),
        6
    );
    assert_eq!(
        applied[60].body.as_ref().unwrap()["metadata"]["annotations"][argocd::INSTALLED_ANNOTATION],
        Value::from(argocd::INSTALL_SHA256)
    );
    // The mark comes after every workload was read ready: the watchers' lists of argocd's
    // Deployments (6) and StatefulSets (1) precede it.
    let mark = calls.iter().rposition(|c| c.method == "PATCH").unwrap();
    for kind in ["deployments", "statefulsets"] {
        let read = calls
            .iter()
            .position(|c| {
                c.method == "GET"
                    && c.path == format!("/apis/apps/v1/namespaces/argocd/{kind}")
                    && !c.query.contains("watch=true")
            })
            .unwrap();
        assert!(read < mark, "{kind} were read after the mark");
    }
    assert!(
        lines.iter().any(|l| l.contains("applying 3 CRDs")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_second_run_changes_nothing() {
    let (client, api) = FakeApi::start(healthy_except("-none-"));
    seed_admin_secret(&api);
    let Some(manifest) = manifest("a_second_run_changes_nothing") else {
        return;
    };
    argocd::install(&client, &manifest, quick(), &mut |_| {})
        .await
        .unwrap();
    let before = api.calls().len();
    let again = argocd::install(&client, &manifest, quick(), &mut |_| {})
        .await
        .unwrap();
    assert!(!again.applied);
    assert_eq!(again.admin_password.as_deref(), Some("s3cr3t"));
    let second = &api.calls()[before..];
    assert!(second.iter().all(|c| c.method == "GET"), "{second:?}");
    // The namespace, 6 deployments, 1 statefulset, the secret.
    assert_eq!(second.len(), 9);
}

#[tokio::test]
async fn a_deployment_that_never_becomes_available_fails_with_its_name_and_reason() {
    let (client, api) = FakeApi::start(healthy_except("argocd-repo-server"));
    seed_admin_secret(&api);
    api.seed(
        "/api/v1/namespaces/argocd/pods/argocd-repo-server-7d9f",
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "argocd-repo-server-7d9f", "namespace": "argocd"},
               "status": {"containerStatuses": [{"name": "argocd-repo-server", "image": "quay.io/argoproj/argocd:v3.5.2",
                 "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}}),
    );
    let Some(manifest) =
        manifest("a_deployment_that_never_becomes_available_fails_with_its_name_and_reason")
    else {
        return;
    };
    let err = argocd::install(&client, &manifest, quick(), &mut |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("Argo CD v3.5.2 did not become ready within"),
        "{err}"
    );
    assert!(err.contains("deployment argocd-repo-server: 0/1 available (Deployment does not have minimum availability.)"), "{err}");
    // The stuck pod, as `bootstrap diagnose -n argocd` names it.
    for line in [
        "what the cluster shows (again: bootstrap diagnose -n argocd):",
        "image-pull-failed: Pod argocd/argocd-repo-server-7d9f",
        "  image = quay.io/argoproj/argocd:v3.5.2",
        "  state.waiting.reason = ImagePullBackOff",
        "  registry message = Back-off pulling image",
    ] {
        assert!(err.lines().any(|l| l == line), "no line {line:?} in\n{err}");
    }
    // No "installed" mark: the next run applies again.
    let namespace_applies = api
        .calls()
        .iter()
        .filter(|c| c.method == "PATCH" && c.path == "/api/v1/namespaces/argocd")
        .count();
    assert_eq!(namespace_applies, 1);
}

#[tokio::test]
async fn the_ui_is_published_through_a_load_balancer_service_and_readiness_reads_what_runs() {
    let (client, api) = FakeApi::start(healthy_except("-none-"));
    assert_eq!(
        argocd::readiness(&client).await.unwrap(),
        Err("nothing is installed in namespace argocd".to_owned())
    );
    let Some(manifest) = manifest(
        "the_ui_is_published_through_a_load_balancer_service_and_readiness_reads_what_runs",
    ) else {
        return;
    };
    argocd::install(&client, &manifest, quick(), &mut |_| {})
        .await
        .unwrap();
    argocd::publish_ui(&client, 8443).await.unwrap();
    let ui = api
        .calls()
        .into_iter()
        .rfind(|c| c.method == "PATCH")
        .unwrap();
    assert_eq!(
        ui.path,
        "/api/v1/namespaces/argocd/services/argocd-server-host"
    );
    let spec = &ui.body.unwrap()["spec"];
    assert_eq!(spec["type"], "LoadBalancer");
    assert_eq!(spec["ports"][0]["port"], 8443);
    assert_eq!(spec["ports"][0]["targetPort"], 8080);
    assert_eq!(spec["selector"]["app.kubernetes.io/name"], "argocd-server");
    assert_eq!(argocd::readiness(&client).await.unwrap(), Ok(()));
}

#[tokio::test]
async fn the_git_server_is_applied_in_order_then_waited_for_and_its_credentials_reused() {
    let (client, api) = FakeApi::start(healthy_except("-none-"));
    assert_eq!(
        gitserver::existing_credentials(&client).await.unwrap(),
        None
    );
    let credentials = gitserver::Credentials::generate("wil").unwrap();
    gitserver::install(&client, &credentials, 3000, Duration::from_millis(200))
        .await
        .unwrap();
    let calls = api.calls();
    let applied: Vec<&str> = patches(&calls).iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        applied,
        [
            "/api/v1/namespaces/gitea",
            "/api/v1/namespaces/gitea/secrets/gitea-admin",
            "/api/v1/namespaces/gitea/persistentvolumeclaims/gitea-data",
            "/apis/apps/v1/namespaces/gitea/deployments/gitea",
            "/api/v1/namespaces/gitea/services/gitea-http",
        ]
    );
    assert!(
        calls.last().unwrap().method == "GET"
            && calls.last().unwrap().path == "/apis/apps/v1/namespaces/gitea/deployments"
    );
    // The API server turns stringData into data; a re-run reads the same credentials back.
    let secret_path = "/api/v1/namespaces/gitea/secrets/gitea-admin";
    let mut stored = api.store.lock().unwrap().get(secret_path).cloned().unwrap();
    let secret = k8s_openapi::api::core::v1::Secret {
        data: Some(
            stored["stringData"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        k8s_openapi::ByteString(v.as_str().unwrap().as_bytes().to_vec()),
                    )
                })
                .collect(),
        ),
        ..Default::default()
    };
    let data = serde_json::to_value(&secret).unwrap()["data"].clone();
    stored["data"] = data;
    api.seed(secret_path, stored);
    assert_eq!(
        gitserver::existing_credentials(&client).await.unwrap(),
        Some(credentials)
    );
}

#[tokio::test]
async fn a_git_server_that_never_starts_says_so() {
    let (client, _api) = FakeApi::start(healthy_except("gitea"));
    let credentials = gitserver::Credentials::generate("wil").unwrap();
    let err = gitserver::install(&client, &credentials, 3000, Duration::from_millis(100))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("the Git server did not become ready within"),
        "{err}"
    );
    assert!(err.contains("deployment gitea: 0/1 available"), "{err}");
}

#[tokio::test]
async fn the_application_is_applied_once_the_api_serves_it() {
    let (client, api) = FakeApi::start(healthy_except("-none-"));
    api.seed(
        "/apis/argoproj.io/v1alpha1",
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "argoproj.io/v1alpha1",
               "resources": [{"name": "applications", "singularName": "application", "namespaced": true,
                              "kind": "Application", "verbs": ["get", "list", "patch", "watch"]}]}),
    );
    let source = application::Source {
        repo_url: gitserver::cluster_url("wil", "iot-wil"),
        revision: "main".into(),
    };
    let (resource, scope) = bootstrap::k8s::apply::discover(&client, &application::gvk())
        .await
        .unwrap();
    bootstrap::k8s::apply::apply(
        &client,
        &application::application(&source),
        application::NAMESPACE,
        Some((resource, scope)),
    )
    .await
    .unwrap();
    let applied = api
        .calls()
        .into_iter()
        .find(|c| c.method == "PATCH")
        .unwrap();
    assert_eq!(
        applied.path,
        "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/playground"
    );
    let body = applied.body.unwrap();
    let spec = &body["spec"];
    assert_eq!(spec["source"]["path"], "p3/confs");
    assert_eq!(spec["source"]["directory"]["exclude"], "application.yaml");
    assert_eq!(
        spec["source"]["repoURL"],
        "http://gitea-http.gitea.svc.cluster.local:3000/wil/iot-wil.git"
    );
    assert_eq!(spec["destination"]["namespace"], "dev");
    assert_eq!(
        spec["syncPolicy"]["automated"],
        json!({"prune": true, "selfHeal": true})
    );
    assert_eq!(
        spec["syncPolicy"]["syncOptions"],
        json!(["CreateNamespace=true"])
    );
}

/// `p3/confs/application.yaml` is the object bootstrap applies, for the repository it names
/// (a learner's fork, as the subject does it; bootstrap p3 points it at its own Git server).
#[test]
fn the_committed_application_manifest_is_what_bootstrap_applies() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../p3/confs/application.yaml");
    let committed = std::fs::read_to_string(&path).unwrap();
    let object: Value = serde_saphyr::from_str(&committed).unwrap();
    let source = application::Source {
        repo_url: object["spec"]["source"]["repoURL"]
            .as_str()
            .unwrap()
            .to_owned(),
        revision: object["spec"]["source"]["targetRevision"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    assert_eq!(
        committed,
        application::manifest_text(&source),
        "regenerate with `cargo run -p bootstrap --example application-manifest`"
    );
}
