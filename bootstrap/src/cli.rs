//! The command line: clap definitions and the glue from arguments to recipes. `main.rs` only
//! parses, sets up logging and reports errors.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::docker::Engine;
use crate::gitops::{argocd, seed};
use crate::recipes::Shutdown;
use crate::recipes::cluster::{self, CreateRequest, DeleteRequest, Deleted, KubeconfigOutput};
use crate::recipes::doctor::{Wanted, gather};
use crate::recipes::images::{self, ImagesRequest};
use crate::recipes::import;
use crate::recipes::p3::{self, GitSource, Ports, Target};
use crate::recipes::steps::Steps;
use crate::spec::cluster::{
    ClusterOptions, ClusterPlan, K3sArgFlag, NetworkFacts, NodeSecurity, VolumeFlag,
    token_from_random,
};
use crate::spec::doctor;
use crate::spec::fixes::Fixes;
use crate::spec::names::{ClusterName, DEFAULT_CLUSTER_NAME};
use crate::spec::ports::{
    ApiEndpoint, ApiHost, ApiPortSpec, DEFAULT_API_HOST, PortFlag, api_host_for_docker_host,
};
use crate::{Error, K3S_IMAGE, LB_IMAGE, kubeconfig_file};

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
    pub command: Command,

    /// Do not show steps as they run (errors are still printed)
    #[arg(short, long, global = true)]
    pub quiet: bool,

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
pub enum Output {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Build the workload images (echo-app:v1, echo-app:v2, token-server) with no pull
    Images(ImagesArgs),
    /// Check that this machine can run a cluster: Docker, cgroups, memory, ports, images
    Doctor(DoctorArgs),
    /// Read a cluster (read-only) and name each root cause of what does not run, with its
    /// evidence and its fix; exit 0 when nothing is found, 1 when something is, 3 when the
    /// cluster cannot be read
    Diagnose(DiagnoseArgs),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Create a cluster and merge its kubeconfig (k3d's `cluster create`)
    Create(CreateArgs),
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
pub enum ImageCommand {
    /// Stream `docker save IMAGE...` into `ctr image import` in every server and agent
    Import(ImportArgs),
}

/// The cluster shape, shared by `cluster create` and `doctor`.
#[derive(Debug, Clone, Args)]
pub struct ShapeArgs {
    /// Number of servers
    #[arg(short = 's', long, default_value_t = 1)]
    pub servers: usize,
    /// Number of agents
    #[arg(short = 'a', long, default_value_t = 0)]
    pub agents: usize,
    #[command(flatten)]
    pub images: NodeImages,
    /// Where the Kubernetes API is published: [HOST_IP|HOSTNAME:]PORT|random
    /// (default: a random port on 0.0.0.0, as k3d)
    #[arg(long, value_name = "[HOST:]PORT")]
    pub api_port: Option<String>,
    /// Publish a port: [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO][@NODEFILTER[;NODEFILTER]],
    /// e.g. 8888:8888@loadbalancer or 127.0.0.1:8080:80@agent:0
    #[arg(short = 'p', long = "port", value_name = "SPEC")]
    pub ports: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Cluster name (a hostname of at most 32 characters)
    #[arg(default_value = DEFAULT_CLUSTER_NAME)]
    pub name: String,
    #[command(flatten)]
    pub shape: ShapeArgs,
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
    pub timeout: Duration,
    /// Merge the kubeconfig into $KUBECONFIG or ~/.kube/config
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub kubeconfig_update_default: bool,
    /// Make the new cluster the current context when merging
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub kubeconfig_switch_context: bool,
    /// Also write the cluster's kubeconfig alone to FILE (mode 0600)
    #[arg(long, value_name = "FILE")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Print what would be created and exit
    #[arg(long)]
    pub dry_run: bool,
    /// Format of --dry-run
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// Skip the doctor checks before creating anything
    #[arg(long)]
    pub no_preflight: bool,
    /// Leave what was created in place when creation fails (for debugging)
    #[arg(long)]
    pub no_rollback: bool,
    /// TESTS ONLY: run nodes without `privileged` (all capabilities but SYS_RESOURCE), for
    /// stand-in images on hosts where privileged containers cannot start. Real K3s fails so.
    #[cfg(feature = "test-nodes")]
    #[arg(long, hide = true)]
    pub unprivileged_test_nodes: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Clusters to delete
    #[arg(default_value = DEFAULT_CLUSTER_NAME)]
    pub names: Vec<String>,
    /// Delete every cluster (k3d's and bootstrap's)
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// Cluster name
    #[arg(default_value = DEFAULT_CLUSTER_NAME)]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Cluster name
    #[arg(default_value = DEFAULT_CLUSTER_NAME)]
    pub name: String,
    /// Bound on each node's wait for its ready log line
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// Cluster name
    #[arg(default_value = DEFAULT_CLUSTER_NAME)]
    pub name: String,
    /// Write to FILE (mode 0600) instead of printing
    #[arg(long, value_name = "FILE", conflicts_with = "merge")]
    pub output: Option<PathBuf>,
    /// Merge into $KUBECONFIG or ~/.kube/config instead of printing
    #[arg(long)]
    pub merge: bool,
    /// With --merge: make it the current context
    #[arg(long)]
    pub switch_context: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Images present in the local Docker engine
    #[arg(required = true)]
    pub images: Vec<String>,
    /// The cluster to import into
    #[arg(short = 'c', long, default_value = DEFAULT_CLUSTER_NAME)]
    pub cluster: String,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Workloads to build (default: all of this workspace): echo-app, token-server
    pub workloads: Vec<String>,
    /// Also write each image as a docker-archive tarball (<image>-<tag>.tar) into DIR
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// Prefix for the image names, e.g. ghcr.io/me (gives ghcr.io/me/echo-app:v1)
    #[arg(long, value_name = "PREFIX")]
    pub repo_prefix: Option<String>,
}

#[derive(Debug, Args)]
pub struct P3Args {
    #[command(flatten)]
    pub cluster: ClusterArg,
    /// Run in a cluster you already have (a real K3s, kind, EKS...): this kubeconfig context.
    /// No cluster is created and no image imported; needs --repo
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Your own cluster",
        requires = "repo",
        conflicts_with_all = ["agents", "kubeconfig_switch_context"]
    )]
    pub context: Option<String>,
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
    pub no_probe: bool,
    /// Number of agents besides the server
    #[arg(short = 'a', long, default_value_t = 0)]
    pub agents: usize,
    #[command(flatten)]
    pub images: NodeImages,
    #[command(flatten)]
    pub ports: PortArgs,
    /// Have Argo CD read this repository (e.g. your public fork) instead of a Git server in
    /// the cluster seeded from this clone
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,
    /// With --repo: the branch, tag or commit to follow
    #[arg(long, value_name = "REV", requires = "repo", default_value = "HEAD")]
    pub revision: String,
    /// Owner of the lab repository on the cluster's Git server (your 42 login)
    #[arg(long, env = "LOGIN", value_name = "NAME")]
    pub login: Option<String>,
    /// Where downloads are kept between runs (Argo CD's manifest): put install.yaml there by
    /// hand to work offline
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Make the cluster the current kubeconfig context
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub kubeconfig_switch_context: bool,
    /// Bound on the whole run, each wait included (first runs pull K3s's and Argo CD's images)
    #[arg(long, default_value = "20m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// TESTS ONLY: stand-in nodes without `privileged` (see `cluster create`)
    #[cfg(feature = "test-nodes")]
    #[arg(long, hide = true)]
    pub unprivileged_test_nodes: bool,
}

