//! The read-only gather: one list call per kind and namespace (plus the previous logs of
//! crash-looping containers), kept in a [`Snapshot`] the rules read without further I/O.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, LogParams};
use kube::{Client, ResourceExt};
use serde::de::DeserializeOwned;

/// Which namespaces to read. Cluster-scoped objects (nodes, classes) and the cluster DNS are
/// read whatever the scope, since every namespace depends on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Namespaces(Vec<String>),
}

impl Scope {
    pub fn namespaces<I, S>(namespaces: I) -> Scope
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Scope::Namespaces(namespaces.into_iter().map(Into::into).collect())
    }

    pub(crate) fn contains(&self, namespace: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Namespaces(list) => list.iter().any(|n| n == namespace),
        }
    }
}

impl Default for Scope {
    fn default() -> Self {
        Scope::Namespaces(Vec::new())
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::All => f.write_str("all namespaces"),
            Scope::Namespaces(list) if list.len() == 1 => write!(f, "namespace {}", list[0]),
            Scope::Namespaces(list) => write!(f, "namespaces {}", list.join(", ")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error("cannot read the cluster: {what} failed: {reason}")]
    Unreachable { what: String, reason: String },
}

/// What the rules read: the objects of the scope and the cluster-wide ones.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub(crate) scope: Scope,
    pub(crate) pods: Vec<Pod>,
    pub(crate) services: Vec<Service>,
    pub(crate) endpoint_slices: Vec<EndpointSlice>,
    pub(crate) ingresses: Vec<Ingress>,
    pub(crate) ingress_classes: Vec<IngressClass>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) pvcs: Vec<PersistentVolumeClaim>,
    pub(crate) storage_classes: Vec<StorageClass>,
    pub(crate) events: Vec<Event>,
    pub(crate) replica_sets: Vec<ReplicaSet>,
    /// (namespace, name) of the Secrets in scope: their names only, never their data.
    pub(crate) secret_names: Vec<(String, String)>,
    /// Deployments labelled `k8s-app=kube-dns` in kube-system.
    pub(crate) dns_deployments: Vec<Deployment>,
    /// Argo CD Applications in the scope, or whose destination namespace is in it.
    pub(crate) applications: Vec<DynamicObject>,
    /// (namespace, pod, container) -> the last lines of the previous container's log.
    pub(crate) previous_logs: BTreeMap<(String, String, String), Vec<String>>,
    /// What could not be read (forbidden), in words.
    pub(crate) unreadable: Vec<String>,
}

impl Snapshot {
    /// What could not be read, e.g. `pods in namespace dev (forbidden)`: the diagnosis is
    /// silent about those objects.
    pub fn unreadable(&self) -> &[String] {
        &self.unreadable
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }
}

/// Argo CD's Application resource (argoproj.io/v1alpha1).
pub(crate) fn application_resource() -> ApiResource {
    ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        plural: "applications".into(),
    }
}

const LOG_LINES: i64 = 10;
/// A kubelet that does not answer (or a simulated one that has no logs) must not hold the
/// diagnosis up.
const LOG_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads the cluster for `scope`. Only list and log-read calls: nothing is changed.
pub async fn gather(client: &Client, scope: &Scope) -> Result<Snapshot, DiagnoseError> {
    let mut snap = Snapshot {
        scope: scope.clone(),
        ..Snapshot::default()
    };
    // Nodes first: when the API cannot be reached, this is the error the caller sees.
    snap.nodes = list_cluster(client, &mut snap.unreadable).await?;
    snap.ingress_classes = list_cluster(client, &mut snap.unreadable).await?;
    snap.storage_classes = list_cluster(client, &mut snap.unreadable).await?;
    let dns = ListParams::default().labels("k8s-app=kube-dns");
    snap.dns_deployments = list_in(client, Some("kube-system"), &dns, &mut snap.unreadable).await?;

    let namespaces: Vec<Option<&str>> = match scope {
        Scope::All => vec![None],
        Scope::Namespaces(list) => list.iter().map(|n| Some(n.as_str())).collect(),
    };
    let all = ListParams::default();
    for ns in &namespaces {
        let u = &mut snap.unreadable;
        snap.pods
            .extend(list_in::<Pod>(client, *ns, &all, u).await?);
        snap.services
            .extend(list_in::<Service>(client, *ns, &all, u).await?);
        snap.endpoint_slices
            .extend(list_in::<EndpointSlice>(client, *ns, &all, u).await?);
        snap.ingresses
            .extend(list_in::<Ingress>(client, *ns, &all, u).await?);
        snap.pvcs
            .extend(list_in::<PersistentVolumeClaim>(client, *ns, &all, u).await?);
        snap.events
            .extend(list_in::<Event>(client, *ns, &all, u).await?);
        snap.replica_sets
            .extend(list_in::<ReplicaSet>(client, *ns, &all, u).await?);
        snap.secret_names
            .extend(secret_names(client, *ns, u).await?);
    }
    snap.applications = applications(client, scope, &mut snap.unreadable).await?;
    let serving: Vec<String> = snap
        .nodes
        .iter()
        .filter(|n| kubelet_port(n) > 0)
        .map(|n| n.name_any())
        .collect();
    snap.previous_logs = previous_logs(client, &snap.pods, &serving).await;
    Ok(snap)
}

