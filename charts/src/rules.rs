//! What a rendered chart must keep, as pure functions over k8s-openapi objects: where an
//! Ingress sends a request, which pods and container port a Service reaches, and how a pod is
//! hardened. The chart tests apply them to real renders; the unit tests below show each rule
//! catching what it is for.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec, Probe, Service, ServicePort};
use k8s_openapi::api::networking::v1::{Ingress, IngressServiceBackend, ServiceBackendPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::objects::{Object, Objects, Workload};

/// Where the Ingresses of class `class` send a request for `host` and `path`, following the
/// Ingress API's rules: a rule for exactly this host beats a wildcard rule (`*.example.com`,
/// one label deep), which beats a rule without host; within those, the longest matching path
/// wins, `Exact` before `Prefix`; when nothing matches, `spec.defaultBackend`.
/// `host` is a Host header: its case and any `:port` are ignored; "" means no Host header.
pub fn ingress_backend<'a>(
    ingresses: &[&'a Ingress],
    class: &str,
    host: &str,
    path: &str,
) -> Option<&'a IngressServiceBackend> {
    let host = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
        .to_ascii_lowercase();
    let of_class = || {
        ingresses
            .iter()
            .filter_map(|i| i.spec.as_ref())
            .filter(move |s| s.ingress_class_name.as_deref() == Some(class))
    };
    let mut best: Option<((u8, usize, bool), &'a IngressServiceBackend)> = None;
    for spec in of_class() {
        for rule in spec.rules.iter().flatten() {
            let Some(host_rank) = host_rank(rule.host.as_deref(), &host) else {
                continue;
            };
            for p in rule.http.iter().flat_map(|h| &h.paths) {
                let rule_path = p.path.as_deref().unwrap_or("/");
                let exact = p.path_type == "Exact";
                let matched = if exact {
                    rule_path == path
                } else {
                    prefix_matches(rule_path, path)
                };
                let Some(backend) = p.backend.service.as_ref() else {
                    continue;
                };
                let score = (host_rank, rule_path.len(), exact);
                if matched && best.as_ref().is_none_or(|(s, _)| score > *s) {
                    best = Some((score, backend));
                }
            }
        }
    }
    best.map(|(_, b)| b).or_else(|| {
        of_class()
            .filter_map(|s| s.default_backend.as_ref()?.service.as_ref())
            .next()
    })
}

/// 2: the rule names this host; 1: a wildcard covering it; 0: a rule for every host.
fn host_rank(rule_host: Option<&str>, host: &str) -> Option<u8> {
    match rule_host {
        None | Some("") => Some(0),
        Some(h) if h.eq_ignore_ascii_case(host) => Some(2),
        Some(h) => {
            let suffix = h.strip_prefix("*.")?;
            let (first, rest) = host.split_once('.')?;
            (!first.is_empty() && rest.eq_ignore_ascii_case(suffix)).then_some(1)
        }
    }
}

/// `Prefix` matching is by whole path elements: `/foo` matches `/foo` and `/foo/bar`, not
/// `/foobar`.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// One Service port followed down to the container port that serves it.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a> {
    pub service: &'a Service,
    pub service_port: &'a ServicePort,
    pub workload: Workload<'a>,
    pub container: &'a Container,
    pub container_port: &'a ContainerPort,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("no Service named {0}")]
    NoService(String),
    #[error("Service {service} has no port {port}")]
    NoServicePort { service: String, port: String },
    #[error("Service {0} has no selector, so it selects no pod")]
    NoSelector(String),
    #[error("Service {service}'s selector matches {count} workloads' pods; it must match one")]
    Workloads { service: String, count: usize },
    #[error("no container of {workload} has the port {target} that Service {service} targets")]
    NoTarget {
        service: String,
        workload: String,
        target: String,
    },
}

