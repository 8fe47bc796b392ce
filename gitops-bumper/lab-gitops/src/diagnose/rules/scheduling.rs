//! Pods no node takes: the scheduler's filters replayed on the nodes read (requests against
//! allocatable, taints against tolerations, nodeSelector and required node affinity against
//! labels), with the scheduler's own message as evidence and as the fallback.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, Pod, Taint, Toleration};
use kube::ResourceExt;

use super::{
    cpu_text, kubectl_name, labels_text, memory_text, ns_flag, pod_condition, pod_is_live, pod_ref,
    pod_spec_path, quantity, workload_of,
};
use crate::diagnose::finding::{Cause, Finding};
use crate::diagnose::snapshot::Snapshot;

/// Why one node does not take the pod.
#[derive(Debug, Clone, PartialEq)]
enum Misfit {
    Cordoned,
    /// The label (key, wanted) the node lacks; wanted is how the pod words it.
    Selector {
        key: String,
        wanted: String,
        has: Option<String>,
    },
    Taint(Taint),
    /// resource, requested, allocatable (base units).
    Resources {
        resource: &'static str,
        requested: f64,
        allocatable: f64,
    },
}

pub(crate) fn check(snap: &Snapshot) -> Vec<Finding> {
    snap.pods
        .iter()
        .filter(|p| pod_is_live(p) && unscheduled(p))
        .filter(|p| !waits_for_unbound_claim(snap, p))
        .filter_map(|p| finding(snap, p))
        .collect()
}

fn unscheduled(pod: &Pod) -> bool {
    pod.spec.as_ref().is_some_and(|s| s.node_name.is_none()) && super::pod_phase(pod) == "Pending"
}

/// The claim's rule says why: a pod waiting for its volume is not the scheduler's doing.
fn waits_for_unbound_claim(snap: &Snapshot, pod: &Pod) -> bool {
    let ns = pod.namespace().unwrap_or_default();
    claims_of(pod).iter().any(|claim| {
        snap.pvcs.iter().any(|c| {
            c.name_any() == *claim
                && c.namespace().as_deref() == Some(&ns)
                && c.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound")
        })
    })
}

pub(crate) fn claims_of(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| {
            v.persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.clone())
        })
        .collect()
}

/// The pod's effective request of `resource`: its containers together, or its largest init
/// container alone (they run one at a time before), whichever is more.
fn request(pod: &Pod, resource: &str) -> f64 {
    let Some(spec) = pod.spec.as_ref() else {
        return 0.0;
    };
    let of = |c: &k8s_openapi::api::core::v1::Container| {
        c.resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get(resource))
            .and_then(|q| quantity(&q.0))
            .unwrap_or(0.0)
    };
    let containers: f64 = spec.containers.iter().map(of).sum();
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(of)
        .fold(0.0, f64::max);
    let overhead = spec
        .overhead
        .as_ref()
        .and_then(|o| o.get(resource))
        .and_then(|q| quantity(&q.0))
        .unwrap_or(0.0);
    containers.max(init) + overhead
}

fn tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| {
        let effect_ok = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect);
        let key_ok = match t.key.as_deref() {
            None | Some("") => t.operator.as_deref() == Some("Exists"),
            Some(k) => k == taint.key,
        };
        let value_ok = match t.operator.as_deref() {
            Some("Exists") => true,
            _ => {
                t.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default()
            }
        };
        effect_ok && key_ok && value_ok
    })
}

fn requirement_holds(req: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&req.key);
    let values = req.values.as_deref().unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => value
            .and_then(|v| number(v))
            .zip(values.first().and_then(|v| number(v)))
            .is_some_and(|(a, b)| a > b),
        "Lt" => value
            .and_then(|v| number(v))
            .zip(values.first().and_then(|v| number(v)))
            .is_some_and(|(a, b)| a < b),
        _ => false,
    }
}

fn requirement_text(req: &NodeSelectorRequirement) -> String {
    let values = req.values.as_deref().unwrap_or_default().join(",");
    match req.operator.as_str() {
        "Exists" | "DoesNotExist" => req.operator.clone(),
        op => format!("{op} ({values})"),
    }
}