fn unreachable(what: String, e: &kube::Error) -> DiagnoseError {
    DiagnoseError::Unreachable {
        what,
        reason: crate::error_chain(e),
    }
}

/// Forbidden is noted and the list taken as empty; other API errors, and transport errors,
/// end the gather.
fn tolerate<T>(
    result: Result<Vec<T>, kube::Error>,
    what: String,
    unreadable: &mut Vec<String>,
) -> Result<Vec<T>, DiagnoseError> {
    match result {
        Ok(items) => Ok(items),
        Err(kube::Error::Api(status)) if status.code == 403 => {
            unreadable.push(format!("{what} (forbidden)"));
            Ok(Vec::new())
        }
        Err(e) => Err(unreachable(format!("listing {what}"), &e)),
    }
}

fn plural<K: kube::Resource<DynamicType = ()>>() -> String {
    K::plural(&()).to_string()
}

async fn list_cluster<K>(
    client: &Client,
    unreadable: &mut Vec<String>,
) -> Result<Vec<K>, DiagnoseError>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client.clone());
    let result = api.list(&ListParams::default()).await.map(|l| l.items);
    tolerate(result, plural::<K>(), unreadable)
}

async fn list_in<K>(
    client: &Client,
    namespace: Option<&str>,
    params: &ListParams,
    unreadable: &mut Vec<String>,
) -> Result<Vec<K>, DiagnoseError>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let what = match namespace {
        Some(ns) => format!("{} in namespace {ns}", plural::<K>()),
        None => format!("{} in all namespaces", plural::<K>()),
    };
    tolerate(api.list(params).await.map(|l| l.items), what, unreadable)
}

/// Secrets by name only: a metadata list, so no secret's data is ever read.
async fn secret_names(
    client: &Client,
    namespace: Option<&str>,
    unreadable: &mut Vec<String>,
) -> Result<Vec<(String, String)>, DiagnoseError> {
    let api: Api<Secret> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let what = match namespace {
        Some(ns) => format!("secrets in namespace {ns}"),
        None => "secrets in all namespaces".to_owned(),
    };
    let result = api.list_metadata(&ListParams::default()).await.map(|l| {
        l.items
            .into_iter()
            .map(|m| (m.namespace().unwrap_or_default(), m.name_any()))
            .collect()
    });
    tolerate(result, what, unreadable)
}

/// Applications live in Argo CD's namespace while what they deploy lives elsewhere: the scope
/// takes those in its namespaces and those deploying into them. No Application CRD: none.
async fn applications(
    client: &Client,
    scope: &Scope,
    unreadable: &mut Vec<String>,
) -> Result<Vec<DynamicObject>, DiagnoseError> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &application_resource());
    let items = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(Vec::new()),
        Err(e) => tolerate(Err(e), "Argo CD applications".to_owned(), unreadable)?,
    };
    Ok(items
        .into_iter()
        .filter(|app| {
            let ns = app.namespace().unwrap_or_default();
            let dest = app.data["spec"]["destination"]["namespace"]
                .as_str()
                .unwrap_or_default();
            scope.contains(&ns) || (!dest.is_empty() && scope.contains(dest))
        })
        .collect())
}

/// The port a node's kubelet serves logs on; 0 when it serves none (kwok's simulated nodes).
fn kubelet_port(node: &Node) -> i32 {
    node.status
        .as_ref()
        .and_then(|s| s.daemon_endpoints.as_ref())
        .and_then(|d| d.kubelet_endpoint.as_ref())
        .map(|e| e.port)
        .unwrap_or(0)
}

/// The containers whose previous instance ended: their last log lines say why. Only asked of
/// nodes whose kubelet serves an endpoint (the API server answers 500 for the others, and the
/// client logs that as an error). Missing logs (a kubelet not answering, a log already
/// rotated) are simply left out.
async fn previous_logs(
    client: &Client,
    pods: &[Pod],
    serving_nodes: &[String],
) -> BTreeMap<(String, String, String), Vec<String>> {
    let mut logs = BTreeMap::new();
    for pod in pods {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_ref());
        if !node.is_some_and(|n| serving_nodes.contains(n)) {
            continue;
        }
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let statuses = pod.status.as_ref().into_iter().flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        });
        for c in statuses {
            let ended = c
                .last_state
                .as_ref()
                .is_some_and(|s| s.terminated.is_some());
            if !ended || c.restart_count == 0 {
                continue;
            }
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let params = LogParams {
                container: Some(c.name.clone()),
                previous: true,
                tail_lines: Some(LOG_LINES),
                ..LogParams::default()
            };
            if let Ok(Ok(text)) = tokio::time::timeout(LOG_TIMEOUT, api.logs(&name, &params)).await
            {
                let lines: Vec<String> = text.lines().map(str::to_owned).collect();
                if !lines.is_empty() {
                    logs.insert((ns.clone(), name.clone(), c.name.clone()), lines);
                }
            }
        }
    }
    logs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_contains_and_displays() {
        let s = Scope::namespaces(["dev", "argocd"]);
        assert!(s.contains("dev") && s.contains("argocd") && !s.contains("kube-system"));
        assert!(Scope::All.contains("anything"));
        assert_eq!(s.to_string(), "namespaces dev, argocd");
        assert_eq!(Scope::namespaces(["dev"]).to_string(), "namespace dev");
    }
}