/// Follows Service `name`'s `port` (by number or name, as an Ingress backend names it) to the
/// one workload whose pods the Service selects and the container port it targets.
pub fn follow<'a>(
    objects: &'a [Object],
    name: &str,
    port: &ServiceBackendPort,
) -> Result<Chain<'a>, ChainError> {
    let service = objects
        .services()
        .into_iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))
        .ok_or_else(|| ChainError::NoService(name.to_owned()))?;
    let spec = service.spec.as_ref();
    let service_port = spec
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .find(|p| match (port.number, port.name.as_deref()) {
            (Some(n), _) => p.port == n,
            (None, Some(n)) => p.name.as_deref() == Some(n),
            (None, None) => false,
        })
        .ok_or_else(|| ChainError::NoServicePort {
            service: name.to_owned(),
            port: port
                .number
                .map(|n| n.to_string())
                .or_else(|| port.name.clone())
                .unwrap_or_default(),
        })?;
    let selector = spec
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ChainError::NoSelector(name.to_owned()))?;
    let selected: Vec<Workload<'a>> = objects
        .workloads()
        .into_iter()
        .filter(|w| labels_match(selector, pod_labels(w)))
        .collect();
    let [workload] = selected[..] else {
        return Err(ChainError::Workloads {
            service: name.to_owned(),
            count: selected.len(),
        });
    };
    let target = service_port
        .target_port
        .clone()
        .unwrap_or(IntOrString::Int(service_port.port));
    let containers = workload.template.spec.iter().flat_map(|s| &s.containers);
    for container in containers {
        if let Some(container_port) = container_port(container, &target) {
            return Ok(Chain {
                service,
                service_port,
                workload,
                container,
                container_port,
            });
        }
    }
    Err(ChainError::NoTarget {
        service: name.to_owned(),
        workload: format!("{} {}", workload.kind, workload.name),
        target: match target {
            IntOrString::Int(n) => n.to_string(),
            IntOrString::String(s) => s,
        },
    })
}

/// The container port a Service's `targetPort` or a probe's `port` points at: by number, or by
/// the port's name.
pub fn container_port<'a>(
    container: &'a Container,
    target: &IntOrString,
) -> Option<&'a ContainerPort> {
    container.ports.iter().flatten().find(|p| match target {
        IntOrString::Int(n) => p.container_port == *n,
        IntOrString::String(name) => p.name.as_deref() == Some(name.as_str()),
    })
}

/// The path and container port number an HTTP probe checks, if it is one that resolves.
pub fn probe_target(container: &Container, probe: Option<&Probe>) -> Option<(String, i32)> {
    let get = probe?.http_get.as_ref()?;
    let port = container_port(container, &get.port)?.container_port;
    Some((get.path.clone().unwrap_or_else(|| "/".to_owned()), port))
}

/// The `$(VAR)` references in a container's command and arguments that no `env` entry
/// defines: Kubernetes leaves those as literal text, so the app would print `$(POD_NAME)`.
pub fn undefined_arg_vars(container: &Container) -> Vec<String> {
    let defined: Vec<&str> = container
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    let mut missing = Vec::new();
    for arg in container.command.iter().chain(&container.args).flatten() {
        let mut rest = arg.as_str();
        while let Some(start) = rest.find("$(") {
            // `$$(X)` is the escape for a literal `$(X)`.
            let escaped = rest[..start].ends_with('$');
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            let name = &after[..end];
            if !escaped && !defined.contains(&name) && !missing.iter().any(|m| m == name) {
                missing.push(name.to_owned());
            }
            rest = &after[end + 1..];
        }
    }
    missing
}

fn pod_labels<'a>(w: &Workload<'a>) -> Option<&'a BTreeMap<String, String>> {
    w.template.metadata.as_ref()?.labels.as_ref()
}

/// A Service selector (equality on every key) against a pod's labels; an empty selector
/// matches nothing here, as it never picks pods for a Service.
pub fn labels_match(
    selector: &BTreeMap<String, String>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    !selector.is_empty()
        && labels.is_some_and(|l| selector.iter().all(|(k, v)| l.get(k) == Some(v)))
}

/// Whether a workload's own selector picks the pods of its template, which the API server
/// requires (and a schema check does not see). Only `matchLabels` is used by these charts;
/// `matchExpressions` makes the rule fail rather than guess.
pub fn selects_own_pods(selector: &LabelSelector, w: &Workload<'_>) -> bool {
    selector
        .match_expressions
        .as_ref()
        .is_none_or(Vec::is_empty)
        && selector
            .match_labels
            .as_ref()
            .is_some_and(|m| labels_match(m, pod_labels(w)))
}