fn misfits(pod: &Pod, node: &Node) -> Vec<Misfit> {
    let mut out = Vec::new();
    let Some(spec) = pod.spec.as_ref() else {
        return out;
    };
    if node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
    {
        out.push(Misfit::Cordoned);
    }
    let labels = node.labels();
    for (key, wanted) in spec.node_selector.iter().flatten() {
        if labels.get(key) != Some(wanted) {
            out.push(Misfit::Selector {
                key: key.clone(),
                wanted: wanted.clone(),
                has: labels.get(key).cloned(),
            });
        }
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    if let Some(required) = required {
        // Terms are OR'ed; within a term, expressions are AND'ed.
        let terms = &required.node_selector_terms;
        let any_term = terms.iter().any(|t| {
            t.match_expressions
                .iter()
                .flatten()
                .all(|r| requirement_holds(r, labels))
        });
        if !any_term {
            let failing = terms
                .iter()
                .flat_map(|t| t.match_expressions.iter().flatten())
                .find(|r| !requirement_holds(r, labels));
            if let Some(r) = failing {
                out.push(Misfit::Selector {
                    key: r.key.clone(),
                    wanted: requirement_text(r),
                    has: labels.get(&r.key).cloned(),
                });
            }
        }
    }
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    for taint in node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
    {
        if matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute")
            && !tolerates(tolerations, taint)
        {
            out.push(Misfit::Taint(taint.clone()));
        }
    }
    let allocatable = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
    for resource in ["cpu", "memory"] {
        let requested = request(pod, resource);
        // A node that reports no allocatable (no kubelet ever did) offers nothing, as the
        // scheduler counts it.
        let offered = allocatable
            .and_then(|a| a.get(resource))
            .and_then(|q| quantity(&q.0))
            .unwrap_or(0.0);
        if requested > offered {
            out.push(Misfit::Resources {
                resource,
                requested,
                allocatable: offered,
            });
        }
    }
    out
}

fn taint_text(t: &Taint) -> String {
    match t.value.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => format!("{}={v}:{}", t.key, t.effect),
        None => format!("{}:{}", t.key, t.effect),
    }
}

fn toleration_text(t: &Toleration) -> String {
    let key = t.key.as_deref().filter(|k| !k.is_empty()).unwrap_or("*");
    let what = match (t.operator.as_deref(), t.value.as_deref()) {
        (Some("Exists"), _) => key.to_owned(),
        (_, Some(v)) => format!("{key}={v}"),
        _ => key.to_owned(),
    };
    match t.effect.as_deref().filter(|e| !e.is_empty()) {
        Some(e) => format!("{what}:{e}"),
        None => what,
    }
}

fn amount(resource: &str, v: f64) -> String {
    if resource == "cpu" {
        cpu_text(v)
    } else {
        memory_text(v)
    }
}

