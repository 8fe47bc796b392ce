//! charts/p3: the playground app Argo CD deploys into `dev`.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use k8s_openapi::api::networking::v1::ServiceBackendPort;
use lab_charts::objects::Objects;
use lab_charts::rules::follow;
use lab_charts::{Chart, Object};

fn port(n: i32) -> ServiceBackendPort {
    ServiceBackendPort {
        number: Some(n),
        name: None,
    }
}

#[test]
fn playground_answers_on_8888_through_a_load_balancer_in_dev() {
    let objects = render(Chart::P3, "dev", &[]);
    let kinds: Vec<(&str, &str)> = objects.iter().map(|o| (o.kind(), o.name())).collect();
    assert_eq!(
        kinds,
        [("Service", "playground"), ("Deployment", "playground")]
    );
    for o in &objects {
        assert_eq!(o.metadata().namespace.as_deref(), Some("dev"));
        assert_recommended_labels(labels(o), "playground", "p3", None);
    }
    let service = objects.services()[0].spec.as_ref().unwrap();
    assert_eq!(service.type_.as_deref(), Some("LoadBalancer"));
    let chain = follow(&objects, "playground", &port(8888)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(chain.workload.name, "playground");
    assert_eq!(chain.container_port.container_port, 8888);
    let d = objects.deployments()[0].spec.as_ref().unwrap();
    assert_eq!(d.replicas, Some(1));
}

#[test]
fn the_container_runs_playground_mode_hardened_and_probed() {
    let objects = render(Chart::P3, "dev", &[]);
    let w = objects.workloads()[0];
    let c = container(&w);
    assert_eq!(c.image.as_deref(), Some("localhost:5111/echo-app:v1"));
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert!(
        !args(c)
            .iter()
            .any(|a| a.starts_with("-text") || a.starts_with("--text")),
        "-text would switch echo-app to http-echo mode: {:?}",
        args(c)
    );
    assert!(
        c.env.is_none(),
        "APP_VERSION (v1/v2) comes from the image, nothing may override it"
    );
    assert_eq!(probes(c), lab_probes(8888));
    assert_workload_keeps_the_rules(&w);
    assert_grace_covers_drain(&w);
}

#[test]
fn values_yaml_holds_the_image_block_gitops_bumper_edits() {
    let values =
        std::fs::read_to_string(lab_charts::workspace_root().join("charts/p3/values.yaml"))
            .unwrap();
    let block =
        "\nimage:\n  repository: localhost:5111/echo-app\n  tag: v1\n  pullPolicy: IfNotPresent\n";
    assert!(
        values.contains(block),
        "charts/p3/values.yaml lost the block:{block}"
    );
    let text = lab_charts::render_text(Chart::P3, "dev", &[]).unwrap();
    assert!(
        text.contains("          image: \"localhost:5111/echo-app:v1\"\n"),
        "{text}"
    );
}

#[test]
fn bumping_the_tag_changes_the_image_and_nothing_the_selector_depends_on() {
    let v1 = render(Chart::P3, "dev", &[]);
    let v2 = render(Chart::P3, "dev", &[set("image.tag=v2")]);
    let selectors = |objects: &[Object]| {
        let w = objects.workloads()[0];
        let svc = objects.services()[0].spec.clone().unwrap().selector;
        (format!("{:?}", w.selector), svc)
    };
    assert_eq!(selectors(&v1), selectors(&v2));
    let w = v2.workloads()[0];
    assert_eq!(
        container(&w).image.as_deref(),
        Some("localhost:5111/echo-app:v2")
    );
    // gitops-bumper edits the tag in values.yaml and in p3/confs: the render must then differ
    // from the committed one on exactly the image line, or the confs would fall out of sync.
    let text_v1 = lab_charts::render_text(Chart::P3, "dev", &[]).unwrap();
    let text_v2 = lab_charts::render_text(Chart::P3, "dev", &[set("image.tag=v2")]).unwrap();
    let changed: Vec<(&str, &str)> = text_v1
        .lines()
        .zip(text_v2.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(text_v1.lines().count(), text_v2.lines().count());
    assert_eq!(
        changed,
        [(
            "          image: \"localhost:5111/echo-app:v1\"",
            "          image: \"localhost:5111/echo-app:v2\""
        )]
    );
}

#[test]
fn non_default_values_are_followed() {
    let objects = render(Chart::P3, "lab", &[custom(Chart::P3)]);
    let service = objects.services()[0].spec.as_ref().unwrap();
    assert_eq!(service.type_.as_deref(), Some("ClusterIP"));
    let chain = follow(&objects, "web", &port(80)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(chain.workload.name, "web");
    assert_eq!(chain.container_port.container_port, 8000);
    let w = objects.workloads()[0];
    let c = container(&w);
    assert_eq!(c.image.as_deref(), Some("registry.lab.test/echo-app:v2"));
    assert!(args(c).contains(&"-listen=:8000"));
    assert_eq!(
        objects.deployments()[0].spec.as_ref().unwrap().replicas,
        Some(3)
    );
    assert_workload_keeps_the_rules(&w);
}

#[test]
fn values_that_would_break_it_are_refused_with_the_reason() {
    let message = refusal(Chart::P3, &[set("service.type=ExternalName")]);
    assert!(message.contains("/service/type"), "{message}");
    let message = refusal(Chart::P3, &[set("drainTimeoutSeconds=30")]);
    assert!(
        message.contains("terminationGracePeriodSeconds (15) is shorter"),
        "{message}"
    );
}
