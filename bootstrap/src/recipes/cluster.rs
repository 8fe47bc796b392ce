//! `cluster create|delete|list|start|stop|kubeconfig` as named steps.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::try_join_all;
use serde::Serialize;

use super::Shutdown;
use super::doctor::{Wanted, gather};
use super::steps::Steps;
use crate::Error;
use crate::docker::{ContainerInfo, DockerError, Engine};
use crate::kubeconfig_file;
use crate::spec::cluster::{
    ClusterPlan, KUBECONFIG_OUTPUT, LABEL_API_HOST, LABEL_API_HOST_IP, LABEL_API_PORT, LABEL_APP,
    LABEL_CLUSTER, LABEL_CREATED_BY, LABEL_NETWORK_EXTERNAL, LABEL_ROLE, LABEL_SERVER_INIT,
    NodeSpec, READY_AGENT, READY_INIT_SERVER_RESTART, READY_LOADBALANCER, READY_SERVER, Role,
};
use crate::spec::doctor;
use crate::spec::kubeconfig::Kubeconfig;
use crate::spec::names::ClusterName;
use crate::spec::ports::ApiEndpoint;
use crate::spec::registry;

/// Where `create` puts the cluster's kubeconfig.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeconfigOutput {
    /// Merge into this file (the default kubeconfig), switching context if asked.
    pub merge_into: Option<(PathBuf, bool)>,
    /// Also write the cluster's kubeconfig alone to this file.
    pub write_to: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub plan: ClusterPlan,
    /// Bound on each node's wait for its ready line.
    pub wait_timeout: Duration,
    pub kubeconfig: KubeconfigOutput,
    pub preflight: bool,
    /// What the preflight counts for the workloads besides K3s (MiB).
    pub workloads_memory_mib: u64,
    pub rollback: bool,
}

/// A cluster that is up.
#[derive(Debug, Clone)]
pub struct CreatedCluster {
    pub name: ClusterName,
    pub api: ApiEndpoint,
    pub nodes: Vec<String>,
    pub kubeconfig: Kubeconfig,
}

/// What this run created and must remove on failure.
#[derive(Debug, Default)]
struct Owned {
    network: Option<String>,
    /// Kubeconfig files this run merged the cluster into or wrote.
    merged_into: Option<PathBuf>,
    written: Option<PathBuf>,
}

fn cluster_labels(name: &ClusterName) -> [(&str, &str); 2] {
    [LABEL_APP, (LABEL_CLUSTER, name.as_str())]
}

/// Creates the cluster of `req.plan`; on any failure after the first object exists, or when
/// `shutdown` is signalled meanwhile, removes everything this run created. From the first
/// object on, the work is shielded from the command's cancellation: the rollback must finish.
#[tracing::instrument(skip_all, fields(cluster = %req.plan.name()))]
pub async fn create(
    engine: &Engine,
    req: CreateRequest,
    steps: &Steps,
    shutdown: &Shutdown,
) -> Result<CreatedCluster, Error> {
    let name = req.plan.name().clone();
    steps
        .run("check the name is free", async {
            if engine
                .containers_with_labels(&cluster_labels(&name))
                .await?
                .is_empty()
            {
                Ok(())
            } else {
                Err(Error::ClusterExists(name.to_string()))
            }
        })
        .await?;
    if req.preflight {
        preflight(engine, &req.plan, req.workloads_memory_mib, steps).await?;
    }
    ensure_images(engine, &req.plan.images(), steps).await?;
    shutdown
        .shield(build_or_roll_back(engine, &req, steps, shutdown))
        .await
}

async fn build_or_roll_back(
    engine: &Engine,
    req: &CreateRequest,
    steps: &Steps,
    shutdown: &Shutdown,
) -> Result<CreatedCluster, Error> {
    let name = req.plan.name().clone();
    let owned = Mutex::new(Owned::default());
    let result = tokio::select! {
        r = build(engine, req, steps, &owned) => r,
        signal = shutdown.signalled() => Err(Error::Interrupted(signal)),
    };
    let error = match result {
        Ok(created) => return Ok(created),
        Err(e) => e,
    };
    if !req.rollback {
        return Err(error);
    }
    let owned = owned.into_inner().unwrap_or_else(PoisonError::into_inner);
    match rollback(engine, &name, &owned, steps).await {
        Ok(()) => Err(Error::RolledBack {
            error: Box::new(error),
        }),
        Err(r) => Err(Error::RollbackFailed {
            error: Box::new(error),
            rollback: r,
            cluster: name.to_string(),
        }),
    }
}

