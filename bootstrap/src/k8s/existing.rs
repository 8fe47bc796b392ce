//! A cluster bootstrap did not create (`--context`, `--kubeconfig`): connecting to it, reading
//! what the preflight rules of `spec::existing_cluster` judge, and removing exactly what part 3
//! installed there (found by [`INSTALLED_BY_LABEL`]).

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Resource, ResourceExt};
use lab_gitops::kube_client::{self, Connection};
use lab_gitops::rollout::application_resource;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::k8s::apply::{INSTALLED_BY, INSTALLED_BY_LABEL};
use crate::spec::existing_cluster::{Access, Facts, NodeFacts, REQUIRED_ACCESS, ServerVersion};

fn access_error(what: &str, reason: impl std::fmt::Display) -> Error {
    Error::Command {
        command: what.to_owned(),
        reason: reason.to_string(),
    }
}

/// Opens `kubeconfig` (else `$KUBECONFIG`, else `~/.kube/config`) at `context` (else its
/// current context).
pub(crate) async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<Connection, Error> {
    kube_client::connect(kubeconfig, context)
        .await
        .map_err(|e| access_error(&e.action, e.reason))
}

/// The API server's version: the first thing asked, so an unreachable API says so at once.
pub(crate) async fn server_version(conn: &Connection) -> Result<ServerVersion, Error> {
    let info = conn.client.apiserver_version().await.map_err(|e| {
        access_error(
            &format!(
                "reach the API server of context {} ({})",
                conn.context, conn.server
            ),
            lab_gitops::error_chain(&e),
        )
    })?;
    Ok(ServerVersion {
        major: info.major,
        minor: info.minor,
        git_version: info.git_version,
    })
}

/// Everything the preflight rules judge.
pub(crate) async fn gather(conn: &Connection, namespaces: &[&str]) -> Result<Facts, Error> {
    let version = server_version(conn).await?;
    let mut denied = Vec::new();
    for access in REQUIRED_ACCESS {
        if !allowed(&conn.client, access).await? {
            denied.push(*access);
        }
    }
    let nodes: Api<Node> = Api::all(conn.client.clone());
    let nodes = nodes
        .list(&ListParams::default())
        .await
        .map_err(|e| access_error("list the nodes", e))?
        .items
        .iter()
        .map(node_facts)
        .collect();
    let mut foreign_namespaces = Vec::new();
    let api: Api<Namespace> = Api::all(conn.client.clone());
    for ns in namespaces {
        let found = api
            .get_opt(ns)
            .await
            .map_err(|e| access_error(&format!("read namespace {ns}"), e))?;
        if found.is_some_and(|n| !is_ours(&n)) {
            foreign_namespaces.push((*ns).to_owned());
        }
    }
    Ok(Facts {
        version,
        denied,
        nodes,
        foreign_namespaces,
    })
}

fn is_ours<K: Resource>(object: &K) -> bool {
    object.labels().get(INSTALLED_BY_LABEL).map(String::as_str) == Some(INSTALLED_BY)
}

async fn allowed(client: &Client, access: &Access) -> Result<bool, Error> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(access.verb.to_owned()),
                group: Some(access.group.to_owned()),
                resource: Some(access.resource.to_owned()),
                namespace: access.namespace.map(str::to_owned),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let answer = api
        .create(&PostParams::default(), &review)
        .await
        .map_err(|e| access_error(&format!("ask whether this user may {access}"), e))?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

fn node_facts(node: &Node) -> NodeFacts {
    let status = node.status.as_ref();
    NodeFacts {
        name: node.name_any(),
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        schedulable: !node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false),
        allocatable_memory: status
            .and_then(|s| s.allocatable.as_ref())
            .and_then(|a| a.get("memory"))
            .map(|q| q.0.clone()),
    }
}

/// What [`remove_installed`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Removed {
    pub(crate) applications: Vec<String>,
    pub(crate) namespaces: Vec<String>,
    /// ClusterRoles, ClusterRoleBindings and CRDs.
    pub(crate) cluster_objects: Vec<String>,
    /// Applications whose finalizer had to be dropped because Argo CD did not process it.
    pub(crate) finalizers_dropped: Vec<String>,
}

/// Bounds of the removal's waits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RemoveWaits {
    /// For Argo CD to delete what an Application deployed (its finalizer).
    pub(crate) application: Duration,
    /// For a namespace, or a CRD, to be gone.
    pub(crate) gone: Duration,
}

