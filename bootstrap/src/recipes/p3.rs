//! `bootstrap p3`, `bootstrap status`, `bootstrap down`: part 3 of the lab in one command.
//!
//! images → cluster → import → Argo CD → Git server → Application → wait for v1 → summary.
//! Every step is idempotent, so a run that failed or was interrupted is resumed by running the
//! command again: an existing cluster is reused (started if stopped), Argo CD and the Git server
//! are confirmed rather than reinstalled, the push is a no-op when nothing changed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::Client;
use lab_gitops::edit::find_targets;
use lab_gitops::git::GitRepo;
use lab_gitops::image::ImageMatcher;
use lab_gitops::probe::{probe_until, probe_until_exactly};
use lab_gitops::rollout::{self, Expectation};

use crate::docker::Engine;
use crate::error::Error;
use crate::gitops::{application, argocd, gitserver, seed};
use crate::k8s;
use crate::k8s::{existing, explain};
use crate::kubeconfig_file;
use crate::recipes::Shutdown;
use crate::recipes::cluster::{self, CreateRequest, DeleteRequest, Deleted, KubeconfigOutput};
use crate::recipes::images::{self, ImagesRequest};
use crate::recipes::import;
use crate::recipes::steps::Steps;
use crate::spec::cluster::{
    ClusterOptions, ClusterPlan, K3sArgFlag, LABEL_APP, LABEL_CLUSTER, LABEL_ROLE, NodeSecurity,
};
use crate::spec::existing_cluster;
use crate::spec::fixes::Fixes;
use crate::spec::kubeconfig::Kubeconfig;
use crate::spec::names::ClusterName;
use crate::spec::ports::{ApiEndpoint, PortFlag};

/// The cluster part 3 runs in, unless told otherwise.
pub const DEFAULT_CLUSTER: &str = "iot";
/// The workload Argo CD deploys, and the images of it that are side-loaded.
pub const APP_IMAGE: &str = "echo-app";
pub const APP_TAGS: [&str; 2] = ["v1", "v2"];
/// How often waits look at the cluster again.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Memory part 3 adds to a cluster, in MiB. Argo CD's install.yaml sets no requests, so this
/// is measured: on the test control plane, after syncing the app, the application-controller,
/// repo-server, server and Redis took 395 MiB RSS together (`ps -o rss` on their pids); the
/// three workloads that do not run there (Dex, ApplicationSet, notifications) and a first
/// sync's peaks make up the rest, with the app's own request (8 MiB).
pub const ARGOCD_MEMORY_MIB: u64 = 768;
/// The embedded Git server's request (its manifest, `gitops::gitserver`).
pub const GIT_SERVER_MEMORY_MIB: u64 = 128;

/// The memory part 3's workloads take besides Kubernetes itself, for the preflights.
pub fn memory_needed_mib(source: &GitSource) -> u64 {
    match source {
        GitSource::Embedded { .. } => ARGOCD_MEMORY_MIB + GIT_SERVER_MEMORY_MIB,
        GitSource::Remote { .. } => ARGOCD_MEMORY_MIB,
    }
}

/// Host ports, all published on 127.0.0.1 only: the lab is for this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub api: u16,
    pub app: u16,
    pub argocd: u16,
    pub git: u16,
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
pub enum Target {
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
pub enum GitSource {
    /// A Git server in the cluster, seeded from the local clone (no account anywhere).
    Embedded { owner: String },
    /// A repository of the user's (a public fork, as the subject does it).
    Remote { url: String, revision: String },
}

#[derive(Debug, Clone)]
pub struct Request {
    pub target: Target,
    /// Whether the end waits for the app to answer over HTTP (a cluster whose containers do
    /// not run, like the test control plane's, cannot).
    pub probe: bool,
    pub name: ClusterName,
    pub agents: usize,
    pub node_image: String,
    pub lb_image: String,
    pub ports: Ports,
    pub source: GitSource,
    /// The clone bootstrap runs from: images are built from it, the Git server seeded from it.
    pub workspace: PathBuf,
    /// Downloads kept between runs (Argo CD's manifest).
    pub cache_dir: PathBuf,
    /// Where the lab remote's credentials file goes (mode 0600).
    pub config_dir: PathBuf,
    /// The kubeconfig to merge the cluster into, and whether to switch to it.
    pub kubeconfig: PathBuf,
    pub switch_context: bool,
    pub token: String,
    pub fixes: Fixes,
    pub security: NodeSecurity,
    pub waits: Waits,
}

/// How long each wait may take.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    pub node: Duration,
    pub argocd: argocd::Waits,
    pub git_server: Duration,
    pub rollout: Duration,
    pub probe: Duration,
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
pub fn cluster_options(req: &Request) -> Result<ClusterOptions, Error> {
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
    })
}