async fn preflight(
    engine: &Engine,
    plan: &ClusterPlan,
    workloads_memory_mib: u64,
    steps: &Steps,
) -> Result<(), Error> {
    let findings = steps
        .run("preflight", async {
            let wanted = Wanted {
                workloads_memory_mib,
                ..Wanted::for_plan(plan)
            };
            let facts = gather(Ok(engine), &wanted).await;
            Ok::<_, Error>(doctor::evaluate(&facts))
        })
        .await?;
    let failures = doctor::failures(&findings);
    for f in findings.iter().filter(|f| f.level != doctor::Level::Ok) {
        steps.note(&f.to_string());
    }
    if failures > 0 {
        return Err(Error::Preflight(failures));
    }
    Ok(())
}

/// Pulls what is missing (with a byte bar); k3d pulls the same way and never removes them.
async fn ensure_images(engine: &Engine, images: &[String], steps: &Steps) -> Result<(), Error> {
    for image in images {
        if engine.image_present(image).await? {
            continue;
        }
        let step = steps.begin(format!("pull {image}"));
        let pulled = engine
            .pull(image, &|p| {
                if p.total > 0 {
                    step.set_total_bytes(p.total);
                    step.set_bytes(p.current);
                }
            })
            .await;
        match pulled {
            Ok(()) => step.done(None)?,
            Err(e) => {
                step.failed(&e);
                return Err(e.into());
            }
        }
    }
    Ok(())
}

async fn build(
    engine: &Engine,
    req: &CreateRequest,
    steps: &Steps,
    owned: &Mutex<Owned>,
) -> Result<CreatedCluster, Error> {
    let plan = &req.plan;
    let name = plan.name();
    let net = steps
        .run(format!("network {}", plan.network.name), async {
            if let Some(existing) = engine.network(&plan.network.name).await? {
                return Ok::<_, Error>(existing);
            }
            owned.lock().unwrap_or_else(PoisonError::into_inner).network =
                Some(plan.network.name.clone());
            Ok(engine.create_network(&plan.network).await?)
        })
        .await?;
    if net.external {
        steps.note(&format!(
            "  (reusing the existing network {}; it stays when the cluster is deleted)",
            plan.network.name
        ));
    }
    if plan.options.fixes.dns && net.gateway.is_none() {
        return Err(DockerError::Other(format!(
            "network {} has no IPv4 gateway, which the DNS fix needs; use a bridge network or set K3D_FIX_DNS=0",
            plan.network.name
        ))
        .into());
    }
    steps
        .run(format!("volume {}", plan.image_volume.name), async {
            Ok::<_, Error>(engine.create_volume(&plan.image_volume).await?)
        })
        .await?;

    let registry = plan.registry_container();
    if let Some(reg) = &registry {
        steps
            .run(format!("create registry {}", reg.name), async {
                Ok::<_, Error>(engine.create_container(reg).await?)
            })
            .await?;
    }
    for r in plan.registries() {
        steps
            .run(
                format!("connect {} to {}", r.name, plan.network.name),
                async {
                    Ok::<_, Error>(engine.connect_network(&r.name, &plan.network.name).await?)
                },
            )
            .await?;
    }

    let nodes = plan.nodes(&net);
    for node in &nodes {
        steps
            .run(format!("create {}", node.name), async {
                Ok::<_, Error>(engine.create_container(node).await?)
            })
            .await?;
    }

    let by_role = |role: Role| nodes.iter().filter(move |n| n.role == role);
    for server in by_role(Role::Server) {
        start_node(engine, server, req.wait_timeout, steps).await?;
    }
    try_join_all(by_role(Role::Agent).map(|a| start_node(engine, a, req.wait_timeout, steps)))
        .await?;
    // k3d starts the helpers together.
    try_join_all(
        by_role(Role::LoadBalancer)
            .chain(registry.iter())
            .map(|n| start_node(engine, n, req.wait_timeout, steps)),
    )
    .await?;

    if let Some(gateway) = &net.gateway {
        let k3s_nodes: Vec<&NodeSpec> = nodes
            .iter()
            .filter(|n| n.role != Role::LoadBalancer)
            .collect();
        steps
            .run("add host.k3d.internal to /etc/hosts", async {
                try_join_all(
                    k3s_nodes
                        .iter()
                        .map(|n| add_host_entry(engine, &n.name, gateway)),
                )
                .await?;
                Ok::<_, Error>(())
            })
            .await?;
    }

    if plan.hosting_configmap().is_some() {
        let k3s_nodes: Vec<&str> = nodes
            .iter()
            .filter(|n| matches!(n.role, Role::Server | Role::Agent))
            .map(|n| n.name.as_str())
            .collect();
        steps
            .run("ConfigMap kube-public/local-registry-hosting", async {
                if let Err(why) = apply_hosting_configmap(engine, &k3s_nodes).await {
                    // k3d only warns: the registry works without its advertisement.
                    steps.note(&format!(
                        "  warning: the LocalRegistryHosting ConfigMap was not applied: {why}"
                    ));
                }
                Ok::<_, Error>(())
            })
            .await?;
    }

    let server0 = name.server(0);
    let kubeconfig = steps
        .run("kubeconfig", async {
            let kc = fetch_kubeconfig(engine, &server0, name, &plan.options.api, req.wait_timeout)
                .await?;
            write_kubeconfig(&kc, &req.kubeconfig, owned)?;
            Ok::<_, Error>(kc)
        })
        .await?;
    Ok(CreatedCluster {
        name: name.clone(),
        api: plan.options.api.clone(),
        nodes: nodes.iter().map(|n| n.name.clone()).collect(),
        kubeconfig,
    })
}

