//! What the kubelet reports about containers: image pulls, crash loops, OOM kills, config
//! errors, readiness. One finding per pod and cause; `diagnose` merges a workload's pods.

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::{
    kubectl_name, last_event, ns_flag, pod_is_live, pod_phase, pod_ref, pod_spec_path, workload_of,
};
use crate::diagnose::finding::{Cause, Finding, ObjectRef};
use crate::diagnose::snapshot::Snapshot;

const PULL_FAILURES: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "RegistryUnavailable",
];
/// A container restarting this often with a failing exit is looping, even in the moment it
/// runs between two back-offs.
const LOOP_RESTARTS: i32 = 3;

pub(crate) fn check(snap: &Snapshot) -> Vec<Finding> {
    let mut found = Vec::new();
    for pod in snap.pods.iter().filter(|p| pod_is_live(p)) {
        let Some(status) = pod.status.as_ref() else {
            continue;
        };
        let statuses = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        let mut container_found = false;
        for c in statuses {
            if let Some(f) = container_finding(snap, pod, c) {
                found.push(f);
                container_found = true;
            }
        }
        if container_found || pod_phase(pod) != "Running" {
            continue;
        }
        if !super::pod_is_ready(pod) {
            found.extend(not_ready(snap, pod, Readiness::Reported));
        } else if on_simulated_node(snap, pod) {
            found.extend(not_ready(snap, pod, Readiness::Simulated));
        }
    }
    found
}

fn spec_of<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

fn container_finding(snap: &Snapshot, pod: &Pod, c: &ContainerStatus) -> Option<Finding> {
    let waiting = c.state.as_ref().and_then(|s| s.waiting.as_ref());
    let reason = waiting
        .and_then(|w| w.reason.as_deref())
        .unwrap_or_default();
    if PULL_FAILURES.contains(&reason) {
        return Some(image_pull(
            snap,
            pod,
            c,
            reason,
            waiting.and_then(|w| w.message.as_deref()),
        ));
    }
    if matches!(
        reason,
        "CreateContainerConfigError" | "CreateContainerError"
    ) {
        return Some(config_error(
            snap,
            pod,
            c,
            reason,
            waiting.and_then(|w| w.message.as_deref()),
        ));
    }
    // Stuck creating: the kubelet's reason is in the pod's last FailedMount (a ConfigMap or
    // Secret volume that does not exist) or FailedCreatePodSandBox event.
    if reason == "ContainerCreating" {
        let event = last_event(
            snap,
            &pod_ref(pod),
            &["FailedMount", "FailedCreatePodSandBox"],
        );
        if let Some(e) = event {
            let why = e.reason.clone().unwrap_or_default();
            return Some(
                config_error(snap, pod, c, reason, e.message.as_deref()).evidence(
                    format!("event {why}"),
                    e.message.clone().unwrap_or_default(),
                ),
            );
        }
    }
    let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let now = c.state.as_ref().and_then(|s| s.terminated.as_ref());
    let oom = [last, now]
        .into_iter()
        .flatten()
        .find(|t| t.reason.as_deref() == Some("OOMKilled"));
    if let Some(t) = oom {
        return Some(oom_killed(snap, pod, c, t.exit_code));
    }
    let looping = reason == "CrashLoopBackOff"
        || (c.restart_count >= LOOP_RESTARTS && last.is_some_and(|t| t.exit_code != 0));
    if looping {
        return Some(crash_loop(
            snap,
            pod,
            c,
            waiting.and_then(|w| w.message.as_deref()),
        ));
    }
    None
}

/// The registry of an image reference, as the container runtime resolves it.
pub(crate) fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_owned()
        }
        _ => "docker.io".to_owned(),
    }
}

fn tag_of(image: &str) -> String {
    let name = image.split('@').next().unwrap_or(image);
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) => tag.to_owned(),
        None if image.contains('@') => image.rsplit('@').next().unwrap_or_default().to_owned(),
        None => "latest".to_owned(),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum PullProblem {
    NotFound,
    Unauthorized,
    Unreachable,
    InvalidName,
    Other,
}