/// The prefix of the labels in which p3 records the parameters its cluster was made with.
pub const PARAMETER_LABEL_PREFIX: &str = "io.iot-rs.p3.";

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
pub fn recorded_parameters(req: &Request) -> std::collections::BTreeMap<String, String> {
    parameters(req)
        .into_iter()
        .map(|(flag, value)| (format!("{PARAMETER_LABEL_PREFIX}{flag}"), value))
        .collect()
}

/// Whether an existing cluster, known by its server's labels, may be resumed by `req`: Err
/// with one sentence naming each difference and the ways out.
pub fn check_resumable(
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
pub fn credentials_file(config_dir: &Path, cluster: &ClusterName) -> PathBuf {
    config_dir.join(cluster.as_str()).join("git-credentials")
}

/// What `bootstrap p3` prints at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub cluster: String,
    pub context: String,
    /// The kubeconfig file (or `$KUBECONFIG` list) holding the context.
    pub kubeconfig: String,
    pub app_url: String,
    pub served: String,
    pub argocd_url: String,
    pub admin_password: Option<String>,
    pub source_url: String,
    pub revision: String,
    /// The `lab` remote, for the embedded Git server: (remote, host URL, branch).
    pub lab: Option<(String, String, String)>,
    pub notes: Vec<String>,
}

impl Summary {
    /// The next command to run.
    pub fn next_command(&self) -> String {
        let probe = format!("--probe {}", self.app_url);
        match &self.lab {
            Some((remote, _, _)) => format!("gitops-bumper v2 --remote {remote} --wait {probe}"),
            None => format!(
                "gitops-bumper v2 --wait {probe}   (in your clone of {})",
                self.source_url
            ),
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: &str| out.push_str(&format!("  {k:<14}{v}\n"));
        line("app", &format!("{} → {}", self.app_url, self.served));
        line(
            "Argo CD",
            &format!("{} (its own self-signed TLS; user admin)", self.argocd_url),
        );
        match &self.admin_password {
            Some(p) => line("password", p),
            None => line(
                "password",
                "(argocd-initial-admin-secret was deleted; use yours)",
            ),
        }
        line(
            "Application",
            &format!(
                "argocd/{} ← {} @ {}",
                application::NAME,
                self.source_url,
                self.revision
            ),
        );
        if let Some((remote, url, branch)) = &self.lab {
            line(
                "Git server",
                &format!("{url} (remote {remote}, branch {branch})"),
            );
        }
        line(
            "kubeconfig",
            &format!("context {} in {}", self.context, self.kubeconfig),
        );
        let mut text = format!("part 3 is up on cluster {}:\n{out}", self.cluster);
        for note in &self.notes {
            text.push_str(&format!("  note: {note}\n"));
        }
        text.push_str(&format!(
            "\nnext: {}\n      (then `bootstrap status`; `bootstrap down` removes it all)\n",
            self.next_command()
        ));
        text
    }
}

/// The tag of `echo-app` the committed `p3/confs` deploys at `commit`: what the app must
/// answer once Argo CD has synced it.
pub fn committed_tag(workspace: &Path, branch: &str, commit: git2::Oid) -> Option<String> {
    let repo = GitRepo::discover(workspace).ok()?;
    let matcher = ImageMatcher::parse(APP_IMAGE).ok()?;
    let files = repo
        .read_sources(commit, &[application::PATH.to_owned()], false, branch)
        .ok()?;
    files.iter().find_map(|file| {
        find_targets(&file.text, &matcher)
            .ok()?
            .into_iter()
            .find_map(|t| t.old_tag)
    })
}

/// The playground's answer for a tag, byte for byte.
pub fn playground_answer(tag: &str) -> String {
    format!("{{\"status\":\"ok\", \"message\": \"{tag}\"}}")
}

fn kube_error(what: &str) -> impl FnOnce(String) -> Error + '_ {
    move |reason| Error::Command {
        command: what.to_owned(),
        reason,
    }
}

