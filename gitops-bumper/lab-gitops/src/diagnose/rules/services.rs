//! Services: a selector that matches no pod, a targetPort no selected pod has, and no ready
//! endpoint — the last only when the pods behind it have no cause of their own.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::{labels_text, pod_is_live, pod_is_ready, pod_ref, selector_matches};
use crate::diagnose::finding::{Cause, Finding, ObjectRef};
use crate::diagnose::snapshot::Snapshot;

/// How many of the pods closest to a selector are shown beside it.
const NEAREST: usize = 3;

/// What the service rules found: findings, and (service, pod) pairs where a Service has no
/// ready endpoint because of a pod that has a finding of its own (the caller links them).
#[derive(Debug, Default)]
pub(crate) struct ServiceFindings {
    pub(crate) findings: Vec<Finding>,
    pub(crate) blocked_by_pod: Vec<(ObjectRef, ObjectRef)>,
}

fn service_ref(s: &Service) -> ObjectRef {
    ObjectRef::namespaced("Service", &s.namespace().unwrap_or_default(), &s.name_any())
}

/// `diagnosed`: pods with a cause of their own (not merely "not ready").
pub(crate) fn check(snap: &Snapshot, diagnosed: &BTreeSet<ObjectRef>) -> ServiceFindings {
    let mut out = ServiceFindings::default();
    for svc in &snap.services {
        let Some(spec) = svc.spec.as_ref() else {
            continue;
        };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) else {
            // Without a selector, endpoints are managed by hand (or by another controller).
            continue;
        };
        let ns = svc.namespace().unwrap_or_default();
        let in_ns: Vec<&Pod> = snap
            .pods
            .iter()
            .filter(|p| p.namespace().as_deref() == Some(&ns) && pod_is_live(p))
            .collect();
        let selected: Vec<&Pod> = in_ns
            .iter()
            .copied()
            .filter(|p| selector_matches(selector, p.labels()))
            .collect();
        if selected.is_empty() {
            out.findings.push(no_pod(svc, selector, &in_ns));
            continue;
        }
        let port_findings: Vec<Finding> = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| target_port(svc, p, &selected))
            .collect();
        if !port_findings.is_empty() {
            out.findings.extend(port_findings);
            continue;
        }
        if has_ready_endpoint(snap, svc) || selected.iter().any(|p| pod_is_ready(p)) {
            continue;
        }
        let blocked: Vec<ObjectRef> = selected
            .iter()
            .map(|p| pod_ref(p))
            .filter(|p| diagnosed.contains(p))
            .collect();
        if blocked.is_empty() {
            out.findings.push(no_ready_endpoints(snap, svc, &selected));
        } else {
            for pod in blocked {
                out.blocked_by_pod.push((service_ref(svc), pod));
            }
        }
    }
    out
}