fn pull_problem(reason: &str, message: &str) -> PullProblem {
    let m = message.to_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if reason == "InvalidImageName" || any(&["invalid reference format", "couldn't parse image"]) {
        PullProblem::InvalidName
    } else if any(&[
        "unauthorized",
        "authentication required",
        "no basic auth credentials",
        "access denied",
        "denied",
        "authoriz",
        "401",
        "403 forbidden",
        "forbidden",
    ]) {
        PullProblem::Unauthorized
    } else if any(&[
        "not found",
        "manifest unknown",
        "does not exist",
        "name unknown",
    ]) {
        PullProblem::NotFound
    } else if any(&[
        "no such host",
        "connection refused",
        "i/o timeout",
        "dial tcp",
        "x509",
        "tls:",
        "server gave http response",
        "network is unreachable",
        "context deadline exceeded",
    ]) {
        PullProblem::Unreachable
    } else {
        PullProblem::Other
    }
}

fn image_pull(
    snap: &Snapshot,
    pod: &Pod,
    c: &ContainerStatus,
    reason: &str,
    message: Option<&str>,
) -> Finding {
    let image = spec_of(pod, &c.name)
        .and_then(|s| s.image.clone())
        .unwrap_or_else(|| c.image.clone());
    let registry = registry_of(&image);
    let tag = tag_of(&image);
    let object = workload_of(snap, pod);
    // The kubelet's back-off message may only say "Back-off pulling image"; the registry's
    // own words are in the Failed event of the last pull.
    let event = last_event(snap, &pod_ref(pod), &["Failed"])
        .and_then(|e| e.message.clone())
        .filter(|m| m.contains(&image) || m.to_lowercase().contains("pull"));
    let registry_message = [message.map(str::to_owned), event]
        .into_iter()
        .flatten()
        .max_by_key(|m| m.len())
        .unwrap_or_default();
    let secrets: Vec<String> = pod
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.as_ref())
        .into_iter()
        .flatten()
        .map(|r| r.name.clone())
        .collect();
    let problem = pull_problem(reason, &registry_message);
    let path = pod_spec_path(&object);
    let set_image = format!(
        "kubectl {}set image {} {}=<image that exists>",
        ns_flag(&object),
        kubectl_name(&object),
        c.name
    );
    let (summary, fix) = match problem {
        PullProblem::NotFound => (
            format!(
                "image {image} cannot be pulled: tag {tag} (or the repository) does not exist in {registry}"
            ),
            format!(
                "use a tag that exists in {registry} (list them with `skopeo list-tags docker://{}` or the registry's UI), then: {set_image}",
                image.split([':', '@']).next().unwrap_or(&image)
            ),
        ),
        // Docker Hub answers the same for a repository that does not exist.
        PullProblem::Unauthorized if secrets.is_empty() => (
            if registry_message.contains("does not exist") {
                format!(
                    "registry {registry} refuses {image}: the repository does not exist, or it is private and the pod has no imagePullSecrets"
                )
            } else {
                format!(
                    "image {image} is in a private registry ({registry}) and the pod has no imagePullSecrets"
                )
            },
            format!(
                "create a pull secret and reference it: kubectl {}create secret docker-registry regcred --docker-server={registry} --docker-username=<user> --docker-password=<token>; then add to {path}: imagePullSecrets: [{{name: regcred}}] (or attach it to the ServiceAccount: kubectl {}patch serviceaccount default -p '{{\"imagePullSecrets\":[{{\"name\":\"regcred\"}}]}}')",
                ns_flag(&object),
                ns_flag(&object)
            ),
        ),
        PullProblem::Unauthorized => (
            format!(
                "registry {registry} refuses the credentials of pull secret(s) {} for {image}",
                secrets.join(", ")
            ),
            format!(
                "check that secret {} holds a valid login for {registry} (kubectl {}get secret {} -o jsonpath='{{.data.\\.dockerconfigjson}}' | base64 -d), and that this account may read the repository",
                secrets.first().map(String::as_str).unwrap_or_default(),
                ns_flag(&object),
                secrets.first().map(String::as_str).unwrap_or_default()
            ),
        ),
        PullProblem::Unreachable => (
            format!("registry {registry} cannot be reached to pull {image}"),
            format!(
                "check the registry address in the image reference and that the nodes reach {registry} (DNS, firewall, TLS; a plain-HTTP registry must be configured as a mirror or insecure registry on the nodes), or {set_image}"
            ),
        ),
        PullProblem::InvalidName => (
            format!("image reference {image} is not valid"),
            format!(
                "fix {path}.containers[name={}].image to repository[:tag]: {set_image}",
                c.name
            ),
        ),
        PullProblem::Other => (
            format!("image {image} cannot be pulled from {registry}"),
            format!(
                "read the registry's message above; check the reference, the tag and the credentials, then: {set_image}"
            ),
        ),
    };
    let mut f = Finding::new(Cause::ImagePullFailed, object, summary)
        .evidence("container", c.name.clone())
        .evidence("image", image.clone())
        .evidence("state.waiting.reason", reason);
    if !registry_message.is_empty() {
        f = f.evidence("registry message", registry_message);
    }
    if problem == PullProblem::Unauthorized {
        f = f.evidence(
            "spec.imagePullSecrets",
            if secrets.is_empty() {
                "(none)".to_owned()
            } else {
                secrets.join(", ")
            },
        );
    }
    f.fix(fix).related(pod_ref(pod))
}

