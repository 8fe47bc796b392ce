//! `bootstrap p3`: images → cluster → import → Argo CD → Git server → Application → wait for
//! v1 → summary.
//!
//! Every step is idempotent, so a run that failed or was interrupted is resumed by running the
//! command again: an existing cluster is reused (started if stopped), Argo CD and the Git server
//! are confirmed rather than reinstalled, the push is a no-op when nothing changed.

use std::path::Path;
use std::time::Duration;

use kube::Client;
use lab_gitops::diagnose::{application_namespaces, explain_wait};
use lab_gitops::edit::find_targets;
use lab_gitops::git::GitRepo;
use lab_gitops::image::ImageMatcher;
use lab_gitops::probe::{probe_until, probe_until_exactly};
use lab_gitops::rollout::{self, Expectation};

use super::{
    APP_IMAGE, APP_TAGS, GitSource, Request, Summary, Target, check_resumable, cluster_options,
    credentials_file, memory_needed_mib,
};
use crate::docker::Engine;
use crate::error::Error;
use crate::gitops::{application, argocd, gitserver, seed};
use crate::k8s;
use crate::k8s::existing;
use crate::kubeconfig_file;
use crate::recipes::Shutdown;
use crate::recipes::cluster::{self, CreateRequest, KubeconfigOutput};
use crate::recipes::images::{self, ImagesRequest};
use crate::recipes::import;
use crate::recipes::steps::Steps;
use crate::spec::cluster::{ClusterPlan, LABEL_APP, LABEL_CLUSTER, LABEL_ROLE};
use crate::spec::existing_cluster;
use crate::spec::kubeconfig::Kubeconfig;

/// How often waits look at the cluster again.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

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
                    reason: explain_wait(
                        e.to_string(),
                        &client,
                        &application_namespaces(&client, &app).await,
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
    match req.registry_port {
        // pushed under the port actually published; the manifests' name is the alias the
        // nodes' registries.yaml maps to the same registry
        Some(port) => {
            for image in &images {
                let target = format!("localhost:{port}/{image}");
                steps
                    .run(format!("push {target}"), async {
                        Ok::<_, Error>(engine.push_image(image, &target).await?)
                    })
                    .await?;
            }
        }
        None => {
            import::import(engine, &req.name, &images, steps).await?;
        }
    }

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
