//! The cluster every namespace depends on: nodes that are not Ready or under pressure, and
//! the cluster DNS when it is installed and not ready (a cluster without one is not judged).

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;

use crate::diagnose::finding::{Cause, Finding, ObjectRef};
use crate::diagnose::snapshot::Snapshot;

const PRESSURES: &[&str] = &[
    "MemoryPressure",
    "DiskPressure",
    "PIDPressure",
    "NetworkUnavailable",
];

pub(crate) fn check(snap: &Snapshot) -> Vec<Finding> {
    let mut out: Vec<Finding> = snap.nodes.iter().flat_map(node).collect();
    out.extend(dns(snap));
    out
}

fn node(n: &Node) -> Vec<Finding> {
    let name = n.name_any();
    let object = ObjectRef::cluster("Node", &name);
    let conditions = n
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    let ready = conditions.iter().find(|c| c.type_ == "Ready");
    if ready.is_none_or(|c| c.status != "True") {
        let mut f = Finding::new(
            Cause::NodeNotReady,
            object.clone(),
            format!(
                "node {name} is not Ready: its kubelet does not report it healthy, and its pods are not run or not watched"
            ),
        );
        match ready {
            Some(c) => {
                f = f.evidence("status.conditions[Ready].status", c.status.clone());
                if let Some(r) = &c.reason {
                    f = f.evidence("status.conditions[Ready].reason", r.clone());
                }
                if let Some(m) = c.message.as_deref().filter(|m| !m.is_empty()) {
                    f = f.evidence("status.conditions[Ready].message", m);
                }
                if let Some(t) = &c.last_heartbeat_time {
                    f = f.evidence(
                        "status.conditions[Ready].lastHeartbeatTime",
                        t.0.to_string(),
                    );
                }
            }
            None => {
                f = f.evidence(
                    "status.conditions[Ready]",
                    "(not reported: no kubelet has registered this node's status)",
                )
            }
        }
        out.push(f.fix(format!(
            "on node {name}, check the kubelet and the container runtime (systemctl status kubelet, or k3s/k3s-agent; journalctl -u k3s-agent) and its network to the API server; if the machine is gone: kubectl delete node {name}"
        )));
    }
    for c in conditions
        .iter()
        .filter(|c| PRESSURES.contains(&c.type_.as_str()) && c.status == "True")
    {
        let mut f = Finding::new(
            Cause::NodePressure,
            object.clone(),
            format!(
                "node {name} reports {}: the kubelet evicts pods and refuses new ones",
                c.type_
            ),
        )
        .evidence(format!("status.conditions[{}].status", c.type_), "True");
        if let Some(m) = c.message.as_deref().filter(|m| !m.is_empty()) {
            f = f.evidence(format!("status.conditions[{}].message", c.type_), m);
        }
        let fix = match c.type_.as_str() {
            "MemoryPressure" => format!(
                "free memory on {name}: lower the memory requests and limits of its pods, move workloads away (kubectl drain {name} --ignore-daemonsets), or add memory"
            ),
            "DiskPressure" => format!(
                "free disk on {name}: remove unused images (crictl rmi --prune), old logs and volumes, or grow the disk"
            ),
            "PIDPressure" => format!(
                "find the pods spawning processes on {name} and limit them (kubectl top pod -A; pod pids limit)"
            ),
            _ => format!("fix the network plugin on {name} (its pods in kube-system, its logs)"),
        };
        out.push(f.fix(fix));
    }
    out
}

fn dns(snap: &Snapshot) -> Vec<Finding> {
    snap.dns_deployments
        .iter()
        .filter_map(|d| {
            let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let ready = d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
            if wanted == 0 || ready >= wanted {
                return None;
            }
            let name = d.name_any();
            let ns = d.namespace().unwrap_or_else(|| "kube-system".into());
            Some(
                Finding::new(
                    Cause::CorednsNotReady,
                    ObjectRef::namespaced("Deployment", &ns, &name),
                    format!("the cluster DNS ({ns}/{name}) has {ready} of {wanted} replicas ready: names of Services do not resolve in pods"),
                )
                .evidence("spec.replicas", wanted.to_string())
                .evidence("status.readyReplicas", ready.to_string())
                .fix(format!(
                    "see why its pods are not ready: bootstrap diagnose -n {ns} (or kubectl -n {ns} get pods -l k8s-app=kube-dns; kubectl -n {ns} logs deployment/{name})"
                )),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::super::testing::{node as ready_node, obj};
    use super::*;
    use serde_json::json;

    #[test]
    fn a_ready_node_without_pressure_is_fine() {
        let s = Snapshot {
            nodes: vec![ready_node("kwok-node-0")],
            ..Snapshot::default()
        };
        assert!(check(&s).is_empty());
    }

    #[test]
    fn a_node_not_ready_or_never_reported_is_named() {
        let unknown: Node = obj(
            json!({"metadata": {"name": "n2"}, "status": {"conditions": [
            {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}]}}),
        );
        let silent: Node = obj(json!({"metadata": {"name": "n3"}}));
        let s = Snapshot {
            nodes: vec![unknown, silent],
            ..Snapshot::default()
        };
        let found = check(&s);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].cause, Cause::NodeNotReady);
        assert_eq!(found[0].object, ObjectRef::cluster("Node", "n2"));
        assert_eq!(
            found[0].evidence_value("status.conditions[Ready].reason"),
            Some("NodeStatusUnknown")
        );
        assert!(
            found[1]
                .evidence_value("status.conditions[Ready]")
                .unwrap()
                .starts_with("(not reported")
        );
    }

    #[test]
    fn pressure_is_named_by_its_condition() {
        let mut n = ready_node("n1");
        n.status.as_mut().unwrap().conditions.as_mut().unwrap()[2] = obj(
            json!({"type": "DiskPressure", "status": "True", "message": "kubelet has disk pressure"}),
        );
        let f = &check(&Snapshot {
            nodes: vec![n],
            ..Snapshot::default()
        })[0];
        assert_eq!(f.cause, Cause::NodePressure);
        assert_eq!(
            f.evidence_value("status.conditions[DiskPressure].status"),
            Some("True")
        );
        assert!(f.fix.contains("crictl rmi --prune"));
    }

    #[test]
    fn cluster_dns_is_judged_only_when_installed() {
        assert!(check(&Snapshot::default()).is_empty());
        let d = obj(
            json!({"metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
            "spec": {"replicas": 2, "selector": {}, "template": {}}, "status": {"readyReplicas": 1}}),
        );
        let f = &check(&Snapshot {
            dns_deployments: vec![d],
            ..Snapshot::default()
        })[0];
        assert_eq!(f.cause, Cause::CorednsNotReady);
        assert_eq!(
            f.object,
            ObjectRef::namespaced("Deployment", "kube-system", "coredns")
        );
        assert_eq!(f.evidence_value("status.readyReplicas"), Some("1"));
    }
}
