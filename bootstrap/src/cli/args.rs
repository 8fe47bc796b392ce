//! The command line's arguments: clap definitions, their defaults and help, and what a group
//! of them names (ports, a cluster of the user's). No I/O; the commands are in the sibling
//! modules.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::recipes::p3::{self, Ports, Target};
use crate::spec::names::DEFAULT_CLUSTER_NAME;
use crate::{K3S_IMAGE, LB_IMAGE};

#[derive(Debug, Parser)]
#[command(
    name = "bootstrap",
    version,
    about = "Build the Inception-of-Things lab from a laptop with Docker",
    long_about = "Build the Inception-of-Things lab from a laptop with Docker.\n\n\
        Clusters are K3s in Docker, laid out exactly as k3d v5.9.0 lays them out (names, labels, \
        network, volumes, load balancer), so `k3d cluster list/delete` and bootstrap see each \
        other's clusters.",
    after_help = "Examples:\n  \
        bootstrap p3                  # part 3: cluster, Argo CD, Git server, the app at v1\n  \
        bootstrap status\n  \
        bootstrap down\n  \
        bootstrap doctor --api-port 6443 -p 8888:8888@loadbalancer\n  \
        bootstrap cluster create iot --agents 2 -p 8888:8888@loadbalancer\n  \
        bootstrap images --save target/images\n  \
        bootstrap image import echo-app:v1 echo-app:v2 -c iot\n  \
        bootstrap cluster delete iot"
)]
pub struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,

    /// Do not show steps as they run (errors are still printed)
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,

    /// More log output on stderr (once: info, twice: debug); RUST_LOG overrides
    #[arg(long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Log format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Part 3 in one command: a K3s-in-Docker cluster, Argo CD, a Git server seeded from this
    /// clone, the Application, and a wait until the app answers; run again to resume
    P3(P3Args),
    /// Show part 3's cluster, Argo CD, Application sync/health and the version served
    Status(StatusArgs),
    /// Remove part 3: the cluster and the `lab` remote's configuration; with --context, exactly
    /// what part 3 installed in that cluster (never the cluster)
    Down(DownArgs),
    /// Create, delete, list, start and stop K3s-in-Docker clusters
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Load images into a cluster's nodes
    #[command(subcommand)]
    Image(ImageCommand),
    /// Build the workload images (echo-app:v1, echo-app:v2, token-server) for the Docker engine's
    /// architecture: on the host when it can link them, else inside the engine
    Images(ImagesArgs),
    /// Check that this machine can run a cluster: Docker, cgroups, memory, ports, images
    Doctor(DoctorArgs),
    /// Read a cluster (read-only) and name each root cause of what does not run, with its
    /// evidence and its fix; exit 0 when nothing is found, 1 when something is, 3 when the
    /// cluster cannot be read
    Diagnose(DiagnoseArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClusterCommand {
    /// Create a cluster and merge its kubeconfig (k3d's `cluster create`)
    Create(Box<CreateArgs>),
    /// Delete clusters and everything k3d's delete removes; deleting a missing cluster is fine
    Delete(DeleteArgs),
    /// List clusters, bootstrap's and k3d's
    List(ListArgs),
    /// Start a stopped cluster and wait until its nodes are ready
    Start(StartArgs),
    /// Stop a cluster's containers (they keep their state)
    Stop(NameArg),
    /// Print (or write, or merge) a cluster's kubeconfig
    Kubeconfig(KubeconfigArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ImageCommand {
    /// Stream `docker save IMAGE...` into `ctr image import` in every server and agent
    Import(ImportArgs),
}

/// The cluster shape, shared by `cluster create` and `doctor`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ShapeArgs {
    /// Number of servers
    #[arg(short = 's', long, default_value_t = 1)]
    pub servers: usize,
    /// Number of agents
    #[arg(short = 'a', long, default_value_t = 0)]
    pub agents: usize,
    #[command(flatten)]
    pub(crate) images: NodeImages,
    /// Where the Kubernetes API is published: [HOST_IP|HOSTNAME:]PORT|random
    /// (default: a random port on 0.0.0.0, as k3d)
    #[arg(long, value_name = "[HOST:]PORT")]
    pub(crate) api_port: Option<String>,
    /// Publish a port: [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO][@NODEFILTER[;NODEFILTER]],
    /// e.g. 8888:8888@loadbalancer or 127.0.0.1:8080:80@agent:0
    #[arg(short = 'p', long = "port", value_name = "SPEC")]
    pub ports: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Cluster name (a hostname of at most 32 characters)
    #[arg(default_value = DEFAULT_CLUSTER_NAME)]
    pub name: String,
    #[command(flatten)]
    pub(crate) shape: ShapeArgs,
    /// Extra K3s argument for some nodes: ARG@NODEFILTER, e.g. --disable=traefik@server:0
    #[arg(
        long = "k3s-arg",
        value_name = "ARG@NODEFILTER",
        allow_hyphen_values = true
    )]
    pub k3s_args: Vec<String>,
    /// Mount into nodes: SOURCE:DEST[:ro|rw][@NODEFILTER] (all nodes without a filter)
    #[arg(short = 'v', long = "volume", value_name = "SPEC")]
    pub volumes: Vec<String>,
    /// Cluster token (default: 20 random letters)
    #[arg(long)]
    pub token: Option<String>,
    /// Bound on each node's wait for its ready log line
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub(crate) timeout: Duration,
    /// Merge the kubeconfig into $KUBECONFIG or ~/.kube/config
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub(crate) kubeconfig_update_default: bool,
    /// Make the new cluster the current context when merging
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub(crate) kubeconfig_switch_context: bool,
    /// Also write the cluster's kubeconfig alone to FILE (mode 0600)
    #[arg(long, value_name = "FILE")]
    pub(crate) kubeconfig_out: Option<PathBuf>,
    /// Print what would be created and exit
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Format of --dry-run
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Human)]
    pub(crate) output: Output,
    /// Skip the doctor checks before creating anything
    #[arg(long)]
    pub(crate) no_preflight: bool,
    /// Leave what was created in place when creation fails (for debugging)
    #[arg(long)]
    pub(crate) no_rollback: bool,
    /// Create a registry with the cluster (k3d's flag; the container is named exactly NAME),
    /// e.g. demo-registry:0.0.0.0:5111; removed with the cluster
    #[arg(long, value_name = "NAME[:HOST]:PORT")]
    pub(crate) registry_create: Option<String>,
    /// Pull through a registry container that exists already (e.g. one created with another
    /// cluster); repeatable; kept when the cluster is deleted
    #[arg(long, value_name = "NAME:PORT")]
    pub(crate) registry_use: Vec<String>,
    /// TESTS ONLY: run nodes without `privileged` (all capabilities but SYS_RESOURCE), for
    /// stand-in images on hosts where privileged containers cannot start. Real K3s fails so.
    #[cfg(feature = "test-nodes")]
    #[arg(long, hide = true)]
    pub(crate) unprivileged_test_nodes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// Clusters to delete
    #[arg(default_value = DEFAULT_CLUSTER_NAME)]
    pub(crate) names: Vec<String>,
    /// Delete every cluster (k3d's and bootstrap's)
    #[arg(long, conflicts_with = "names")]
    pub(crate) all: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Human)]
    pub(crate) output: Output,
}

