//! Ingresses: a backend Service or port that does not exist, a class that does not exist (or
//! none and no default), a class no controller serves.

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressClass};
use kube::ResourceExt;

use crate::diagnose::finding::{Cause, Finding, ObjectRef};
use crate::diagnose::snapshot::Snapshot;

const DEFAULT_CLASS: &str = "ingressclass.kubernetes.io/is-default-class";
const LEGACY_CLASS: &str = "kubernetes.io/ingress.class";

pub(crate) fn check(snap: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    for ing in &snap.ingresses {
        let before = out.len();
        out.extend(backends(snap, ing));
        out.extend(tls_secrets(snap, ing));
        let class = class(snap, ing, &mut out);
        if out.len() == before
            && let Some(class) = class
        {
            out.extend(no_controller(ing, class));
        }
    }
    out
}

fn ingress_ref(ing: &Ingress) -> ObjectRef {
    ObjectRef::namespaced(
        "Ingress",
        &ing.namespace().unwrap_or_default(),
        &ing.name_any(),
    )
}

/// Every service backend with the field path it is written at.
fn service_backends(ing: &Ingress) -> Vec<(String, &IngressBackend)> {
    let mut list = Vec::new();
    let Some(spec) = ing.spec.as_ref() else {
        return list;
    };
    if let Some(b) = &spec.default_backend {
        list.push(("spec.defaultBackend".to_owned(), b));
    }
    for (i, rule) in spec.rules.iter().flatten().enumerate() {
        for (j, path) in rule.http.iter().flat_map(|h| h.paths.iter()).enumerate() {
            list.push((
                format!("spec.rules[{i}].http.paths[{j}].backend"),
                &path.backend,
            ));
        }
    }
    list
}

fn backends(snap: &Snapshot, ing: &Ingress) -> Vec<Finding> {
    let ns = ing.namespace().unwrap_or_default();
    let object = ingress_ref(ing);
    let mut out: Vec<Finding> = Vec::new();
    let mut seen = Vec::new();
    for (path, backend) in service_backends(ing) {
        let Some(service) = &backend.service else {
            continue;
        };
        let port = service.port.as_ref();
        let port_text = port
            .and_then(|p| p.number.map(|n| n.to_string()).or_else(|| p.name.clone()))
            .unwrap_or_default();
        if seen.contains(&(service.name.clone(), port_text.clone())) {
            continue;
        }
        seen.push((service.name.clone(), port_text.clone()));
        let found = snap
            .services
            .iter()
            .find(|s| s.name_any() == service.name && s.namespace().as_deref() == Some(&ns));
        let Some(svc) = found else {
            let others: Vec<String> = snap
                .services
                .iter()
                .filter(|s| s.namespace().as_deref() == Some(&ns))
                .map(|s| s.name_any())
                .collect();
            out.push(
                Finding::new(
                    Cause::IngressBackendMissing,
                    object.clone(),
                    format!("Ingress {} routes to Service {}, which does not exist in namespace {ns}", object.name, service.name),
                )
                .evidence(format!("{path}.service.name"), service.name.clone())
                .evidence(format!("Services in namespace {ns}"), if others.is_empty() { "(none)".into() } else { others.join(", ") })
                .fix(format!(
                    "create Service {} in namespace {ns}, or point {path}.service.name at an existing one (kubectl -n {ns} edit ingress {})",
                    service.name, object.name
                ))
                .related(ObjectRef::namespaced("Service", &ns, &service.name)),
            );
            continue;
        };
        let ports = svc.spec.as_ref().and_then(|s| s.ports.as_ref());
        let port_ok = match port {
            Some(p) => ports.into_iter().flatten().any(|sp| {
                p.number.is_some_and(|n| sp.port == n) || (p.name.is_some() && sp.name == p.name)
            }),
            None => false,
        };
        if port_ok {
            continue;
        }
        let have: Vec<String> = ports
            .into_iter()
            .flatten()
            .map(|sp| match &sp.name {
                Some(n) => format!("{} ({n})", sp.port),
                None => sp.port.to_string(),
            })
            .collect();
        let field = match port {
            Some(p) if p.name.is_some() => format!("{path}.service.port.name"),
            _ => format!("{path}.service.port.number"),
        };
        out.push(
            Finding::new(
                Cause::IngressBackendMissing,
                object.clone(),
                format!("Ingress {} routes to port {port_text} of Service {}, which has no such port", object.name, service.name),
            )
            .evidence(field.clone(), if port_text.is_empty() { "(not set)".into() } else { port_text.clone() })
            .evidence(format!("Service {} spec.ports", service.name), if have.is_empty() { "(none)".into() } else { have.join(", ") })
            .fix(format!(
                "set {field} to one of the Service's ports ({}) in Ingress {}: kubectl -n {ns} edit ingress {}",
                have.join(", "),
                object.name,
                object.name
            ))
            .related(ObjectRef::namespaced("Service", &ns, &service.name)),
        );
    }
    out
}