fn config_error(
    snap: &Snapshot,
    pod: &Pod,
    c: &ContainerStatus,
    reason: &str,
    message: Option<&str>,
) -> Finding {
    let object = workload_of(snap, pod);
    let message = message.unwrap_or_default().to_owned();
    let fix = if let Some(what) = missing_object(&message) {
        format!(
            "create {what} in namespace {} (kubectl {}create {} ...), or fix the reference in {}.containers[name={}] (env, envFrom or volumes)",
            object.namespace.clone().unwrap_or_default(),
            ns_flag(&object),
            what.split_whitespace().next().unwrap_or("configmap"),
            pod_spec_path(&object),
            c.name
        )
    } else {
        format!(
            "fix what the message names in {}.containers[name={}]",
            pod_spec_path(&object),
            c.name
        )
    };
    Finding::new(
        Cause::ContainerConfigError,
        object,
        format!("container {} cannot be created: {message}", c.name),
    )
    .evidence("container", c.name.clone())
    .evidence("state.waiting.reason", reason)
    .evidence("state.waiting.message", message.clone())
    .fix(fix)
    .related(pod_ref(pod))
}

/// `configmap "x"` / `secret "x"` from a kubelet's "... not found" message.
fn missing_object(message: &str) -> Option<String> {
    for kind in ["configmap", "secret"] {
        let lower = message.to_lowercase();
        if let Some(at) = lower.find(&format!("{kind} \"")) {
            let rest = &message[at + kind.len() + 2..];
            let name = rest.split('"').next()?;
            return Some(format!("{kind} {name}"));
        }
    }
    None
}

fn log_evidence(snap: &Snapshot, pod: &Pod, container: &str) -> Option<String> {
    let key = (
        pod.namespace().unwrap_or_default(),
        pod.name_any(),
        container.to_owned(),
    );
    snap.previous_logs.get(&key).map(|lines| lines.join("\n"))
}

fn logs_command(object: &ObjectRef, pod: &Pod, container: &str) -> String {
    format!(
        "kubectl {}logs {} -c {container} --previous",
        ns_flag(object),
        pod.name_any()
    )
}

fn crash_loop(snap: &Snapshot, pod: &Pod, c: &ContainerStatus, back_off: Option<&str>) -> Finding {
    let object = workload_of(snap, pod);
    let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let exit = last.map(|t| t.exit_code);
    let meaning = match exit {
        Some(127) => " (command not found: check command and args)",
        Some(126) => " (command not executable)",
        Some(137) => " (killed by SIGKILL: a failing liveness probe or the node)",
        Some(143) => " (stopped by SIGTERM)",
        Some(139) => " (segmentation fault)",
        Some(0) => " (exited successfully: a long-running container must not end)",
        _ => "",
    };
    let mut f = Finding::new(
        Cause::CrashLoop,
        object.clone(),
        format!(
            "container {} keeps exiting{} and is restarted ({} restarts)",
            c.name,
            exit.map(|e| format!(" with code {e}")).unwrap_or_default(),
            c.restart_count
        ),
    )
    .evidence("container", c.name.clone())
    .evidence("restartCount", c.restart_count.to_string());
    if let Some(t) = last {
        f = f.evidence(
            "lastState.terminated.exitCode",
            format!("{}{meaning}", t.exit_code),
        );
        if let Some(r) = &t.reason {
            f = f.evidence("lastState.terminated.reason", r.clone());
        }
        if let Some(m) = t.message.as_deref().filter(|m| !m.is_empty()) {
            f = f.evidence("lastState.terminated.message", m);
        }
    }
    if let Some(m) = back_off.filter(|m| !m.is_empty()) {
        f = f.evidence("state.waiting.message", m);
    }
    match log_evidence(snap, pod, &c.name) {
        Some(log) => f = f.evidence("previous container log", log),
        None => f = f.evidence("previous container log", "(not available)"),
    }
    let fix = format!(
        "read why it exits: {}; fix the program, its command/args or its configuration in {}.containers[name={}]",
        logs_command(&object, pod, &c.name),
        pod_spec_path(&object),
        c.name
    );
    f.fix(fix).related(pod_ref(pod))
}

