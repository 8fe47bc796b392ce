//! `bootstrap p3`, `bootstrap status`, `bootstrap down`: part 3 of the lab in one command.
//!
//! This module holds the request they share; each command lives in its own file.

mod down;
mod status;
mod summary;
mod up;

pub use down::{RemovedFromExisting, down, down_existing};
pub use status::{ClusterLayer, Status, status, status_existing};
pub use summary::Summary;
pub use up::{committed_tag, playground_answer, up};

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;
use crate::gitops::{argocd, gitserver};
use crate::spec::cluster::{ClusterOptions, K3sArgFlag, NodeSecurity, RegistryOptions};
use crate::spec::fixes::Fixes;
use crate::spec::names::ClusterName;
use crate::spec::ports::{ApiEndpoint, PortFlag};
use crate::spec::registry::{self, Registry};

/// The cluster part 3 runs in, unless told otherwise.
pub(crate) const DEFAULT_CLUSTER: &str = "iot";
/// The workload Argo CD deploys, and the images of it that are side-loaded.
pub(crate) const APP_IMAGE: &str = "echo-app";
pub(crate) const APP_TAGS: [&str; 2] = ["v1", "v2"];

/// The registry under which `p3/confs` and `charts/p3` name the app's images
/// (`localhost:5111/echo-app:v1`): the same for every user, and it resolves everywhere — on the
/// host `localhost` is the published port (and Docker allows plain HTTP to it), in the nodes
/// registries.yaml maps it to the cluster's registry.
pub const REGISTRY_ALIAS: &str = "localhost:5111";
/// The host port of part 3's registry, on 127.0.0.1 (the port of [`REGISTRY_ALIAS`]).
pub const REGISTRY_PORT_DEFAULT: u16 = 5111;

/// Part 3's registry container: k3d's default name for a registry created with a cluster.
pub(crate) fn registry_name(cluster: &ClusterName) -> String {
    format!("k3d-{cluster}-registry")
}

/// Memory part 3 adds to a cluster, in MiB. Argo CD's install.yaml sets no requests, so this
/// is measured: on the test control plane, after syncing the app, the application-controller,
/// repo-server, server and Redis took 395 MiB RSS together (`ps -o rss` on their pids); the
/// three workloads that do not run there (Dex, ApplicationSet, notifications) and a first
/// sync's peaks make up the rest, with the app's own request (8 MiB).
pub(crate) const ARGOCD_MEMORY_MIB: u64 = 768;
/// The embedded Git server's request (its manifest, `gitops::gitserver`).
pub(crate) const GIT_SERVER_MEMORY_MIB: u64 = 128;

/// The memory part 3's workloads take besides Kubernetes itself, for the preflights.
pub(crate) fn memory_needed_mib(source: &GitSource) -> u64 {
    match source {
        GitSource::Embedded { .. } => ARGOCD_MEMORY_MIB + GIT_SERVER_MEMORY_MIB,
        GitSource::Remote { .. } => ARGOCD_MEMORY_MIB,
    }
}

/// Host ports, all published on 127.0.0.1 only: the lab is for this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub api: u16,
    pub(crate) app: u16,
    pub(crate) argocd: u16,
    pub(crate) git: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            api: 6443,
            app: 8888,
            argocd: 8443,
            git: gitserver::PORT,
        }
    }
}

/// The cluster part 3 runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A K3s-in-Docker cluster that bootstrap creates, or resumes.
    Docker,
    /// A cluster the user already has (a real K3s, kind, EKS...): a kubeconfig file (else
    /// `$KUBECONFIG` or `~/.kube/config`) and one of its contexts (else the current one).
    /// Nothing is created in Docker; no image is imported.
    Existing {
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
    },
}

/// Where Argo CD reads the app from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GitSource {
    /// A Git server in the cluster, seeded from the local clone (no account anywhere).
    Embedded { owner: String },
    /// A repository of the user's (a public fork, as the subject does it).
    Remote { url: String, revision: String },
}

