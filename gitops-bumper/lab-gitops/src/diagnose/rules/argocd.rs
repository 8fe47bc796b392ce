//! Argo CD Applications: errors comparing (an unreachable repository first of all) or
//! syncing, Degraded resources, and OutOfSync with nothing syncing.

use kube::ResourceExt;
use kube::api::DynamicObject;
use serde_json::Value;

use crate::diagnose::finding::{Cause, Finding, ObjectRef};
use crate::diagnose::snapshot::Snapshot;

/// Words of git and of Argo CD's repo-server when the repository cannot be had.
const UNREACHABLE: &[&str] = &[
    "failed to list refs",
    "repository not found",
    "authentication required",
    "authentication failed",
    "could not read username",
    "permission denied",
    "dial tcp",
    "connection refused",
    "no such host",
    "i/o timeout",
    "could not resolve host",
    "unable to access",
    "ssh: handshake failed",
    "x509:",
    "tls: ",
    "connection reset",
];

fn app_ref(app: &DynamicObject) -> ObjectRef {
    ObjectRef::namespaced(
        "Application",
        &app.namespace().unwrap_or_default(),
        &app.name_any(),
    )
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn repos(app: &DynamicObject) -> Vec<String> {
    let spec = &app.data["spec"];
    let mut list: Vec<String> = spec["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|src| s(&src["repoURL"]).to_owned())
        .collect();
    if let Some(r) = spec["source"]["repoURL"].as_str() {
        list.insert(0, r.to_owned());
    }
    list.retain(|r| !r.is_empty());
    list
}

fn resource_ref(r: &Value) -> ObjectRef {
    let ns = s(&r["namespace"]);
    let kind = s(&r["kind"]);
    let name = s(&r["name"]);
    if ns.is_empty() {
        ObjectRef::cluster(kind, name)
    } else {
        ObjectRef::namespaced(kind, ns, name)
    }
}

fn refresh_command(app: &ObjectRef) -> String {
    format!(
        "kubectl -n {} annotate application {} argocd.argoproj.io/refresh=hard --overwrite",
        app.namespace.clone().unwrap_or_default(),
        app.name
    )
}

fn sync_command(app: &ObjectRef) -> String {
    format!(
        "argocd app sync {} (or: kubectl -n {} patch application {} --type merge -p '{{\"operation\":{{\"initiatedBy\":{{\"username\":\"admin\"}},\"sync\":{{}}}}}}')",
        app.name,
        app.namespace.clone().unwrap_or_default(),
        app.name
    )
}

pub(crate) fn check(snap: &Snapshot) -> Vec<Finding> {
    snap.applications.iter().flat_map(application).collect()
}

fn application(app: &DynamicObject) -> Vec<Finding> {
    let object = app_ref(app);
    let status = &app.data["status"];
    let mut out = Vec::new();
    let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    for c in &conditions {
        let message = s(&c["message"]);
        match s(&c["type"]) {
            "ComparisonError" => {
                let lower = message.to_lowercase();
                if UNREACHABLE.iter().any(|w| lower.contains(w)) {
                    out.push(repo_unreachable(app, &object, message));
                } else {
                    out.push(
                        Finding::new(
                            Cause::ApplicationComparisonError,
                            object.clone(),
                            format!("Argo CD cannot render or compare Application {}'s source", object.name),
                        )
                        .evidence("status.conditions[ComparisonError].message", message)
                        .evidence("spec.source", source_text(app))
                        .fix(format!(
                            "fix what the message names in the source (the path, the revision, the manifests), push, then: {}",
                            refresh_command(&object)
                        )),
                    );
                }
            }
            "InvalidSpecError" => out.push(
                Finding::new(
                    Cause::ApplicationInvalidSpec,
                    object.clone(),
                    format!("Argo CD rejects Application {}'s spec", object.name),
                )
                .evidence("status.conditions[InvalidSpecError].message", message)
                .evidence(
                    "spec.destination",
                    format!(
                        "server {} namespace {}",
                        s(&app.data["spec"]["destination"]["server"]),
                        s(&app.data["spec"]["destination"]["namespace"])
                    ),
                )
                .evidence("spec.project", s(&app.data["spec"]["project"]))
                .fix(format!(
                    "fix the field the message names: kubectl -n {} edit application {}",
                    object.namespace.clone().unwrap_or_default(),
                    object.name
                )),
            ),
            _ => {}
        }
    }
    if !out.is_empty() {
        // Nothing below can be judged on a source Argo CD could not read.
        return out;
    }
    let operation = &status["operationState"];
    let phase = s(&operation["phase"]);
    let sync_error = conditions.iter().find(|c| s(&c["type"]) == "SyncError");
    // An automated sync that fails is retried, and stays Running meanwhile: its retries and
    // its failed resources say it failed already.
    let retrying = phase == "Running"
        && (operation["retryCount"].as_i64().unwrap_or(0) > 0
            || s(&operation["message"])
                .to_lowercase()
                .contains("retrying attempt")
            || operation["syncResult"]["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| s(&r["status"]) == "SyncFailed"));
    if matches!(phase, "Failed" | "Error") || sync_error.is_some() || retrying {
        out.push(sync_failed(&object, operation, sync_error));
    }
    let health = s(&status["health"]["status"]);
    if health == "Degraded" {
        out.push(degraded(&object, status));
    }
    let sync = s(&status["sync"]["status"]);
    if sync == "OutOfSync" && phase != "Running" && out.is_empty() {
        out.push(out_of_sync(app, &object, status));
    }
    out
}

fn source_text(app: &DynamicObject) -> String {
    let src = &app.data["spec"]["source"];
    format!(
        "repoURL {} path {} targetRevision {}",
        s(&src["repoURL"]),
        s(&src["path"]),
        src["targetRevision"].as_str().unwrap_or("HEAD")
    )
}

fn repo_unreachable(app: &DynamicObject, object: &ObjectRef, message: &str) -> Finding {
    let repos = repos(app);
    let repo = repos.first().cloned().unwrap_or_default();
    Finding::new(
        Cause::ApplicationRepoUnreachable,
        object.clone(),
        format!("Argo CD cannot reach or read the repository {repo} of Application {}", object.name),
    )
    .evidence("spec.source.repoURL", repos.join(", "))
    .evidence("status.conditions[ComparisonError].message", message)
    .fix(format!(
        "check that {repo} is the right URL and answers from the repo-server (`git ls-remote {repo}` from inside the cluster); for a private repository add its credentials (argocd repo add {repo} --username <user> --password <token>, or a Secret labelled argocd.argoproj.io/secret-type=repository in namespace {}); then: {}",
        object.namespace.clone().unwrap_or_default(),
        refresh_command(object)
    ))
}

fn sync_failed(object: &ObjectRef, operation: &Value, condition: Option<&Value>) -> Finding {
    let message = s(&operation["message"]);
    let mut f = Finding::new(
        Cause::ApplicationSyncError,
        object.clone(),
        format!("the last sync of Application {} failed", object.name),
    );
    if !s(&operation["phase"]).is_empty() {
        f = f.evidence("status.operationState.phase", s(&operation["phase"]));
    }
    if !message.is_empty() {
        f = f.evidence("status.operationState.message", message);
    }
    if let Some(c) = condition {
        f = f.evidence("status.conditions[SyncError].message", s(&c["message"]));
    }
    let failed: Vec<&Value> = operation["syncResult"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| s(&r["status"]) == "SyncFailed" || s(&r["hookPhase"]) == "Failed")
        .collect();
    let mut first = None;
    for r in &failed {
        let o = resource_ref(r);
        f = f.evidence(format!("syncResult {o}"), s(&r["message"]));
        first.get_or_insert(o.clone());
        f = f.related(o);
    }
    let what = first
        .map(|o| format!("fix {o} as its message says in the Git source"))
        .unwrap_or_else(|| "fix what the operation's message names".to_owned());
    f.fix(format!(
        "{what}, push, then sync again: {}",
        sync_command(object)
    ))
}

fn degraded(object: &ObjectRef, status: &Value) -> Finding {
    let mut f = Finding::new(
        Cause::ApplicationDegraded,
        object.clone(),
        format!("Application {} is Degraded", object.name),
    )
    .evidence("status.health.status", "Degraded");
    if let Some(m) = status["health"]["message"]
        .as_str()
        .filter(|m| !m.is_empty())
    {
        f = f.evidence("status.health.message", m);
    }
    let mut first = None;
    for r in status["resources"].as_array().into_iter().flatten() {
        let h = s(&r["health"]["status"]);
        if h == "Degraded" || h == "Missing" {
            let o = resource_ref(r);
            f = f.evidence(
                format!("resource {o} health"),
                format!(
                    "{h}{}",
                    r["health"]["message"]
                        .as_str()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
            );
            first.get_or_insert(o.clone());
            f = f.related(o);
        }
    }
    let fix = match first {
        Some(o) => format!(
            "diagnose the Degraded resource where it runs: bootstrap diagnose -n {} (or kubectl {}describe {} {})",
            o.namespace.clone().unwrap_or_default(),
            o.namespace
                .as_deref()
                .map(|n| format!("-n {n} "))
                .unwrap_or_default(),
            o.kind.to_lowercase(),
            o.name
        ),
        None => format!(
            "see which resources are Degraded: argocd app get {name}, or kubectl -n {ns} get \
             application {name} -o jsonpath='{{.status.resources}}'",
            name = object.name,
            ns = object.namespace.as_deref().unwrap_or("argocd"),
        ),
    };
    f.fix(fix)
}

fn out_of_sync(app: &DynamicObject, object: &ObjectRef, status: &Value) -> Finding {
    let automated = !app.data["spec"]["syncPolicy"]["automated"].is_null()
        && app.data["spec"]["syncPolicy"]["automated"]["enabled"].as_bool() != Some(false);
    let mut f = Finding::new(
        Cause::ApplicationOutOfSync,
        object.clone(),
        format!(
            "Application {} is OutOfSync with its source and no sync is running",
            object.name
        ),
    )
    .evidence("status.sync.status", "OutOfSync");
    if let Some(r) = status["sync"]["revision"].as_str() {
        f = f.evidence("status.sync.revision", r);
    }
    f = f.evidence(
        "spec.syncPolicy.automated",
        if automated { "on" } else { "off" },
    );
    for r in status["resources"].as_array().into_iter().flatten() {
        if s(&r["status"]) == "OutOfSync" {
            let o = resource_ref(r);
            f = f.evidence(format!("resource {o}"), "OutOfSync");
            f = f.related(o);
        }
    }
    let fix = if automated {
        format!(
            "automated sync did not act: look at the operation history (argocd app history {}), request a refresh ({}), or sync by hand: {}",
            object.name,
            refresh_command(object),
            sync_command(object)
        )
    } else {
        format!(
            "sync it: {}; or turn on automated sync (spec.syncPolicy.automated: {{prune: true, selfHeal: true}})",
            sync_command(object)
        )
    };
    f.fix(fix)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn app(status: Value, automated: bool) -> DynamicObject {
        let mut v = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "playground", "namespace": "argocd"},
            "spec": {"project": "default",
                "source": {"repoURL": "http://127.0.0.1:3000/lab/iot.git", "path": "p3/confs", "targetRevision": "HEAD"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "dev"}},
            "status": status
        });
        if automated {
            v["spec"]["syncPolicy"] = json!({"automated": {"prune": true, "selfHeal": true}});
        }
        serde_json::from_value(v).unwrap()
    }

    fn snap(apps: Vec<DynamicObject>) -> Snapshot {
        Snapshot {
            applications: apps,
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_repository_that_cannot_be_reached_is_named_with_its_url() {
        let a = app(
            json!({"sync": {"status": "Unknown"}, "health": {"status": "Healthy"},
            "conditions": [{"type": "ComparisonError", "message": "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = failed to list refs: Get \"http://127.0.0.1:1/lab/iot.git/info/refs?service=git-upload-pack\": dial tcp 127.0.0.1:1: connect: connection refused"}]}),
            true,
        );
        let found = check(&snap(vec![a]));
        assert_eq!(found.len(), 1, "{found:?}");
        let f = &found[0];
        assert_eq!(f.cause, Cause::ApplicationRepoUnreachable);
        assert_eq!(
            f.object,
            ObjectRef::namespaced("Application", "argocd", "playground")
        );
        assert_eq!(
            f.evidence_value("spec.source.repoURL"),
            Some("http://127.0.0.1:3000/lab/iot.git")
        );
        assert!(
            f.evidence_value("status.conditions[ComparisonError].message")
                .unwrap()
                .contains("connection refused")
        );
        assert!(f.fix.contains("argocd.argoproj.io/refresh=hard"));
    }

    #[test]
    fn a_comparison_error_that_is_not_the_repository_is_a_comparison_error() {
        let a = app(
            json!({"sync": {"status": "Unknown"},
            "conditions": [{"type": "ComparisonError", "message": "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = p3/nope: app path does not exist"}]}),
            true,
        );
        let f = &check(&snap(vec![a]))[0];
        assert_eq!(f.cause, Cause::ApplicationComparisonError);
        assert_eq!(
            f.evidence_value("spec.source"),
            Some("repoURL http://127.0.0.1:3000/lab/iot.git path p3/confs targetRevision HEAD")
        );
    }

    #[test]
    fn a_failed_sync_names_the_operation_message_and_the_object() {
        let a = app(
            json!({"sync": {"status": "OutOfSync"}, "health": {"status": "Missing"},
            "operationState": {"phase": "Failed", "message": "one or more objects failed to apply, reason: Deployment.apps \"playground\" is invalid: spec.template.spec.containers[0].image: Required value",
                "syncResult": {"resources": [{"group": "apps", "kind": "Deployment", "namespace": "dev", "name": "playground",
                    "status": "SyncFailed", "message": "Deployment.apps \"playground\" is invalid: spec.template.spec.containers[0].image: Required value"}]}},
            "conditions": [{"type": "SyncError", "message": "Failed sync attempt to 1a2b: one or more objects failed to apply"}]}),
            true,
        );
        let found = check(&snap(vec![a]));
        assert_eq!(
            found.len(),
            1,
            "OutOfSync is the failed sync's consequence: {found:?}"
        );
        let f = &found[0];
        assert_eq!(f.cause, Cause::ApplicationSyncError);
        assert_eq!(
            f.evidence_value("status.operationState.phase"),
            Some("Failed")
        );
        assert!(
            f.evidence_value("syncResult Deployment dev/playground")
                .unwrap()
                .contains("Required value")
        );
        assert_eq!(
            f.related,
            vec![ObjectRef::namespaced("Deployment", "dev", "playground")]
        );
        assert!(f.fix.contains("argocd app sync playground"));
    }

    #[test]
    fn an_automated_sync_failing_through_its_retries_is_a_sync_error() {
        let a = app(
            json!({"sync": {"status": "OutOfSync"}, "health": {"status": "Missing"},
            "operationState": {"phase": "Running", "retryCount": 2,
                "message": "one or more objects failed to apply, reason: Service \"playground\" is invalid: spec.ports[0].port: Invalid value: 0. Retrying attempt #3 at 10:01AM.",
                "syncResult": {"resources": [{"kind": "Service", "namespace": "dev", "name": "playground", "status": "SyncFailed",
                    "message": "Service \"playground\" is invalid: spec.ports[0].port: Invalid value: 0"}]}}}),
            true,
        );
        let found = check(&snap(vec![a]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].cause, Cause::ApplicationSyncError);
        assert_eq!(
            found[0].related,
            vec![ObjectRef::namespaced("Service", "dev", "playground")]
        );
        // A first attempt still running is not judged.
        let running = app(
            json!({"sync": {"status": "OutOfSync"}, "operationState": {"phase": "Running", "message": "waiting for healthy state of apps/Deployment/playground"}}),
            true,
        );
        assert!(check(&snap(vec![running])).is_empty());
    }

    #[test]
    fn degraded_names_the_degraded_resource() {
        let a = app(
            json!({"sync": {"status": "Synced"}, "health": {"status": "Degraded"},
            "resources": [{"kind": "Deployment", "group": "apps", "namespace": "dev", "name": "playground", "status": "Synced",
                "health": {"status": "Degraded", "message": "Deployment \"playground\" exceeded its progress deadline"}},
                {"kind": "Service", "namespace": "dev", "name": "playground", "status": "Synced", "health": {"status": "Healthy"}}]}),
            true,
        );
        let f = &check(&snap(vec![a]))[0];
        assert_eq!(f.cause, Cause::ApplicationDegraded);
        assert!(
            f.evidence_value("resource Deployment dev/playground health")
                .unwrap()
                .contains("progress deadline")
        );
        assert!(f.fix.contains("bootstrap diagnose -n dev"));
    }

    #[test]
    fn out_of_sync_without_a_running_sync_is_named_and_a_running_one_is_not() {
        let status = json!({"sync": {"status": "OutOfSync", "revision": "abc"}, "health": {"status": "Healthy"},
            "resources": [{"kind": "Deployment", "group": "apps", "namespace": "dev", "name": "playground", "status": "OutOfSync"}]});
        let f = &check(&snap(vec![app(status.clone(), false)]))[0];
        assert_eq!(f.cause, Cause::ApplicationOutOfSync);
        assert_eq!(f.evidence_value("spec.syncPolicy.automated"), Some("off"));
        assert_eq!(
            f.evidence_value("resource Deployment dev/playground"),
            Some("OutOfSync")
        );
        let mut running = status;
        running["operationState"] = json!({"phase": "Running"});
        assert!(check(&snap(vec![app(running, true)])).is_empty());
        let healthy = json!({"sync": {"status": "Synced"}, "health": {"status": "Healthy"}});
        assert!(check(&snap(vec![app(healthy, true)])).is_empty());
    }
}
