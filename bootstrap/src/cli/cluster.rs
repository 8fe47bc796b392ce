//! `bootstrap cluster create|delete|list|start|stop|kubeconfig`.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::args::{ClusterCommand, CreateArgs, Output};
use super::options::{new_token, node_security, resolve_registry_create};

use crate::docker::Engine;
use crate::recipes::Shutdown;
use crate::recipes::cluster::{self, CreateRequest, DeleteRequest, Deleted, KubeconfigOutput};
use crate::recipes::steps::Steps;
use crate::spec::cluster::{ClusterPlan, NetworkFacts, RegistryOptions};
use crate::spec::fixes::Fixes;
use crate::spec::names::ClusterName;
use crate::spec::registry::RegistryUseFlag;
use crate::{Error, kubeconfig_file};

pub(super) fn delete_request(name: ClusterName) -> DeleteRequest {
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

pub(super) async fn run_cluster(command: ClusterCommand, steps: &Steps) -> Result<u8, Error> {
    match command {
        ClusterCommand::Create(a) => create(*a, steps).await,
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
                        kept_registries,
                    } => println!(
                        "deleted cluster {}: {containers} container(s), {}, {volumes} volume(s){}{}",
                        req.name,
                        network
                            .map(|n| format!("network {n}"))
                            .unwrap_or_else(|| "no network (external, kept)".to_owned()),
                        if kubeconfig {
                            ", kubeconfig entries"
                        } else {
                            ""
                        },
                        if kept_registries.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; kept registry {} (another cluster uses it)",
                                kept_registries.join(", ")
                            )
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
    let mut options = options;
    options.registries = registry_options(a, engine).await?;
    Ok(ClusterPlan::new(options)?)
}

/// `--registry-create` resolved, `--registry-use` read back from the registry containers.
async fn registry_options(
    a: &CreateArgs,
    engine: Option<&Engine>,
) -> Result<RegistryOptions, Error> {
    let create = a
        .registry_create
        .as_deref()
        .map(resolve_registry_create)
        .transpose()?;
    let mut existing = Vec::new();
    for flag in &a.registry_use {
        let name = RegistryUseFlag::parse(flag)?.name;
        let engine = engine.ok_or_else(|| Error::Command {
            command: format!("--registry-use {flag}"),
            reason: "Docker is not reachable, and the registry's ports are read from its container; start Docker".to_owned(),
        })?;
        existing.push(engine.registry(&name).await?);
    }
    Ok(RegistryOptions {
        create,
        existing,
        ..RegistryOptions::default()
    })
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