#[derive(Debug, Args)]
pub(crate) struct NameArg {
    /// Cluster name
    #[arg(default_value = DEFAULT_CLUSTER_NAME)]
    pub name: String,
}

#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    /// Cluster name
    #[arg(default_value = DEFAULT_CLUSTER_NAME)]
    pub name: String,
    /// Bound on each node's wait for its ready log line
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub(crate) timeout: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct KubeconfigArgs {
    /// Cluster name
    #[arg(default_value = DEFAULT_CLUSTER_NAME)]
    pub name: String,
    /// Write to FILE (mode 0600) instead of printing
    #[arg(long, value_name = "FILE", conflicts_with = "merge")]
    pub(crate) output: Option<PathBuf>,
    /// Merge into $KUBECONFIG or ~/.kube/config instead of printing
    #[arg(long)]
    pub(crate) merge: bool,
    /// With --merge: make it the current context
    #[arg(long)]
    pub(crate) switch_context: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// Images present in the local Docker engine
    #[arg(required = true)]
    pub(crate) images: Vec<String>,
    /// The cluster to import into
    #[arg(short = 'c', long, default_value = DEFAULT_CLUSTER_NAME)]
    pub(crate) cluster: String,
}

#[derive(Debug, Args)]
pub(crate) struct ImagesArgs {
    /// Workloads to build (default: all of this workspace): echo-app, token-server
    pub workloads: Vec<String>,
    /// Also write each image as a docker-archive tarball (<image>-<tag>.tar) into DIR
    #[arg(long, value_name = "DIR")]
    pub(crate) save: Option<PathBuf>,
    /// Prefix for the image names, e.g. ghcr.io/me (gives ghcr.io/me/echo-app:v1)
    #[arg(long, value_name = "PREFIX")]
    pub repo_prefix: Option<String>,
    /// Build inside the Docker engine (BuildKit, the crate's Dockerfile) even when this host
    /// could link the binaries itself
    #[arg(long)]
    pub(crate) in_engine: bool,
}

