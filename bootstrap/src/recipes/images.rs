//! `bootstrap images`: the workload images built from this workspace with no pull — the
//! binary by `cargo static` on the host, the image from the final stage of the crate's own
//! Dockerfile through the Docker API — and optionally saved as tarballs for the VMs.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::steps::Steps;
use crate::Error;
use crate::docker::Engine;
use crate::spec::archive::{self, TarItem};
use crate::spec::dockerfile;
use crate::spec::workloads::{self, ImageBuild, WorkspaceFacts};

#[derive(Debug, Clone, Default)]
pub struct ImagesRequest {
    /// Workload names; empty means every workload of the workspace.
    pub workloads: Vec<String>,
    /// Write `<image>-<tag>.tar` (docker save format) for each image here.
    pub save_dir: Option<PathBuf>,
    /// Put before each image name, e.g. `ghcr.io/me`.
    pub repo_prefix: Option<String>,
    /// Where to run cargo (a directory inside the workspace); the current one by default.
    pub workspace_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    pub reference: String,
    pub(crate) image_id: String,
    pub(crate) size: u64,
    pub(crate) saved: Option<PathBuf>,
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs cargo and returns its stdout; a failure carries the end of its stderr.
async fn run_cargo(dir: &Path, args: &[&str]) -> Result<Vec<u8>, Error> {
    let command = format!("cargo {}", args.join(" "));
    let out = Command::new(cargo())
        .args(args)
        .current_dir(dir)
        .output()
        .await
        .map_err(|e| Error::Command {
            command: command.clone(),
            reason: format!("cannot run cargo ({e}); install Rust with rustup"),
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        return Err(Error::Command {
            command,
            reason: format!(
                "{}\n{}",
                out.status,
                lines[lines.len().saturating_sub(20)..].join("\n")
            ),
        });
    }
    Ok(out.stdout)
}

#[tracing::instrument(skip_all)]
pub async fn build(
    engine: &Engine,
    req: &ImagesRequest,
    steps: &Steps,
) -> Result<Vec<BuiltImage>, Error> {
    let dir = req
        .workspace_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let facts = steps
        .run("cargo metadata", async {
            let json = run_cargo(&dir, &["metadata", "--format-version", "1", "--no-deps"]).await?;
            Ok::<_, Error>(WorkspaceFacts::from_cargo_metadata(
                &String::from_utf8_lossy(&json),
            )?)
        })
        .await?;
    let (chosen, absent) = workloads::select(&req.workloads, &facts)?;
    for name in absent {
        steps.note(&format!(
            "  (skipping {name}: it is not a member of this workspace)"
        ));
    }
    let mut built = Vec::new();
    for workload in chosen {
        let builds = workloads::builds(workload, &facts, req.repo_prefix.as_deref())?;
        steps
            .run(format!("cargo static -p {}", workload.package), async {
                // `cargo static` is the workspace's alias for static builds; its config path
                // is relative, so it runs from the workspace root.
                run_cargo(&facts.root, &["static", "-p", workload.package])
                    .await
                    .map(drop)
            })
            .await?;
        for b in builds {
            let image = build_one(engine, &b, steps).await?;
            let saved = match &req.save_dir {
                Some(dir) => Some(save(engine, &b, dir, steps).await?),
                None => None,
            };
            built.push(BuiltImage { saved, ..image });
        }
    }
    Ok(built)
}

/// The build context: the rewritten final stage as `Dockerfile`, and the binary.
pub(crate) fn context(b: &ImageBuild) -> Result<Vec<u8>, Error> {
    let text = std::fs::read_to_string(&b.dockerfile)
        .map_err(Error::io(format!("read {}", b.dockerfile.display())))?;
    let final_stage = dockerfile::final_stage_with_host_binary(
        &text,
        &b.dockerfile.display().to_string(),
        &b.binary_name,
    )?;
    let binary = std::fs::read(&b.binary_path).map_err(Error::io(format!(
        "read the static binary {} (did `cargo static -p {}` run?)",
        b.binary_path.display(),
        b.package
    )))?;
    Ok(archive::build(&[
        TarItem::File {
            path: "Dockerfile".to_owned(),
            mode: 0o644,
            data: final_stage.into_bytes(),
        },
        TarItem::File {
            path: b.binary_name.clone(),
            mode: 0o755,
            data: binary,
        },
    ])?)
}

async fn build_one(engine: &Engine, b: &ImageBuild, steps: &Steps) -> Result<BuiltImage, Error> {
    let step = steps.begin(format!("build {}", b.reference));
    let result = async {
        let ctx = context(b)?;
        Ok::<_, Error>(
            engine
                .build_image(ctx, &b.reference, &b.build_args, &|line| {
                    step.set_message(line)
                })
                .await?,
        )
    }
    .await;
    match result {
        Ok(outcome) => {
            let detail = format!("{:.1} MiB", outcome.size as f64 / (1024.0 * 1024.0));
            step.done(Some(detail))?;
            Ok(BuiltImage {
                reference: b.reference.clone(),
                image_id: outcome.image_id,
                size: outcome.size,
                saved: None,
            })
        }
        Err(e) => {
            step.failed(&e);
            Err(e)
        }
    }
}

/// `docker save` into `dir/<archive_name>`, written under a temporary name and renamed, so a
/// failed save leaves no half tarball.
async fn save(
    engine: &Engine,
    b: &ImageBuild,
    dir: &Path,
    steps: &Steps,
) -> Result<PathBuf, Error> {
    let path = dir.join(&b.archive_name);
    let step = steps.begin(format!("save {} to {}", b.reference, path.display()));
    let partial = dir.join(format!(".{}.partial", b.archive_name));
    let result = async {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(Error::io(format!("create {}", dir.display())))?;
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(Error::io(format!("create {}", partial.display())))?;
        let refs = [b.reference.as_str()];
        let mut stream = Box::pin(engine.export_images(&refs));
        let mut bytes = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            bytes += chunk.len() as u64;
            step.set_bytes(bytes);
            file.write_all(&chunk)
                .await
                .map_err(Error::io(format!("write {}", partial.display())))?;
        }
        file.sync_all()
            .await
            .map_err(Error::io(format!("write {}", partial.display())))?;
        tokio::fs::rename(&partial, &path)
            .await
            .map_err(Error::io(format!("rename to {}", path.display())))?;
        Ok::<_, Error>(bytes)
    }
    .await;
    match result {
        Ok(bytes) => {
            step.done(Some(format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))))?;
            Ok(path)
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            step.failed(&e);
            Err(e)
        }
    }
}