/// k3d's way: `kubectl apply` of the uploaded file in the servers, then the agents, until one
/// succeeds; an API that is still coming up gets a few more seconds, a node without kubectl
/// none.
async fn apply_hosting_configmap(engine: &Engine, nodes: &[&str]) -> Result<(), String> {
    let command = format!("kubectl apply -f {}", registry::HOSTING_CONFIGMAP_PATH);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    loop {
        let mut any_kubectl = false;
        for node in nodes {
            match engine.exec(node, &["sh", "-c", &command]).await {
                Ok(out) if out.exit_code == 0 => return Ok(()),
                Ok(out) => {
                    any_kubectl |= out.exit_code != 127;
                    last = format!("{node}: exit {}: {}", out.exit_code, out.output.trim());
                }
                Err(e) => last = format!("{node}: {e}"),
            }
        }
        if !any_kubectl || tokio::time::Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Disconnects the registries still attached to `network` (registries of other clusters that
/// this one used), so that the network can be removed, as k3d does.
async fn release_registries(engine: &Engine, network: &str) -> Result<(), Error> {
    let attached = engine.network_containers(network).await?;
    if attached.is_empty() {
        return Ok(());
    }
    for r in engine
        .containers_with_labels(&[LABEL_APP, (LABEL_ROLE, Role::Registry.label())])
        .await?
    {
        if attached.contains(&r.name) {
            engine.disconnect_network(&r.name, network).await?;
        }
    }
    Ok(())
}

/// k3d's rule: a registry attached to a network besides the cluster's, `bridge` and `host`
/// serves another cluster too, and is kept.
fn registry_serves_others(networks: &[String], cluster_network: &str) -> bool {
    networks
        .iter()
        .any(|n| n != cluster_network && n != "bridge" && n != "host")
}

/// Files in, start, wait for the ready line: one step.
async fn start_node(
    engine: &Engine,
    node: &NodeSpec,
    timeout: Duration,
    steps: &Steps,
) -> Result<(), Error> {
    steps
        .run(format!("start {}", node.name), async {
            engine.upload_files(&node.name, &node.files).await?;
            engine.start_container(&node.name).await?;
            // a container created by this run has no earlier log lines to skip
            engine
                .wait_for_log(&node.name, &node.ready_log, None, timeout)
                .await?;
            Ok::<_, Error>(())
        })
        .await
}

/// k3d's `host.k3d.internal` entry: the network gateway, which reaches the Docker host.
async fn add_host_entry(engine: &Engine, container: &str, gateway: &str) -> Result<(), Error> {
    let line = format!("{gateway} host.k3d.internal");
    // /etc/hosts is a bind mount: append in place rather than replace the file.
    let script = "grep -qxF \"$1\" /etc/hosts || printf '%s\\n' \"$1\" >> /etc/hosts";
    let out = engine
        .exec(container, &["sh", "-c", script, "sh", &line])
        .await?;
    if out.exit_code != 0 {
        return Err(DockerError::Other(format!(
            "adding host.k3d.internal to /etc/hosts of {container} failed (exit {}): {}",
            out.exit_code, out.output
        ))
        .into());
    }
    Ok(())
}

/// Reads K3s's kubeconfig out of a server (retrying until it is written) and gives it k3d's
/// names and the published API address.
pub(crate) async fn fetch_kubeconfig(
    engine: &Engine,
    server: &str,
    cluster: &ClusterName,
    api: &ApiEndpoint,
    timeout: Duration,
) -> Result<Kubeconfig, Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match engine.read_file(server, KUBECONFIG_OUTPUT).await {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                return Ok(Kubeconfig::from_k3s(&text, cluster, api)?);
            }
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn write_kubeconfig(
    kc: &Kubeconfig,
    out: &KubeconfigOutput,
    owned: &Mutex<Owned>,
) -> Result<(), Error> {
    if let Some((path, switch)) = &out.merge_into {
        kubeconfig_file::merge_into(path, kc, *switch)?;
        owned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .merged_into = Some(path.clone());
    }
    if let Some(path) = &out.write_to {
        kubeconfig_file::write_atomic(path, kc)?;
        owned.lock().unwrap_or_else(PoisonError::into_inner).written = Some(path.clone());
    }
    Ok(())
}

/// Removes what carries the cluster's label, and the network if this run created it. Runs
/// the container sweep twice: a create request cut off by Ctrl-C may still land after the
/// first one.
async fn rollback(
    engine: &Engine,
    name: &ClusterName,
    owned: &Owned,
    steps: &Steps,
) -> Result<(), String> {
    let work = async {
        let mut problems = Vec::new();
        for pass in 0..2 {
            if pass == 1 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            match engine.containers_with_labels(&cluster_labels(name)).await {
                Ok(list) => {
                    for c in list {
                        if let Err(e) = engine.remove_container(&c.id).await {
                            problems.push(e.to_string());
                        }
                    }
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        match engine.volumes_with_labels(&cluster_labels(name)).await {
            Ok(list) => {
                for v in list {
                    if let Err(e) = engine.remove_volume(&v).await {
                        problems.push(e.to_string());
                    }
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
        if let Some(net) = &owned.network {
            if let Err(e) = release_registries(engine, net).await {
                problems.push(e.to_string());
            }
            if let Err(e) = engine.remove_network(net).await {
                problems.push(e.to_string());
            }
        }
        if let Some(path) = &owned.merged_into
            && let Err(e) = kubeconfig_file::remove_cluster(path, name)
        {
            problems.push(e.to_string());
        }
        if let Some(path) = &owned.written
            && let Err(e) = std::fs::remove_file(path)
        {
            problems.push(format!("cannot delete {}: {e}", path.display()));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Command {
                command: "rollback".to_owned(),
                reason: problems.join("; "),
            })
        }
    };
    steps.run("rollback", work).await.map_err(|e| e.to_string())
}

/// What `delete` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    Removed {
        containers: usize,
        network: Option<String>,
        volumes: usize,
        kubeconfig: bool,
        /// Registries kept because other clusters use them (disconnected from this one).
        kept_registries: Vec<String>,
    },
    /// No container or volume has the cluster's label: nothing to do.
    NotFound,
}

#[derive(Debug, Clone)]
pub struct DeleteRequest {
    pub name: ClusterName,
    /// The default kubeconfig to remove the cluster's entries from.
    pub kubeconfig: Option<PathBuf>,
    /// k3d's standalone kubeconfig file of the cluster, deleted if present.
    pub standalone_kubeconfig: Option<PathBuf>,
}

/// Removes exactly what `k3d cluster delete` removes: the labelled containers (with their
/// anonymous volumes), the network unless it is external, the labelled volumes, the
/// kubeconfig entries. Deleting a cluster that does not exist is not an error.
#[tracing::instrument(skip_all, fields(cluster = %req.name))]
pub async fn delete(engine: &Engine, req: &DeleteRequest, steps: &Steps) -> Result<Deleted, Error> {
    let labels = cluster_labels(&req.name);
    let containers = engine.containers_with_labels(&labels).await?;
    let volumes = engine.volumes_with_labels(&labels).await?;
    if containers.is_empty() && volumes.is_empty() {
        return Ok(Deleted::NotFound);
    }
    let network_name = containers
        .iter()
        .find_map(|c| c.labels.get("k3d.cluster.network").cloned())
        .unwrap_or_else(|| req.name.network());
    let mut kept_registries = Vec::new();
    let mut to_remove = Vec::new();
    for c in &containers {
        if c.labels.get(LABEL_ROLE).map(String::as_str) == Some(Role::Registry.label()) {
            let networks = engine.container_networks(&c.id).await?;
            if registry_serves_others(&networks, &network_name) {
                steps
                    .run(
                        format!("keep {} (used by another cluster)", c.name),
                        async {
                            Ok::<_, Error>(engine.disconnect_network(&c.id, &network_name).await?)
                        },
                    )
                    .await?;
                kept_registries.push(c.name.clone());
                continue;
            }
        }
        to_remove.push(c);
    }
    // in parallel, as the daemon removes independent containers independently
    try_join_all(to_remove.iter().map(|c| {
        steps.run(format!("remove {}", c.name), async {
            Ok::<_, Error>(engine.remove_container(&c.id).await?)
        })
    }))
    .await?;
    let network = containers.iter().find_map(|c| {
        let external = c.labels.get(LABEL_NETWORK_EXTERNAL).map(String::as_str) == Some("true");
        let net = c
            .labels
            .get("k3d.cluster.network")
            .cloned()
            .unwrap_or_else(|| req.name.network());
        (!external).then_some(net)
    });
    if let Some(net) = &network {
        steps
            .run(format!("network {net}"), async {
                release_registries(engine, net).await?;
                Ok::<_, Error>(engine.remove_network(net).await?)
            })
            .await?;
    }
    for v in &volumes {
        steps
            .run(format!("volume {v}"), async {
                Ok::<_, Error>(engine.remove_volume(v).await?)
            })
            .await?;
    }
    let mut kubeconfig = false;
    if let Some(path) = &req.kubeconfig {
        kubeconfig = steps
            .run(format!("kubeconfig {}", path.display()), async {
                Ok::<_, Error>(kubeconfig_file::remove_cluster(path, &req.name)?)
            })
            .await?;
    }
    if let Some(path) = &req.standalone_kubeconfig
        && path.exists()
    {
        std::fs::remove_file(path).map_err(Error::io(format!("delete {}", path.display())))?;
        kubeconfig = true;
    }
    Ok(Deleted::Removed {
        kept_registries,
        containers: to_remove.len(),
        network,
        volumes: volumes.len(),
        kubeconfig,
    })
}

/// One line of `cluster list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterSummary {
    pub name: String,
    pub servers: usize,
    pub servers_running: usize,
    pub agents: usize,
    pub agents_running: usize,
    pub loadbalancer: bool,
    pub api: Option<String>,
    pub created_by: String,
}

/// Every cluster with k3d's labels, whoever created it.
pub async fn list(engine: &Engine) -> Result<Vec<ClusterSummary>, Error> {
    let all = engine.containers_with_labels(&[LABEL_APP]).await?;
    let mut clusters: BTreeMap<String, Vec<ContainerInfo>> = BTreeMap::new();
    for c in all {
        if let Some(cluster) = c.labels.get(LABEL_CLUSTER).cloned() {
            clusters.entry(cluster).or_default().push(c);
        }
    }
    Ok(clusters
        .into_iter()
        .map(|(name, nodes)| summarize(name, &nodes))
        .collect())
}

fn summarize(name: String, nodes: &[ContainerInfo]) -> ClusterSummary {
    let role = |c: &ContainerInfo| c.labels.get(LABEL_ROLE).and_then(|r| Role::from_label(r));
    let count = |r: Role| nodes.iter().filter(|c| role(c) == Some(r)).count();
    let running = |r: Role| {
        nodes
            .iter()
            .filter(|c| role(c) == Some(r) && c.state == "running")
            .count()
    };
    let api = nodes.iter().find_map(|c| {
        let host = c.labels.get(LABEL_API_HOST)?;
        let port = c.labels.get(LABEL_API_PORT)?;
        Some(format!("https://{host}:{port}"))
    });
    let created_by = nodes
        .iter()
        .find_map(|c| {
            c.labels
                .get(LABEL_CREATED_BY)
                .map(|v| format!("bootstrap {v}"))
        })
        .or_else(|| {
            nodes
                .iter()
                .find_map(|c| c.labels.get("k3d.version").map(|v| format!("k3d {v}")))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    ClusterSummary {
        name,
        servers: count(Role::Server),
        servers_running: running(Role::Server),
        agents: count(Role::Agent),
        agents_running: running(Role::Agent),
        loadbalancer: count(Role::LoadBalancer) > 0,
        api,
        created_by,
    }
}

/// The `cluster list` table (k3d's columns, plus the API address and who created it).
pub(crate) fn render_list(clusters: &[ClusterSummary]) -> String {
    let rows: Vec<[String; 6]> = clusters
        .iter()
        .map(|c| {
            [
                c.name.clone(),
                format!("{}/{}", c.servers_running, c.servers),
                format!("{}/{}", c.agents_running, c.agents),
                c.loadbalancer.to_string(),
                c.api.clone().unwrap_or_else(|| "-".to_owned()),
                c.created_by.clone(),
            ]
        })
        .collect();
    let header = [
        "NAME",
        "SERVERS",
        "AGENTS",
        "LOADBALANCER",
        "API",
        "CREATED BY",
    ]
    .map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

async fn cluster_containers(
    engine: &Engine,
    name: &ClusterName,
) -> Result<Vec<ContainerInfo>, Error> {
    let containers = engine.containers_with_labels(&cluster_labels(name)).await?;
    if containers.is_empty() {
        return Err(Error::NoSuchCluster(name.to_string()));
    }
    Ok(containers)
}

/// Starts a stopped cluster in k3d's order: the init server, the other servers one by one,
/// the agents together, then the load balancer; each waits for its ready line.
#[tracing::instrument(skip_all, fields(cluster = %name))]
pub async fn start(
    engine: &Engine,
    name: &ClusterName,
    timeout: Duration,
    steps: &Steps,
) -> Result<(), Error> {
    let containers = cluster_containers(engine, name).await?;
    let stopped = |r: Role, init: Option<bool>| -> Vec<&ContainerInfo> {
        containers
            .iter()
            .filter(|c| c.state != "running")
            .filter(|c| c.labels.get(LABEL_ROLE).and_then(|v| Role::from_label(v)) == Some(r))
            .filter(|c| {
                init.is_none_or(|i| {
                    (c.labels.get(LABEL_SERVER_INIT).map(String::as_str) == Some("true")) == i
                })
            })
            .collect()
    };
    let start_one = |c: &ContainerInfo, ready: &'static str| {
        let step_name = format!("start {}", c.name);
        let id = c.id.clone();
        let container = c.name.clone();
        async move {
            steps
                .run(step_name, async {
                    let since = engine.previous_run_end(&id).await?;
                    engine.start_container(&id).await?;
                    engine
                        .wait_for_log(&container, ready, since, timeout)
                        .await?;
                    Ok::<_, Error>(())
                })
                .await
        }
    };
    for c in stopped(Role::Server, Some(true)) {
        start_one(c, READY_INIT_SERVER_RESTART).await?;
    }
    for c in stopped(Role::Server, Some(false)) {
        start_one(c, READY_SERVER).await?;
    }
    try_join_all(
        stopped(Role::Agent, None)
            .into_iter()
            .map(|c| start_one(c, READY_AGENT)),
    )
    .await?;
    for c in stopped(Role::LoadBalancer, None) {
        start_one(c, READY_LOADBALANCER).await?;
    }
    // k3d does not wait for a registry.
    for c in stopped(Role::Registry, None) {
        steps
            .run(format!("start {}", c.name), async {
                Ok::<_, Error>(engine.start_container(&c.id).await?)
            })
            .await?;
    }
    Ok(())
}

/// Stops every container of the cluster.
#[tracing::instrument(skip_all, fields(cluster = %name))]
pub async fn stop(engine: &Engine, name: &ClusterName, steps: &Steps) -> Result<(), Error> {
    let containers = cluster_containers(engine, name).await?;
    try_join_all(containers.iter().filter(|c| c.state == "running").map(|c| {
        steps.run(format!("stop {}", c.name), async {
            Ok::<_, Error>(engine.stop_container(&c.id).await?)
        })
    }))
    .await?;
    Ok(())
}

/// The cluster's kubeconfig, from the server that publishes the API (k3d's choice).
pub async fn kubeconfig(
    engine: &Engine,
    name: &ClusterName,
    timeout: Duration,
) -> Result<Kubeconfig, Error> {
    let containers = cluster_containers(engine, name).await?;
    let servers: Vec<&ContainerInfo> = containers
        .iter()
        .filter(|c| c.labels.get(LABEL_ROLE).map(String::as_str) == Some("server"))
        .collect();
    let server = servers
        .iter()
        .find(|c| c.labels.contains_key(LABEL_API_PORT))
        .or_else(|| servers.first())
        .ok_or_else(|| Error::NoRunningNodes {
            cluster: name.to_string(),
        })?;
    if server.state != "running" {
        return Err(Error::NoRunningNodes {
            cluster: name.to_string(),
        });
    }
    let label = |k: &str| server.labels.get(k).cloned().unwrap_or_default();
    let api = ApiEndpoint {
        host: label(LABEL_API_HOST),
        host_ip: label(LABEL_API_HOST_IP),
        port: label(LABEL_API_PORT)
            .parse()
            .unwrap_or(crate::spec::ports::API_PORT),
    };
    fetch_kubeconfig(engine, &server.name, name, &api, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, role: &str, state: &str, extra: &[(&str, &str)]) -> ContainerInfo {
        let mut labels: BTreeMap<String, String> =
            [("app", "k3d"), ("k3d.cluster", "demo"), ("k3d.role", role)]
                .iter()
                .chain(extra)
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
        labels.insert("k3d.version".into(), "v5.9.0".into());
        ContainerInfo {
            id: name.into(),
            name: name.into(),
            labels,
            state: state.into(),
            status: String::new(),
            ports: vec![],
        }
    }

    #[test]
    fn a_registry_on_another_clusters_network_is_kept() {
        let nets = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(!registry_serves_others(
            &nets(&["bridge", "k3d-demo"]),
            "k3d-demo"
        ));
        assert!(!registry_serves_others(&nets(&["host"]), "k3d-demo"));
        assert!(registry_serves_others(
            &nets(&["bridge", "k3d-demo", "k3d-other"]),
            "k3d-demo"
        ));
    }

    #[test]
    fn list_rows_for_ours_and_k3ds() {
        let ours = summarize(
            "demo".into(),
            &[
                container(
                    "k3d-demo-server-0",
                    "server",
                    "running",
                    &[
                        (LABEL_API_HOST, "0.0.0.0"),
                        (LABEL_API_PORT, "6443"),
                        (LABEL_CREATED_BY, "0.1.0"),
                    ],
                ),
                container("k3d-demo-agent-0", "agent", "running", &[]),
                container("k3d-demo-agent-1", "agent", "exited", &[]),
                container("k3d-demo-serverlb", "loadbalancer", "running", &[]),
            ],
        );
        assert_eq!(
            ours,
            ClusterSummary {
                name: "demo".into(),
                servers: 1,
                servers_running: 1,
                agents: 2,
                agents_running: 1,
                loadbalancer: true,
                api: Some("https://0.0.0.0:6443".into()),
                created_by: "bootstrap 0.1.0".into(),
            }
        );
        let theirs = summarize(
            "k3s-default".into(),
            &[container(
                "k3d-k3s-default-server-0",
                "server",
                "exited",
                &[],
            )],
        );
        assert_eq!(theirs.created_by, "k3d v5.9.0");
        let table = render_list(&[ours, theirs]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "NAME          SERVERS   AGENTS   LOADBALANCER   API                    CREATED BY"
        );
        assert_eq!(
            lines[1],
            "demo          1/1       1/2      true           https://0.0.0.0:6443   bootstrap 0.1.0"
        );
        assert_eq!(
            lines[2],
            "k3s-default   0/1       0/0      false          -                      k3d v5.9.0"
        );
    }
}