/// What makes a pod less than least-privilege or unbounded, one sentence per finding; empty
/// when the pod keeps every rule: no API token, no host namespaces, non-root, seccomp
/// RuntimeDefault; per container: no privilege escalation, read-only root filesystem, every
/// capability dropped and none added, CPU and memory requests and limits, readiness and
/// liveness probes.
pub fn hardening_violations(pod: &PodSpec) -> Vec<String> {
    let mut out = Vec::new();
    if pod.automount_service_account_token != Some(false) {
        out.push("automountServiceAccountToken is not false".to_owned());
    }
    for (flag, name) in [
        (pod.host_network, "hostNetwork"),
        (pod.host_pid, "hostPID"),
        (pod.host_ipc, "hostIPC"),
    ] {
        if flag == Some(true) {
            out.push(format!("{name} is true"));
        }
    }
    let pod_sc = pod.security_context.as_ref();
    let pod_non_root = pod_sc.and_then(|s| s.run_as_non_root);
    let pod_user = pod_sc.and_then(|s| s.run_as_user);
    let pod_seccomp = pod_sc
        .and_then(|s| s.seccomp_profile.as_ref())
        .map(|p| p.type_.as_str());
    let containers = pod.init_containers.iter().flatten().chain(&pod.containers);
    for c in containers {
        let sc = c.security_context.as_ref();
        let mut bad = |what: &str| out.push(format!("container {}: {what}", c.name));
        if sc.and_then(|s| s.run_as_non_root).or(pod_non_root) != Some(true) {
            bad("runAsNonRoot is not true");
        }
        if sc.and_then(|s| s.run_as_user).or(pod_user) == Some(0) {
            bad("runs as user 0");
        }
        if sc.and_then(|s| s.privileged) == Some(true) {
            bad("is privileged");
        }
        if sc.and_then(|s| s.allow_privilege_escalation) != Some(false) {
            bad("allowPrivilegeEscalation is not false");
        }
        if sc.and_then(|s| s.read_only_root_filesystem) != Some(true) {
            bad("readOnlyRootFilesystem is not true");
        }
        let caps = sc.and_then(|s| s.capabilities.as_ref());
        if !caps
            .and_then(|c| c.drop.as_ref())
            .is_some_and(|d| d.iter().any(|d| d == "ALL"))
        {
            bad("does not drop ALL capabilities");
        }
        if caps
            .and_then(|c| c.add.as_ref())
            .is_some_and(|a| !a.is_empty())
        {
            bad("adds capabilities");
        }
        let seccomp = sc
            .and_then(|s| s.seccomp_profile.as_ref())
            .map(|p| p.type_.as_str())
            .or(pod_seccomp);
        if seccomp != Some("RuntimeDefault") {
            bad("seccompProfile is not RuntimeDefault");
        }
        let res = c.resources.as_ref();
        for (which, list) in [
            ("requests", res.and_then(|r| r.requests.as_ref())),
            ("limits", res.and_then(|r| r.limits.as_ref())),
        ] {
            for resource in ["cpu", "memory"] {
                if !list.is_some_and(|l| l.contains_key(resource)) {
                    bad(&format!("has no {resource} {which}"));
                }
            }
        }
        for (probe, name) in [
            (&c.readiness_probe, "readinessProbe"),
            (&c.liveness_probe, "livenessProbe"),
        ] {
            if probe.is_none() {
                bad(&format!("has no {name}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::parse;

    fn ingress(yaml: &str) -> Ingress {
        serde_saphyr::from_str(yaml).unwrap()
    }

    const ROUTES: &str = "
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: r}
spec:
  ingressClassName: traefik
  defaultBackend: {service: {name: fallback, port: {number: 80}}}
  rules:
    - host: a.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}
          - {path: /api, pathType: Prefix, backend: {service: {name: a-api, port: {number: 80}}}}
          - {path: /api/v1, pathType: Exact, backend: {service: {name: a-v1, port: {number: 80}}}}
    - host: '*.b.com'
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: b, port: {number: 80}}}}
    - host: x.b.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: xb, port: {number: 80}}}}
    - http:
        paths:
          - {path: /only, pathType: Prefix, backend: {service: {name: any, port: {number: 80}}}}