fn oom_killed(snap: &Snapshot, pod: &Pod, c: &ContainerStatus, exit: i32) -> Finding {
    let object = workload_of(snap, pod);
    let limit = spec_of(pod, &c.name)
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get("memory"))
        .map(|q| q.0.clone());
    let suggestion = limit
        .as_deref()
        .and_then(super::quantity)
        .map(|b| super::memory_text(b * 2.0))
        .unwrap_or_else(|| "<more>".to_owned());
    let mut f = Finding::new(
        Cause::OomKilled,
        object.clone(),
        format!(
            "container {} was killed for using more memory than its limit{}",
            c.name,
            limit
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default()
        ),
    )
    .evidence("container", c.name.clone())
    .evidence("lastState.terminated.reason", "OOMKilled")
    .evidence("lastState.terminated.exitCode", exit.to_string())
    .evidence("restartCount", c.restart_count.to_string())
    .evidence(
        "resources.limits.memory",
        limit
            .clone()
            .unwrap_or_else(|| "(none: the node's memory ran out)".to_owned()),
    );
    if let Some(log) = log_evidence(snap, pod, &c.name) {
        f = f.evidence("previous container log", log);
    }
    let fix = format!(
        "raise the memory limit (and request) if the program needs it: kubectl {}set resources {} -c {} --limits=memory={suggestion}; or lower its memory use",
        ns_flag(&object),
        kubectl_name(&object),
        c.name
    );
    f.fix(fix).related(pod_ref(pod))
}

/// The port a probe targets, as written.
fn probe_target(probe: &Probe) -> Option<(String, Option<String>, &IntOrString)> {
    if let Some(h) = &probe.http_get {
        return Some(("httpGet".into(), h.path.clone(), &h.port));
    }
    if let Some(t) = &probe.tcp_socket {
        return Some(("tcpSocket".into(), None, &t.port));
    }
    None
}

fn port_text(p: &IntOrString) -> String {
    match p {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

fn declared_ports(c: &Container) -> String {
    let ports: Vec<String> = c
        .ports
        .iter()
        .flatten()
        .map(|p| {
            let mut t = format!(
                "{}/{}",
                p.container_port,
                p.protocol.as_deref().unwrap_or("TCP")
            );
            if let Some(n) = &p.name {
                t.push_str(&format!(" ({n})"));
            }
            t
        })
        .collect();
    if ports.is_empty() {
        "(none declared)".to_owned()
    } else {
        ports.join(", ")
    }
}

/// Whether the probe's port is one the container declares; None when it declares none and
/// the port is a number (nothing to compare with).
fn probe_port_declared(c: &Container, port: &IntOrString) -> Option<bool> {
    let ports = c.ports.as_deref().unwrap_or_default();
    match port {
        IntOrString::String(name) => Some(ports.iter().any(|p| p.name.as_deref() == Some(name))),
        IntOrString::Int(_) if ports.is_empty() => None,
        IntOrString::Int(n) => Some(ports.iter().any(|p| p.container_port == *n)),
    }
}

/// Whether the pod's Ready condition comes from a kubelet that probed it, or from a simulated
/// node (kwok) that reports every pod ready: there only a probe that cannot work by its spec
/// is evidence.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Readiness {
    Reported,
    Simulated,
}

/// kwok marks the nodes it plays with this annotation.
const SIMULATED_NODE_ANNOTATION: &str = "kwok.x-k8s.io/node";

fn on_simulated_node(snap: &Snapshot, pod: &Pod) -> bool {
    let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
        return false;
    };
    snap.nodes
        .iter()
        .any(|n| n.name_any() == node && n.annotations().contains_key(SIMULATED_NODE_ANNOTATION))
}