fn tls_secrets(snap: &Snapshot, ing: &Ingress) -> Vec<Finding> {
    // Secrets not listed (forbidden) cannot be judged missing.
    if snap.unreadable.iter().any(|u| u.starts_with("secrets")) {
        return Vec::new();
    }
    let ns = ing.namespace().unwrap_or_default();
    let object = ingress_ref(ing);
    let mut out = Vec::new();
    let tls = ing.spec.as_ref().and_then(|s| s.tls.as_ref());
    for (i, entry) in tls.into_iter().flatten().enumerate() {
        let Some(secret) = entry.secret_name.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        if snap
            .secret_names
            .iter()
            .any(|(n, s)| *n == ns && s == secret)
        {
            continue;
        }
        let hosts = entry.hosts.clone().unwrap_or_default().join(", ");
        out.push(
            Finding::new(
                Cause::IngressTlsSecretMissing,
                object.clone(),
                format!("Ingress {} serves TLS for {hosts} with Secret {secret}, which does not exist in namespace {ns}", object.name),
            )
            .evidence(format!("spec.tls[{i}].secretName"), secret)
            .evidence(format!("spec.tls[{i}].hosts"), hosts.clone())
            .fix(format!(
                "create it from the certificate and key: kubectl -n {ns} create secret tls {secret} --cert=<cert.pem> --key=<key.pem> (or let cert-manager issue it), or fix spec.tls[{i}].secretName"
            ))
            .related(ObjectRef::namespaced("Secret", &ns, secret)),
        );
    }
    out
}

/// The class that serves `ing`, or None with a finding when there is none.
fn class<'a>(
    snap: &'a Snapshot,
    ing: &Ingress,
    out: &mut Vec<Finding>,
) -> Option<&'a IngressClass> {
    let object = ingress_ref(ing);
    let ns = object.namespace.clone().unwrap_or_default();
    let named = ing.spec.as_ref().and_then(|s| s.ingress_class_name.clone());
    let classes: Vec<String> = snap.ingress_classes.iter().map(|c| c.name_any()).collect();
    let classes_text = if classes.is_empty() {
        "(none)".to_owned()
    } else {
        classes.join(", ")
    };
    match named {
        Some(name) => {
            let found = snap.ingress_classes.iter().find(|c| c.name_any() == name);
            if found.is_none() {
                out.push(
                    Finding::new(
                        Cause::IngressNoClass,
                        object.clone(),
                        format!("Ingress {} asks for IngressClass {name}, which does not exist", object.name),
                    )
                    .evidence("spec.ingressClassName", name.clone())
                    .evidence("IngressClasses", classes_text.clone())
                    .fix(if classes.is_empty() {
                        "install an ingress controller (K3s ships Traefik, class traefik) and set spec.ingressClassName to its class".to_owned()
                    } else {
                        format!("set spec.ingressClassName to one of {classes_text}: kubectl -n {ns} patch ingress {} -p '{{\"spec\":{{\"ingressClassName\":\"{}\"}}}}'", object.name, classes[0])
                    }),
                );
            }
            found
        }
        None => {
            // The annotation predates IngressClass: controllers that honour it need no object.
            if ing.annotations().contains_key(LEGACY_CLASS) {
                return None;
            }
            let default = snap
                .ingress_classes
                .iter()
                .find(|c| c.annotations().get(DEFAULT_CLASS).map(String::as_str) == Some("true"));
            if default.is_none() {
                out.push(
                    Finding::new(
                        Cause::IngressNoClass,
                        object.clone(),
                        format!("Ingress {} names no IngressClass and none is the default, so no controller takes it", object.name),
                    )
                    .evidence("spec.ingressClassName", "(not set)")
                    .evidence("default IngressClass", "(none)")
                    .evidence("IngressClasses", classes_text.clone())
                    .fix(if classes.is_empty() {
                        "install an ingress controller (K3s ships Traefik, class traefik), then set spec.ingressClassName to its class".to_owned()
                    } else {
                        format!("set spec.ingressClassName: kubectl -n {ns} patch ingress {} -p '{{\"spec\":{{\"ingressClassName\":\"{}\"}}}}' (or mark a class default with the annotation {DEFAULT_CLASS}=true)", object.name, classes[0])
                    }),
                );
            }
            default
        }
    }
}

