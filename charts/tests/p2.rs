//! charts/p2: three apps behind Traefik, routed by Host header.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use k8s_openapi::api::networking::v1::Ingress;
use lab_charts::objects::Objects;
use lab_charts::rules::{Chain, follow, ingress_backend};
use lab_charts::{Chart, Object};

/// Where a request for `host` ends: Ingress rule -> Service port -> workload -> container port.
fn route<'a>(objects: &'a [Object], class: &str, host: &str, path: &str) -> Chain<'a> {
    let ingresses: Vec<&Ingress> = objects.ingresses();
    let backend = ingress_backend(&ingresses, class, host, path)
        .unwrap_or_else(|| panic!("no Ingress rule of class {class} takes Host {host:?}{path}"));
    follow(objects, &backend.name, backend.port.as_ref().unwrap())
        .unwrap_or_else(|e| panic!("Host {host:?}: {e}"))
}

#[test]
fn default_render_is_three_deployments_three_services_one_ingress() {
    let objects = render(Chart::P2, "default", &[]);
    assert_eq!(
        replicas(&objects),
        [("app-one", 1), ("app-three", 1), ("app-two", 3)]
    );
    for s in objects.services() {
        let spec = s.spec.as_ref().unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        let ports: Vec<i32> = spec.ports.iter().flatten().map(|p| p.port).collect();
        assert_eq!(ports, [80], "{:?}", s.metadata.name);
    }
    assert_eq!(objects.ingresses().len(), 1);
    for o in &objects {
        assert_eq!(
            o.metadata().namespace.as_deref(),
            Some("default"),
            "{}",
            o.name()
        );
        assert_recommended_labels(labels(o), o.name(), "p2", Some("v1"));
    }
}

#[test]
fn hosts_reach_their_apps_and_every_other_host_reaches_app_three() {
    let objects = render(Chart::P2, "default", &[]);
    let cases = [
        ("app1.com", "app-one"),
        ("APP1.com:80", "app-one"),
        ("app2.com", "app-two"),
        ("anything.else", "app-three"),
        ("app1.com.evil", "app-three"),
        ("192.168.56.110", "app-three"),
        ("", "app-three"),
    ];
    for (host, app) in cases {
        for path in ["/", "/some/path"] {
            let chain = route(&objects, "traefik", host, path);
            assert_eq!(chain.workload.name, app, "Host {host:?}{path}");
            assert_eq!(chain.workload.kind, "Deployment");
            // The ports chain 80 -> 5678, whatever names they go by.
            assert_eq!(chain.service_port.port, 80);
            assert_eq!(chain.container_port.container_port, 5678);
        }
    }
}

#[test]
fn each_service_selects_only_its_own_deployments_pods() {
    let objects = render(Chart::P2, "default", &[]);
    for s in objects.services() {
        let name = s.metadata.name.as_deref().unwrap();
        for p in s.spec.as_ref().unwrap().ports.iter().flatten() {
            let port = k8s_openapi::api::networking::v1::ServiceBackendPort {
                number: Some(p.port),
                name: None,
            };
            let chain = follow(&objects, name, &port).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(chain.workload.name, name);
        }
    }
}

#[test]
fn pods_are_hardened_probed_and_drain_before_they_stop() {
    let objects = render(Chart::P2, "default", &[]);
    for w in objects.workloads() {
        assert_workload_keeps_the_rules(&w);
        assert_grace_covers_drain(&w);
        let c = container(&w);
        assert_eq!(probes(c), lab_probes(5678));
        assert!(args(c).contains(&"-shutdown-delay=3s"), "{:?}", args(c));
        assert_eq!(pod_spec(&w).termination_grace_period_seconds, Some(15));
    }
    for d in objects.deployments() {
        let rolling = d
            .spec
            .as_ref()
            .unwrap()
            .strategy
            .as_ref()
            .unwrap()
            .rolling_update
            .as_ref();
        let max_unavailable = rolling.unwrap().max_unavailable.as_ref().unwrap();
        assert_eq!(
            *max_unavailable,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(0)
        );
    }
}