/// Runs part 3 to the end, or resumes it.
#[tracing::instrument(skip_all, fields(cluster = %req.name))]
pub async fn up(
    engine: Option<&Engine>,
    req: &Request,
    steps: &Steps,
    shutdown: &Shutdown,
) -> Result<Summary, Error> {
    let mut notes = Vec::new();
    let (client, place) = match &req.target {
        Target::Docker => {
            let engine = engine.ok_or_else(|| Error::Command {
                command: "bootstrap p3".to_owned(),
                reason: "a cluster in Docker needs the Docker engine".to_owned(),
            })?;
            docker_cluster(engine, req, steps, shutdown).await?
        }
        Target::Existing {
            kubeconfig,
            context,
        } => existing_cluster(kubeconfig.as_deref(), context.as_deref(), req, steps).await?,
    };
    let installed = install_argocd(&client, req, steps).await?;

    let (source_url, revision, expected_commit, lab) = match &req.source {
        GitSource::Remote { url, revision } => (url.clone(), revision.clone(), None, None),
        GitSource::Embedded { owner } => {
            let seeded = git_server(&client, req, owner, steps).await?;
            let repo = seed::repo_name(owner);
            notes.extend(seeded.note.clone());
            (
                gitserver::cluster_url(owner, &repo),
                seeded.branch.clone(),
                Some(seeded.commit),
                Some((
                    seed::REMOTE.to_owned(),
                    gitserver::host_url(req.ports.git, owner, &repo),
                    seeded.branch.clone(),
                )),
            )
        }
    };
    let source = application::Source {
        repo_url: source_url.clone(),
        revision: revision.clone(),
    };
    steps
        .run(format!("Application {}", application::NAME), async {
            apply_application(&client, &source).await
        })
        .await?;

    let tag = expected_commit.and_then(|c| committed_tag(&req.workspace, &revision, c));
    let expect = Expectation {
        revision: expected_commit.map(|c| c.to_string()),
        image_tag: tag.clone(),
        image: tag
            .as_ref()
            .and_then(|_| ImageMatcher::parse(APP_IMAGE).ok()),
    };
    steps
        .run("Argo CD: Synced and Healthy", async {
            let app = application::app_ref();
            rollout::request_hard_refresh(client.clone(), &app).await?;
            match rollout::wait_for_rollout(
                client.clone(),
                &app,
                &expect,
                req.waits.rollout,
                // The rollout's progress, as it happens.
                |milestone| steps.note(&format!("    {milestone}")),
            )
            .await
            {
                Ok(report) => Ok(report),
                Err(e) => Err(Error::Command {
                    command: format!("wait for Application {app}"),
                    reason: explain::with_stuck_pods(
                        e.to_string(),
                        &client,
                        application::DESTINATION_NAMESPACE,
                    )
                    .await,
                }),
            }
        })
        .await?;
    let app_url = format!("http://localhost:{}/", req.ports.app);
    let served = if req.probe {
        steps
            .run(format!("{app_url} answers"), async {
                // The committed tag known: exactly the playground's answer for it. Otherwise
                // (a repository of the user's) any answer of the app's.
                let report = match tag.as_deref() {
                    Some(tag) => {
                        probe_until_exactly(&app_url, &playground_answer(tag), req.waits.probe)
                            .await?
                    }
                    None => probe_until(&app_url, "\"status\":\"ok\"", req.waits.probe).await?,
                };
                Ok::<_, Error>(report.body)
            })
            .await?
    } else {
        steps.note(&format!("  {app_url} not probed (--no-probe)"));
        "not probed (--no-probe)".to_owned()
    };
    Ok(Summary {
        cluster: place.cluster,
        context: place.context,
        kubeconfig: place.kubeconfig,
        app_url,
        served: served.trim_end().to_owned(),
        argocd_url: format!("https://localhost:{}", req.ports.argocd),
        admin_password: installed.admin_password,
        source_url,
        revision,
        lab,
        notes,
    })
}

/// Where part 3 runs, for the summary.
struct Place {
    cluster: String,
    context: String,
    kubeconfig: String,
}

