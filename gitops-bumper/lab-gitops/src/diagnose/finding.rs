//! What a diagnosis says: one [`Finding`] per root cause, with the object it is about, the
//! fields that show it, and what to change.

use serde::{Deserialize, Serialize};

/// The root causes `diagnose` names. The kebab-case spelling is the stable, machine-readable id
/// (`cause` in JSON, the first word of a text block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// Pending: the pod's requests exceed what every node can offer.
    PodUnschedulableInsufficientResources,
    /// Pending: every node carries a taint the pod does not tolerate.
    PodUnschedulableTaint,
    /// Pending: no node has the labels the pod's nodeSelector or required node affinity asks for.
    PodUnschedulableNodeSelector,
    /// Pending for another reason the scheduler gave (cordoned nodes, pod affinity, ports...).
    PodUnschedulable,
    /// A PersistentVolumeClaim that stays Pending (no StorageClass, no default, no volume).
    PvcUnbound,
    /// ErrImagePull / ImagePullBackOff / InvalidImageName.
    ImagePullFailed,
    /// A container that keeps exiting and being restarted.
    CrashLoop,
    /// A container killed for exceeding its memory limit.
    OomKilled,
    /// The container cannot start: a missing ConfigMap, Secret or key (CreateContainerConfigError).
    ContainerConfigError,
    /// A workload's controller cannot create its pods (a missing ServiceAccount, a quota,
    /// admission): ReplicaFailure, or FailedCreate events.
    PodCreateFailed,
    /// A readiness probe aimed at a port the container does not declare.
    ReadinessProbePort,
    /// A readiness probe on a declared port that keeps failing.
    ReadinessProbeFailing,
    /// A running container that is not ready, with no probe or other cause to blame.
    PodNotReady,
    /// A Service whose selector matches no pod.
    ServiceSelectorMatchesNoPod,
    /// A Service whose targetPort is not a port of the pods it selects.
    ServiceTargetPort,
    /// A Service that selects pods but has no ready endpoint.
    ServiceNoReadyEndpoints,
    /// An Ingress whose backend Service, or that Service's port, does not exist.
    IngressBackendMissing,
    /// An Ingress naming no IngressClass that exists, with no default class.
    IngressNoClass,
    /// An Ingress whose class exists but that no controller has admitted.
    IngressNoController,
    /// An Ingress whose TLS Secret does not exist.
    IngressTlsSecretMissing,
    /// An Argo CD Application whose source repository cannot be reached or read.
    ApplicationRepoUnreachable,
    /// An Argo CD Application that cannot render or compare its source (ComparisonError).
    ApplicationComparisonError,
    /// An Argo CD Application whose spec Argo CD rejects (InvalidSpecError).
    ApplicationInvalidSpec,
    /// An Argo CD Application whose last sync failed (SyncError, operation Failed or Error).
    ApplicationSyncError,
    /// An Argo CD Application whose resources are Degraded.
    ApplicationDegraded,
    /// An Argo CD Application that is OutOfSync with nothing syncing it.
    ApplicationOutOfSync,
    /// A node whose Ready condition is not True.
    NodeNotReady,
    /// A node reporting MemoryPressure, DiskPressure, PIDPressure or NetworkUnavailable.
    NodePressure,
    /// The cluster DNS (k8s-app=kube-dns in kube-system) has no, or too few, ready replicas.
    CorednsNotReady,
}

impl Cause {
    /// The kebab-case id.
    pub fn id(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => s,
            _ => format!("{self:?}"),
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id())
    }
}

/// An object of the cluster; `namespace` is None for cluster-scoped kinds (Node).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub(crate) fn namespaced(kind: &str, namespace: &str, name: &str) -> ObjectRef {
        ObjectRef {
            kind: kind.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        }
    }

    pub(crate) fn cluster(kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            kind: kind.to_owned(),
            namespace: None,
            name: name.to_owned(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One field of an object (a JSON path as kubectl's `-o jsonpath` spells it, or a short
/// description) and the value that shows the cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub field: String,
    pub value: String,
}

/// One root cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub cause: Cause,
    /// The object to change: a pod's workload (Deployment, StatefulSet, ...) rather than the
    /// pod when it has one, since the pod is replaced and its template is what gets fixed.
    pub object: ObjectRef,
    /// One sentence for a person.
    pub summary: String,
    pub evidence: Vec<Evidence>,
    /// The command to run or the YAML change to make.
    pub fix: String,
    /// Objects affected by the same cause (the pods of a workload, the Services they back...).
    #[serde(default)]
    pub related: Vec<ObjectRef>,
}

impl Finding {
    pub(crate) fn new(cause: Cause, object: ObjectRef, summary: impl Into<String>) -> Finding {
        Finding {
            cause,
            object,
            summary: summary.into(),
            evidence: Vec::new(),
            fix: String::new(),
            related: Vec::new(),
        }
    }

    pub(crate) fn evidence(mut self, field: impl Into<String>, value: impl Into<String>) -> Self {
        self.evidence.push(Evidence {
            field: field.into(),
            value: value.into(),
        });
        self
    }

    pub(crate) fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = fix.into();
        self
    }

    pub(crate) fn related(mut self, object: ObjectRef) -> Self {
        if !self.related.contains(&object) && object != self.object {
            self.related.push(object);
        }
        self
    }

    /// The value of the first evidence named `field`.
    pub fn evidence_value(&self, field: &str) -> Option<&str> {
        self.evidence
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn causes_serialize_as_kebab_case_ids() {
        assert_eq!(
            Cause::PodUnschedulableInsufficientResources.id(),
            "pod-unschedulable-insufficient-resources"
        );
        assert_eq!(Cause::OomKilled.id(), "oom-killed");
        assert_eq!(Cause::CorednsNotReady.id(), "coredns-not-ready");
        let back: Cause = serde_json::from_str("\"service-target-port\"").unwrap();
        assert_eq!(back, Cause::ServiceTargetPort);
    }

    #[test]
    fn json_field_names_are_the_documented_ones() {
        let f = Finding::new(
            Cause::CrashLoop,
            ObjectRef::namespaced("Deployment", "dev", "web"),
            "s",
        )
        .evidence("restartCount", "5")
        .fix("f");
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["cause"], "crash-loop");
        assert_eq!(v["object"]["kind"], "Deployment");
        assert_eq!(v["object"]["namespace"], "dev");
        assert_eq!(v["object"]["name"], "web");
        assert_eq!(v["evidence"][0]["field"], "restartCount");
        assert_eq!(v["evidence"][0]["value"], "5");
        assert_eq!(v["fix"], "f");
        assert_eq!(v["summary"], "s");
        let node = ObjectRef::cluster("Node", "n1");
        assert_eq!(
            serde_json::to_value(&node).unwrap()["namespace"],
            serde_json::Value::Null
        );
        assert_eq!(node.to_string(), "Node n1");
    }
}
