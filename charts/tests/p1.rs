//! charts/p1: node-echo, one echo-app pod per node, for p1's cross-node check.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lab_charts::Chart;
use lab_charts::objects::Objects;

#[test]
fn node_echo_is_a_daemonset_on_every_node_including_the_server() {
    let objects = render(Chart::P1, "default", &[]);
    assert_eq!(objects.len(), 1, "only the DaemonSet");
    let ds = objects.daemon_sets()[0];
    assert_eq!(ds.metadata.name.as_deref(), Some("node-echo"));
    assert_eq!(ds.metadata.namespace.as_deref(), Some("default"));
    assert_recommended_labels(labels(&objects[0]), "node-echo", "p1", Some("v1"));
    let w = objects.workloads()[0];
    assert_recommended_labels(pod_labels(&w), "node-echo", "p1", Some("v1"));
    let tolerates_control_plane = pod_spec(&w).tolerations.iter().flatten().any(|t| {
        t.key.as_deref() == Some("node-role.kubernetes.io/control-plane")
            && t.operator.as_deref() == Some("Exists")
            && t.effect.as_deref() == Some("NoSchedule")
    });
    assert!(
        tolerates_control_plane,
        "the server node must get a pod too"
    );
}

#[test]
fn each_pod_names_its_node_and_itself_on_port_http_5678() {
    let objects = render(Chart::P1, "default", &[]);
    let w = objects.workloads()[0];
    let c = container(&w);
    assert_eq!(c.image.as_deref(), Some("echo-app:v1"));
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(
        args(c)[0],
        "-text=node-echo on $(NODE_NAME) pod $(POD_NAME)"
    );
    assert_eq!(field_ref(c, "NODE_NAME"), Some("spec.nodeName"));
    assert_eq!(field_ref(c, "POD_NAME"), Some("metadata.name"));
    let ports: Vec<(Option<&str>, i32)> = c
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.as_deref(), p.container_port))
        .collect();
    assert_eq!(ports, [(Some("http"), 5678)]);
    assert_eq!(probes(c), lab_probes(5678));
    assert_workload_keeps_the_rules(&w);
    assert_grace_covers_drain(&w);
}

#[test]
fn non_default_values_are_followed() {
    let objects = render(Chart::P1, "lab", &[custom(Chart::P1)]);
    let w = objects.workloads()[0];
    assert_eq!(w.name, "cross-node");
    assert_recommended_labels(pod_labels(&w), "cross-node", "p1", Some("v2"));
    assert!(pod_spec(&w).tolerations.is_none());
    let c = container(&w);
    assert_eq!(c.image.as_deref(), Some("registry.lab.test/echo-app:v2"));
    assert_eq!(c.image_pull_policy.as_deref(), Some("Never"));
    assert_eq!(
        args(c)[..2],
        ["-text=hi from $(NODE_NAME)/$(POD_NAME)", "-listen=:8080"]
    );
    assert_eq!(probes(c), lab_probes(8080));
    assert_eq!(pod_spec(&w).termination_grace_period_seconds, Some(40));
    assert_workload_keeps_the_rules(&w);
    assert_grace_covers_drain(&w);
}

#[test]
fn values_that_would_break_it_are_refused_with_the_reason() {
    let message = refusal(Chart::P1, &[set("terminationGracePeriodSeconds=2")]);
    assert!(
        message.contains("is shorter than shutdownDelaySeconds + drainTimeoutSeconds (8)"),
        "{message}"
    );
    let message = refusal(Chart::P1, &[set("name=Node_Echo")]);
    assert!(message.contains("/name"), "{message}");
}