/// The Docker half: the images, the cluster (created or resumed), the images imported into
/// it, and a client of its API.
async fn docker_cluster(
    engine: &Engine,
    req: &Request,
    steps: &Steps,
    shutdown: &Shutdown,
) -> Result<(Client, Place), Error> {
    images::build(
        engine,
        &ImagesRequest {
            workloads: vec![APP_IMAGE.to_owned()],
            workspace_dir: Some(req.workspace.clone()),
            ..ImagesRequest::default()
        },
        steps,
    )
    .await?;

    let kubeconfig = bring_up_cluster(engine, req, steps, shutdown).await?;
    let images: Vec<String> = APP_TAGS
        .iter()
        .map(|t| format!("{APP_IMAGE}:{t}"))
        .collect();
    import::import(engine, &req.name, &images, steps).await?;

    let client = steps
        .run("connect to the Kubernetes API", async {
            let client = k8s::client(&kubeconfig)
                .await
                .map_err(kube_error("connect to the cluster's API"))?;
            client
                .apiserver_version()
                .await
                .map_err(|e| Error::Command {
                    command: "reach the cluster's API".to_owned(),
                    reason: e.to_string(),
                })?;
            Ok::<_, Error>(client)
        })
        .await?;
    Ok((
        client,
        Place {
            cluster: req.name.to_string(),
            context: req.name.kube_context(),
            kubeconfig: req.kubeconfig.display().to_string(),
        },
    ))
}

/// A cluster the user brought: connect, then check that it can take part 3 before anything
/// is applied.
async fn existing_cluster(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    req: &Request,
    steps: &Steps,
) -> Result<(Client, Place), Error> {
    if let GitSource::Embedded { .. } = req.source {
        return Err(Error::Command {
            command: "bootstrap p3 --context".to_owned(),
            reason: "a cluster of your own needs --repo URL (a Git repository Argo CD can read): \
                     the built-in Git server is reached from this machine through k3d's load \
                     balancer, which that cluster does not have"
                .to_owned(),
        });
    }
    let conn = steps
        .run("connect to the Kubernetes API", async {
            let conn = existing::connect(kubeconfig, context).await?;
            existing::server_version(&conn).await?;
            Ok::<_, Error>(conn)
        })
        .await?;
    steps
        .run(format!("preflight of context {}", conn.context), async {
            let facts = existing::gather(
                &conn,
                &[argocd::NAMESPACE, application::DESTINATION_NAMESPACE],
            )
            .await?;
            let problems = existing_cluster::problems(&facts, memory_needed_mib(&req.source));
            if problems.is_empty() {
                return Ok(());
            }
            Err(Error::Command {
                command: format!("check that context {} can take part 3", conn.context),
                reason: format!(
                    "{} problem(s), nothing was installed: {}",
                    problems.len(),
                    problems.join("; ")
                ),
            })
        })
        .await?;
    Ok((
        conn.client.clone(),
        Place {
            cluster: format!("{} ({})", conn.context, conn.server),
            context: conn.context.clone(),
            kubeconfig: conn.kubeconfig.clone(),
        },
    ))
}

/// Creates the cluster, or reuses the one there (started if stopped); returns its kubeconfig,
/// merged into the user's.
async fn bring_up_cluster(
    engine: &Engine,
    req: &Request,
    steps: &Steps,
    shutdown: &Shutdown,
) -> Result<Kubeconfig, Error> {
    let existing = cluster::list(engine)
        .await?
        .into_iter()
        .find(|c| c.name == req.name.as_str());
    if existing.is_none() {
        let create = CreateRequest {
            plan: ClusterPlan::new(cluster_options(req)?)?,
            wait_timeout: req.waits.node,
            kubeconfig: KubeconfigOutput {
                merge_into: Some((req.kubeconfig.clone(), req.switch_context)),
                write_to: None,
            },
            preflight: true,
            workloads_memory_mib: memory_needed_mib(&req.source),
            rollback: true,
        };
        return Ok(cluster::create(engine, create, steps, shutdown)
            .await?
            .kubeconfig);
    }
    let server_labels = engine
        .containers_with_labels(&[
            LABEL_APP,
            (LABEL_CLUSTER, req.name.as_str()),
            (LABEL_ROLE, "server"),
        ])
        .await?
        .into_iter()
        .map(|c| c.labels)
        .next()
        .unwrap_or_default();
    check_resumable(req, &server_labels).map_err(|reason| Error::Command {
        command: format!("resume cluster {}", req.name),
        reason,
    })?;
    steps.note(&format!("  cluster {} exists: resuming with it", req.name));
    cluster::start(engine, &req.name, req.waits.node, steps).await?;
    steps
        .run("kubeconfig", async {
            let kc = cluster::kubeconfig(engine, &req.name, req.waits.node).await?;
            kubeconfig_file::merge_into(&req.kubeconfig, &kc, req.switch_context)?;
            Ok::<_, Error>(kc)
        })
        .await
}