#[derive(Debug, Args)]
pub(crate) struct P3Args {
    #[command(flatten)]
    pub(crate) cluster: ClusterArg,
    /// Run in a cluster you already have (a real K3s, kind, EKS...): this kubeconfig context.
    /// No cluster is created and no image imported; needs --repo
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Your own cluster",
        requires = "repo",
        conflicts_with_all = ["agents", "kubeconfig_switch_context"]
    )]
    pub(crate) context: Option<String>,
    /// The kubeconfig file of --context (default: $KUBECONFIG, else ~/.kube/config); alone, its
    /// current context
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Your own cluster",
        requires = "repo",
        conflicts_with_all = ["agents", "kubeconfig_switch_context"]
    )]
    pub kubeconfig: Option<PathBuf>,
    /// Do not wait for the app to answer over HTTP at the end (for clusters whose containers
    /// cannot be reached from here)
    #[arg(long)]
    pub(crate) no_probe: bool,
    /// Number of agents besides the server
    #[arg(short = 'a', long, default_value_t = 0)]
    pub agents: usize,
    #[command(flatten)]
    pub(crate) images: NodeImages,
    #[command(flatten)]
    pub ports: PortArgs,
    /// Have Argo CD read this repository (e.g. your public fork) instead of a Git server in
    /// the cluster seeded from this clone
    #[arg(long, value_name = "URL")]
    pub(crate) repo: Option<String>,
    /// With --repo: the branch, tag or commit to follow
    #[arg(long, value_name = "REV", requires = "repo", default_value = "HEAD")]
    pub revision: String,
    /// Owner of the lab repository on the cluster's Git server (your 42 login)
    #[arg(long, env = "LOGIN", value_name = "NAME")]
    pub(crate) login: Option<String>,
    /// Where downloads are kept between runs (Argo CD's manifest): put install.yaml there by
    /// hand to work offline
    #[arg(long, value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Make the cluster the current kubeconfig context
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub(crate) kubeconfig_switch_context: bool,
    /// Bound on the whole run, each wait included (first runs pull K3s's and Argo CD's images)
    #[arg(long, default_value = "20m", value_parser = humantime::parse_duration)]
    pub(crate) timeout: Duration,
    /// Publish the registry created with the cluster (k3d-<cluster>-registry) on this port of
    /// 127.0.0.1; echo-app:v1 and v2 are pushed to it and the nodes pull them as
    /// localhost:5111/echo-app, the name p3/confs and charts/p3 use
    #[arg(long, value_name = "PORT", default_value_t = p3::REGISTRY_PORT_DEFAULT, help_heading = "Registry")]
    pub(crate) registry_port: u16,
    /// No registry: import the images into the nodes' containerd instead (as `bootstrap image
    /// import` does)
    #[arg(long, conflicts_with = "registry_port", help_heading = "Registry")]
    pub(crate) no_registry: bool,
    /// TESTS ONLY: stand-in nodes without `privileged` (see `cluster create`)
    #[cfg(feature = "test-nodes")]
    #[arg(long, hide = true)]
    pub(crate) unprivileged_test_nodes: bool,
}

/// The images a cluster's containers run.
#[derive(Debug, Clone, Args)]
pub(crate) struct NodeImages {
    /// Node image
    #[arg(short = 'i', long, default_value = K3S_IMAGE)]
    pub image: String,
    /// Load balancer image (k3d's K3D_IMAGE_LOADBALANCER is honoured)
    #[arg(long, env = "K3D_IMAGE_LOADBALANCER", default_value = LB_IMAGE)]
    pub lb_image: String,
}

/// The cluster of part 3.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClusterArg {
    /// Cluster name
    #[arg(short = 'c', long = "cluster", default_value = p3::DEFAULT_CLUSTER)]
    pub name: String,
}

/// Host ports of part 3 (all on 127.0.0.1).
#[derive(Debug, Clone, Args)]
pub(crate) struct PortArgs {
    /// Kubernetes API
    #[arg(long, default_value_t = Ports::default().api)]
    pub(crate) api_port: u16,
    /// The app (the subject's `curl localhost:8888`)
    #[arg(long, default_value_t = Ports::default().app)]
    pub(crate) app_port: u16,
    /// Argo CD's UI (https)
    #[arg(long, default_value_t = Ports::default().argocd)]
    pub(crate) argocd_port: u16,
    /// The Git server (http)
    #[arg(long, default_value_t = Ports::default().git)]
    pub(crate) git_port: u16,
}