/// A controller that takes an Ingress writes its address into the status.
fn no_controller(ing: &Ingress, class: &IngressClass) -> Option<Finding> {
    let admitted = ing
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .is_some_and(|i| !i.is_empty());
    if admitted {
        return None;
    }
    let object = ingress_ref(ing);
    let controller = class
        .spec
        .as_ref()
        .and_then(|s| s.controller.clone())
        .unwrap_or_default();
    Some(
        Finding::new(
            Cause::IngressNoController,
            object.clone(),
            format!(
                "Ingress {} has IngressClass {} but no controller has taken it (no address in its status)",
                object.name,
                class.name_any()
            ),
        )
        .evidence("IngressClass", class.name_any())
        .evidence(format!("IngressClass {} spec.controller", class.name_any()), controller.clone())
        .evidence("status.loadBalancer.ingress", "(empty)")
        .fix(format!(
            "start the controller {controller} (check its pods and logs: kubectl get pods -A | grep -i ingress), or use the class of a controller that runs"
        ))
        .related(ObjectRef::cluster("IngressClass", &class.name_any())),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::super::testing::obj;
    use super::*;
    use serde_json::{Value, json};

    fn ingress(class: Option<&str>, service: &str, port: Value, admitted: bool) -> Ingress {
        let mut v = json!({"metadata": {"name": "web", "namespace": "dev"},
            "spec": {"rules": [{"host": "web.local", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": service, "port": port}}}]}}]}});
        if let Some(c) = class {
            v["spec"]["ingressClassName"] = json!(c);
        }
        if admitted {
            v["status"] = json!({"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}});
        }
        obj(v)
    }

    fn snap(ing: Ingress) -> Snapshot {
        Snapshot {
            ingresses: vec![ing],
            services: vec![obj(json!({"metadata": {"name": "web", "namespace": "dev"},
                "spec": {"ports": [{"name": "http", "port": 80}]}}))],
            ingress_classes: vec![obj(json!({"metadata": {"name": "traefik",
                "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
                "spec": {"controller": "traefik.io/ingress-controller"}}))],
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_missing_backend_service_is_named() {
        let found = check(&snap(ingress(
            Some("traefik"),
            "wbe",
            json!({"number": 80}),
            true,
        )));
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!(f.cause, Cause::IngressBackendMissing);
        assert_eq!(
            f.evidence_value("spec.rules[0].http.paths[0].backend.service.name"),
            Some("wbe")
        );
        assert_eq!(f.evidence_value("Services in namespace dev"), Some("web"));
        assert!(f.fix.contains("create Service wbe"), "{}", f.fix);
    }

    #[test]
    fn a_missing_backend_port_is_named_beside_the_services_ports() {
        let f = &check(&snap(ingress(
            Some("traefik"),
            "web",
            json!({"number": 8080}),
            true,
        )))[0];
        assert_eq!(f.cause, Cause::IngressBackendMissing);
        assert_eq!(
            f.evidence_value("spec.rules[0].http.paths[0].backend.service.port.number"),
            Some("8080")
        );
        assert_eq!(
            f.evidence_value("Service web spec.ports"),
            Some("80 (http)")
        );
        assert!(
            check(&snap(ingress(
                Some("traefik"),
                "web",
                json!({"name": "http"}),
                true
            )))
            .is_empty()
        );
    }

    #[test]
    fn a_class_that_does_not_exist_or_none_without_default_is_no_class() {
        let f = &check(&snap(ingress(
            Some("nginx"),
            "web",
            json!({"number": 80}),
            false,
        )))[0];
        assert_eq!(f.cause, Cause::IngressNoClass);
        assert_eq!(f.evidence_value("spec.ingressClassName"), Some("nginx"));
        assert_eq!(f.evidence_value("IngressClasses"), Some("traefik"));
        let mut s = snap(ingress(None, "web", json!({"number": 80}), false));
        s.ingress_classes.clear();
        let f = &check(&s)[0];
        assert_eq!(f.cause, Cause::IngressNoClass);
        assert_eq!(f.evidence_value("default IngressClass"), Some("(none)"));
    }

    #[test]
    fn a_tls_secret_that_does_not_exist_is_named() {
        let mut ing = ingress(Some("traefik"), "web", json!({"number": 80}), true);
        ing.spec.as_mut().unwrap().tls = Some(vec![obj(
            json!({"hosts": ["web.local"], "secretName": "web-tls"}),
        )]);
        let mut s = snap(ing);
        let f = &check(&s)[0];
        assert_eq!(f.cause, Cause::IngressTlsSecretMissing);
        assert_eq!(f.evidence_value("spec.tls[0].secretName"), Some("web-tls"));
        assert!(
            f.fix.contains("kubectl -n dev create secret tls web-tls"),
            "{}",
            f.fix
        );
        s.secret_names.push(("dev".into(), "web-tls".into()));
        assert!(check(&s).is_empty());
        // Not allowed to list Secrets: nothing can be said.
        s.secret_names.clear();
        s.unreadable
            .push("secrets in namespace dev (forbidden)".into());
        assert!(check(&s).is_empty());
    }

    #[test]
    fn an_existing_class_that_no_controller_serves_is_no_controller() {
        let f = &check(&snap(ingress(None, "web", json!({"number": 80}), false)))[0];
        assert_eq!(f.cause, Cause::IngressNoController);
        assert_eq!(
            f.evidence_value("IngressClass traefik spec.controller"),
            Some("traefik.io/ingress-controller")
        );
    }
}