async fn install_argocd(
    client: &Client,
    req: &Request,
    steps: &Steps,
) -> Result<argocd::Installed, Error> {
    let step = steps.begin(format!("Argo CD {}", argocd::VERSION));
    let result = async {
        step.set_message("the pinned install.yaml");
        let text = argocd::load_manifest(&req.cache_dir).await?;
        let manifest = argocd::Manifest::parse(&text)?;
        let installed = argocd::install(client, &manifest, req.waits.argocd, &mut |line| {
            step.set_message(&line)
        })
        .await?;
        argocd::publish_ui(client, req.ports.argocd).await?;
        Ok::<_, Error>(installed)
    }
    .await;
    match result {
        Ok(installed) => {
            let detail = if installed.applied {
                format!("{} objects applied", installed.objects)
            } else {
                "already installed".to_owned()
            };
            step.done(Some(detail))?;
            Ok(installed)
        }
        Err(e) => {
            step.failed(&e);
            Err(e)
        }
    }
}

async fn git_server(
    client: &Client,
    req: &Request,
    owner: &str,
    steps: &Steps,
) -> Result<seed::Seeded, Error> {
    let credentials = steps
        .run(
            format!("Git server (Gitea {})", gitserver::VERSION),
            async {
                let credentials = match gitserver::existing_credentials(client).await? {
                    Some(c) => c,
                    None => gitserver::Credentials::generate(owner)?,
                };
                gitserver::install(client, &credentials, req.ports.git, req.waits.git_server)
                    .await?;
                let health = format!("http://localhost:{}/api/healthz", req.ports.git);
                probe_until(&health, "pass", req.waits.git_server).await?;
                Ok::<_, Error>(credentials)
            },
        )
        .await?;
    let url = gitserver::host_url(req.ports.git, owner, &seed::repo_name(owner));
    let file = credentials_file(&req.config_dir, &req.name);
    steps
        .run(format!("push to {} ({url})", seed::REMOTE), async {
            let repo = seed::open_clone(&req.workspace)?;
            seed::configure(
                &repo,
                &url,
                &credentials.username,
                &credentials.password,
                &file,
            )?;
            let workspace = req.workspace.clone();
            let seeded = tokio::task::spawn_blocking(move || seed::push_current_branch(&workspace))
                .await
                .map_err(|e| Error::Command {
                    command: "git push".into(),
                    reason: e.to_string(),
                })??;
            Ok::<_, Error>(seeded)
        })
        .await
}

async fn apply_application(client: &Client, source: &application::Source) -> Result<(), Error> {
    // The CRD was established during Argo CD's install; discovery may take a moment longer to
    // serve it, so ask the API how it serves Applications, a few times if need be.
    let resource = k8s::poll_until(Duration::from_secs(60), POLL_INTERVAL, || async {
        match k8s::apply::discover(client, &application::gvk()).await {
            Ok(found) => Ok(k8s::Poll::Ready(found)),
            Err(e) => Ok(k8s::Poll::Waiting(e.to_string())),
        }
    })
    .await
    .map_err(kube_error("find the Application API"))?;
    k8s::apply::apply(
        client,
        &application::application(source),
        application::NAMESPACE,
        Some(resource),
    )
    .await?;
    Ok(())
}

/// The cluster layer of `bootstrap status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterLayer {
    /// A cluster in Docker: None when there is none of that name.
    Docker {
        name: String,
        found: Option<cluster::ClusterSummary>,
    },
    /// A cluster of the user's: its context, and the API's version or why it does not answer.
    Existing {
        context: String,
        api: Result<String, String>,
    },
}