/// The images a cluster's containers run.
#[derive(Debug, Clone, Args)]
pub struct NodeImages {
    /// Node image
    #[arg(short = 'i', long, default_value = K3S_IMAGE)]
    pub image: String,
    /// Load balancer image (k3d's K3D_IMAGE_LOADBALANCER is honoured)
    #[arg(long, env = "K3D_IMAGE_LOADBALANCER", default_value = LB_IMAGE)]
    pub lb_image: String,
}

/// The cluster of part 3.
#[derive(Debug, Clone, Args)]
pub struct ClusterArg {
    /// Cluster name
    #[arg(short = 'c', long = "cluster", default_value = p3::DEFAULT_CLUSTER)]
    pub name: String,
}

/// Host ports of part 3 (all on 127.0.0.1).
#[derive(Debug, Clone, Args)]
pub struct PortArgs {
    /// Kubernetes API
    #[arg(long, default_value_t = Ports::default().api)]
    pub api_port: u16,
    /// The app (the subject's `curl localhost:8888`)
    #[arg(long, default_value_t = Ports::default().app)]
    pub app_port: u16,
    /// Argo CD's UI (https)
    #[arg(long, default_value_t = Ports::default().argocd)]
    pub argocd_port: u16,
    /// The Git server (http)
    #[arg(long, default_value_t = Ports::default().git)]
    pub git_port: u16,
}

