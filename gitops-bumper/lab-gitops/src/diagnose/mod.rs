//! `diagnose`: read a cluster (read-only) and name each root cause of what does not run, with
//! the object, the evidence (field and value) and the fix.
//!
//! ```text
//! gather(client, scope) --> Snapshot --diagnose--> Vec<Finding> --render_text / render_json-->
//! ```
//! [`gather`] is the only I/O; [`diagnose`] is pure (the rules in `rules/`, one file per area),
//! so every rule is tested on objects recorded as the API returns them. [`run`] chains both for
//! callers that wait on namespaces and want the findings when the wait gives up.

mod after_wait;
mod finding;
mod render;
mod rules;
mod snapshot;

use std::collections::BTreeSet;

pub use after_wait::{application_namespaces, explain_wait};
pub use finding::{Cause, Evidence, Finding, ObjectRef};
pub use render::{render_json, render_text};
pub use snapshot::{DiagnoseError, Scope, Snapshot, gather};

/// Gathers `scope` and diagnoses it.
pub async fn run(client: &kube::Client, scope: &Scope) -> Result<Vec<Finding>, DiagnoseError> {
    Ok(diagnose(&gather(client, scope).await?))
}

/// Every root cause in `snapshot`, one finding each; nothing found is an empty list.
pub fn diagnose(snapshot: &Snapshot) -> Vec<Finding> {
    // The scope's own objects first; then the cluster's (nodes, DNS), which every scope
    // shows.
    let mut findings = Vec::new();
    let mut workload = rules::scheduling::check(snapshot);
    workload.extend(rules::pods::check(snapshot));
    let storage = rules::storage::check(snapshot);

    // Pods with a cause of their own: a Service in front of them is their consequence.
    let diagnosed: BTreeSet<ObjectRef> = workload
        .iter()
        .filter(|f| f.cause != Cause::PodNotReady)
        .flat_map(|f| f.related.iter().filter(|r| r.kind == "Pod").cloned())
        .collect();
    let services = rules::services::check(snapshot, &diagnosed);
    // "Not ready" with nothing more precise to say is the Service's finding when one selects
    // the pod: the Service with no endpoint is what users meet.
    let covered: BTreeSet<&ObjectRef> = services
        .findings
        .iter()
        .filter(|f| f.cause == Cause::ServiceNoReadyEndpoints)
        .flat_map(|f| f.related.iter())
        .collect();
    workload.retain(|f| {
        f.cause != Cause::PodNotReady || !f.related.iter().any(|p| covered.contains(p))
    });
    for (service, pod) in &services.blocked_by_pod {
        for f in workload.iter_mut().filter(|f| f.related.contains(pod)) {
            f.related.push(service.clone());
        }
    }
    findings.extend(merge(workload));
    findings.extend(rules::workloads::check(snapshot));
    findings.extend(storage);
    findings.extend(services.findings);
    findings.extend(rules::ingress::check(snapshot));

    for app in rules::argocd::check(snapshot) {
        // A Degraded resource already diagnosed where it runs is the root cause; the
        // Application is linked to that finding instead.
        if app.cause == Cause::ApplicationDegraded {
            let known: Vec<usize> = findings
                .iter()
                .enumerate()
                .filter(|(_, f)| app.related.contains(&f.object))
                .map(|(i, _)| i)
                .collect();
            if !known.is_empty() {
                for i in known {
                    findings[i].related.push(app.object.clone());
                }
                continue;
            }
        }
        findings.push(app);
    }
    findings.extend(rules::cluster::check(snapshot));
    // With kube-system in scope, the DNS Deployment's pods are diagnosed too: a precise cause
    // of theirs stays beside coredns-not-ready (which says what it breaks), a mere "not ready"
    // is what coredns-not-ready already says.
    let dns: Vec<ObjectRef> = findings
        .iter()
        .filter(|f| f.cause == Cause::CorednsNotReady)
        .map(|f| f.object.clone())
        .collect();
    findings.retain(|f| f.cause != Cause::PodNotReady || !dns.contains(&f.object));
    for f in &mut findings {
        dedup_in_order(&mut f.related);
    }
    findings
}

/// One finding per (cause, object): the pods of a workload share their template's cause.
fn merge(findings: Vec<Finding>) -> Vec<Finding> {
    let mut merged: Vec<Finding> = Vec::new();
    for f in findings {
        match merged
            .iter_mut()
            .find(|m| m.cause == f.cause && m.object == f.object)
        {
            Some(m) => m.related.extend(f.related),
            None => merged.push(f),
        }
    }
    for m in &mut merged {
        let pods: Vec<&str> = m
            .related
            .iter()
            .filter(|r| r.kind == "Pod")
            .map(|r| r.name.as_str())
            .collect();
        if m.object.kind != "Pod" && !pods.is_empty() {
            let value = pods.join(", ");
            m.evidence.insert(
                0,
                Evidence {
                    field: "pods".to_owned(),
                    value,
                },
            );
        }
    }
    merged
}

