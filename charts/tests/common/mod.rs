//! Helpers shared by the chart tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};
use lab_charts::objects::Workload;
use lab_charts::{Chart, Object, Override};

/// Renders or fails the test with the library's one-sentence reason (helm missing, chart
/// broken, ...).
pub fn render(chart: Chart, namespace: &str, overrides: &[Override]) -> Vec<Object> {
    lab_charts::render(chart, namespace, overrides).unwrap_or_else(|e| panic!("{e}"))
}

/// The chart's non-default values set, `charts/tests/values/<chart>-custom.yaml` (test.sh
/// schema-validates the same renders).
pub fn custom(chart: Chart) -> Override {
    Override::File(format!("charts/tests/values/{}-custom.yaml", chart.name()).into())
}

pub fn set(kv: &str) -> Override {
    Override::Set(kv.to_owned())
}

/// The render error's message, for values that must be refused.
pub fn refusal(chart: Chart, overrides: &[Override]) -> String {
    match lab_charts::render(chart, "default", overrides) {
        Ok(_) => panic!("charts/{} rendered with {overrides:?}", chart.name()),
        Err(e) => e.to_string(),
    }
}

pub fn pod_spec<'a>(w: &Workload<'a>) -> &'a PodSpec {
    w.template.spec.as_ref().unwrap()
}

/// The workload's only container.
pub fn container<'a>(w: &Workload<'a>) -> &'a Container {
    let containers = &pod_spec(w).containers;
    assert_eq!(containers.len(), 1, "{} {}", w.kind, w.name);
    &containers[0]
}

pub fn args(c: &Container) -> Vec<&str> {
    c.args.iter().flatten().map(String::as_str).collect()
}

/// The downward-API field an env var reads, e.g. `metadata.name`.
pub fn field_ref<'a>(c: &'a Container, name: &str) -> Option<&'a str> {
    let var: &EnvVar = c.env.iter().flatten().find(|e| e.name == name)?;
    Some(
        var.value_from
            .as_ref()?
            .field_ref
            .as_ref()?
            .field_path
            .as_str(),
    )
}

pub fn labels(o: &Object) -> &BTreeMap<String, String> {
    o.metadata().labels.as_ref().unwrap()
}

pub fn pod_labels<'a>(w: &Workload<'a>) -> &'a BTreeMap<String, String> {
    w.template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap()
}

/// The labels every object and pod of the lab carries.
/// `version: None` asserts the version label is absent (p3, whose tag must appear on one line).
pub fn assert_recommended_labels(
    l: &BTreeMap<String, String>,
    name: &str,
    instance: &str,
    version: Option<&str>,
) {
    let want = [
        ("app.kubernetes.io/name", Some(name)),
        ("app.kubernetes.io/instance", Some(instance)),
        ("app.kubernetes.io/version", version),
        ("app.kubernetes.io/part-of", Some("inception-of-things")),
        ("app.kubernetes.io/managed-by", Some("Helm")),
    ];
    for (k, v) in want {
        assert_eq!(l.get(k).map(String::as_str), v, "label {k} in {l:?}");
    }
}

/// Every rule of `lab_charts::rules` that applies to a single workload.
pub fn assert_workload_keeps_the_rules(w: &Workload<'_>) {
    assert!(
        lab_charts::rules::selects_own_pods(w.selector, w),
        "{} {}'s selector does not pick its own pods",
        w.kind,
        w.name
    );
    let violations = lab_charts::rules::hardening_violations(pod_spec(w));
    assert!(
        violations.is_empty(),
        "{} {}: {violations:#?}",
        w.kind,
        w.name
    );
    for c in &pod_spec(w).containers {
        let missing = lab_charts::rules::undefined_arg_vars(c);
        assert!(
            missing.is_empty(),
            "{} {}: undefined $(...) in args: {missing:?}",
            w.kind,
            w.name
        );
    }
}

/// (readiness, liveness) probe targets: path and container port number each.
pub fn probes(c: &Container) -> [Option<(String, i32)>; 2] {
    use lab_charts::rules::probe_target;
    [
        probe_target(c, c.readiness_probe.as_ref()),
        probe_target(c, c.liveness_probe.as_ref()),
    ]
}

/// What the lab's charts probe: readiness on /readyz, liveness on /health, both on `port`.
pub fn lab_probes(port: i32) -> [Option<(String, i32)>; 2] {
    [
        Some(("/readyz".to_owned(), port)),
        Some(("/health".to_owned(), port)),
    ]
}

/// (name, replicas) of each Deployment, in render order.
pub fn replicas(objects: &[Object]) -> Vec<(&str, i32)> {
    use lab_charts::objects::Objects;
    objects
        .deployments()
        .iter()
        .map(|d| {
            (
                d.metadata.name.as_deref().unwrap(),
                d.spec.as_ref().unwrap().replicas.unwrap(),
            )
        })
        .collect()
}

/// The seconds of a `-flag=Ns` argument.
pub fn seconds_arg(c: &Container, flag: &str) -> i64 {
    let prefix = format!("{flag}=");
    let v = args(c)
        .into_iter()
        .find_map(|a| a.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {flag} in {:?}", args(c)));
    v.strip_suffix('s').unwrap().parse().unwrap()
}

/// Kubernetes may kill a pod after terminationGracePeriodSeconds: echo-app's shutdown delay
/// plus its drain must fit in it, or a rolling update cuts requests.
pub fn assert_grace_covers_drain(w: &Workload<'_>) {
    let c = container(w);
    let grace = pod_spec(w).termination_grace_period_seconds.unwrap();
    let needed = seconds_arg(c, "-shutdown-delay") + seconds_arg(c, "-drain-timeout");
    assert!(
        grace >= needed,
        "{}: grace {grace}s < delay + drain {needed}s",
        w.name
    );
}