impl Default for RemoveWaits {
    fn default() -> Self {
        RemoveWaits {
            application: Duration::from_secs(120),
            gone: Duration::from_secs(180),
        }
    }
}

fn selector() -> ListParams {
    ListParams::default().labels(&format!("{INSTALLED_BY_LABEL}={INSTALLED_BY}"))
}

/// Removes what part 3 installed, and only that: the Applications first (Argo CD deletes what
/// they deployed), then the namespaces, then the cluster-scoped objects. Fine to run twice.
pub(crate) async fn remove_installed(
    client: &Client,
    waits: RemoveWaits,
    progress: &mut dyn FnMut(String),
) -> Result<Removed, Error> {
    let mut removed = Removed::default();
    let applications: Api<kube::api::DynamicObject> =
        Api::namespaced_with(client.clone(), "argocd", &application_resource());
    let found = match applications.list(&selector()).await {
        Ok(list) => list.items,
        // No Application CRD: nothing of Argo CD's is left.
        Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
        Err(e) => return Err(access_error("list part 3's Applications", e)),
    };
    for app in found {
        let name = app.name_any();
        progress(format!(
            "Application {name}: Argo CD removes what it deployed"
        ));
        delete(&applications, &name).await?;
        // Argo CD finalizes a deleted Application only once no operation is pending, and a
        // failing automated sync keeps one running through its retries: end it, as
        // `argocd app terminate-op` does.
        if app.data["status"]["operationState"]["phase"] == "Running" {
            let terminate =
                serde_json::json!({"status": {"operationState": {"phase": "Terminating"}}});
            applications
                .patch(&name, &PatchParams::default(), &Patch::Merge(&terminate))
                .await
                .map_err(|e| {
                    access_error(
                        &format!("end the running operation of Application {name}"),
                        e,
                    )
                })?;
        }
        let uid = app.uid().unwrap_or_default();
        let gone = await_condition(applications.clone(), &name, conditions::is_deleted(&uid));
        if tokio::time::timeout(waits.application, gone).await.is_err() {
            // Argo CD is not running (or not acting): the namespaces below still take what it
            // deployed with them.
            let patch = serde_json::json!({"metadata": {"finalizers": null}});
            applications
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| {
                    access_error(&format!("drop the finalizer of Application {name}"), e)
                })?;
            removed.finalizers_dropped.push(name.clone());
        }
        removed.applications.push(name);
    }
    removed.namespaces = delete_all::<Namespace>(client, waits.gone, progress).await?;
    removed
        .cluster_objects
        .extend(delete_all::<ClusterRoleBinding>(client, waits.gone, progress).await?);
    removed
        .cluster_objects
        .extend(delete_all::<ClusterRole>(client, waits.gone, progress).await?);
    removed
        .cluster_objects
        .extend(delete_all::<CustomResourceDefinition>(client, waits.gone, progress).await?);
    Ok(removed)
}

async fn delete<K>(api: &Api<K>, name: &str) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::foreground()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(access_error(&format!("delete {name}"), e)),
    }
}

/// Deletes every cluster-scoped `K` carrying the label and waits until each is gone; returns
/// their names.
async fn delete_all<K>(
    client: &Client,
    timeout: Duration,
    progress: &mut dyn FnMut(String),
) -> Result<Vec<String>, Error>
where
    K: Resource<Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::all(client.clone());
    let kind = K::kind(&K::DynamicType::default()).to_string();
    let found = api
        .list(&selector())
        .await
        .map_err(|e| access_error(&format!("list part 3's {kind}s"), e))?
        .items;
    let mut names = Vec::new();
    for object in found {
        let name = object.name_any();
        progress(format!("{kind} {name}"));
        delete(&api, &name).await?;
        let uid = object.uid().unwrap_or_default();
        let gone = await_condition(api.clone(), &name, conditions::is_deleted(&uid));
        match tokio::time::timeout(timeout, gone).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(access_error(&format!("wait for {kind} {name} to go"), e)),
            Err(_) => {
                return Err(access_error(
                    &format!("delete {kind} {name}"),
                    format!(
                        "still there after {}s; `kubectl get {} {name} -o yaml` shows what holds it",
                        timeout.as_secs(),
                        kind.to_lowercase()
                    ),
                ));
            }
        }
        names.push(name);
    }
    Ok(names)
}