fn dedup_in_order(list: &mut Vec<ObjectRef>) {
    let mut seen = BTreeSet::new();
    list.retain(|o| seen.insert(o.clone()));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::rules::testing::{node, obj};
    use super::*;
    use serde_json::json;

    fn crashing_pod(name: &str) -> k8s_openapi::api::core::v1::Pod {
        obj(json!({
            "metadata": {"name": name, "namespace": "dev", "labels": {"app": "web", "pod-template-hash": "5f6d"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5f6d", "uid": "u", "controller": true}]},
            "spec": {"nodeName": "kwok-node-0", "containers": [{"name": "app", "image": "x", "ports": [{"containerPort": 80}]}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [{"name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 4,
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
        }))
    }

    fn service() -> k8s_openapi::api::core::v1::Service {
        obj(json!({"metadata": {"name": "web", "namespace": "dev"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]}}))
    }

    #[test]
    fn a_crash_looping_deployment_is_one_finding_that_names_its_pods_and_its_service() {
        let snap = Snapshot {
            nodes: vec![node("kwok-node-0")],
            pods: vec![crashing_pod("web-5f6d-a"), crashing_pod("web-5f6d-b")],
            services: vec![service()],
            ..Snapshot::default()
        };
        let found = diagnose(&snap);
        assert_eq!(found.len(), 1, "{found:#?}");
        let f = &found[0];
        assert_eq!(f.cause, Cause::CrashLoop);
        assert_eq!(f.object, ObjectRef::namespaced("Deployment", "dev", "web"));
        assert_eq!(f.evidence_value("pods"), Some("web-5f6d-a, web-5f6d-b"));
        assert!(
            f.related
                .contains(&ObjectRef::namespaced("Service", "dev", "web"))
        );
    }

    #[test]
    fn pods_merely_not_ready_behind_a_service_are_the_services_finding() {
        let mut pod = crashing_pod("web-5f6d-a");
        let status = pod.status.as_mut().unwrap();
        status.container_statuses = Some(vec![obj(
            json!({"name": "app", "image": "x", "imageID": "",
            "ready": false, "restartCount": 0, "state": {"running": {}}}),
        )]);
        let snap = Snapshot {
            nodes: vec![node("kwok-node-0")],
            pods: vec![pod.clone()],
            services: vec![service()],
            ..Snapshot::default()
        };
        let found = diagnose(&snap);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].cause, Cause::ServiceNoReadyEndpoints);
        let alone = Snapshot {
            services: vec![],
            ..snap
        };
        assert_eq!(diagnose(&alone)[0].cause, Cause::PodNotReady);
    }

    #[test]
    fn a_degraded_application_whose_deployment_is_diagnosed_links_to_it() {
        let app: kube::api::DynamicObject = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "playground", "namespace": "argocd"},
            "spec": {"destination": {"namespace": "dev"}, "source": {"repoURL": "r"}},
            "status": {"sync": {"status": "Synced"}, "health": {"status": "Degraded"},
                "resources": [{"kind": "Deployment", "group": "apps", "namespace": "dev", "name": "web",
                    "health": {"status": "Degraded"}}]}
        }))
        .unwrap();
        let snap = Snapshot {
            pods: vec![crashing_pod("web-5f6d-a")],
            applications: vec![app],
            ..Snapshot::default()
        };
        let found = diagnose(&snap);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].cause, Cause::CrashLoop);
        assert!(found[0].related.contains(&ObjectRef::namespaced(
            "Application",
            "argocd",
            "playground"
        )));
    }

    #[test]
    fn cluster_dns_not_ready_is_said_once_and_a_precise_pod_cause_stays_beside_it() {
        let dns = |replicas: i32| -> k8s_openapi::api::apps::v1::Deployment {
            obj(
                json!({"metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
                "spec": {"replicas": replicas, "selector": {}, "template": {}}, "status": {"readyReplicas": 0}}),
            )
        };
        let pod = |state: serde_json::Value| -> k8s_openapi::api::core::v1::Pod {
            obj(json!({
                "metadata": {"name": "coredns-7c-x", "namespace": "kube-system", "labels": {"pod-template-hash": "7c"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "coredns-7c", "uid": "u", "controller": true}]},
                "spec": {"nodeName": "kwok-node-0", "containers": [{"name": "coredns", "image": "coredns"}]},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [{"name": "coredns", "image": "coredns", "imageID": "", "ready": false,
                        "restartCount": 0, "state": state}]}
            }))
        };
        let not_ready = Snapshot {
            dns_deployments: vec![dns(1)],
            pods: vec![pod(json!({"running": {}}))],
            ..Snapshot::default()
        };
        let causes: Vec<Cause> = diagnose(&not_ready).iter().map(|f| f.cause).collect();
        assert_eq!(causes, vec![Cause::CorednsNotReady]);
        let pulling = Snapshot {
            pods: vec![pod(json!({"waiting": {"reason": "ImagePullBackOff"}}))],
            ..not_ready
        };
        let causes: Vec<Cause> = diagnose(&pulling).iter().map(|f| f.cause).collect();
        assert_eq!(causes, vec![Cause::ImagePullFailed, Cause::CorednsNotReady]);
    }

    #[test]
    fn a_healthy_namespace_has_no_finding() {
        let pod: k8s_openapi::api::core::v1::Pod = obj(json!({
            "metadata": {"name": "web-1", "namespace": "dev", "labels": {"app": "web"}},
            "spec": {"nodeName": "kwok-node-0", "containers": [{"name": "app", "image": "x", "ports": [{"containerPort": 80}]}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "app", "image": "x", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}}]}
        }));
        let slice = obj(
            json!({"metadata": {"name": "web-x", "namespace": "dev", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.0.1"], "conditions": {"ready": true}}]}),
        );
        let snap = Snapshot {
            nodes: vec![node("kwok-node-0")],
            pods: vec![pod],
            services: vec![service()],
            endpoint_slices: vec![slice],
            ..Snapshot::default()
        };
        assert_eq!(diagnose(&snap), Vec::<Finding>::new());
    }
}