impl PortArgs {
    fn ports(&self) -> Ports {
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
pub struct ExistingArgs {
    /// A cluster you already have: this kubeconfig context (as given to `p3 --context`)
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig file of --context (default: $KUBECONFIG, else ~/.kube/config)
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

impl ExistingArgs {
    /// The cluster named, when one is.
    fn target(&self) -> Option<Target> {
        (self.context.is_some() || self.kubeconfig.is_some()).then(|| Target::Existing {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        })
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub cluster: ClusterArg,
    #[command(flatten)]
    pub existing: ExistingArgs,
    /// Where the app is published
    #[arg(long, default_value_t = Ports::default().app)]
    pub app_port: u16,
    /// Do not ask the app over HTTP (its layer is then not judged)
    #[arg(long)]
    pub no_probe: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub cluster: ClusterArg,
    #[command(flatten)]
    pub existing: ExistingArgs,
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
    #[arg(short = 'o', long, value_enum, default_value_t = crate::diagnose::Format::Text)]
    pub output: crate::diagnose::Format,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub shape: ShapeArgs,
}

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> Result<u8, Error> {
    let steps = Steps::for_stderr(cli.quiet);
    match cli.command {
        Command::Cluster(c) => run_cluster(c, &steps).await,
        Command::Image(ImageCommand::Import(a)) => {
            let engine = Engine::connect().await?;
            let name = ClusterName::parse(&a.cluster)?;
            let report = import::import(&engine, &name, &a.images, &steps).await?;
            let mib = report.bytes as f64 / (1024.0 * 1024.0);
            println!(
                "imported {} into {} ({mib:.1} MiB to each of {} node(s) in {:.1}s)",
                a.images.join(" "),
                report.nodes.join(", "),
                report.nodes.len(),
                report.elapsed.as_secs_f64()
            );
            Ok(0)
        }
        Command::Images(a) => {
            let engine = Engine::connect().await?;
            let req = ImagesRequest {
                workloads: a.workloads,
                save_dir: a.save,
                repo_prefix: a.repo_prefix,
                workspace_dir: None,
            };
            for img in images::build(&engine, &req, &steps).await? {
                let saved = img
                    .saved
                    .map(|p| format!(", saved to {}", p.display()))
                    .unwrap_or_default();
                println!(
                    "{} ({:.1} MiB{saved})",
                    img.reference,
                    img.size as f64 / (1024.0 * 1024.0)
                );
            }
            Ok(0)
        }
        Command::P3(a) => p3_up(a, &steps).await,
        Command::Status(a) => {
            let name = ClusterName::parse(&a.cluster.name)?;
            let app_url = (!a.no_probe).then(|| format!("http://localhost:{}/", a.app_port));
            let status = match a.existing.target() {
                Some(Target::Existing {
                    kubeconfig,
                    context,
                }) => {
                    p3::status_existing(kubeconfig.as_deref(), context.as_deref(), app_url).await?
                }
                _ => {
                    let engine = Engine::connect().await?;
                    p3::status(&engine, &name, app_url).await?
                }
            };
            print!("{}", status.render());
            Ok(u8::from(!status.all_fine()))
        }
        Command::Down(DownArgs {
            existing:
                ExistingArgs {
                    context,
                    kubeconfig,
                },
            ..
        }) if context.is_some() || kubeconfig.is_some() => {
            let removed =
                p3::down_existing(kubeconfig.as_deref(), context.as_deref(), &steps).await?;
            println!("{}", removed.render());
            Ok(0)
        }
        Command::Down(a) => {
            let engine = Engine::connect().await?;
            let req = delete_request(ClusterName::parse(&a.cluster.name)?);
            let deleted = p3::down(&engine, &req, &workspace_dir(), &config_dir()?, &steps).await?;
            match deleted {
                Deleted::NotFound => println!(
                    "no cluster named {}; removed the lab remote's settings if any",
                    req.name
                ),
                Deleted::Removed { .. } => println!(
                    "part 3 is gone: cluster {} deleted, with the lab remote and its credentials if bootstrap had set them",
                    req.name
                ),
            }
            Ok(0)
        }
        Command::Diagnose(a) => {
            crate::diagnose::run(crate::diagnose::Request {
                kubeconfig: a.kubeconfig,
                context: a.context,
                namespaces: a.namespace,
                all_namespaces: a.all_namespaces,
                format: a.output,
            })
            .await
        }
        Command::Doctor(a) => {
            let engine = Engine::connect().await;
            let plan = a.shape.plan_for_checks()?;
            let facts = gather(engine.as_ref(), &Wanted::for_plan(&plan)).await;
            let findings = doctor::evaluate(&facts);
            print!("{}", doctor::render(&findings));
            Ok(u8::from(doctor::failures(&findings) > 0))
        }
    }
}

async fn p3_up(a: P3Args, steps: &Steps) -> Result<u8, Error> {
    let target = ExistingArgs {
        context: a.context.clone(),
        kubeconfig: a.kubeconfig.clone(),
    }
    .target()
    .unwrap_or(Target::Docker);
    // A cluster of the user's needs no Docker engine at all.
    let engine = match target {
        Target::Docker => Some(Engine::connect().await?),
        Target::Existing { .. } => None,
    };
    let name = ClusterName::parse(&a.cluster.name)?;
    let source = match a.repo {
        Some(url) => GitSource::Remote {
            url,
            revision: a.revision,
        },
        None => GitSource::Embedded {
            owner: seed::owner_from(a.login.or_else(|| std::env::var("USER").ok()).as_deref()),
        },
    };
    let req = p3::Request {
        target,
        probe: !a.no_probe,
        agents: a.agents,
        node_image: a.images.image,
        lb_image: a.images.lb_image,
        ports: a.ports.ports(),
        source,
        workspace: workspace_dir(),
        cache_dir: match a.cache_dir {
            Some(dir) => dir,
            None => user_dir("XDG_CACHE_HOME", ".cache")?,
        },
        config_dir: config_dir()?,
        kubeconfig: kubeconfig_file::default_path_from_env()?,
        switch_context: a.kubeconfig_switch_context,
        token: new_token()?,
        fixes: match &engine {
            Some(engine) => fixes_for(engine).await?,
            None => Fixes {
                cgroupv2: false,
                dns: false,
                mounts: false,
            },
        },
        security: node_security(
            #[cfg(feature = "test-nodes")]
            a.unprivileged_test_nodes,
        ),
        waits: p3::Waits {
            argocd: argocd::Waits {
                workloads_ready: a.timeout,
                ..argocd::Waits::default()
            },
            ..p3::Waits::default()
        },
        name,
    };
    let shutdown = Shutdown::install();
    // Every step races the signal and the run's deadline; the cluster's creation, shielded,
    // rolls back first.
    let result = tokio::select! {
        r = p3::up(engine.as_ref(), &req, steps, &shutdown) => r,
        signal = shutdown.cancel_now() => Err(Error::Interrupted(signal)),
        () = async {
            tokio::time::sleep(a.timeout).await;
            shutdown.unshielded().await;
        } => Err(Error::Command {
            command: "bootstrap p3".to_owned(),
            reason: format!(
                "did not finish within --timeout {} (the step cut short is marked above)",
                humantime::format_duration(a.timeout)
            ),
        }),
    };
    steps.print_summary();
    match result {
        Ok(summary) => {
            print!("\n{}", summary.render());
            Ok(0)
        }
        Err(e) => Err(match e {
            // The cluster's own rollback already said what it removed.
            e @ (Error::RolledBack { .. } | Error::RollbackFailed { .. } | Error::Preflight(_)) => {
                e
            }
            e => Error::Resumable(Box::new(e)),
        }),
    }
}

/// The Git clone around the current directory (its top), or the directory itself.
fn workspace_dir() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    git2::Repository::discover(&cwd)
        .ok()
        .and_then(|r| r.workdir().map(PathBuf::from))
        .unwrap_or(cwd)
}

/// `$XDG_CONFIG_HOME/iot-rs`, else `~/.config/iot-rs`.
fn config_dir() -> Result<PathBuf, Error> {
    user_dir("XDG_CONFIG_HOME", ".config")
}

fn user_dir(xdg: &str, fallback: &str) -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os(xdg).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("iot-rs"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::Command {
            command: format!("find ${xdg}"),
            reason: format!("neither ${xdg} nor $HOME is set; set one of them"),
        })?;
    Ok(PathBuf::from(home).join(fallback).join("iot-rs"))
}

fn delete_request(name: ClusterName) -> DeleteRequest {
    DeleteRequest {
        standalone_kubeconfig: kubeconfig_file::standalone_path(
            std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
            std::env::var_os("HOME").map(PathBuf::from),
            &name,
        ),
        kubeconfig: kubeconfig_file::default_path_from_env().ok(),
        name,
    }
}

/// The entrypoint fixes the Docker host needs (k3d's automatic choice, env overrides).
async fn fixes_for(engine: &Engine) -> Result<Fixes, Error> {
    let facts = engine.facts().await?;
    Ok(Fixes::decide(
        |k| std::env::var(k).ok(),
        facts.cgroup_version.as_deref(),
        &facts.name,
    ))
}

async fn run_cluster(command: ClusterCommand, steps: &Steps) -> Result<u8, Error> {
    match command {
        ClusterCommand::Create(a) => create(a, steps).await,
        ClusterCommand::Delete(a) => {
            let engine = Engine::connect().await?;
            let names: Vec<String> = if a.all {
                cluster::list(&engine)
                    .await?
                    .into_iter()
                    .map(|c| c.name)
                    .collect()
            } else {
                a.names
            };
            for name in names {
                let req = delete_request(ClusterName::parse(&name)?);
                match cluster::delete(&engine, &req, steps).await? {
                    Deleted::NotFound => {
                        println!("no cluster named {}; nothing to delete", req.name)
                    }
                    Deleted::Removed {
                        containers,
                        network,
                        volumes,
                        kubeconfig,
                    } => println!(
                        "deleted cluster {}: {containers} container(s), {}, {volumes} volume(s){}",
                        req.name,
                        network
                            .map(|n| format!("network {n}"))
                            .unwrap_or_else(|| "no network (external, kept)".to_owned()),
                        if kubeconfig {
                            ", kubeconfig entries"
                        } else {
                            ""
                        }
                    ),
                }
            }
            Ok(0)
        }
        ClusterCommand::List(a) => {
            let engine = Engine::connect().await?;
            let clusters = cluster::list(&engine).await?;
            match a.output {
                Output::Human => print!("{}", cluster::render_list(&clusters)),
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&clusters).unwrap_or_default()
                ),
            }
            Ok(0)
        }
        ClusterCommand::Start(a) => {
            let engine = Engine::connect().await?;
            let name = ClusterName::parse(&a.name)?;
            cluster::start(&engine, &name, a.timeout, steps).await?;
            println!("cluster {name} is running");
            Ok(0)
        }
        ClusterCommand::Stop(a) => {
            let engine = Engine::connect().await?;
            let name = ClusterName::parse(&a.name)?;
            cluster::stop(&engine, &name, steps).await?;
            println!("cluster {name} is stopped");
            Ok(0)
        }
        ClusterCommand::Kubeconfig(a) => {
            let engine = Engine::connect().await?;
            let name = ClusterName::parse(&a.name)?;
            let kc = cluster::kubeconfig(&engine, &name, Duration::from_secs(30)).await?;
            if a.merge {
                let path = kubeconfig_file::default_path_from_env()?;
                kubeconfig_file::merge_into(&path, &kc, a.switch_context)?;
                println!(
                    "merged context {} into {}",
                    name.kube_context(),
                    path.display()
                );
            } else if let Some(path) = a.output {
                kubeconfig_file::write_atomic(&path, &kc)?;
                println!("wrote {}", path.display());
            } else {
                let text = kc.to_yaml()?;
                std::io::stdout()
                    .write_all(text.as_bytes())
                    .map_err(Error::io("write to stdout"))?;
            }
            Ok(0)
        }
    }
}

