//! Argo CD, installed the way its docs now require: the pinned `install.yaml`, checked against
//! its sha256, server-side applied into `argocd` (client-side apply fails since v3.3: the
//! ApplicationSet CRD is too large for the last-applied annotation), CRDs first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams};
use kube::{Client, ResourceExt};

use kube::runtime::wait::{await_condition, conditions};
use lab_gitops::diagnose::explain_wait;
use lab_gitops::readiness::{deployment_unready, statefulset_unready};
use lab_gitops::wait::{NotReady, until_all_ready};

use crate::k8s::apply::{self as kube_apply, ApplyError};

/// v3.5.2 rather than v3.5.1: the test control plane runs Argo CD's controllers built from the
/// Go module proxy, which serves the in-tree gitops-engine of v3.5.2's commit but not of
/// v3.5.1's, and the controllers must be exactly those of the manifest
/// (`p3/control-plane/argocd/go.mod`).
pub const VERSION: &str = "v3.5.2";
pub(crate) const INSTALL_URL: &str =
    "https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.2/manifests/install.yaml";
/// sha256 of `INSTALL_URL`'s content; a different file is refused. The same bytes are
/// `manifests/install.yaml` in the Go module `github.com/argoproj/argo-cd/v3@v3.5.2`.
pub const INSTALL_SHA256: &str = "9a87f2b3e14c278f12501eb0ef5c3955b27cf05370ca425381c6a908cf85a5c5";
pub(crate) const NAMESPACE: &str = "argocd";
pub(crate) const ADMIN_SECRET: &str = "argocd-initial-admin-secret";
/// Set on the namespace once an install of this exact manifest has become ready: a re-run
/// that finds it (and every workload ready) applies nothing.
pub const INSTALLED_ANNOTATION: &str = "iot-rs.dev/argocd-install-sha256";

#[derive(Debug, thiserror::Error)]
pub enum ArgoError {
    #[error(
        "cannot download {url}: {reason}; with no network, put the file at {cache} \
         (sha256 {INSTALL_SHA256}) and run again"
    )]
    Download {
        url: String,
        cache: PathBuf,
        reason: String,
    },
    #[error(
        "{source_name} has sha256 {actual}, not the pinned {expected}: refusing it \
         (a changed release or a tampered download); delete it and run again"
    )]
    Checksum {
        source_name: String,
        actual: String,
        expected: String,
    },
    #[error("cannot use the manifest cache {path}: {source}")]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("install.yaml does not parse: {0}")]
    Parse(String),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("Kubernetes API: {context}: {source}")]
    Api {
        context: String,
        #[source]
        source: kube::Error,
    },
    #[error("{what} did not become ready within {timeout:?}: {detail}")]
    NotReady {
        what: String,
        timeout: Duration,
        detail: String,
    },
}

/// install.yaml split the way it must be applied.
#[derive(Debug)]
pub struct Manifest {
    pub crds: Vec<DynamicObject>,
    /// Everything else, in file order (all namespaced into `argocd` or cluster-scoped RBAC).
    pub rest: Vec<DynamicObject>,
}

impl Manifest {
    pub fn parse(yaml: &str) -> Result<Manifest, ArgoError> {
        let docs: Vec<Option<DynamicObject>> =
            serde_saphyr::from_str_multiple(yaml).map_err(|e| ArgoError::Parse(e.to_string()))?;
        let (crds, rest) = docs.into_iter().flatten().partition(|o| {
            o.types
                .as_ref()
                .is_some_and(|t| t.kind == "CustomResourceDefinition")
        });
        Ok(Manifest { crds, rest })
    }

