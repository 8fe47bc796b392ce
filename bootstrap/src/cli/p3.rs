//! `bootstrap p3`: from arguments to the recipe, raced against Ctrl-C and `--timeout`.

use super::args::{ExistingArgs, P3Args};
use super::options::{new_token, node_security};
use super::paths::{config_dir, user_dir, workspace_dir};

use crate::docker::Engine;
use crate::gitops::{argocd, seed};
use crate::recipes::Shutdown;
use crate::recipes::p3::{self, GitSource, Target};
use crate::recipes::steps::Steps;
use crate::spec::fixes::Fixes;
use crate::spec::names::ClusterName;
use crate::{Error, kubeconfig_file};

pub(super) async fn p3_up(a: P3Args, steps: &Steps) -> Result<u8, Error> {
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
        registry_port: (!a.no_registry).then_some(a.registry_port),
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

/// The entrypoint fixes the Docker host needs (k3d's automatic choice, env overrides).
async fn fixes_for(engine: &Engine) -> Result<Fixes, Error> {
    let facts = engine.facts().await?;
    Ok(Fixes::decide(
        |k| std::env::var(k).ok(),
        facts.cgroup_version.as_deref(),
        &facts.name,
    ))
}
