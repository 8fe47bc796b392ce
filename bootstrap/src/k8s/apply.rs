//! Server-side apply of manifests through kube-rs, and bounded polling for conditions.
//!
//! Built-in kinds resolve through a fixed table (no discovery round-trips, and a clear error
//! for a kind bootstrap was never meant to apply); custom resources resolve through the API's
//! own discovery once their CRD is established.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use kube::{Client, ResourceExt};

/// The field manager of everything bootstrap applies.
pub(crate) const FIELD_MANAGER: &str = "bootstrap";

/// Carried by every object bootstrap applies, so that `bootstrap down --context` finds exactly
/// what p3 installed in a cluster it did not create, and nothing else.
pub(crate) const INSTALLED_BY_LABEL: &str = "iot-rs.dev/installed-by";
pub(crate) const INSTALLED_BY: &str = "bootstrap-p3";

/// `obj` with the [`INSTALLED_BY_LABEL`] label.
pub(crate) fn marked(obj: &DynamicObject) -> DynamicObject {
    let mut obj = obj.clone();
    obj.labels_mut()
        .insert(INSTALLED_BY_LABEL.to_owned(), INSTALLED_BY.to_owned());
    obj
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{kind} {name} has no apiVersion/kind")]
    Untyped { kind: String, name: String },
    #[error("a {kind} ({api_version}) is not a kind bootstrap applies")]
    UnknownKind { api_version: String, kind: String },
    #[error("applying {kind} {name}: {source}")]
    Api {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("the API server does not serve {api_version} {kind} yet: {source}")]
    Discovery {
        api_version: String,
        kind: String,
        #[source]
        source: kube::Error,
    },
}

/// (group, version, kind) → (plural, scope) for every built-in kind bootstrap applies.
const BUILTIN: &[(&str, &str, &str, &str, Scope)] = &[
    ("", "v1", "Namespace", "namespaces", Scope::Cluster),
    (
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        Scope::Namespaced,
    ),
    ("", "v1", "ConfigMap", "configmaps", Scope::Namespaced),
    ("", "v1", "Secret", "secrets", Scope::Namespaced),
    ("", "v1", "Service", "services", Scope::Namespaced),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        Scope::Namespaced,
    ),
    ("apps", "v1", "Deployment", "deployments", Scope::Namespaced),
    (
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        Scope::Namespaced,
    ),
    ("apps", "v1", "DaemonSet", "daemonsets", Scope::Namespaced),
    ("batch", "v1", "Job", "jobs", Scope::Namespaced),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        Scope::Cluster,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        Scope::Cluster,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        Scope::Namespaced,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        Scope::Namespaced,
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        Scope::Namespaced,
    ),
    (
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        Scope::Namespaced,
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        Scope::Cluster,
    ),
    (
        "helm.cattle.io",
        "v1",
        "HelmChart",
        "helmcharts",
        Scope::Namespaced,
    ),
];

/// The API resource of a built-in kind, or None.
pub fn builtin_resource(gvk: &GroupVersionKind) -> Option<(ApiResource, Scope)> {
    BUILTIN
        .iter()
        .find(|(g, v, k, _, _)| *g == gvk.group && *v == gvk.version && *k == gvk.kind)
        .map(|(_, _, _, plural, scope)| {
            (
                ApiResource::from_gvk_with_plural(gvk, plural),
                scope.clone(),
            )
        })
}

pub fn gvk_of(obj: &DynamicObject) -> Result<GroupVersionKind, ApplyError> {
    let types = obj.types.as_ref().ok_or_else(|| ApplyError::Untyped {
        kind: "object".into(),
        name: obj.name_any(),
    })?;
    GroupVersionKind::try_from(types).map_err(|_| ApplyError::Untyped {
        kind: types.kind.clone(),
        name: obj.name_any(),
    })
}

/// An `Api` for `obj`'s kind: namespaced ones in `namespace` (unless the object names its own).
pub(crate) fn api_for(
    client: &Client,
    obj: &DynamicObject,
    resource: &ApiResource,
    scope: &Scope,
    namespace: &str,
) -> Api<DynamicObject> {
    match scope {
        Scope::Cluster => Api::all_with(client.clone(), resource),
        Scope::Namespaced => {
            let ns = obj.metadata.namespace.as_deref().unwrap_or(namespace);
            Api::namespaced_with(client.clone(), ns, resource)
        }
    }
}

/// Server-side applies one object, [`marked`] (field manager `bootstrap`, forcing conflicts:
/// bootstrap owns what it installs). `resource` overrides the built-in table (for custom
/// resources).
pub async fn apply(
    client: &Client,
    obj: &DynamicObject,
    namespace: &str,
    resource: Option<(ApiResource, Scope)>,
) -> Result<DynamicObject, ApplyError> {
    let gvk = gvk_of(obj)?;
    let (resource, scope) = match resource.or_else(|| builtin_resource(&gvk)) {
        Some(r) => r,
        None => {
            return Err(ApplyError::UnknownKind {
                api_version: obj
                    .types
                    .as_ref()
                    .map(|t| t.api_version.clone())
                    .unwrap_or_default(),
                kind: gvk.kind,
            });
        }
    };
    let api = api_for(client, obj, &resource, &scope, namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&obj.name_any(), &params, &Patch::Apply(marked(obj)))
        .await
        .map_err(|source| ApplyError::Api {
            kind: gvk.kind.clone(),
            name: obj.name_any(),
            source,
        })
}

/// Asks the API server (discovery of one group/version) how it serves `gvk`.
pub async fn discover(
    client: &Client,
    gvk: &GroupVersionKind,
) -> Result<(ApiResource, Scope), ApplyError> {
    let (resource, caps) = kube::discovery::pinned_kind(client, gvk)
        .await
        .map_err(|source| ApplyError::Discovery {
            api_version: gvk.api_version(),
            kind: gvk.kind.clone(),
            source,
        })?;
    Ok((resource, caps.scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marking_adds_the_installed_by_label_and_keeps_the_others() {
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "argocd", "labels": {"app.kubernetes.io/part-of": "argocd"}},
        }))
        .unwrap();
        let labels = marked(&obj).metadata.labels.unwrap();
        assert_eq!(labels["app.kubernetes.io/part-of"], "argocd");
        assert_eq!(labels[INSTALLED_BY_LABEL], INSTALLED_BY);
        assert!(
            !obj.metadata
                .labels
                .unwrap()
                .contains_key(INSTALLED_BY_LABEL)
        );
    }

    #[test]
    fn builtin_kinds_resolve_with_their_plural_and_scope() {
        let gvk = GroupVersionKind::gvk("networking.k8s.io", "v1", "NetworkPolicy");
        let (ar, scope) = builtin_resource(&gvk).unwrap();
        assert_eq!(
            (ar.plural.as_str(), scope),
            ("networkpolicies", Scope::Namespaced)
        );
        let gvk = GroupVersionKind::gvk("", "v1", "Namespace");
        assert_eq!(builtin_resource(&gvk).unwrap().1, Scope::Cluster);
        assert!(
            builtin_resource(&GroupVersionKind::gvk(
                "argoproj.io",
                "v1alpha1",
                "Application"
            ))
            .is_none()
        );
    }
}