";

    fn to(ing: &Ingress, class: &str, host: &str, path: &str) -> Option<String> {
        ingress_backend(&[ing], class, host, path).map(|b| b.name.clone())
    }

    #[test]
    fn ingress_routing_follows_the_api_precedence() {
        let ing = ingress(ROUTES);
        let cases = [
            ("a.com", "/", "a"),
            ("A.COM:80", "/x", "a"),
            ("a.com", "/api", "a-api"),
            ("a.com", "/api/x", "a-api"),
            ("a.com", "/apix", "a"),
            ("a.com", "/api/v1", "a-v1"),
            ("a.com", "/api/v1/x", "a-api"),
            ("y.b.com", "/", "b"),
            ("x.b.com", "/", "xb"),
            ("b.com", "/", "fallback"),
            ("z.y.b.com", "/", "fallback"),
            ("other", "/only/x", "any"),
            ("", "/only", "any"),
            ("", "/", "fallback"),
        ];
        for (host, path, want) in cases {
            assert_eq!(
                to(&ing, "traefik", host, path).as_deref(),
                Some(want),
                "{host}{path}"
            );
        }
        assert_eq!(
            to(&ing, "nginx", "a.com", "/"),
            None,
            "another class is not ours"
        );
    }

    const CHAIN: &str = "
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}, {name: raw, port: 81, targetPort: 5678}, {name: bad, port: 82, targetPort: 9}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: x}}
    spec:
      containers: [{name: c, ports: [{name: http, containerPort: 5678}]}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
";

    fn by_number(n: i32) -> ServiceBackendPort {
        ServiceBackendPort {
            number: Some(n),
            name: None,
        }
    }

    #[test]
    fn a_service_port_leads_to_the_container_port_by_name_or_number() {
        let objects = parse(CHAIN).unwrap();
        for port in [
            by_number(80),
            by_number(81),
            ServiceBackendPort {
                name: Some("http".into()),
                number: None,
            },
        ] {
            let chain = follow(&objects, "web", &port).unwrap();
            assert_eq!(chain.workload.name, "web");
            assert_eq!(chain.container.name, "c");
            assert_eq!(chain.container_port.container_port, 5678);
        }
        assert!(matches!(
            follow(&objects, "web", &by_number(82)),
            Err(ChainError::NoTarget { .. })
        ));
        assert_eq!(
            follow(&objects, "web", &by_number(8080)).unwrap_err(),
            ChainError::NoServicePort {
                service: "web".into(),
                port: "8080".into()
            }
        );
        assert_eq!(
            follow(&objects, "nobody", &by_number(80)).unwrap_err(),
            ChainError::Workloads {
                service: "nobody".into(),
                count: 0
            }
        );
        assert_eq!(
            follow(&objects, "ghost", &by_number(80)).unwrap_err(),
            ChainError::NoService("ghost".into())
        );
        let w = objects.workloads()[0];
        assert!(selects_own_pods(w.selector, &w));
        let other = LabelSelector {
            match_labels: Some([("app".to_owned(), "other".to_owned())].into()),
            match_expressions: None,
        };
        assert!(!selects_own_pods(&other, &w));
    }

    #[test]
    fn argument_variables_must_be_defined() {
        let c: Container = serde_saphyr::from_str(
            "
name: c
args: ['-text=on $(NODE_NAME) pod $(POD_NAME) $(POD_NAME)', 'cost $$(HOME)', '$(UNDEF', '$(X)']
env: [{name: NODE_NAME, value: n}]
",
        )
        .unwrap();
        assert_eq!(undefined_arg_vars(&c), ["POD_NAME", "X"]);
    }

    #[test]
    fn hardening_names_every_gap() {
        let hardened: PodSpec = serde_saphyr::from_str(
            "
automountServiceAccountToken: false
securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
containers:
  - name: c
    readinessProbe: {httpGet: {path: /readyz, port: 1}}
    livenessProbe: {httpGet: {path: /health, port: 1}}
    resources: {requests: {cpu: 5m, memory: 8Mi}, limits: {cpu: 100m, memory: 32Mi}}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
",
        )
        .unwrap();
        assert_eq!(hardening_violations(&hardened), Vec::<String>::new());

        let bare: PodSpec = serde_saphyr::from_str(
            "
hostNetwork: true
securityContext: {runAsUser: 0}
containers:
  - name: c
    resources: {requests: {cpu: 5m}}
    securityContext: {privileged: true, capabilities: {add: [NET_ADMIN]}}
",
        )
        .unwrap();
        assert_eq!(
            hardening_violations(&bare),
            [
                "automountServiceAccountToken is not false",
                "hostNetwork is true",
                "container c: runAsNonRoot is not true",
                "container c: runs as user 0",
                "container c: is privileged",
                "container c: allowPrivilegeEscalation is not false",
                "container c: readOnlyRootFilesystem is not true",
                "container c: does not drop ALL capabilities",
                "container c: adds capabilities",
                "container c: seccompProfile is not RuntimeDefault",
                "container c: has no memory requests",
                "container c: has no cpu limits",
                "container c: has no memory limits",
                "container c: has no readinessProbe",
                "container c: has no livenessProbe",
            ]
        );
    }
}