/// What `bootstrap status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub cluster: ClusterLayer,
    pub argocd: Option<Result<(), String>>,
    /// The Application's one-line state, and whether it is Synced and Healthy.
    pub application: Option<(String, bool)>,
    /// The URL asked (None: not asked) and its answer (None: no answer).
    pub app: Option<(String, Option<String>)>,
}

impl Status {
    /// Every layer there and fine: the exit code of `bootstrap status` is 0 then, 1 otherwise.
    pub fn all_fine(&self) -> bool {
        let cluster = match &self.cluster {
            ClusterLayer::Docker { found, .. } => found
                .as_ref()
                .is_some_and(|c| c.servers_running == c.servers && c.servers > 0),
            ClusterLayer::Existing { api, .. } => api.is_ok(),
        };
        cluster
            && matches!(self.argocd, Some(Ok(())))
            && self.application.as_ref().is_some_and(|(_, fine)| *fine)
            && self.app.as_ref().is_none_or(|(_, answer)| answer.is_some())
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        match &self.cluster {
            ClusterLayer::Docker { name, found: None } => {
                out.push_str(&format!(
                    "cluster {name}: absent (`bootstrap p3` creates it)\n"
                ));
                return out;
            }
            ClusterLayer::Docker {
                name,
                found: Some(c),
            } => out.push_str(&format!(
                "cluster {name}: {}/{} server(s), {}/{} agent(s) running, API {}\n",
                c.servers_running,
                c.servers,
                c.agents_running,
                c.agents,
                c.api.as_deref().unwrap_or("-")
            )),
            ClusterLayer::Existing {
                context,
                api: Ok(version),
            } => out.push_str(&format!(
                "context {context}: API answers, Kubernetes {version}\n"
            )),
            ClusterLayer::Existing {
                context,
                api: Err(why),
            } => {
                out.push_str(&format!(
                    "context {context}: the API does not answer: {why}\n"
                ));
                return out;
            }
        }
        out.push_str(&match &self.argocd {
            None => "Argo CD: unknown (the API does not answer)\n".to_owned(),
            Some(Ok(())) => format!("Argo CD {}: ready\n", argocd::VERSION),
            Some(Err(why)) => format!("Argo CD: not ready: {why}\n"),
        });
        out.push_str(&format!(
            "Application argocd/{}: {}\n",
            application::NAME,
            self.application
                .as_ref()
                .map(|(line, _)| line.as_str())
                .unwrap_or("absent")
        ));
        match &self.app {
            Some((url, answer)) => out.push_str(&format!(
                "app {url}: {}\n",
                answer.as_deref().unwrap_or("no answer")
            )),
            None => out.push_str("app: not asked (--no-probe)\n"),
        }
        out
    }
}

/// Argo CD's and the Application's layers, read through `client`.
async fn kube_layers(status: &mut Status, client: &Client) {
    status.argocd = argocd::readiness(client).await.ok();
    if let Ok(app) = rollout::application_status(client.clone(), &application::app_ref()).await {
        let fine = app.sync.status.as_deref() == Some("Synced")
            && app.health.status.as_deref() == Some("Healthy");
        status.application = Some((app.one_line(), fine));
    }
}

async fn app_layer(app_url: Option<String>) -> Option<(String, Option<String>)> {
    let url = app_url?;
    let answer = probe_until(&url, "", Duration::from_secs(2))
        .await
        .ok()
        .map(|r| r.body.trim_end().to_owned());
    Some((url, answer))
}

/// Looks at each layer without changing anything. `app_url`: where to ask the app, if at all.
pub async fn status(
    engine: &Engine,
    name: &ClusterName,
    app_url: Option<String>,
) -> Result<Status, Error> {
    let found = cluster::list(engine)
        .await?
        .into_iter()
        .find(|c| c.name == name.as_str());
    let mut status = Status {
        cluster: ClusterLayer::Docker {
            name: name.to_string(),
            found,
        },
        argocd: None,
        application: None,
        app: None,
    };
    let running = matches!(&status.cluster, ClusterLayer::Docker { found: Some(c), .. } if c.servers_running > 0);
    if !running {
        return Ok(status);
    }
    if let Ok(kubeconfig) = cluster::kubeconfig(engine, name, Duration::from_secs(10)).await
        && let Ok(client) = k8s::client(&kubeconfig).await
    {
        kube_layers(&mut status, &client).await;
    }
    status.app = app_layer(app_url).await;
    Ok(status)
}