#[derive(Debug, Clone)]
pub struct Request {
    pub(crate) target: Target,
    /// Whether the end waits for the app to answer over HTTP (a cluster whose containers do
    /// not run, like the test control plane's, cannot).
    pub(crate) probe: bool,
    pub name: ClusterName,
    pub agents: usize,
    pub(crate) node_image: String,
    pub lb_image: String,
    pub ports: Ports,
    pub(crate) source: GitSource,
    /// The clone bootstrap runs from: images are built from it, the Git server seeded from it.
    pub(crate) workspace: PathBuf,
    /// Downloads kept between runs (Argo CD's manifest).
    pub(crate) cache_dir: PathBuf,
    /// Where the lab remote's credentials file goes (mode 0600).
    pub(crate) config_dir: PathBuf,
    /// The kubeconfig to merge the cluster into, and whether to switch to it.
    pub kubeconfig: PathBuf,
    pub(crate) switch_context: bool,
    pub token: String,
    pub fixes: Fixes,
    pub security: NodeSecurity,
    pub(crate) waits: Waits,
    /// The host port of the registry created with the cluster; `None`: no registry, the
    /// images are imported into the nodes instead.
    pub(crate) registry_port: Option<u16>,
}

/// How long each wait may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Waits {
    pub node: Duration,
    pub(crate) argocd: argocd::Waits,
    pub(crate) git_server: Duration,
    pub(crate) rollout: Duration,
    pub(crate) probe: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Waits {
            node: Duration::from_secs(300),
            argocd: argocd::Waits::default(),
            git_server: Duration::from_secs(300),
            rollout: Duration::from_secs(300),
            probe: Duration::from_secs(120),
        }
    }
}

/// The cluster of part 3: k3d's shape, every port on 127.0.0.1, Traefik off (nothing in part 3
/// routes by host, and it would take the load balancer's ports 80/443 for nothing).
pub(crate) fn cluster_options(req: &Request) -> Result<ClusterOptions, Error> {
    let lb = |port: u16| PortFlag::parse(&format!("127.0.0.1:{port}:{port}@loadbalancer"));
    Ok(ClusterOptions {
        name: req.name.clone(),
        servers: 1,
        agents: req.agents,
        image: req.node_image.clone(),
        lb_image: req.lb_image.clone(),
        api: ApiEndpoint {
            host: "127.0.0.1".to_owned(),
            host_ip: "127.0.0.1".to_owned(),
            port: req.ports.api,
        },
        ports: vec![
            lb(req.ports.app)?,
            lb(req.ports.argocd)?,
            lb(req.ports.git)?,
        ],
        volumes: Vec::new(),
        k3s_args: vec![K3sArgFlag::parse("--disable=traefik@servers:*")?],
        token: req.token.clone(),
        fixes: req.fixes,
        security: req.security,
        extra_labels: recorded_parameters(req),
        registries: match req.registry_port {
            Some(port) => RegistryOptions {
                create: Some(Registry {
                    name: registry_name(&req.name),
                    host: "127.0.0.1".to_owned(),
                    host_ip: "127.0.0.1".to_owned(),
                    host_port: port,
                    internal_port: registry::INTERNAL_PORT,
                }),
                aliases: vec![REGISTRY_ALIAS.to_owned()],
                ..RegistryOptions::default()
            },
            None => RegistryOptions::default(),
        },
    })
}

/// The prefix of the labels in which p3 records the parameters its cluster was made with.
pub(crate) const PARAMETER_LABEL_PREFIX: &str = "io.iot-rs.p3.";