    pub(crate) fn len(&self) -> usize {
        self.crds.len() + self.rest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The names of the manifest's objects of `kind` (e.g. its Deployments).
    pub fn names_of(&self, kind: &str) -> Vec<String> {
        self.rest
            .iter()
            .filter(|o| o.types.as_ref().is_some_and(|t| t.kind == kind))
            .map(ResourceExt::name_any)
            .collect()
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    openssl::sha::sha256(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Refuses anything but the pinned file.
pub fn verify(bytes: &[u8], source_name: &str) -> Result<(), ArgoError> {
    let actual = sha256_hex(bytes);
    if actual != INSTALL_SHA256 {
        return Err(ArgoError::Checksum {
            source_name: source_name.to_owned(),
            actual,
            expected: INSTALL_SHA256.to_owned(),
        });
    }
    Ok(())
}

/// Where the checked manifest is kept between runs.
pub fn cache_path(cache_dir: &Path) -> PathBuf {
    cache_dir
        .join("argocd")
        .join(format!("install-{VERSION}.yaml"))
}

/// The pinned manifest: from the cache when it is there and intact, else downloaded,
/// checked, and cached atomically (a partial download never lands in the cache).
pub(crate) async fn load_manifest(cache_dir: &Path) -> Result<String, ArgoError> {
    let path = cache_path(cache_dir);
    if let Ok(bytes) = tokio::fs::read(&path).await {
        verify(&bytes, &path.display().to_string())?;
        return String::from_utf8(bytes).map_err(|e| ArgoError::Parse(e.to_string()));
    }
    let bytes = crate::download::https_get(INSTALL_URL)
        .await
        .map_err(|reason| ArgoError::Download {
            url: INSTALL_URL.to_owned(),
            cache: path.clone(),
            reason,
        })?;
    verify(&bytes, INSTALL_URL)?;
    let cache_err = |source| ArgoError::Cache {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(cache_err)?;
    }
    let partial = path.with_extension("yaml.partial");
    tokio::fs::write(&partial, &bytes)
        .await
        .map_err(cache_err)?;
    tokio::fs::rename(&partial, &path)
        .await
        .map_err(cache_err)?;
    String::from_utf8(bytes).map_err(|e| ArgoError::Parse(e.to_string()))
}

/// Bounds of the waits; tests shrink them.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    pub crd_established: Duration,
    pub workloads_ready: Duration,
    pub admin_secret: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Waits {
            crd_established: Duration::from_secs(60),
            // First runs pull Argo CD's images (several hundred MB).
            workloads_ready: Duration::from_secs(600),
            admin_secret: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Installed {
    /// False when a previous install of this manifest was found complete and nothing was applied.
    pub applied: bool,
    pub(crate) objects: usize,
    /// The initial admin password; None when the user has deleted the secret (as Argo CD's
    /// docs advise once the password is changed).
    pub admin_password: Option<String>,
}

/// Installs (or confirms) Argo CD. `progress` receives a short line per phase.
pub async fn install(
    client: &Client,
    manifest: &Manifest,
    waits: Waits,
    progress: &mut dyn FnMut(String),
) -> Result<Installed, ArgoError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let existing = namespaces
        .get_opt(NAMESPACE)
        .await
        .map_err(|source| ArgoError::Api {
            context: format!("reading namespace {NAMESPACE}"),
            source,
        })?;
    let marked = existing.as_ref().is_some_and(|ns| {
        ns.annotations()
            .get(INSTALLED_ANNOTATION)
            .map(String::as_str)
            == Some(INSTALL_SHA256)
    });
    if marked && workloads_not_ready(client, manifest).await?.is_empty() {
        progress(format!("Argo CD {VERSION} already installed and ready"));
        let admin_password = read_admin_password(client, Duration::ZERO).await?;
        return Ok(Installed {
            applied: false,
            objects: manifest.len(),
            admin_password,
        });
    }

    kube_apply::apply(client, &namespace_object(false), NAMESPACE, None).await?;
    progress(format!("applying {} CRDs", manifest.crds.len()));
    for crd in &manifest.crds {
        kube_apply::apply(client, crd, NAMESPACE, None).await?;
    }
    for crd in &manifest.crds {
        wait_established(client, &crd.name_any(), waits).await?;
    }
    progress(format!(
        "applying {} objects into {NAMESPACE}",
        manifest.rest.len()
    ));
    for obj in &manifest.rest {
        kube_apply::apply(client, obj, NAMESPACE, None).await?;
    }
    progress("waiting for Argo CD's workloads".to_owned());
    if let Err(not_ready) = workloads_ready(client, manifest, waits.workloads_ready).await {
        return Err(ArgoError::NotReady {
            what: format!("Argo CD {VERSION}"),
            timeout: waits.workloads_ready,
            detail: explain_wait(not_ready.summary(), client, &[NAMESPACE.to_owned()]).await,
        });
    }
    kube_apply::apply(client, &namespace_object(true), NAMESPACE, None).await?;
    let admin_password = read_admin_password(client, waits.admin_secret).await?;
    Ok(Installed {
        applied: true,
        objects: manifest.len(),
        admin_password,
    })
}

/// The Service that publishes the UI on the host: servicelb binds `port` on the nodes, the
/// cluster's load balancer publishes it on 127.0.0.1. It points at argocd-server's own port,
/// which speaks its own (self-signed) TLS, so the UI is `https://localhost:<port>`.
pub(crate) fn ui_service(port: u16) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": UI_SERVICE,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/part-of": "argocd"},
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app.kubernetes.io/name": "argocd-server"},
            "ports": [{"name": "https", "port": port, "targetPort": 8080}],
        },
    })
}

pub(crate) const UI_SERVICE: &str = "argocd-server-host";

/// Applies [`ui_service`].
pub async fn publish_ui(client: &Client, port: u16) -> Result<(), ArgoError> {
    let object: DynamicObject =
        serde_json::from_value(ui_service(port)).map_err(|e| ArgoError::Parse(e.to_string()))?;
    kube_apply::apply(client, &object, NAMESPACE, None).await?;
    Ok(())
}