fn no_pod(svc: &Service, selector: &BTreeMap<String, String>, in_ns: &[&Pod]) -> Finding {
    let object = service_ref(svc);
    let ns = object.namespace.clone().unwrap_or_default();
    // Nearest: the pods sharing the most selector pairs, then the most selector keys.
    let score = |p: &Pod| {
        let l = p.labels();
        let same = selector
            .iter()
            .filter(|(k, v)| l.get(*k) == Some(*v))
            .count();
        let keys = selector.keys().filter(|k| l.contains_key(*k)).count();
        (same, keys)
    };
    let mut nearest: Vec<&Pod> = in_ns.to_vec();
    nearest.sort_by(|a, b| {
        score(b)
            .cmp(&score(a))
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
    nearest.truncate(NEAREST);
    let mut f = Finding::new(
        Cause::ServiceSelectorMatchesNoPod,
        object.clone(),
        format!(
            "Service {} selects {} and no pod in namespace {ns} has those labels",
            object.name,
            labels_text(selector)
        ),
    )
    .evidence("spec.selector", labels_text(selector));
    if nearest.is_empty() {
        f = f.evidence("pods in namespace", "(none)");
    }
    for p in &nearest {
        f = f.evidence(
            format!("pod {} labels", p.name_any()),
            labels_text(p.labels()),
        );
    }
    let fix = match nearest.first() {
        Some(p) => {
            let wanted: BTreeMap<&String, &String> = selector
                .keys()
                .filter_map(|k| p.labels().get_key_value(k))
                .collect();
            let suggestion = if wanted.len() == selector.len() {
                let pairs: Vec<String> = wanted
                    .iter()
                    .map(|(k, v)| format!("\"{k}\":\"{v}\""))
                    .collect();
                format!(
                    "kubectl -n {ns} patch service {} -p '{{\"spec\":{{\"selector\":{{{}}}}}}}'",
                    object.name,
                    pairs.join(",")
                )
            } else {
                format!("kubectl -n {ns} edit service {}", object.name)
            };
            format!(
                "make spec.selector match the labels of the pods to serve (or label the pods): {suggestion}"
            )
        }
        None => format!(
            "create the pods the Service is for (their workload is missing from namespace {ns}), or fix spec.selector"
        ),
    };
    f.fix(fix)
}

fn port_name(p: &ServicePort) -> String {
    p.name.clone().unwrap_or_else(|| p.port.to_string())
}

fn target_port(svc: &Service, port: &ServicePort, selected: &[&Pod]) -> Option<Finding> {
    let target = port
        .target_port
        .clone()
        .unwrap_or(IntOrString::Int(port.port));
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    let declared: Vec<(i32, Option<String>, String)> = selected
        .iter()
        .filter_map(|p| p.spec.as_ref())
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .map(|p| {
            (
                p.container_port,
                p.name.clone(),
                p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            )
        })
        .collect();
    let found = match &target {
        IntOrString::String(name) => declared
            .iter()
            .any(|(_, n, proto)| n.as_deref() == Some(name.as_str()) && proto == protocol),
        // A numeric targetPort need not be declared; it is only judged when the pods declare
        // ports and this is none of them.
        IntOrString::Int(n) => declared.is_empty() || declared.iter().any(|(p, _, _)| p == n),
    };
    if found {
        return None;
    }
    let object = service_ref(svc);
    let ns = object.namespace.clone().unwrap_or_default();
    let target_text = match &target {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    };
    let mut ports: Vec<String> = declared
        .iter()
        .map(|(p, n, proto)| match n {
            Some(n) => format!("{p}/{proto} ({n})"),
            None => format!("{p}/{proto}"),
        })
        .collect();
    ports.sort();
    ports.dedup();
    let ports_text = if ports.is_empty() {
        "(none declared)".to_owned()
    } else {
        ports.join(", ")
    };
    let index = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .and_then(|ps| ps.iter().position(|p| p == port))
        .unwrap_or(0);
    let suggestion = declared
        .first()
        .map(|(p, n, _)| {
            n.clone()
                .map(|n| format!("\"{n}\""))
                .unwrap_or_else(|| p.to_string())
        })
        .unwrap_or_else(|| "<container port>".into());
    Some(
        Finding::new(
            Cause::ServiceTargetPort,
            object.clone(),
            format!(
                "Service {} port {} sends traffic to targetPort {target_text}, which the selected pods do not have",
                object.name,
                port_name(port)
            ),
        )
        .evidence(format!("spec.ports[{index}].targetPort"), target_text)
        .evidence("selected pods' containerPorts", ports_text)
        .fix(format!(
            "set the targetPort to a port the container listens on: kubectl -n {ns} patch service {} --type=json -p '[{{\"op\":\"replace\",\"path\":\"/spec/ports/{index}/targetPort\",\"value\":{suggestion}}}]'",
            object.name
        ))
        .related_all(selected.iter().map(|p| pod_ref(p))),
    )
}

fn has_ready_endpoint(snap: &Snapshot, svc: &Service) -> bool {
    let name = svc.name_any();
    let ns = svc.namespace();
    snap.endpoint_slices
        .iter()
        .filter(|s| {
            s.namespace() == ns && s.labels().get("kubernetes.io/service-name") == Some(&name)
        })
        .flat_map(|s| s.endpoints.iter())
        .any(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
}

fn no_ready_endpoints(snap: &Snapshot, svc: &Service, selected: &[&Pod]) -> Finding {
    let object = service_ref(svc);
    let ns = object.namespace.clone().unwrap_or_default();
    let slices = snap
        .endpoint_slices
        .iter()
        .filter(|s| {
            s.namespace().as_deref() == Some(&ns)
                && s.labels().get("kubernetes.io/service-name") == Some(&object.name)
        })
        .count();
    let mut f = Finding::new(
        Cause::ServiceNoReadyEndpoints,
        object.clone(),
        format!(
            "Service {} selects {} pod(s) and none of them is ready, so it has no endpoint to send traffic to",
            object.name,
            selected.len()
        ),
    )
    .evidence("EndpointSlices ready endpoints", format!("0 (in {slices} slice(s))"));
    for p in selected.iter().take(NEAREST) {
        let ready = super::pod_condition(p, "Ready")
            .map(|c| {
                format!(
                    "{}{}",
                    c.status,
                    c.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_else(|| "(no Ready condition)".into());
        f = f.evidence(
            format!("pod {} status.conditions[Ready]", p.name_any()),
            format!("{ready}, phase {}", super::pod_phase(p)),
        );
    }
    let first = selected.first().map(|p| p.name_any()).unwrap_or_default();
    f.fix(format!(
        "find why the pods are not ready: kubectl -n {ns} describe pod {first} (readiness probe, container state), then fix the workload"
    ))
    .related_all(selected.iter().map(|p| pod_ref(p)))
}

impl Finding {
    pub(crate) fn related_all(mut self, objects: impl IntoIterator<Item = ObjectRef>) -> Self {
        for o in objects {
            self = self.related(o);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::super::testing::obj;
    use super::*;
    use serde_json::{Value, json};

    fn svc(selector: Value, target: Value) -> Service {
        obj(json!({"metadata": {"name": "web", "namespace": "dev"},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": target, "protocol": "TCP"}]}}))
    }

    fn pod(name: &str, labels: Value, ready: bool) -> Pod {
        obj(
            json!({"metadata": {"name": name, "namespace": "dev", "labels": labels},
            "spec": {"containers": [{"name": "app", "image": "x", "ports": [{"containerPort": 8888, "name": "http"}]}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}),
        )
    }

    fn slice(ready: bool) -> k8s_openapi::api::discovery::v1::EndpointSlice {
        obj(
            json!({"metadata": {"name": "web-abc", "namespace": "dev", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.0.5"], "conditions": {"ready": ready}}]}),
        )
    }

    #[test]
    fn a_selector_matching_no_pod_is_shown_beside_the_nearest_pods_labels() {
        let s = Snapshot {
            services: vec![svc(json!({"app": "web", "tier": "front"}), json!(8888))],
            pods: vec![
                pod("other-1", json!({"app": "db"}), true),
                pod("web-1", json!({"app": "web", "tier": "fronted"}), true),
            ],
            ..Snapshot::default()
        };
        let out = check(&s, &BTreeSet::new());
        assert_eq!(out.findings.len(), 1);
        let f = &out.findings[0];
        assert_eq!(f.cause, Cause::ServiceSelectorMatchesNoPod);
        assert_eq!(
            f.evidence_value("spec.selector"),
            Some("app=web,tier=front")
        );
        // The nearest pod comes first.
        assert_eq!(f.evidence[1].field, "pod web-1 labels");
        assert_eq!(f.evidence[1].value, "app=web,tier=fronted");
        assert!(f.fix.contains("\"tier\":\"fronted\""), "{}", f.fix);
    }

    #[test]
    fn a_target_port_no_pod_declares_is_named_with_the_declared_ports() {
        let s = Snapshot {
            services: vec![svc(json!({"app": "web"}), json!(8080))],
            pods: vec![pod("web-1", json!({"app": "web"}), true)],
            ..Snapshot::default()
        };
        let f = &check(&s, &BTreeSet::new()).findings[0];
        assert_eq!(f.cause, Cause::ServiceTargetPort);
        assert_eq!(f.evidence_value("spec.ports[0].targetPort"), Some("8080"));
        assert_eq!(
            f.evidence_value("selected pods' containerPorts"),
            Some("8888/TCP (http)")
        );
        assert!(f.fix.contains("\"value\":\"http\""), "{}", f.fix);
        // A named targetPort that does not exist, too; the right name is fine.
        let named = Snapshot {
            services: vec![svc(json!({"app": "web"}), json!("web"))],
            ..s.clone()
        };
        assert_eq!(
            check(&named, &BTreeSet::new()).findings[0].cause,
            Cause::ServiceTargetPort
        );
        let right = Snapshot {
            services: vec![svc(json!({"app": "web"}), json!("http"))],
            endpoint_slices: vec![slice(true)],
            ..s
        };
        assert!(check(&right, &BTreeSet::new()).findings.is_empty());
    }

    #[test]
    fn no_ready_endpoint_is_the_services_finding_unless_the_pods_have_their_own() {
        let s = Snapshot {
            services: vec![svc(json!({"app": "web"}), json!(8888))],
            pods: vec![pod("web-1", json!({"app": "web"}), false)],
            endpoint_slices: vec![slice(false)],
            ..Snapshot::default()
        };
        let out = check(&s, &BTreeSet::new());
        let f = &out.findings[0];
        assert_eq!(f.cause, Cause::ServiceNoReadyEndpoints);
        assert_eq!(
            f.evidence_value("EndpointSlices ready endpoints"),
            Some("0 (in 1 slice(s))")
        );
        assert!(
            f.evidence_value("pod web-1 status.conditions[Ready]")
                .unwrap()
                .starts_with("False")
        );
        let crashing: BTreeSet<ObjectRef> = [ObjectRef::namespaced("Pod", "dev", "web-1")].into();
        let out = check(&s, &crashing);
        assert!(out.findings.is_empty());
        assert_eq!(
            out.blocked_by_pod,
            vec![(
                ObjectRef::namespaced("Service", "dev", "web"),
                ObjectRef::namespaced("Pod", "dev", "web-1")
            )]
        );
        let ready = Snapshot {
            endpoint_slices: vec![slice(true)],
            pods: vec![pod("web-1", json!({"app": "web"}), true)],
            ..s
        };
        assert!(check(&ready, &BTreeSet::new()).findings.is_empty());
    }
}
