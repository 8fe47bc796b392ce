//! The rules: pure functions of a [`Snapshot`], one file per area. This file holds what
//! several areas share (owners, conditions, events, selectors, quantities).

pub(crate) mod argocd;
pub(crate) mod cluster;
pub(crate) mod ingress;
pub(crate) mod pods;
pub(crate) mod scheduling;
pub(crate) mod services;
pub(crate) mod storage;
pub(crate) mod workloads;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Event, Pod, PodCondition};
use kube::ResourceExt;

use super::finding::ObjectRef;
use super::snapshot::Snapshot;

pub(crate) fn pod_ref(pod: &Pod) -> ObjectRef {
    ObjectRef::namespaced("Pod", &pod.namespace().unwrap_or_default(), &pod.name_any())
}

/// The object whose template makes `pod`: its Deployment (through the ReplicaSet),
/// StatefulSet, DaemonSet or Job; the pod itself when it has no controller.
pub(crate) fn workload_of(snap: &Snapshot, pod: &Pod) -> ObjectRef {
    let ns = pod.namespace().unwrap_or_default();
    let Some(owner) = pod
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true))
    else {
        return pod_ref(pod);
    };
    if owner.kind != "ReplicaSet" {
        return ObjectRef::namespaced(&owner.kind, &ns, &owner.name);
    }
    let rs = snap
        .replica_sets
        .iter()
        .find(|rs| rs.name_any() == owner.name && rs.namespace().as_deref() == Some(&ns));
    if let Some(rs) = rs {
        return match rs
            .owner_references()
            .iter()
            .find(|o| o.controller == Some(true))
        {
            Some(d) => ObjectRef::namespaced(&d.kind, &ns, &d.name),
            None => ObjectRef::namespaced("ReplicaSet", &ns, &owner.name),
        };
    }
    // The ReplicaSet was not read: a Deployment names it `<deployment>-<pod-template-hash>`.
    match pod.labels().get("pod-template-hash") {
        Some(hash) if owner.name.ends_with(&format!("-{hash}")) => {
            let name = &owner.name[..owner.name.len() - hash.len() - 1];
            ObjectRef::namespaced("Deployment", &ns, name)
        }
        _ => ObjectRef::namespaced("ReplicaSet", &ns, &owner.name),
    }
}

pub(crate) fn pod_condition<'a>(pod: &'a Pod, type_: &str) -> Option<&'a PodCondition> {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == type_))
}

pub(crate) fn pod_is_ready(pod: &Pod) -> bool {
    pod_condition(pod, "Ready").is_some_and(|c| c.status == "True")
}

pub(crate) fn pod_phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// Pods that are going away, or done, are nobody's problem.
pub(crate) fn pod_is_live(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && !matches!(pod_phase(pod), "Succeeded")
}

/// The most recent event about (kind, namespace, name) whose reason is one of `reasons`
/// (any reason when empty).
pub(crate) fn last_event<'a>(
    snap: &'a Snapshot,
    object: &ObjectRef,
    reasons: &[&str],
) -> Option<&'a Event> {
    snap.events
        .iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some(object.kind.as_str())
                && e.involved_object.name.as_deref() == Some(object.name.as_str())
                && e.involved_object.namespace == object.namespace
                && (reasons.is_empty() || e.reason.as_deref().is_some_and(|r| reasons.contains(&r)))
        })
        .max_by_key(|e| event_time(e))
}

pub(crate) fn event_time(e: &Event) -> Option<String> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0.to_string()))
}