/// Whether the Argo CD found in the cluster is ready (for `bootstrap status`): every
/// Deployment and StatefulSet in `argocd`, whatever the manifest was.
pub async fn readiness(client: &Client) -> Result<Result<(), String>, ArgoError> {
    let api_err = |source| ArgoError::Api {
        context: format!("listing workloads in {NAMESPACE}"),
        source,
    };
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), NAMESPACE);
    let deployments = deployments
        .list(&ListParams::default())
        .await
        .map_err(api_err)?
        .items;
    let statefulsets = statefulsets
        .list(&ListParams::default())
        .await
        .map_err(api_err)?
        .items;
    if deployments.is_empty() && statefulsets.is_empty() {
        return Ok(Err(format!(
            "nothing is installed in namespace {NAMESPACE}"
        )));
    }
    let pending: Vec<String> = deployments
        .iter()
        .filter_map(deployment_unready)
        .chain(statefulsets.iter().filter_map(statefulset_unready))
        .collect();
    Ok(if pending.is_empty() {
        Ok(())
    } else {
        Err(pending.join("; "))
    })
}

fn namespace_object(installed: bool) -> DynamicObject {
    let mut annotations = serde_json::Map::new();
    if installed {
        annotations.insert(INSTALLED_ANNOTATION.into(), INSTALL_SHA256.into());
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": { "app.kubernetes.io/part-of": "argocd" },
            "annotations": annotations,
        }
    }))
    .unwrap_or_else(|_| {
        DynamicObject::new(NAMESPACE, &kube::core::ApiResource::erase::<Namespace>(&()))
    })
}

async fn wait_established(client: &Client, name: &str, waits: Waits) -> Result<(), ArgoError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let established = await_condition(crds, name, conditions::is_crd_established());
    let detail = match tokio::time::timeout(waits.crd_established, established).await {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(e)) => lab_gitops::error_chain(&e),
        Err(_) => "its Established condition is not True".to_owned(),
    };
    Err(ArgoError::NotReady {
        what: format!("CRD {name}"),
        timeout: waits.crd_established,
        detail,
    })
}

/// Waits for every Deployment and StatefulSet of the manifest, both kinds watched at once.
async fn workloads_ready(
    client: &Client,
    manifest: &Manifest,
    timeout: Duration,
) -> Result<(), NotReady> {
    let (deployment_names, statefulset_names) = (
        manifest.names_of("Deployment"),
        manifest.names_of("StatefulSet"),
    );
    let (deployments, statefulsets) = tokio::join!(
        until_all_ready(
            Api::<Deployment>::namespaced(client.clone(), NAMESPACE),
            "deployment",
            &deployment_names,
            deployment_unready,
            timeout,
        ),
        until_all_ready(
            Api::<StatefulSet>::namespaced(client.clone(), NAMESPACE),
            "statefulset",
            &statefulset_names,
            statefulset_unready,
            timeout,
        ),
    );
    match (deployments, statefulsets) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(d), Ok(())) => Err(d),
        (Ok(()), Err(s)) => Err(s),
        (Err(mut d), Err(s)) => {
            d.pending.extend(s.pending);
            d.last_error = d.last_error.or(s.last_error);
            Err(d)
        }
    }
}

/// Every workload of the manifest that is not ready (missing ones included).
async fn workloads_not_ready(
    client: &Client,
    manifest: &Manifest,
) -> Result<Vec<String>, ArgoError> {
    let api_err = |name: &str| {
        let context = format!("reading {name} in {NAMESPACE}");
        move |source| ArgoError::Api { context, source }
    };
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), NAMESPACE);
    let mut pending = Vec::new();
    for name in manifest.names_of("Deployment") {
        match deployments.get_opt(&name).await.map_err(api_err(&name))? {
            Some(d) => pending.extend(deployment_unready(&d)),
            None => pending.push(format!("deployment {name} does not exist")),
        }
    }
    for name in manifest.names_of("StatefulSet") {
        match statefulsets.get_opt(&name).await.map_err(api_err(&name))? {
            Some(s) => pending.extend(statefulset_unready(&s)),
            None => pending.push(format!("statefulset {name} does not exist")),
        }
    }
    Ok(pending)
}

/// The initial admin password, waiting up to `timeout` for argocd-server to create it.
async fn read_admin_password(
    client: &Client,
    timeout: Duration,
) -> Result<Option<String>, ArgoError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    // Errors count as "not there": the password is shown when it can be, never required.
    let found = match secrets.get_opt(ADMIN_SECRET).await {
        Ok(Some(secret)) => Some(secret),
        _ if timeout.is_zero() => None,
        _ => {
            let created = await_condition(secrets, ADMIN_SECRET, conditions::is_created());
            tokio::time::timeout(timeout, created)
                .await
                .ok()
                .and_then(Result::ok)
                .flatten()
        }
    };
    Ok(found.and_then(|secret| {
        let bytes = secret.data?.get("password")?.0.clone();
        String::from_utf8(bytes).ok()
    }))
}