/// `bootstrap status --context`: the same layers in a cluster of the user's.
pub async fn status_existing(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    app_url: Option<String>,
) -> Result<Status, Error> {
    let conn = existing::connect(kubeconfig, context).await?;
    let api = existing::server_version(&conn)
        .await
        .map(|v| v.git_version)
        .map_err(|e| e.to_string());
    let reachable = api.is_ok();
    let mut status = Status {
        cluster: ClusterLayer::Existing {
            context: conn.context.clone(),
            api,
        },
        argocd: None,
        application: None,
        app: None,
    };
    if reachable {
        kube_layers(&mut status, &conn.client).await;
        status.app = app_layer(app_url).await;
    }
    Ok(status)
}

/// What `bootstrap down --context` removed.
#[derive(Debug)]
pub struct RemovedFromExisting {
    pub context: String,
    pub removed: existing::Removed,
}

impl RemovedFromExisting {
    pub fn render(&self) -> String {
        let r = &self.removed;
        if r.applications.is_empty() && r.namespaces.is_empty() && r.cluster_objects.is_empty() {
            return format!(
                "nothing of part 3 in context {}; the cluster is untouched",
                self.context
            );
        }
        let mut text = format!(
            "part 3 is gone from context {} (the cluster stays): {} Application(s), namespace(s) {}, {} cluster-wide object(s)",
            self.context,
            r.applications.len(),
            if r.namespaces.is_empty() {
                "none".to_owned()
            } else {
                r.namespaces.join(", ")
            },
            r.cluster_objects.len()
        );
        if !r.finalizers_dropped.is_empty() {
            text.push_str(&format!(
                "\nnote: Argo CD did not process the finalizer of {}; it was dropped and the namespaces took the app with them",
                r.finalizers_dropped.join(", ")
            ));
        }
        text
    }
}

/// `bootstrap down --context`: removes exactly what part 3 installed there (by label).
pub async fn down_existing(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    steps: &Steps,
) -> Result<RemovedFromExisting, Error> {
    let conn = existing::connect(kubeconfig, context).await?;
    existing::server_version(&conn).await?;
    let step = steps.begin(format!("remove part 3 from context {}", conn.context));
    let result = existing::remove_installed(
        &conn.client,
        existing::RemoveWaits::default(),
        &mut |line| step.set_message(&line),
    )
    .await;
    match result {
        Ok(removed) => {
            step.done(None)?;
            Ok(RemovedFromExisting {
                context: conn.context,
                removed,
            })
        }
        Err(e) => {
            step.failed(&e);
            Err(e)
        }
    }
}