#[test]
fn each_app_answers_with_its_name_and_its_pod() {
    let objects = render(Chart::P2, "default", &[]);
    for (w, n) in objects.workloads().iter().zip(["1", "3", "2"]) {
        let c = container(w);
        assert_eq!(c.image.as_deref(), Some("echo-app:v1"));
        assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(
            args(c)[0],
            format!("-text=Hello from app{n}, pod $(POD_NAME)"),
            "{}",
            w.name
        );
        assert_eq!(field_ref(c, "POD_NAME"), Some("metadata.name"));
        assert_eq!(pod_labels(w)["app.kubernetes.io/name"], w.name);
    }
}

#[test]
fn non_default_values_move_routes_ports_replicas_and_image() {
    let objects = render(Chart::P2, "lab", &[custom(Chart::P2)]);
    assert_eq!(
        replicas(&objects),
        [
            ("app-four", 2),
            ("app-one", 1),
            ("app-three", 1),
            ("app-two", 5)
        ]
    );
    let cases = [
        ("app1.com", "app-one"),
        ("", "app-one"),
        ("app2.com", "app-two"),
        ("app3.com", "app-three"),
        ("x.apps.test", "app-four"),
        ("apps.test", "app-one"),
    ];
    for (host, app) in cases {
        let chain = route(&objects, "nginx", host, "/");
        assert_eq!(chain.workload.name, app, "Host {host:?}");
        assert_eq!(chain.service_port.port, 8080);
        assert_eq!(chain.container_port.container_port, 9000);
    }
    assert!(
        ingress_backend(&objects.ingresses(), "traefik", "app2.com", "/").is_none(),
        "the class moved to nginx"
    );
    for w in objects.workloads() {
        assert_workload_keeps_the_rules(&w);
        assert_grace_covers_drain(&w);
        let c = container(&w);
        assert_eq!(c.image.as_deref(), Some("registry.lab.test/echo-app:v2"));
        assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
        assert!(args(c).contains(&"-listen=:9000"));
        assert_eq!(probes(c)[0], Some(("/health".to_owned(), 9000)));
    }
    for o in &objects {
        assert_eq!(o.metadata().namespace.as_deref(), Some("lab"));
    }
}

#[test]
fn a_new_image_tag_keeps_every_selector() {
    let v1 = render(Chart::P2, "default", &[]);
    let v2 = render(Chart::P2, "default", &[set("image.tag=v2")]);
    let selectors = |objects: &[Object]| -> Vec<String> {
        objects
            .workloads()
            .iter()
            .map(|w| format!("{:?}", w.selector))
            .collect()
    };
    assert_eq!(
        selectors(&v1),
        selectors(&v2),
        "a Deployment's selector is immutable"
    );
    for w in v2.workloads() {
        assert_eq!(container(&w).image.as_deref(), Some("echo-app:v2"));
        assert_eq!(pod_labels(&w)["app.kubernetes.io/version"], "v2");
    }
}

#[test]
fn values_that_would_break_the_lab_are_refused_with_the_reason() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["apps.app-one.host="],
            "exactly one app must have host \"\"",
        ),
        (
            &["apps.app-three.host=app3.com"],
            "exactly one app must have host \"\"",
        ),
        (
            &["apps.app-one.host=app2.com"],
            "both claim host \"app2.com\"",
        ),
        (
            &["terminationGracePeriodSeconds=7"],
            "terminationGracePeriodSeconds (7) is shorter",
        ),
        (&["apps.app-two.replicas=-1"], "/apps/app-two/replicas"),
        (&["apps.app-two.replica=3"], "replica"),
    ];
    for (sets, reason) in cases {
        let overrides: Vec<_> = sets.iter().map(|s| set(s)).collect();
        let message = refusal(Chart::P2, &overrides);
        assert!(message.contains(reason), "{sets:?}: {message}");
        assert!(
            message.starts_with("helm template of charts/p2 failed:"),
            "{message}"
        );
    }
    let bad_ns = lab_charts::render(Chart::P2, "Not A Namespace", &[]).unwrap_err();
    assert!(
        bad_ns
            .to_string()
            .contains("is not a Kubernetes namespace name"),
        "{bad_ns}"
    );
}