async fn create(a: CreateArgs, steps: &Steps) -> Result<u8, Error> {
    if a.dry_run {
        return dry_run(&a).await;
    }
    let engine = Engine::connect().await?;
    let plan = plan_from(&a, Some(&engine)).await?;
    let merge_into = if a.kubeconfig_update_default {
        Some((
            kubeconfig_file::default_path_from_env()?,
            a.kubeconfig_switch_context,
        ))
    } else {
        None
    };
    let req = CreateRequest {
        plan,
        wait_timeout: a.timeout,
        kubeconfig: KubeconfigOutput {
            merge_into: merge_into.clone(),
            write_to: a.kubeconfig_out.clone(),
        },
        preflight: !a.no_preflight,
        workloads_memory_mib: 0,
        rollback: !a.no_rollback,
    };
    let shutdown = Shutdown::install();
    let created = tokio::select! {
        r = cluster::create(&engine, req, steps, &shutdown) => r,
        signal = shutdown.cancel_now() => Err(Error::Interrupted(signal)),
    };
    if !matches!(created, Err(Error::Preflight(_))) {
        steps.print_summary();
    }
    let created = created?;
    println!(
        "cluster {} is up: {} node(s), API {}",
        created.name,
        created.nodes.len(),
        created.api.server_url()
    );
    if let Some((path, switched)) = merge_into {
        println!(
            "kubeconfig: context {} in {}{}",
            created.name.kube_context(),
            path.display(),
            if switched { " (now current)" } else { "" }
        );
    }
    if let Some(path) = a.kubeconfig_out {
        println!("kubeconfig: {}", path.display());
    }
    Ok(0)
}

