//! When a workload counts as ready: pure rules over the objects the API returns, each saying
//! why not. (A CRD's readiness is kube's `conditions::is_crd_established`.)

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::ResourceExt;

/// Why a Deployment is not ready yet, or None when it is: the rollout has been observed,
/// every replica is updated and available.
pub fn deployment_unready(d: &Deployment) -> Option<String> {
    let name = d.name_any();
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(status) = d.status.as_ref() else {
        return Some(format!("deployment {name} has no status yet"));
    };
    let generation = d.metadata.generation.unwrap_or(0);
    if status.observed_generation.unwrap_or(0) < generation {
        return Some(format!(
            "deployment {name}: the new spec is not observed yet"
        ));
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated >= want && available >= want {
        return None;
    }
    let why = status
        .conditions
        .iter()
        .flatten()
        .filter(|c| c.status != "True" || c.type_ == "ReplicaFailure")
        .filter_map(|c| c.message.clone())
        .next()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    Some(format!(
        "deployment {name}: {available}/{want} available{why}"
    ))
}

pub fn statefulset_unready(s: &StatefulSet) -> Option<String> {
    let name = s.name_any();
    let want = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(status) = s.status.as_ref() else {
        return Some(format!("statefulset {name} has no status yet"));
    };
    let ready = status.ready_replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    if ready >= want && updated >= want {
        None
    } else {
        Some(format!("statefulset {name}: {ready}/{want} ready"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(value: serde_json::Value) -> Deployment {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_deployment_is_ready_when_its_rollout_is_observed_updated_and_available() {
        let ready = deployment(serde_json::json!({
            "metadata": {"name": "d", "generation": 2}, "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 2}}));
        assert_eq!(deployment_unready(&ready), None);
        let stale = deployment(serde_json::json!({
            "metadata": {"name": "d", "generation": 3}, "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 2}}));
        assert_eq!(
            deployment_unready(&stale).unwrap(),
            "deployment d: the new spec is not observed yet"
        );
        let short = deployment(serde_json::json!({
            "metadata": {"name": "d", "generation": 1}, "spec": {"replicas": 3, "selector": {}, "template": {}},
            "status": {"observedGeneration": 1, "updatedReplicas": 3, "availableReplicas": 1,
                "conditions": [{"type": "Progressing", "status": "False", "message": "ProgressDeadlineExceeded"}]}}));
        assert_eq!(
            deployment_unready(&short).unwrap(),
            "deployment d: 1/3 available (ProgressDeadlineExceeded)"
        );
        let fresh = deployment(
            serde_json::json!({"metadata": {"name": "d"}, "spec": {"selector": {}, "template": {}}}),
        );
        assert_eq!(
            deployment_unready(&fresh).unwrap(),
            "deployment d has no status yet"
        );
    }

    #[test]
    fn statefulsets_and_crds() {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        use kube::runtime::wait::{Condition, conditions::is_crd_established};

        let sts: StatefulSet = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "s"}, "spec": {"selector": {}, "template": {}, "serviceName": "s"},
            "status": {"replicas": 1, "readyReplicas": 0, "updatedReplicas": 1}}))
        .unwrap();
        assert_eq!(
            statefulset_unready(&sts).unwrap(),
            "statefulset s: 0/1 ready"
        );
        let crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "a.b"}, "spec": {"group": "b", "names": {"kind": "A", "plural": "a"}, "scope": "Namespaced", "versions": []},
            "status": {"conditions": [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]}})).unwrap();
        // The rule the CRD wait uses is kube's; this is the status Argo CD's CRDs reach.
        assert!(is_crd_established().matches_object(Some(&crd)));
    }
}
