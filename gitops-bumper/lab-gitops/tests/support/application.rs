//! Argo CD Application objects as the API server returns them, for the `--wait` tests.

use serde_json::{Value, json};

/// The commit the Application had synced before the bump.
pub const OLD_REVISION: &str = "fedcba9876543210fedcba9876543210fedcba98";

/// `argocd/playground` at `resource_version` with `status`.
pub fn application(resource_version: &str, status: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "playground", "namespace": "argocd",
                     "resourceVersion": resource_version},
        "spec": {"source": {"repoURL": "http://git.example/p3.git", "path": "p3/confs"}},
        "status": status
    })
}

/// `status.sync`, `status.health` and `status.summary.images`.
pub fn status(revision: &str, sync: &str, health: &str, images: &[&str]) -> Value {
    json!({
        "sync": {"status": sync, "revision": revision},
        "health": {"status": health},
        "summary": {"images": images}
    })
}

/// Synced and Healthy at the old commit with echo-app:v1: the state before a bump.
pub fn old_status() -> Value {
    status(OLD_REVISION, "Synced", "Healthy", &["echo-app:v1"])
}