/// The plan of `cluster create`: the entrypoint fixes follow the Docker host when it answers
/// (a dry run works without one, assuming cgroup v1).
async fn plan_from(a: &CreateArgs, engine: Option<&Engine>) -> Result<ClusterPlan, Error> {
    let facts = match engine {
        Some(e) => Some(e.facts().await?),
        None => None,
    };
    let fixes = Fixes::decide(
        |k| std::env::var(k).ok(),
        facts.as_ref().and_then(|f| f.cgroup_version.as_deref()),
        facts.as_ref().map(|f| f.name.as_str()).unwrap_or_default(),
    );
    let token = match a.token.clone() {
        Some(t) if !t.is_empty() => t,
        _ => new_token()?,
    };
    let options = a.shape.options(
        &a.name,
        token,
        fixes,
        node_security(
            #[cfg(feature = "test-nodes")]
            a.unprivileged_test_nodes,
        ),
        &a.k3s_args,
        &a.volumes,
    )?;
    Ok(ClusterPlan::new(options)?)
}

async fn dry_run(a: &CreateArgs) -> Result<u8, Error> {
    let engine = Engine::connect().await.ok();
    let plan = plan_from(a, engine.as_ref()).await?;
    let existing = match &engine {
        Some(e) => e.network(&plan.network.name).await?.is_some(),
        None => false,
    };
    let net = NetworkFacts::unknown(existing);
    match a.output {
        Output::Human => {
            if engine.is_none() {
                println!("(Docker is not reachable: the cgroup v2 fix is assumed off)");
            }
            print!("{}", plan.render_human(&net));
        }
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&plan.render_json(&net)).unwrap_or_default()
        ),
    }
    Ok(0)
}