/// `a=1,b=2` (sorted, as a map iterates).
pub(crate) fn labels_text(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "(none)".to_owned();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn selector_matches(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

pub(crate) use crate::quantity::quantity;

/// CPU in cores as Kubernetes writes it: `16`, `500m`.
pub(crate) fn cpu_text(cores: f64) -> String {
    if (cores - cores.round()).abs() < 1e-9 {
        format!("{}", cores.round() as i64)
    } else {
        format!("{}m", (cores * 1000.0).round() as i64)
    }
}

/// Bytes in the largest binary unit that keeps one decimal: `64Gi`, `1.5Gi`, `512Mi`.
pub(crate) fn memory_text(bytes: f64) -> String {
    let units = [
        ("Ei", 6),
        ("Pi", 5),
        ("Ti", 4),
        ("Gi", 3),
        ("Mi", 2),
        ("Ki", 1),
    ];
    for (unit, power) in units {
        let size = 1024.0_f64.powi(power);
        if bytes >= size {
            let v = bytes / size;
            return if (v - v.round()).abs() < 0.05 {
                format!("{}{unit}", v.round() as i64)
            } else {
                format!("{v:.1}{unit}")
            };
        }
    }
    format!("{}", bytes.round() as i64)
}

/// `kubectl` flags naming `object`'s namespace, for fixes.
pub(crate) fn ns_flag(object: &ObjectRef) -> String {
    match &object.namespace {
        Some(ns) => format!("-n {ns} "),
        None => String::new(),
    }
}

/// `deployment/web` as kubectl takes it.
pub(crate) fn kubectl_name(object: &ObjectRef) -> String {
    format!("{}/{}", object.kind.to_lowercase(), object.name)
}

/// Where a pod template's fields live in `object`: `spec.template.spec` for workloads,
/// `spec.jobTemplate.spec.template.spec` for a CronJob, `spec` for a bare pod.
pub(crate) fn pod_spec_path(object: &ObjectRef) -> &'static str {
    match object.kind.as_str() {
        "Pod" => "spec",
        "CronJob" => "spec.jobTemplate.spec.template.spec",
        _ => "spec.template.spec",
    }
}

#[cfg(test)]
pub(crate) mod testing {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    //! Objects as the API returns them, built from JSON.

    use serde::de::DeserializeOwned;

    pub(crate) fn obj<T: DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    /// The kwok node of the test control plane: 16 CPUs, 64Gi, Ready, no taints.
    pub(crate) fn node(name: &str) -> k8s_openapi::api::core::v1::Node {
        obj(serde_json::json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "type": "kwok"}},
            "spec": {},
            "status": {
                "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "250"},
                "capacity": {"cpu": "16", "memory": "64Gi", "pods": "250"},
                "conditions": [
                    {"type": "Ready", "status": "True", "reason": "KubeletReady"},
                    {"type": "MemoryPressure", "status": "False"},
                    {"type": "DiskPressure", "status": "False"},
                    {"type": "PIDPressure", "status": "False"}
                ]
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::testing::obj;
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_parse_in_base_units() {
        assert_eq!(quantity("500m"), Some(0.5));
        assert_eq!(quantity("16"), Some(16.0));
        assert_eq!(quantity("64Gi"), Some(64.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(quantity("1G"), Some(1e9));
        assert_eq!(quantity("1e3"), Some(1000.0));
        assert_eq!(quantity("12Qi"), None);
        assert_eq!(cpu_text(16.0), "16");
        assert_eq!(cpu_text(0.25), "250m");
        assert_eq!(memory_text(64.0 * 1024.0 * 1024.0 * 1024.0), "64Gi");
        assert_eq!(memory_text(1.5 * 1024.0 * 1024.0 * 1024.0), "1.5Gi");
    }

    #[test]
    fn a_pod_of_a_deployment_is_diagnosed_as_the_deployment() {
        let pod: Pod = obj(json!({
            "metadata": {"name": "web-7d9f8b-x2x", "namespace": "dev",
                "labels": {"pod-template-hash": "7d9f8b"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "web-7d9f8b", "uid": "u", "controller": true}]}
        }));
        let mut snap = Snapshot::default();
        // Without the ReplicaSet, from the hash.
        assert_eq!(
            workload_of(&snap, &pod),
            ObjectRef::namespaced("Deployment", "dev", "web")
        );
        snap.replica_sets.push(obj(json!({
            "metadata": {"name": "web-7d9f8b", "namespace": "dev",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                    "name": "web", "uid": "d", "controller": true}]}
        })));
        assert_eq!(
            workload_of(&snap, &pod),
            ObjectRef::namespaced("Deployment", "dev", "web")
        );
        let bare: Pod = obj(json!({"metadata": {"name": "solo", "namespace": "dev"}}));
        assert_eq!(
            workload_of(&snap, &bare),
            ObjectRef::namespaced("Pod", "dev", "solo")
        );
    }
}
