//! The command line: argument definitions ([`args`]) apart from the commands that run them
//! (this module's [`run`] and its siblings). `main.rs` only parses, sets up logging and reports
//! errors.

mod args;
mod cluster;
mod diagnose;
mod options;
mod p3;
mod paths;

pub use args::*;

use crate::Error;
use crate::docker::Engine;
use crate::recipes::cluster::Deleted;
use crate::recipes::doctor::{Wanted, gather};
use crate::recipes::images::{self, ImagesRequest};
use crate::recipes::import;
use crate::recipes::p3::Target;
use crate::recipes::steps::Steps;
use crate::spec::doctor;
use crate::spec::names::ClusterName;

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> Result<u8, Error> {
    let steps = Steps::for_stderr(cli.quiet);
    match cli.command {
        Command::Cluster(c) => cluster::run_cluster(c, &steps).await,
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
                in_engine: a.in_engine,
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
        Command::P3(a) => p3::p3_up(a, &steps).await,
        Command::Status(a) => {
            let name = ClusterName::parse(&a.cluster.name)?;
            let app_url = (!a.no_probe).then(|| format!("http://localhost:{}/", a.app_port));
            let status = match a.existing.target() {
                Some(Target::Existing {
                    kubeconfig,
                    context,
                }) => {
                    crate::recipes::p3::status_existing(
                        kubeconfig.as_deref(),
                        context.as_deref(),
                        app_url,
                    )
                    .await?
                }
                _ => {
                    let engine = Engine::connect().await?;
                    crate::recipes::p3::status(&engine, &name, app_url).await?
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
            let removed = crate::recipes::p3::down_existing(
                kubeconfig.as_deref(),
                context.as_deref(),
                &steps,
            )
            .await?;
            println!("{}", removed.render());
            Ok(0)
        }
        Command::Down(a) => {
            let engine = Engine::connect().await?;
            let req = cluster::delete_request(ClusterName::parse(&a.cluster.name)?);
            let deleted = crate::recipes::p3::down(
                &engine,
                &req,
                &paths::workspace_dir(),
                &paths::config_dir()?,
                &steps,
            )
            .await?;
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
        Command::Diagnose(a) => diagnose::diagnose(a).await,
        Command::Doctor(a) => {
            let engine = Engine::connect().await;
            let plan = a.shape.plan_for_checks()?;
            let wanted = Wanted {
                image_build: Some(std::path::PathBuf::from(".")),
                ..Wanted::for_plan(&plan)
            };
            let facts = gather(engine.as_ref(), &wanted).await;
            let findings = doctor::evaluate(&facts);
            print!("{}", doctor::render(&findings));
            Ok(u8::from(doctor::failures(&findings) > 0))
        }
    }
}
