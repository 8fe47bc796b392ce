//! PersistentVolumeClaims that stay Pending, and the pods that wait for them.

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::ResourceExt;

use super::scheduling::claims_of;
use super::{last_event, pod_is_live, pod_ref};
use crate::diagnose::finding::{Cause, Finding, ObjectRef};
use crate::diagnose::snapshot::Snapshot;

const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
const DEFAULT_CLASS_BETA: &str = "storageclass.beta.kubernetes.io/is-default-class";

fn is_default(class: &StorageClass) -> bool {
    let a = class.annotations();
    [DEFAULT_CLASS, DEFAULT_CLASS_BETA]
        .iter()
        .any(|k| a.get(*k).map(String::as_str) == Some("true"))
}

pub(crate) fn check(snap: &Snapshot) -> Vec<Finding> {
    snap.pvcs
        .iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .filter(|c| {
            c.status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or("Pending")
                == "Pending"
        })
        .filter_map(|c| finding(snap, c))
        .collect()
}

fn finding(snap: &Snapshot, claim: &PersistentVolumeClaim) -> Option<Finding> {
    let ns = claim.namespace().unwrap_or_default();
    let name = claim.name_any();
    let object = ObjectRef::namespaced("PersistentVolumeClaim", &ns, &name);
    let users: Vec<ObjectRef> = snap
        .pods
        .iter()
        .filter(|p| pod_is_live(p) && p.namespace().as_deref() == Some(&ns))
        .filter(|p| claims_of(p).contains(&name))
        .map(pod_ref)
        .collect();
    let spec = claim.spec.as_ref();
    let wanted = spec.and_then(|s| s.storage_class_name.clone());
    let classes: Vec<String> = snap.storage_classes.iter().map(|c| c.name_any()).collect();
    let classes_text = if classes.is_empty() {
        "(none)".to_owned()
    } else {
        classes.join(", ")
    };
    let default = snap.storage_classes.iter().find(|c| is_default(c));
    let event = last_event(snap, &object, &[]).and_then(|e| e.message.clone());
    let patch_default = "kubectl patch storageclass <class> -p '{\"metadata\":{\"annotations\":{\"storageclass.kubernetes.io/is-default-class\":\"true\"}}}'";
    let (summary, fix, mut f);
    match wanted.as_deref() {
        Some("") => {
            summary = format!(
                "claim {name} asks for no StorageClass (storageClassName \"\"), so only a matching PersistentVolume created by hand can bind it"
            );
            fix = format!(
                "create a PersistentVolume with storageClassName \"\" that satisfies it, or set spec.storageClassName to one of: {classes_text} (a claim's class cannot be changed: delete and recreate it)"
            );
            f = Finding::new(Cause::PvcUnbound, object.clone(), summary)
                .evidence("spec.storageClassName", "\"\"");
        }
        Some(class) if !classes.iter().any(|c| c == class) => {
            summary = format!("claim {name} names StorageClass {class}, which does not exist");
            fix = format!(
                "recreate the claim with spec.storageClassName set to an existing class ({classes_text}), or create StorageClass {class} with a provisioner that runs in this cluster"
            );
            f = Finding::new(Cause::PvcUnbound, object.clone(), summary)
                .evidence("spec.storageClassName", class)
                .evidence("StorageClasses", classes_text.clone());
        }
        None if default.is_none() => {
            summary = format!(
                "claim {name} names no StorageClass and the cluster has no default one, so nothing provisions a volume for it"
            );
            fix = if classes.is_empty() {
                format!(
                    "install a volume provisioner with a default StorageClass (K3s ships rancher's local-path-provisioner as class local-path), then mark it default: {patch_default}; or create a PersistentVolume that matches the claim"
                )
            } else {
                format!(
                    "mark one of {classes_text} as default ({patch_default}), or recreate the claim with spec.storageClassName set to one of them"
                )
            };
            f = Finding::new(Cause::PvcUnbound, object.clone(), summary)
                .evidence("spec.storageClassName", "(not set)")
                .evidence("default StorageClass", "(none)")
                .evidence("StorageClasses", classes_text.clone());
        }
        other => {
            let class_name = other
                .map(str::to_owned)
                .or_else(|| default.map(|c| c.name_any()))
                .unwrap_or_default();
            let class = snap
                .storage_classes
                .iter()
                .find(|c| c.name_any() == class_name);
            let waits_for_consumer = class.and_then(|c| c.volume_binding_mode.as_deref())
                == Some("WaitForFirstConsumer");
            // Binding waits, by design, until a pod uses the claim; with one it is the
            // scheduler's call, and the pod's rule speaks for it.
            if waits_for_consumer {
                return None;
            }
            let provisioner = class.map(|c| c.provisioner.clone()).unwrap_or_default();
            summary = format!(
                "claim {name} of StorageClass {class_name} is not bound: its provisioner {provisioner} has not made a volume"
            );
            fix = format!(
                "check that the provisioner {provisioner} runs (its pods and logs) and what its events say: kubectl -n {ns} describe pvc {name}"
            );
            f = Finding::new(Cause::PvcUnbound, object.clone(), summary)
                .evidence("spec.storageClassName", class_name.clone())
                .evidence(
                    format!("StorageClass {class_name} provisioner"),
                    provisioner.clone(),
                );
        }
    }
    f = f.evidence("status.phase", "Pending");
    if let Some(m) = event {
        f = f.evidence("last event", m);
    }
    if !users.is_empty() {
        f = f.evidence(
            "used by",
            users
                .iter()
                .map(|u| format!("pod {}", u.name))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    let mut f = f.fix(fix);
    for u in users {
        f = f.related(u);
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::super::testing::obj;
    use super::*;
    use serde_json::json;

    fn claim(class: Option<&str>) -> PersistentVolumeClaim {
        let mut spec = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
        if let Some(c) = class {
            spec["storageClassName"] = json!(c);
        }
        obj(
            json!({"metadata": {"name": "data", "namespace": "dev"}, "spec": spec, "status": {"phase": "Pending"}}),
        )
    }

    fn user() -> k8s_openapi::api::core::v1::Pod {
        obj(json!({"metadata": {"name": "db-0", "namespace": "dev"},
            "spec": {"containers": [{"name": "db", "image": "postgres"}],
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]},
            "status": {"phase": "Pending"}}))
    }

    #[test]
    fn no_class_and_no_default_class_is_named_with_the_pods_that_wait() {
        let s = Snapshot {
            pvcs: vec![claim(None)],
            pods: vec![user()],
            ..Snapshot::default()
        };
        let found = check(&s);
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!(f.cause, Cause::PvcUnbound);
        assert_eq!(
            f.object,
            ObjectRef::namespaced("PersistentVolumeClaim", "dev", "data")
        );
        assert_eq!(f.evidence_value("default StorageClass"), Some("(none)"));
        assert_eq!(f.evidence_value("StorageClasses"), Some("(none)"));
        assert_eq!(f.evidence_value("used by"), Some("pod db-0"));
        assert_eq!(f.related, vec![ObjectRef::namespaced("Pod", "dev", "db-0")]);
        assert!(f.fix.contains("is-default-class"), "{}", f.fix);
    }

    #[test]
    fn a_class_that_does_not_exist_is_named() {
        let mut s = Snapshot {
            pvcs: vec![claim(Some("fast"))],
            ..Snapshot::default()
        };
        s.storage_classes.push(obj(
            json!({"metadata": {"name": "local-path"}, "provisioner": "rancher.io/local-path"}),
        ));
        let f = &check(&s)[0];
        assert_eq!(f.evidence_value("spec.storageClassName"), Some("fast"));
        assert_eq!(f.evidence_value("StorageClasses"), Some("local-path"));
    }

    #[test]
    fn a_wait_for_first_consumer_claim_and_a_bound_one_are_fine() {
        let mut s = Snapshot {
            pvcs: vec![claim(None)],
            ..Snapshot::default()
        };
        s.storage_classes
            .push(obj(json!({"metadata": {"name": "local-path",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"})));
        assert!(check(&s).is_empty());
        let mut bound = claim(Some("local-path"));
        bound.status = Some(obj(json!({"phase": "Bound"})));
        s.pvcs = vec![bound];
        assert!(check(&s).is_empty());
    }
}
