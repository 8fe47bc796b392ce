//! The Argo CD Application of part 3: `playground`, from a Git repository's `p3/confs` into
//! namespace `dev`, synced automatically (prune, self-heal), creating the namespace.

use kube::api::DynamicObject;
use kube::core::GroupVersionKind;
use lab_gitops::rollout::{AppRef, application_resource};
use serde_json::json;

use crate::k8s::apply::{INSTALLED_BY, INSTALLED_BY_LABEL};

pub(crate) const NAME: &str = "playground";
pub const NAMESPACE: &str = "argocd";
pub(crate) const DESTINATION_NAMESPACE: &str = "dev";
pub(crate) const PATH: &str = "p3/confs";
/// The Application's own manifest lives in `p3/confs` too (the subject wants it there); Argo CD
/// must not try to manage the object that manages it.
pub(crate) const SELF_FILE: &str = "application.yaml";

/// Where Argo CD reads the app from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub repo_url: String,
    pub revision: String,
}

pub fn gvk() -> GroupVersionKind {
    GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application")
}

/// The Application as the rollout wait (lab-gitops) names it.
pub(crate) fn app_ref() -> AppRef {
    AppRef::new(NAMESPACE, NAME)
}

/// The Application object. The finalizer makes deleting it delete what it deployed.
pub fn application(source: &Source) -> DynamicObject {
    let value = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
            "labels": { "app.kubernetes.io/part-of": "inception-of-things" },
        },
        "spec": {
            "project": "default",
            "source": {
                "repoURL": source.repo_url,
                "targetRevision": source.revision,
                "path": PATH,
                "directory": { "exclude": SELF_FILE },
            },
            "destination": {
                "server": "https://kubernetes.default.svc",
                "namespace": DESTINATION_NAMESPACE,
            },
            "syncPolicy": {
                "automated": { "prune": true, "selfHeal": true },
                "syncOptions": ["CreateNamespace=true"],
                // The namespace Argo CD creates carries bootstrap's label too, so that
                // `bootstrap down --context` removes it with the rest.
                "managedNamespaceMetadata": {
                    "labels": { INSTALLED_BY_LABEL: INSTALLED_BY },
                },
            },
        },
    });
    // A literal of known shape always converts.
    serde_json::from_value(value)
        .unwrap_or_else(|_| DynamicObject::new(NAME, &application_resource()))
}

/// `p3/confs/application.yaml` as committed: the same object, in YAML, with a header saying
/// where it comes from.
pub fn manifest_text(source: &Source) -> String {
    let object = application(source);
    let yaml = serde_saphyr::to_string(&object).unwrap_or_default();
    format!(
        "# The Argo CD Application of part 3, as `bootstrap p3` applies it (kept equal by a test).\n\
         # With a repository of your own: change repoURL, then `kubectl apply -f` this file.\n{yaml}"
    )
}