impl PortArgs {
    pub(super) fn ports(&self) -> Ports {
        Ports {
            api: self.api_port,
            app: self.app_port,
            argocd: self.argocd_port,
            git: self.git_port,
        }
    }
}

/// A cluster of the user's, for `status` and `down` (as `p3 --context`).
#[derive(Debug, Clone, Args)]
pub(crate) struct ExistingArgs {
    /// A cluster you already have: this kubeconfig context (as given to `p3 --context`)
    #[arg(long, value_name = "NAME")]
    pub(crate) context: Option<String>,
    /// The kubeconfig file of --context (default: $KUBECONFIG, else ~/.kube/config)
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

impl ExistingArgs {
    /// The cluster named, when one is.
    pub(super) fn target(&self) -> Option<Target> {
        (self.context.is_some() || self.kubeconfig.is_some()).then(|| Target::Existing {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        })
    }
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) cluster: ClusterArg,
    #[command(flatten)]
    pub(crate) existing: ExistingArgs,
    /// Where the app is published
    #[arg(long, default_value_t = Ports::default().app)]
    pub(crate) app_port: u16,
    /// Do not ask the app over HTTP (its layer is then not judged)
    #[arg(long)]
    pub(crate) no_probe: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DownArgs {
    #[command(flatten)]
    pub(crate) cluster: ClusterArg,
    #[command(flatten)]
    pub(crate) existing: ExistingArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    pub(crate) shape: ShapeArgs,
}

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// The kubeconfig context (default: the file's current one)
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// A namespace to diagnose, repeatable (default: the context's namespace, else `default`);
    /// nodes and the cluster DNS are always diagnosed
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Vec<String>,
    /// Every namespace
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// text: one block per finding; json: an array of {cause, object, summary, evidence, fix, related}
    #[arg(short = 'o', long, value_enum, default_value_t = DiagnoseOutput::Text)]
    pub output: DiagnoseOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagnoseOutput {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn k3d_style_flags_parse() {
        let cli = Cli::try_parse_from([
            "bootstrap",
            "cluster",
            "create",
            "demo",
            "--agents",
            "2",
            "-p",
            "8888:8888@loadbalancer",
            "--api-port",
            "127.0.0.1:6443",
            "--k3s-arg",
            "--disable=traefik@server:0",
            "--kubeconfig-switch-context=false",
            "--kubeconfig-update-default",
            "false",
        ])
        .unwrap();
        let Command::Cluster(ClusterCommand::Create(a)) = cli.command else {
            panic!()
        };
        assert_eq!(a.name, "demo");
        assert_eq!(a.shape.agents, 2);
        assert_eq!(a.shape.ports, ["8888:8888@loadbalancer"]);
        assert_eq!(a.k3s_args, ["--disable=traefik@server:0"]);
        assert!(!a.kubeconfig_switch_context);
        assert!(!a.kubeconfig_update_default);
        assert_eq!(a.timeout, Duration::from_secs(300));
        #[cfg(feature = "test-nodes")]
        assert!(!a.unprivileged_test_nodes);
    }

    #[test]
    fn defaults_are_k3ds() {
        let cli = Cli::try_parse_from(["bootstrap", "cluster", "create"]).unwrap();
        let Command::Cluster(ClusterCommand::Create(a)) = cli.command else {
            panic!()
        };
        assert_eq!(a.name, "k3s-default");
        assert_eq!(a.shape.servers, 1);
        assert_eq!(a.shape.images.image, "rancher/k3s:v1.35.5-k3s1");
        assert!(a.kubeconfig_update_default && a.kubeconfig_switch_context);
    }

    #[test]
    fn a_cluster_of_ones_own_needs_a_repository_and_takes_no_docker_shape() {
        let err = Cli::try_parse_from(["bootstrap", "p3", "--context", "kind-lab"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert!(err.to_string().contains("--repo"), "{err}");
        let err = Cli::try_parse_from([
            "bootstrap",
            "p3",
            "--context",
            "kind-lab",
            "--repo",
            "https://x/y.git",
            "--agents",
            "2",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        let ok = Cli::try_parse_from([
            "bootstrap",
            "p3",
            "--kubeconfig",
            "/k",
            "--repo",
            "https://x/y.git",
            "--no-probe",
        ])
        .unwrap();
        let Command::P3(a) = ok.command else { panic!() };
        assert_eq!(a.kubeconfig.as_deref(), Some(std::path::Path::new("/k")));
        assert!(a.no_probe && a.context.is_none());
    }
}