fn not_ready(snap: &Snapshot, pod: &Pod, readiness: Readiness) -> Vec<Finding> {
    let object = workload_of(snap, pod);
    let ready = super::pod_condition(pod, "Ready");
    let mut found = Vec::new();
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| !c.ready || readiness == Readiness::Simulated);
    for c in statuses {
        let Some(spec) = spec_of(pod, &c.name) else {
            continue;
        };
        let probe = spec.readiness_probe.as_ref().and_then(probe_target);
        if readiness == Readiness::Simulated
            && probe
                .as_ref()
                .is_none_or(|(_, _, port)| probe_port_declared(spec, port) != Some(false))
        {
            continue;
        }
        let event = last_event(snap, &pod_ref(pod), &["Unhealthy"])
            .and_then(|e| e.message.clone())
            .filter(|m| m.contains("Readiness"));
        let Some((kind, path, port)) = probe else {
            let mut f = Finding::new(
                Cause::PodNotReady,
                object.clone(),
                format!("container {} runs but is not ready", c.name),
            )
            .evidence("container", c.name.clone())
            .evidence("ready", "false");
            if let Some(r) = ready {
                f = f.evidence(
                    "status.conditions[Ready]",
                    format!(
                        "{} {}{}",
                        r.status,
                        r.reason.clone().unwrap_or_default(),
                        r.message
                            .as_deref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    ),
                );
            }
            found.push(
                f.fix(format!(
                    "see what keeps it from being ready: kubectl {}describe pod {}",
                    ns_flag(&object),
                    pod.name_any()
                ))
                .related(pod_ref(pod)),
            );
            continue;
        };
        let spec_path = pod_spec_path(&object);
        let base = format!(
            "{spec_path}.containers[name={}].readinessProbe.{kind}",
            c.name
        );
        let declared = probe_port_declared(spec, port);
        let cause = if declared == Some(false) {
            Cause::ReadinessProbePort
        } else {
            Cause::ReadinessProbeFailing
        };
        let summary = if cause == Cause::ReadinessProbePort {
            format!(
                "the readiness probe of container {} checks port {} which the container does not declare ({}), so it never becomes ready{}",
                c.name,
                port_text(port),
                declared_ports(spec),
                if readiness == Readiness::Simulated {
                    " (its node is simulated: the Ready it shows was not probed)"
                } else {
                    ""
                }
            )
        } else {
            format!(
                "the readiness probe of container {} ({}{}) keeps failing",
                c.name,
                port_text(port),
                path.as_deref().unwrap_or("")
            )
        };
        let mut f =
            Finding::new(cause, object.clone(), summary).evidence("container", c.name.clone());
        if let Some(p) = &path {
            f = f.evidence(format!("{base}.path"), p.clone());
        }
        f = f
            .evidence(format!("{base}.port"), port_text(port))
            .evidence(
                format!("{spec_path}.containers[name={}].ports", c.name),
                declared_ports(spec),
            );
        if let Some(m) = event {
            f = f.evidence("event Unhealthy", m);
        }
        let fix = if cause == Cause::ReadinessProbePort {
            let first = spec
                .ports
                .iter()
                .flatten()
                .next()
                .map(|p| {
                    p.name
                        .clone()
                        .unwrap_or_else(|| p.container_port.to_string())
                })
                .unwrap_or_else(|| "<the port it listens on>".to_owned());
            format!(
                "set {base}.port to the port the program listens on, e.g. {first} (or declare containerPort {} if it really listens there)",
                port_text(port)
            )
        } else {
            format!(
                "check that the program answers {}{} on port {} (kubectl {}port-forward {} {}), or fix the probe's path and port in {base}",
                if kind == "httpGet" {
                    "GET "
                } else {
                    "a connection"
                },
                path.as_deref().unwrap_or(""),
                port_text(port),
                ns_flag(&object),
                pod.name_any(),
                port_text(port)
            )
        };
        found.push(f.fix(fix).related(pod_ref(pod)));
    }
    found
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::super::testing::obj;
    use super::*;
    use serde_json::{Value, json};

    fn pod(name: &str, spec: Value, status: Value) -> Pod {
        obj(json!({
            "metadata": {"name": name, "namespace": "dev", "labels": {"app": "web"}},
            "spec": spec,
            "status": status
        }))
    }

    fn one_container(image: &str) -> Value {
        json!({"nodeName": "kwok-node-0", "containers": [{"name": "app", "image": image,
            "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}]}]})
    }

    fn snap(pods: Vec<Pod>) -> Snapshot {
        Snapshot {
            pods,
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_tag_that_does_not_exist_is_named_with_the_registry_message() {
        let p = pod(
            "web",
            one_container("registry.example.com/team/web:v9"),
            json!({"phase": "Pending", "containerStatuses": [{"name": "app",
                "image": "registry.example.com/team/web:v9", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff",
                "message": "Back-off pulling image \"registry.example.com/team/web:v9\": ErrImagePull: failed to pull and unpack image \"registry.example.com/team/web:v9\": failed to resolve reference \"registry.example.com/team/web:v9\": registry.example.com/team/web:v9: not found"}}}]}),
        );
        let found = check(&snap(vec![p]));
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!(f.cause, Cause::ImagePullFailed);
        assert_eq!(f.object, ObjectRef::namespaced("Pod", "dev", "web"));
        assert_eq!(
            f.evidence_value("image"),
            Some("registry.example.com/team/web:v9")
        );
        assert!(
            f.evidence_value("registry message")
                .unwrap()
                .contains("not found")
        );
        assert!(f.summary.contains("tag v9"), "{}", f.summary);
        assert!(
            f.fix.contains("kubectl -n dev set image pod/web app="),
            "{}",
            f.fix
        );
    }

    #[test]
    fn a_private_registry_without_pull_secret_asks_for_one() {
        let p = pod(
            "web",
            one_container("ghcr.io/acme/private:1.0"),
            json!({"phase": "Pending", "containerStatuses": [{"name": "app", "image": "ghcr.io/acme/private:1.0",
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ErrImagePull",
                "message": "failed to pull and unpack image \"ghcr.io/acme/private:1.0\": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://ghcr.io/token: 401 Unauthorized"}}}]}),
        );
        let f = &check(&snap(vec![p]))[0];
        assert_eq!(f.cause, Cause::ImagePullFailed);
        assert_eq!(f.evidence_value("spec.imagePullSecrets"), Some("(none)"));
        assert!(
            f.fix
                .contains("create secret docker-registry regcred --docker-server=ghcr.io"),
            "{}",
            f.fix
        );
        assert!(f.fix.contains("imagePullSecrets"));
        assert!(f.summary.contains("no imagePullSecrets"), "{}", f.summary);
        // With a secret that the registry refuses, the secret is what to check.
        let mut with_secret = p_with_secret();
        let f = &check(&snap(vec![with_secret.clone()]))[0];
        assert!(f.fix.contains("check that secret regcred"), "{}", f.fix);
        with_secret.spec.as_mut().unwrap().image_pull_secrets = None;
        let hub = &check(&snap(vec![with_secret]))[0];
        assert!(
            hub.summary.contains("does not exist, or it is private"),
            "{}",
            hub.summary
        );
    }

    fn p_with_secret() -> Pod {
        pod(
            "hub",
            json!({"nodeName": "n", "imagePullSecrets": [{"name": "regcred"}],
                "containers": [{"name": "app", "image": "acme/private:1.0"}]}),
            json!({"phase": "Pending", "containerStatuses": [{"name": "app", "image": "acme/private:1.0",
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ErrImagePull",
                "message": "pull access denied for acme/private, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"}}}]}),
        )
    }

    #[test]
    fn the_registry_message_is_taken_from_the_failed_event_when_the_back_off_has_none() {
        let p = pod(
            "web",
            one_container("nginx:nope"),
            json!({"phase": "Pending", "containerStatuses": [{"name": "app", "image": "nginx:nope",
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"nginx:nope\""}}}]}),
        );
        let mut s = snap(vec![p]);
        s.events.push(obj(json!({
            "metadata": {"name": "web.1", "namespace": "dev"},
            "involvedObject": {"kind": "Pod", "namespace": "dev", "name": "web"},
            "reason": "Failed", "type": "Warning", "lastTimestamp": "2026-01-01T00:00:00Z",
            "message": "Failed to pull image \"nginx:nope\": rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/nginx:nope\": failed to resolve reference \"docker.io/library/nginx:nope\": docker.io/library/nginx:nope: not found"
        })));
        let f = &check(&s)[0];
        assert!(
            f.evidence_value("registry message")
                .unwrap()
                .contains("code = NotFound")
        );
        assert!(f.summary.contains("docker.io"), "{}", f.summary);
    }

    fn crashing(reason: &str, exit: i32, limits: Value) -> Pod {
        pod(
            "worker",
            json!({"nodeName": "n", "containers": [{"name": "app", "image": "busybox",
                "resources": {"limits": limits}}]}),
            json!({"phase": "Running", "containerStatuses": [{"name": "app", "image": "busybox",
                "imageID": "", "ready": false, "restartCount": 6,
                "lastState": {"terminated": {"exitCode": exit, "reason": reason,
                    "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:01Z"}},
                "state": {"waiting": {"reason": "CrashLoopBackOff",
                    "message": "back-off 5m0s restarting failed container=app pod=worker_dev(u)"}}}]}),
        )
    }

    #[test]
    fn a_crash_loop_shows_the_exit_code_the_reason_and_the_previous_log() {
        let mut s = snap(vec![crashing("Error", 127, json!({}))]);
        s.previous_logs.insert(
            ("dev".into(), "worker".into(), "app".into()),
            vec!["sh: exec: /app/server: not found".into()],
        );
        let found = check(&s);
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!(f.cause, Cause::CrashLoop);
        assert_eq!(f.evidence_value("restartCount"), Some("6"));
        assert!(
            f.evidence_value("lastState.terminated.exitCode")
                .unwrap()
                .starts_with("127 (command not found")
        );
        assert_eq!(
            f.evidence_value("lastState.terminated.reason"),
            Some("Error")
        );
        assert_eq!(
            f.evidence_value("previous container log"),
            Some("sh: exec: /app/server: not found")
        );
        assert!(
            f.fix
                .contains("kubectl -n dev logs worker -c app --previous"),
            "{}",
            f.fix
        );
    }

    #[test]
    fn an_oom_kill_is_its_own_cause_and_suggests_a_larger_limit() {
        let found = check(&snap(vec![crashing(
            "OOMKilled",
            137,
            json!({"memory": "64Mi"}),
        )]));
        assert_eq!(
            found.len(),
            1,
            "one root cause, not also a crash loop: {found:?}"
        );
        let f = &found[0];
        assert_eq!(f.cause, Cause::OomKilled);
        assert_eq!(f.evidence_value("resources.limits.memory"), Some("64Mi"));
        assert_eq!(
            f.evidence_value("lastState.terminated.exitCode"),
            Some("137")
        );
        assert!(f.fix.contains("--limits=memory=128Mi"), "{}", f.fix);
    }

    fn running_not_ready(probe: Value) -> Pod {
        pod(
            "web",
            json!({"nodeName": "n", "containers": [{"name": "app", "image": "echo",
                "ports": [{"containerPort": 8888, "name": "http"}], "readinessProbe": probe}]}),
            json!({"phase": "Running",
                "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                    "message": "containers with unready status: [app]"}],
                "containerStatuses": [{"name": "app", "image": "echo", "imageID": "", "ready": false,
                "restartCount": 0, "started": true, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}),
        )
    }

    #[test]
    fn a_readiness_probe_on_an_undeclared_port_is_named_beside_the_declared_ones() {
        let found = check(&snap(vec![running_not_ready(
            json!({"httpGet": {"path": "/readyz", "port": 8080}}),
        )]));
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!(f.cause, Cause::ReadinessProbePort);
        assert_eq!(
            f.evidence_value("spec.containers[name=app].readinessProbe.httpGet.port"),
            Some("8080")
        );
        assert_eq!(
            f.evidence_value("spec.containers[name=app].readinessProbe.httpGet.path"),
            Some("/readyz")
        );
        assert_eq!(
            f.evidence_value("spec.containers[name=app].ports"),
            Some("8888/TCP (http)")
        );
        assert!(f.fix.contains("e.g. http"), "{}", f.fix);
        // A named port that does not exist is the same mistake.
        let named = check(&snap(vec![running_not_ready(
            json!({"httpGet": {"path": "/", "port": "web"}}),
        )]));
        assert_eq!(named[0].cause, Cause::ReadinessProbePort);
    }

    #[test]
    fn on_a_simulated_node_a_ready_pod_still_shows_a_probe_on_an_undeclared_port() {
        let ready_with_probe = |port: Value| {
            pod(
                "web",
                json!({"nodeName": "n", "containers": [{"name": "app", "image": "echo",
                    "ports": [{"containerPort": 8888, "name": "http"}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": port}}}]}),
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": "app", "image": "echo", "imageID": "",
                    "ready": true, "restartCount": 0}]}),
            )
        };
        let node = |simulated: bool| {
            let mut n = super::super::testing::node("n");
            if simulated {
                n.metadata.annotations =
                    Some([("kwok.x-k8s.io/node".to_owned(), "fake".to_owned())].into());
            }
            n
        };
        let with = |pod: Pod, simulated: bool| Snapshot {
            pods: vec![pod],
            nodes: vec![node(simulated)],
            ..Snapshot::default()
        };
        let found = check(&with(ready_with_probe(json!(9999)), true));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].cause, Cause::ReadinessProbePort);
        assert!(
            found[0].summary.contains("was not probed"),
            "{}",
            found[0].summary
        );
        // A kubelet that reports Ready has probed it: the program answers there.
        assert!(check(&with(ready_with_probe(json!(9999)), false)).is_empty());
        // A declared port is no evidence of anything on a simulated node.
        assert!(check(&with(ready_with_probe(json!("http")), true)).is_empty());
    }

    #[test]
    fn a_readiness_probe_on_a_declared_port_that_fails_quotes_the_probe_event() {
        let mut s = snap(vec![running_not_ready(
            json!({"httpGet": {"path": "/readyz", "port": "http"}}),
        )]);
        s.events.push(obj(json!({
            "metadata": {"name": "web.2", "namespace": "dev"},
            "involvedObject": {"kind": "Pod", "namespace": "dev", "name": "web"},
            "reason": "Unhealthy", "type": "Warning",
            "message": "Readiness probe failed: HTTP probe failed with statuscode: 503"
        })));
        let f = &check(&s)[0];
        assert_eq!(f.cause, Cause::ReadinessProbeFailing);
        assert!(f.evidence_value("event Unhealthy").unwrap().contains("503"));
    }

    #[test]
    fn running_and_ready_pods_and_finished_ones_have_no_finding() {
        let ok = pod(
            "ok",
            one_container("nginx"),
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "app", "image": "nginx", "imageID": "", "ready": true,
                "restartCount": 1, "lastState": {"terminated": {"exitCode": 1}},
                "state": {"running": {}}}]}),
        );
        let done = pod(
            "done",
            one_container("busybox"),
            json!({"phase": "Succeeded"}),
        );
        assert!(check(&snap(vec![ok, done])).is_empty());
    }

    #[test]
    fn a_missing_config_map_is_named() {
        let p = pod(
            "web",
            one_container("nginx"),
            json!({"phase": "Pending", "containerStatuses": [{"name": "app", "image": "nginx",
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "CreateContainerConfigError", "message": "configmap \"web-config\" not found"}}}]}),
        );
        let f = &check(&snap(vec![p]))[0];
        assert_eq!(f.cause, Cause::ContainerConfigError);
        assert!(f.fix.contains("configmap web-config"), "{}", f.fix);
    }

    #[test]
    fn a_volume_that_cannot_be_mounted_is_named_from_the_failed_mount_event() {
        let p = pod(
            "web",
            one_container("nginx"),
            json!({"phase": "Pending", "containerStatuses": [{"name": "app", "image": "nginx",
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
        );
        let mut s = snap(vec![p]);
        // Creating, with nothing wrong said yet: no finding.
        assert!(check(&s).is_empty());
        s.events.push(obj(json!({
            "metadata": {"name": "web.3", "namespace": "dev"},
            "involvedObject": {"kind": "Pod", "namespace": "dev", "name": "web"},
            "reason": "FailedMount", "type": "Warning",
            "message": "MountVolume.SetUp failed for volume \"config\" : configmap \"web-config\" not found"
        })));
        let f = &check(&s)[0];
        assert_eq!(f.cause, Cause::ContainerConfigError);
        assert!(
            f.evidence_value("event FailedMount")
                .unwrap()
                .contains("web-config")
        );
        assert!(f.fix.contains("configmap web-config"), "{}", f.fix);
    }

    #[test]
    fn image_references_name_their_registry_and_tag() {
        assert_eq!(registry_of("nginx:1.27"), "docker.io");
        assert_eq!(registry_of("library/nginx"), "docker.io");
        assert_eq!(registry_of("localhost:5000/app:v1"), "localhost:5000");
        assert_eq!(registry_of("ghcr.io/a/b"), "ghcr.io");
        assert_eq!(tag_of("ghcr.io/a/b"), "latest");
        assert_eq!(tag_of("localhost:5000/app:v1"), "v1");
        assert_eq!(
            pull_problem(
                "ErrImagePull",
                "dial tcp 10.0.0.1:443: connect: connection refused"
            ),
            PullProblem::Unreachable
        );
        assert_eq!(
            pull_problem("InvalidImageName", ""),
            PullProblem::InvalidName
        );
    }
}