/// Removes the cluster and the `lab` remote's configuration; fine to run twice.
pub async fn down(
    engine: &Engine,
    req: &DeleteRequest,
    workspace: &Path,
    config_dir: &Path,
    steps: &Steps,
) -> Result<Deleted, Error> {
    let deleted = cluster::delete(engine, req, steps).await?;
    let file = credentials_file(config_dir, &req.name);
    steps
        .run(format!("forget the {} remote", seed::REMOTE), async {
            match seed::open_clone(workspace) {
                Ok(repo) => seed::unconfigure(&repo, &file)?,
                // Not in the clone: the credentials file still goes.
                Err(_) => {
                    let _ = std::fs::remove_file(&file);
                }
            }
            Ok::<_, Error>(())
        })
        .await?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn summary() -> Summary {
        Summary {
            cluster: "iot".into(),
            context: "k3d-iot".into(),
            kubeconfig: "/home/wil/.kube/config".into(),
            app_url: "http://localhost:8888/".into(),
            served: playground_answer("v1"),
            argocd_url: "https://localhost:8443".into(),
            admin_password: Some("Pa55word".into()),
            source_url: gitserver::cluster_url("wil", "iot-wil"),
            revision: "main".into(),
            lab: Some((
                "lab".into(),
                gitserver::host_url(3000, "wil", "iot-wil"),
                "main".into(),
            )),
            notes: vec![],
        }
    }

    #[test]
    fn the_summary_says_where_everything_is_and_what_to_run_next() {
        let text = summary().render();
        for wanted in [
            "part 3 is up on cluster iot:",
            "http://localhost:8888/ → {\"status\":\"ok\", \"message\": \"v1\"}",
            "https://localhost:8443 (its own self-signed TLS; user admin)",
            "password      Pa55word",
            "argocd/playground ← http://gitea-http.gitea.svc.cluster.local:3000/wil/iot-wil.git @ main",
            "http://localhost:3000/wil/iot-wil.git (remote lab, branch main)",
            "context k3d-iot in /home/wil/.kube/config",
            "next: gitops-bumper v2 --remote lab --wait --probe http://localhost:8888/",
            "`bootstrap down` removes it all",
        ] {
            assert!(text.contains(wanted), "missing {wanted:?} in:\n{text}");
        }
        assert_eq!(
            text.matches("Pa55word").count(),
            1,
            "the password is printed once"
        );
        let mut remote = summary();
        remote.lab = None;
        remote.source_url = "https://github.com/wil/iot-wil.git".into();
        assert!(remote.render().contains("next: gitops-bumper v2 --wait --probe http://localhost:8888/   (in your clone of https://github.com/wil/iot-wil.git)"));
    }

    #[test]
    fn status_lines() {
        let absent = Status {
            cluster: ClusterLayer::Docker {
                name: "iot".into(),
                found: None,
            },
            argocd: None,
            application: None,
            app: None,
        };
        assert_eq!(
            absent.render(),
            "cluster iot: absent (`bootstrap p3` creates it)\n"
        );
        assert!(!absent.all_fine());
        let mut up = Status {
            cluster: ClusterLayer::Docker {
                name: "iot".into(),
                found: Some(cluster::ClusterSummary {
                    name: "iot".into(),
                    servers: 1,
                    servers_running: 1,
                    agents: 0,
                    agents_running: 0,
                    loadbalancer: true,
                    api: Some("https://127.0.0.1:6443".into()),
                    created_by: "bootstrap".into(),
                }),
            },
            argocd: Some(Err("deployment argocd-server: 0/1 available".into())),
            application: Some(("Synced, Healthy at 1a2b3c4".into(), true)),
            app: Some((
                "http://localhost:8888/".into(),
                Some(playground_answer("v2")),
            )),
        };
        assert_eq!(
            up.render(),
            "cluster iot: 1/1 server(s), 0/0 agent(s) running, API https://127.0.0.1:6443\n\
             Argo CD: not ready: deployment argocd-server: 0/1 available\n\
             Application argocd/playground: Synced, Healthy at 1a2b3c4\n\
             app http://localhost:8888/: {\"status\":\"ok\", \"message\": \"v2\"}\n"
        );
        assert!(!up.all_fine(), "Argo CD is not ready");
        up.argocd = Some(Ok(()));
        assert!(up.all_fine());
        up.app = Some(("http://localhost:8888/".into(), None));
        assert!(!up.all_fine(), "the app does not answer");
        up.app = None;
        assert!(up.all_fine(), "an app not asked is not judged");
        up.application = Some(("OutOfSync, Healthy at 1a2b3c4".into(), false));
        assert!(!up.all_fine());
    }

    #[test]
    fn status_of_a_cluster_of_the_users() {
        let mut status = Status {
            cluster: ClusterLayer::Existing {
                context: "kind-lab".into(),
                api: Ok("v1.35.4".into()),
            },
            argocd: Some(Ok(())),
            application: Some(("Synced, Healthy at 1a2b3c4".into(), true)),
            app: None,
        };
        assert_eq!(
            status.render(),
            format!(
                "context kind-lab: API answers, Kubernetes v1.35.4\n\
                 Argo CD {}: ready\n\
                 Application argocd/playground: Synced, Healthy at 1a2b3c4\n\
                 app: not asked (--no-probe)\n",
                argocd::VERSION
            )
        );
        assert!(status.all_fine());
        status.cluster = ClusterLayer::Existing {
            context: "kind-lab".into(),
            api: Err("connection refused".into()),
        };
        assert_eq!(
            status.render(),
            "context kind-lab: the API does not answer: connection refused\n"
        );
        assert!(!status.all_fine());
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