/// p3's parameters that shape the cluster, as the flags that set them and their values: what
/// a resume must find unchanged.
fn parameters(req: &Request) -> [(&'static str, String); 7] {
    [
        ("agents", req.agents.to_string()),
        ("image", req.node_image.clone()),
        ("lb-image", req.lb_image.clone()),
        ("api-port", req.ports.api.to_string()),
        ("app-port", req.ports.app.to_string()),
        ("argocd-port", req.ports.argocd.to_string()),
        ("git-port", req.ports.git.to_string()),
    ]
}

/// The labels in which the cluster records `req`'s parameters.
pub(crate) fn recorded_parameters(req: &Request) -> std::collections::BTreeMap<String, String> {
    parameters(req)
        .into_iter()
        .map(|(flag, value)| (format!("{PARAMETER_LABEL_PREFIX}{flag}"), value))
        .collect()
}

/// Whether an existing cluster, known by its server's labels, may be resumed by `req`: Err
/// with one sentence naming each difference and the ways out.
pub(crate) fn check_resumable(
    req: &Request,
    labels: &std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    let name = &req.name;
    if !labels.contains_key(crate::spec::cluster::LABEL_CREATED_BY) {
        return Err(format!(
            "a cluster named {name} exists that bootstrap did not create (k3d did): part 3 will \
             not take it over; delete it (`k3d cluster delete {name}`) or choose another name \
             with --cluster"
        ));
    }
    if !labels.keys().any(|k| k.starts_with(PARAMETER_LABEL_PREFIX)) {
        return Err(format!(
            "a cluster named {name} exists that `bootstrap p3` did not create (`bootstrap \
             cluster create` did): delete it (`bootstrap cluster delete {name}`) or choose \
             another name with --cluster"
        ));
    }
    let differences: Vec<String> = parameters(req)
        .into_iter()
        .filter_map(|(flag, wanted)| {
            let recorded = labels.get(&format!("{PARAMETER_LABEL_PREFIX}{flag}"))?;
            (*recorded != wanted).then(|| format!("--{flag} {recorded} (this run: {wanted})"))
        })
        .collect();
    if differences.is_empty() {
        return Ok(());
    }
    Err(format!(
        "cluster {name} was made with {}; run again with those flags to resume it, or \
         `bootstrap down --cluster {name}` to start over",
        differences.join(", ")
    ))
}

/// The credentials file of the `lab` remote of one cluster.
pub(crate) fn credentials_file(config_dir: &Path, cluster: &ClusterName) -> PathBuf {
    config_dir.join(cluster.as_str()).join("git-credentials")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::cluster::ClusterPlan;
    use std::collections::BTreeMap;

    fn request() -> Request {
        Request {
            target: Target::Docker,
            probe: true,
            name: ClusterName::parse("iot").unwrap(),
            agents: 1,
            node_image: "rancher/k3s:v1.35.5-k3s1".into(),
            lb_image: "ghcr.io/k3d-io/k3d-proxy:5.9.0".into(),
            ports: Ports::default(),
            source: GitSource::Embedded {
                owner: "wil".into(),
            },
            workspace: PathBuf::from("/src/iot-rs"),
            cache_dir: PathBuf::from("/home/wil/.cache/iot-rs"),
            config_dir: PathBuf::from("/home/wil/.config/iot-rs"),
            kubeconfig: PathBuf::from("/home/wil/.kube/config"),
            switch_context: true,
            token: "abcdefghijklmnopqrst".into(),
            fixes: Fixes {
                cgroupv2: false,
                dns: true,
                mounts: true,
            },
            security: NodeSecurity::Privileged,
            waits: Waits::default(),
            registry_port: Some(REGISTRY_PORT_DEFAULT),
        }
    }

    #[test]
    fn the_cluster_publishes_every_port_on_loopback_only_and_runs_no_traefik() {
        let plan = ClusterPlan::new(cluster_options(&request()).unwrap()).unwrap();
        let net = crate::spec::cluster::NetworkFacts::unknown(false);
        let text = plan.render_json(&net).to_string();
        let lb = plan
            .nodes(&net)
            .into_iter()
            .find(|n| n.name == "k3d-iot-serverlb")
            .expect("a load balancer");
        let mut bindings: Vec<String> = lb
            .ports
            .iter()
            .flat_map(|(port, hosts)| {
                hosts
                    .iter()
                    .map(move |h| format!("{}:{}->{port}", h.host_ip, h.host_port))
            })
            .collect();
        bindings.sort();
        assert_eq!(
            bindings,
            [
                "127.0.0.1:3000->3000/tcp",
                "127.0.0.1:6443->6443/tcp",
                "127.0.0.1:8443->8443/tcp",
                "127.0.0.1:8888->8888/tcp",
            ],
            "{text}"
        );
        let server = plan
            .nodes(&net)
            .into_iter()
            .find(|n| n.name == "k3d-iot-server-0")
            .unwrap();
        assert!(
            server.cmd.iter().any(|a| a == "--disable=traefik"),
            "{:?}",
            server.cmd
        );
        assert!(plan.nodes(&net).iter().any(|n| n.name == "k3d-iot-agent-0"));
        assert_eq!(server.security, NodeSecurity::Privileged);
    }

    /// The registry on 127.0.0.1:5111 under k3d's default name, and the nodes map the name
    /// p3/confs uses (localhost:5111) to it.
    #[test]
    fn the_cluster_has_a_registry_that_the_manifests_name_resolves_to() {
        let plan = ClusterPlan::new(cluster_options(&request()).unwrap()).unwrap();
        let reg = plan.registry_container().expect("a registry");
        assert_eq!(reg.name, "k3d-iot-registry");
        assert_eq!(reg.labels["k3d.role"], "registry");
        assert_eq!(reg.ports["5000/tcp"][0].host_ip, "127.0.0.1");
        assert_eq!(reg.ports["5000/tcp"][0].host_port, "5111");
        let yaml = plan.registries_yaml().unwrap();
        assert!(
            yaml.contains("  localhost:5111:\n    endpoint:\n    - http://k3d-iot-registry:5000\n"),
            "{yaml}"
        );
        let confs = include_str!("../../../../p3/confs/playground.yaml");
        assert!(
            confs.contains(&format!("image: \"{REGISTRY_ALIAS}/{APP_IMAGE}:")),
            "p3/confs does not name the app by {REGISTRY_ALIAS}"
        );
        let mut req = request();
        req.registry_port = None;
        let plan = ClusterPlan::new(cluster_options(&req).unwrap()).unwrap();
        assert!(plan.registry_container().is_none() && plan.registries_yaml().is_none());
    }

    #[test]
    fn a_resume_checks_the_recorded_parameters() {
        let req = request();
        let mut labels = recorded_parameters(&req);
        labels.insert(
            crate::spec::cluster::LABEL_CREATED_BY.to_owned(),
            "0.1.0".to_owned(),
        );
        assert_eq!(labels["io.iot-rs.p3.app-port"], "8888");
        assert_eq!(check_resumable(&req, &labels), Ok(()));

        let mut other = request();
        other.ports.app = 9999;
        other.agents = 0;
        assert_eq!(
            check_resumable(&other, &labels).unwrap_err(),
            "cluster iot was made with --agents 1 (this run: 0), --app-port 8888 (this run: 9999); \
             run again with those flags to resume it, or `bootstrap down --cluster iot` to start over"
        );

        let by_k3d = BTreeMap::from([("app".to_owned(), "k3d".to_owned())]);
        assert!(
            check_resumable(&req, &by_k3d)
                .unwrap_err()
                .starts_with("a cluster named iot exists that bootstrap did not create (k3d did)")
        );
        let by_cluster_create = BTreeMap::from([(
            crate::spec::cluster::LABEL_CREATED_BY.to_owned(),
            "0.1.0".to_owned(),
        )]);
        assert!(
            check_resumable(&req, &by_cluster_create)
                .unwrap_err()
                .contains("that `bootstrap p3` did not create (`bootstrap cluster create` did)")
        );
    }

    #[test]
    fn credentials_live_per_cluster() {
        let file = credentials_file(
            Path::new("/home/wil/.config/iot-rs"),
            &ClusterName::parse("iot").unwrap(),
        );
        assert_eq!(
            file,
            PathBuf::from("/home/wil/.config/iot-rs/iot/git-credentials")
        );
    }
}
