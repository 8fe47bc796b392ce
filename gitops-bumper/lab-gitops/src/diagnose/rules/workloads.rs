//! Workloads whose controller cannot create pods at all (a ServiceAccount that does not exist,
//! a quota, an admission rule): no pod exists to diagnose, so the controller's own report is
//! the finding — a ReplicaSet's ReplicaFailure condition, or the FailedCreate event that the
//! StatefulSet, DaemonSet and Job controllers emit.

use kube::ResourceExt;

use super::{event_time, ns_flag, pod_spec_path};
use crate::diagnose::finding::{Cause, Finding, ObjectRef};
use crate::diagnose::snapshot::Snapshot;

const EVENT_KINDS: &[&str] = &["StatefulSet", "DaemonSet", "Job", "ReplicationController"];

pub(crate) fn check(snap: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    for rs in &snap.replica_sets {
        let failure = rs
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
            });
        let Some(failure) = failure else { continue };
        let ns = rs.namespace().unwrap_or_default();
        let object = match rs
            .owner_references()
            .iter()
            .find(|o| o.controller == Some(true))
        {
            Some(o) => ObjectRef::namespaced(&o.kind, &ns, &o.name),
            None => ObjectRef::namespaced("ReplicaSet", &ns, &rs.name_any()),
        };
        let message = failure.message.clone().unwrap_or_default();
        out.push(
            finding(object, &message)
                .evidence(
                    format!(
                        "ReplicaSet {} status.conditions[ReplicaFailure].reason",
                        rs.name_any()
                    ),
                    failure.reason.clone().unwrap_or_default(),
                )
                .related(ObjectRef::namespaced("ReplicaSet", &ns, &rs.name_any())),
        );
    }
    // The last word of an event stream: a FailedCreate followed by a SuccessfulCreate is over.
    let mut latest: Vec<(&ObjectRef, &k8s_openapi::api::core::v1::Event)> = Vec::new();
    let refs: Vec<(ObjectRef, &k8s_openapi::api::core::v1::Event)> = snap
        .events
        .iter()
        .filter_map(|e| {
            let o = &e.involved_object;
            let kind = o.kind.as_deref()?;
            EVENT_KINDS.contains(&kind).then(|| {
                (
                    ObjectRef::namespaced(
                        kind,
                        o.namespace.as_deref().unwrap_or_default(),
                        o.name.as_deref().unwrap_or_default(),
                    ),
                    e,
                )
            })
        })
        .collect();
    for (object, event) in &refs {
        match latest.iter_mut().find(|(o, _)| *o == object) {
            Some(slot) if event_time(event) > event_time(slot.1) => slot.1 = event,
            Some(_) => {}
            None => latest.push((object, event)),
        }
    }
    for (object, event) in latest {
        if event.reason.as_deref() != Some("FailedCreate") {
            continue;
        }
        let message = event.message.clone().unwrap_or_default();
        out.push(finding(object.clone(), &message).evidence("event reason", "FailedCreate"));
    }
    out
}

fn finding(object: ObjectRef, message: &str) -> Finding {
    let ns = object.namespace.clone().unwrap_or_default();
    let path = pod_spec_path(&object);
    let lower = message.to_lowercase();
    let quoted = |after: &str| -> Option<String> {
        let at = lower.find(after)?;
        message[at + after.len()..]
            .split('"')
            .nth(1)
            .map(str::to_owned)
    };
    let fix = if let Some(sa) = quoted("serviceaccount ").filter(|_| lower.contains("not found")) {
        format!(
            "create the ServiceAccount: kubectl {}create serviceaccount {sa}; or set {path}.serviceAccountName to one that exists",
            ns_flag(&object)
        )
    } else if lower.contains("exceeded quota") || lower.contains("must specify") {
        format!(
            "the namespace's ResourceQuota refuses the pods: compare with kubectl {}describe resourcequota, then lower or set {path}.containers[*].resources, or raise the quota",
            ns_flag(&object)
        )
    } else if lower.contains("podsecurity") {
        format!(
            "make {path}.securityContext and the containers' securityContext meet the namespace's Pod Security level (label pod-security.kubernetes.io/enforce on namespace {ns})"
        )
    } else if lower.contains("admission webhook") {
        "an admission webhook refuses the pods: fix what its message asks, or the webhook"
            .to_owned()
    } else {
        format!("fix what the message names in {path}")
    };
    Finding::new(
        Cause::PodCreateFailed,
        object.clone(),
        format!(
            "the {} controller cannot create pods for {}: {message}",
            object.kind, object.name
        ),
    )
    .evidence("message", message)
    .fix(fix)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::super::testing::obj;
    use super::*;
    use serde_json::json;

    #[test]
    fn a_replica_failure_names_the_deployment_and_the_missing_service_account() {
        let s = Snapshot {
            replica_sets: vec![obj(json!({
                "metadata": {"name": "web-6d4f", "namespace": "dev",
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u", "controller": true}]},
                "status": {"replicas": 0, "conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                    "message": "pods \"web-6d4f-\" is forbidden: error looking up service account dev/robot: serviceaccount \"robot\" not found"}]}
            }))],
            ..Snapshot::default()
        };
        let found = check(&s);
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!(f.cause, Cause::PodCreateFailed);
        assert_eq!(f.object, ObjectRef::namespaced("Deployment", "dev", "web"));
        assert_eq!(
            f.evidence_value("ReplicaSet web-6d4f status.conditions[ReplicaFailure].reason"),
            Some("FailedCreate")
        );
        assert!(
            f.fix.contains("kubectl -n dev create serviceaccount robot"),
            "{}",
            f.fix
        );
    }

    #[test]
    fn a_failed_create_event_counts_until_a_later_event_says_otherwise() {
        let event =
            |reason: &str, time: &str, message: &str| -> k8s_openapi::api::core::v1::Event {
                obj(
                    json!({"metadata": {"name": format!("db.{time}"), "namespace": "dev"},
                "involvedObject": {"kind": "StatefulSet", "namespace": "dev", "name": "db"},
                "reason": reason, "type": "Warning", "lastTimestamp": time, "message": message}),
                )
            };
        let failed = event(
            "FailedCreate",
            "2026-01-01T00:00:00Z",
            "create Pod db-0 in StatefulSet db failed error: pods \"db-0\" is forbidden: exceeded quota: small, requested: cpu=2, used: cpu=0, limited: cpu=1",
        );
        let s = Snapshot {
            events: vec![failed.clone()],
            ..Snapshot::default()
        };
        let f = &check(&s)[0];
        assert_eq!(f.object, ObjectRef::namespaced("StatefulSet", "dev", "db"));
        assert!(f.fix.contains("describe resourcequota"), "{}", f.fix);
        let later = event(
            "SuccessfulCreate",
            "2026-01-01T00:05:00Z",
            "create Pod db-0 in StatefulSet db successful",
        );
        let s = Snapshot {
            events: vec![failed, later],
            ..Snapshot::default()
        };
        assert!(check(&s).is_empty());
    }
}