fn finding(snap: &Snapshot, pod: &Pod) -> Option<Finding> {
    let scheduled = pod_condition(pod, "PodScheduled");
    let message = scheduled
        .filter(|c| c.status == "False")
        .and_then(|c| c.message.clone())
        .unwrap_or_default();
    let object = workload_of(snap, pod);
    let per_node: Vec<(&Node, Vec<Misfit>)> =
        snap.nodes.iter().map(|n| (n, misfits(pod, n))).collect();
    let everywhere = |pred: &dyn Fn(&Misfit) -> bool| {
        !per_node.is_empty() && per_node.iter().all(|(_, m)| m.iter().any(pred))
    };
    let is_selector = |m: &Misfit| matches!(m, Misfit::Selector { .. });
    let is_taint = |m: &Misfit| matches!(m, Misfit::Taint(_));
    let is_resources = |m: &Misfit| matches!(m, Misfit::Resources { .. });
    let lower = message.to_lowercase();
    let cause = if everywhere(&is_selector) {
        Cause::PodUnschedulableNodeSelector
    } else if everywhere(&|m| is_taint(m) || is_selector(m)) {
        Cause::PodUnschedulableTaint
    } else if everywhere(&|m| is_resources(m) || is_taint(m) || is_selector(m)) {
        Cause::PodUnschedulableInsufficientResources
    } else if message.is_empty()
        && !per_node.is_empty()
        && per_node.iter().all(|(_, m)| m.is_empty())
    {
        // A node fits and the scheduler said nothing: it has not had its turn yet.
        return None;
    } else if lower.contains("insufficient cpu") || lower.contains("insufficient memory") {
        Cause::PodUnschedulableInsufficientResources
    } else if lower.contains("untolerated taint") || lower.contains("had taint") {
        Cause::PodUnschedulableTaint
    } else if lower.contains("node affinity/selector") {
        Cause::PodUnschedulableNodeSelector
    } else if message.is_empty() && !per_node.is_empty() {
        return None;
    } else {
        Cause::PodUnschedulable
    };
    let path = pod_spec_path(&object);
    let mut f = Finding::new(cause, object.clone(), String::new());
    if !message.is_empty() {
        f = f.evidence("status.conditions[PodScheduled].message", message.clone());
    }
    let summary;
    let fix;
    match cause {
        Cause::PodUnschedulableNodeSelector => {
            let (key, wanted) = per_node
                .iter()
                .flat_map(|(_, m)| m.iter())
                .find_map(|m| match m {
                    Misfit::Selector { key, wanted, .. } => Some((key.clone(), wanted.clone())),
                    _ => None,
                })
                .unwrap_or_else(|| ("<label>".into(), "<value>".into()));
            let is_affinity = !pod
                .spec
                .as_ref()
                .and_then(|s| s.node_selector.as_ref())
                .is_some_and(|s| s.contains_key(&key));
            let field = if is_affinity {
                format!(
                    "{path}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution[{key}]"
                )
            } else {
                format!("{path}.nodeSelector.{key}")
            };
            f = f.evidence(field.clone(), wanted.clone());
            for (node, m) in &per_node {
                for misfit in m {
                    if let Misfit::Selector { key: k, has, .. } = misfit
                        && *k == key
                    {
                        f = f.evidence(
                            format!("node {} label {key}", node.name_any()),
                            has.clone().unwrap_or_else(|| "(not set)".into()),
                        );
                    }
                }
            }
            summary = format!(
                "no node has label {key} {}",
                if is_affinity {
                    wanted.clone()
                } else {
                    format!("= {wanted}")
                }
            );
            let value = if is_affinity {
                "<value>".to_owned()
            } else {
                wanted.clone()
            };
            fix = format!(
                "label a node that should run it: kubectl label node <node> {key}={value}; or change or remove {field}"
            );
        }
        Cause::PodUnschedulableTaint => {
            let mut taints = Vec::new();
            for (node, m) in &per_node {
                for misfit in m {
                    if let Misfit::Taint(t) = misfit {
                        f = f.evidence(
                            format!("node {} spec.taints", node.name_any()),
                            taint_text(t),
                        );
                        taints.push((node.name_any(), t.clone()));
                    }
                }
            }
            let tolerations: Vec<String> = pod
                .spec
                .as_ref()
                .and_then(|s| s.tolerations.as_ref())
                .into_iter()
                .flatten()
                .map(toleration_text)
                .collect();
            // Admission adds tolerations of its own (not-ready, unreachable): show them all,
            // so that the missing one is plain.
            f = f.evidence(
                format!("{path}.tolerations"),
                if tolerations.is_empty() {
                    "(none)".to_owned()
                } else {
                    tolerations.join(", ")
                },
            );
            let (node, t) = taints.first().cloned().unwrap_or_else(|| {
                (
                    "<node>".into(),
                    Taint {
                        key: "<key>".into(),
                        effect: "NoSchedule".into(),
                        ..Taint::default()
                    },
                )
            });
            summary = format!(
                "every node has a taint the pod does not tolerate ({})",
                taint_text(&t)
            );
            let value = t
                .value
                .as_deref()
                .map(|v| format!(", value: {v}"))
                .unwrap_or_default();
            let operator = if t.value.is_some() { "Equal" } else { "Exists" };
            fix = format!(
                "remove the taint if it is not wanted: kubectl taint node {node} {}-; or add to {path}.tolerations: {{key: {}, operator: {operator}{value}, effect: {}}}",
                taint_text(&t),
                t.key,
                t.effect
            );
        }
        Cause::PodUnschedulableInsufficientResources => {
            let mut worst: Option<(&'static str, f64, f64)> = None;
            for (node, m) in &per_node {
                for misfit in m {
                    if let Misfit::Resources {
                        resource,
                        requested,
                        allocatable,
                    } = misfit
                    {
                        f = f.evidence(
                            format!("node {} status.allocatable.{resource}", node.name_any()),
                            amount(resource, *allocatable),
                        );
                        if worst.is_none_or(|(_, _, a)| *allocatable > a) {
                            worst = Some((resource, *requested, *allocatable));
                        }
                    }
                }
            }
            match worst {
                Some((resource, requested, allocatable)) => {
                    f.evidence.insert(
                        0,
                        crate::diagnose::finding::Evidence {
                            field: format!("{path}.containers[*].resources.requests.{resource}"),
                            value: amount(resource, requested),
                        },
                    );
                    summary = format!(
                        "the pod requests {} {resource}, more than any node can offer (largest: {})",
                        amount(resource, requested),
                        amount(resource, allocatable)
                    );
                    fix = format!(
                        "lower the request to at most {}: kubectl {}set resources {} --requests={resource}={}; or add a node with more {resource}",
                        amount(resource, allocatable),
                        ns_flag(&object),
                        kubectl_name(&object),
                        amount(resource, allocatable)
                    );
                }
                None => {
                    for resource in ["cpu", "memory"] {
                        f = f.evidence(
                            format!("{path}.containers[*].resources.requests.{resource}"),
                            amount(resource, request(pod, resource)),
                        );
                    }
                    summary =
                        "the nodes' free capacity is taken by other pods' requests".to_owned();
                    fix = format!(
                        "lower the pod's requests (kubectl {}set resources {} --requests=...), scale down other workloads, or add a node; `kubectl describe node` shows what is allocated",
                        ns_flag(&object),
                        kubectl_name(&object)
                    );
                }
            }
        }
        _ => {
            for (node, m) in &per_node {
                if m.contains(&Misfit::Cordoned) {
                    f = f.evidence(
                        format!("node {} spec.unschedulable", node.name_any()),
                        "true",
                    );
                }
            }
            if per_node.is_empty() {
                f = f.evidence("nodes", "(none)");
            }
            summary = if per_node.is_empty() {
                "the cluster has no node".to_owned()
            } else if message.is_empty() {
                "no node can run the pod".to_owned()
            } else {
                format!("the scheduler places it on no node: {message}")
            };
            fix = if per_node.iter().any(|(_, m)| m.contains(&Misfit::Cordoned)) {
                "uncordon a node: kubectl uncordon <node>".to_owned()
            } else {
                format!(
                    "change what the scheduler's message names in {path} (affinity, ports, topology spread), or add a node"
                )
            };
        }
    }
    let _ = labels_text;
    f.summary = summary;
    Some(f.fix(fix).related(pod_ref(pod)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::super::testing::{node, obj};
    use super::*;
    use serde_json::{Value, json};

    fn pending(spec: Value, message: &str) -> Pod {
        obj(json!({
            "metadata": {"name": "big", "namespace": "dev"},
            "spec": spec,
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable", "message": message}]}
        }))
    }

    fn snap(pod: Pod, nodes: Vec<Node>) -> Snapshot {
        Snapshot {
            pods: vec![pod],
            nodes,
            ..Snapshot::default()
        }
    }

    #[test]
    fn requests_beyond_every_node_are_insufficient_resources() {
        let p = pending(
            json!({"containers": [{"name": "app", "image": "x", "resources": {"requests": {"cpu": "32", "memory": "1Gi"}}}]}),
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
        );
        let found = check(&snap(p, vec![node("kwok-node-0")]));
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!(f.cause, Cause::PodUnschedulableInsufficientResources);
        assert_eq!(
            f.evidence_value("spec.containers[*].resources.requests.cpu"),
            Some("32")
        );
        assert_eq!(
            f.evidence_value("node kwok-node-0 status.allocatable.cpu"),
            Some("16")
        );
        assert!(
            f.evidence_value("status.conditions[PodScheduled].message")
                .unwrap()
                .contains("Insufficient cpu")
        );
        assert!(f.fix.contains("--requests=cpu=16"), "{}", f.fix);
    }

    #[test]
    fn a_node_that_reports_nothing_offers_nothing() {
        let silent: Node = obj(json!({"metadata": {"name": "silent"}}));
        let p = pending(
            json!({"containers": [{"name": "app", "image": "x", "resources": {"requests": {"cpu": "32"}}}]}),
            "0/2 nodes are available: 2 Insufficient cpu.",
        );
        let f = &check(&snap(p, vec![node("kwok-node-0"), silent]))[0];
        assert_eq!(f.cause, Cause::PodUnschedulableInsufficientResources);
        assert_eq!(
            f.evidence_value("node silent status.allocatable.cpu"),
            Some("0")
        );
        assert!(f.fix.contains("--requests=cpu=16"), "{}", f.fix);
    }

    #[test]
    fn a_full_node_is_named_from_the_scheduler_message() {
        let p = pending(
            json!({"containers": [{"name": "app", "image": "x", "resources": {"requests": {"memory": "40Gi"}}}]}),
            "0/1 nodes are available: 1 Insufficient memory.",
        );
        let f = &check(&snap(p, vec![node("kwok-node-0")]))[0];
        assert_eq!(f.cause, Cause::PodUnschedulableInsufficientResources);
        assert_eq!(
            f.evidence_value("spec.containers[*].resources.requests.memory"),
            Some("40Gi")
        );
    }

    #[test]
    fn an_untolerated_taint_is_shown_with_the_toleration_to_add() {
        let mut n = node("kwok-node-0");
        n.spec = Some(obj(
            json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}),
        ));
        let p = pending(
            json!({"containers": [{"name": "app", "image": "x"}],
                "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]}),
            "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}.",
        );
        let f = &check(&snap(p.clone(), vec![n.clone()]))[0];
        assert_eq!(f.cause, Cause::PodUnschedulableTaint);
        assert_eq!(
            f.evidence_value("node kwok-node-0 spec.taints"),
            Some("dedicated=gpu:NoSchedule")
        );
        assert_eq!(
            f.evidence_value("spec.tolerations"),
            Some("node.kubernetes.io/not-ready:NoExecute")
        );
        assert!(
            f.fix
                .contains("kubectl taint node kwok-node-0 dedicated=gpu:NoSchedule-"),
            "{}",
            f.fix
        );
        assert!(
            f.fix
                .contains("{key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}")
        );
        // Tolerated: the pod fits, and with no scheduler message yet there is nothing to say.
        let mut tolerant = p;
        tolerant.spec.as_mut().unwrap().tolerations =
            Some(vec![obj(json!({"key": "dedicated", "operator": "Exists"}))]);
        tolerant.status = None;
        assert!(check(&snap(tolerant, vec![n])).is_empty());
    }

    #[test]
    fn a_node_selector_no_node_matches_names_the_label() {
        let p = pending(
            json!({"nodeSelector": {"disktype": "ssd"}, "containers": [{"name": "app", "image": "x"}]}),
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
        );
        let f = &check(&snap(p, vec![node("kwok-node-0")]))[0];
        assert_eq!(f.cause, Cause::PodUnschedulableNodeSelector);
        assert_eq!(f.evidence_value("spec.nodeSelector.disktype"), Some("ssd"));
        assert_eq!(
            f.evidence_value("node kwok-node-0 label disktype"),
            Some("(not set)")
        );
        assert!(
            f.fix.contains("kubectl label node <node> disktype=ssd"),
            "{}",
            f.fix
        );
    }

    #[test]
    fn a_required_node_affinity_no_node_matches_names_the_label() {
        let p = pending(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["eu-1", "eu-2"]}]}]}}},
                "containers": [{"name": "app", "image": "x"}]}),
            "",
        );
        let f = &check(&snap(p, vec![node("kwok-node-0")]))[0];
        assert_eq!(f.cause, Cause::PodUnschedulableNodeSelector);
        assert!(f.summary.contains("zone"), "{}", f.summary);
        assert_eq!(
            f.evidence_value(
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution[zone]"
            ),
            Some("In (eu-1,eu-2)")
        );
    }

    #[test]
    fn a_pod_waiting_for_an_unbound_claim_is_left_to_the_claim() {
        let p = pending(
            json!({"containers": [{"name": "app", "image": "x"}], "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}),
            "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
        );
        let mut s = snap(p, vec![node("kwok-node-0")]);
        s.pvcs.push(obj(json!({"metadata": {"name": "data", "namespace": "dev"}, "spec": {}, "status": {"phase": "Pending"}})));
        assert!(check(&s).is_empty());
    }

    #[test]
    fn a_cordoned_cluster_says_uncordon() {
        let mut n = node("n1");
        n.spec = Some(obj(json!({"unschedulable": true})));
        let p = pending(
            json!({"containers": [{"name": "app", "image": "x"}]}),
            "0/1 nodes are available: 1 node(s) were unschedulable.",
        );
        let f = &check(&snap(p, vec![n]))[0];
        assert_eq!(f.cause, Cause::PodUnschedulable);
        assert!(f.fix.contains("kubectl uncordon"));
    }
}