/// Privileged nodes, as K3s needs, unless a test build asks for stand-in nodes without it.
fn node_security(#[cfg(feature = "test-nodes")] unprivileged_test_nodes: bool) -> NodeSecurity {
    #[cfg(feature = "test-nodes")]
    if unprivileged_test_nodes {
        return NodeSecurity::TestWithoutPrivileged;
    }
    NodeSecurity::Privileged
}

fn new_token() -> Result<String, Error> {
    let mut random = [0u8; 64];
    getrandom::fill(&mut random).map_err(|e| Error::Command {
        command: "generate a cluster token".to_owned(),
        reason: format!("the OS gave no randomness ({e}); pass --token"),
    })?;
    token_from_random(&random).ok_or_else(|| Error::Command {
        command: "generate a cluster token".to_owned(),
        reason: "too few usable random bytes; pass --token".to_owned(),
    })
}

impl ShapeArgs {
    /// Options for a real cluster.
    fn options(
        &self,
        name: &str,
        token: String,
        fixes: Fixes,
        security: NodeSecurity,
        k3s_args: &[String],
        volumes: &[String],
    ) -> Result<ClusterOptions, Error> {
        let name = ClusterName::parse(name)?;
        let api = resolve_api(
            self.api_port.as_deref(),
            std::env::var("DOCKER_HOST").ok().as_deref(),
        )?;
        Ok(ClusterOptions {
            extra_labels: std::collections::BTreeMap::new(),
            name,
            servers: self.servers,
            agents: self.agents,
            image: self.images.image.clone(),
            lb_image: self.images.lb_image.clone(),
            api,
            ports: self
                .ports
                .iter()
                .map(|p| PortFlag::parse(p))
                .collect::<Result<_, _>>()?,
            volumes: volumes
                .iter()
                .map(|v| VolumeFlag::parse(v))
                .collect::<Result<_, _>>()?,
            k3s_args: k3s_args
                .iter()
                .map(|a| K3sArgFlag::parse(a))
                .collect::<Result<_, _>>()?,
            token,
            fixes,
            security,
        })
    }

    /// A plan of this shape for `doctor`, which only looks at its ports and images.
    fn plan_for_checks(&self) -> Result<ClusterPlan, Error> {
        let none = Fixes {
            cgroupv2: false,
            dns: false,
            mounts: false,
        };
        let options = self.options(
            DEFAULT_CLUSTER_NAME,
            "x".repeat(20),
            none,
            NodeSecurity::Privileged,
            &[],
            &[],
        )?;
        Ok(ClusterPlan::new(options)?)
    }
}

/// `--api-port` → where the API is published: k3d's defaults (0.0.0.0, a free port), a
/// hostname resolved to its IPv4 address, and the Docker host's name when Docker is remote.
fn resolve_api(spec: Option<&str>, docker_host: Option<&str>) -> Result<ApiEndpoint, Error> {
    let parsed = match spec {
        Some(s) => ApiPortSpec::parse(s)?,
        None => ApiPortSpec {
            host: None,
            port: None,
        },
    };
    let (host, host_ip) = match &parsed.host {
        None => (DEFAULT_API_HOST.to_owned(), Ipv4Addr::UNSPECIFIED),
        Some(ApiHost::Ip(ip)) => (ip.to_string(), *ip),
        Some(ApiHost::Name(name)) => {
            let ip = std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), 0))
                .ok()
                .and_then(|mut addrs| {
                    addrs.find_map(|a| match a.ip() {
                        IpAddr::V4(v4) => Some(v4),
                        IpAddr::V6(_) => None,
                    })
                })
                .ok_or_else(|| crate::spec::SpecError::InvalidApiPort {
                    spec: spec.unwrap_or_default().to_owned(),
                    reason: format!("the host {name} has no IPv4 address"),
                })?;
            (name.clone(), ip)
        }
    };
    let port = match parsed.port {
        Some(p) => p,
        None => TcpListener::bind((host_ip, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(Error::io(format!(
                "find a free port on {host_ip} for the API"
            )))?,
    };
    Ok(ApiEndpoint {
        host: api_host_for_docker_host(&host, docker_host),
        host_ip: host_ip.to_string(),
        port,
    })
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

    #[test]
    fn api_resolution() {
        let api = resolve_api(Some("6443"), None).unwrap();
        assert_eq!(
            api,
            ApiEndpoint {
                host: "0.0.0.0".into(),
                host_ip: "0.0.0.0".into(),
                port: 6443
            }
        );
        let api = resolve_api(Some("localhost:6550"), None).unwrap();
        assert_eq!(
            api,
            ApiEndpoint {
                host: "localhost".into(),
                host_ip: "127.0.0.1".into(),
                port: 6550
            }
        );
        let api = resolve_api(Some("127.0.0.1:random"), None).unwrap();
        assert_eq!(api.host_ip, "127.0.0.1");
        assert_ne!(api.port, 0);
        let api = resolve_api(None, Some("tcp://docker.example:2376")).unwrap();
        assert_eq!(api.host, "docker.example");
        assert_eq!(api.host_ip, "0.0.0.0");
    }
}
