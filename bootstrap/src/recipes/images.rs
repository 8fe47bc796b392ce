//! `bootstrap images`: the workload images built from this workspace for the engine's
//! architecture, and optionally saved as tarballs for the VMs. Where they are built follows
//! [`build_path`]: on the host (the binary by `cargo static`, the image from the final stage
//! of the crate's own Dockerfile, nothing pulled) when the host can link a static binary the
//! engine runs; else the whole multi-stage Dockerfile inside the engine with BuildKit.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::steps::Steps;
use crate::Error;
use crate::docker::Engine;
use crate::spec::archive::{self, TarItem};
use crate::spec::build_path::{
    BUILDER_IMAGE, BuildPath, EngineArch, HostFacts, build_path, static_target,
};
use crate::spec::dockerfile;
use crate::spec::dockerignore::Ignore;
use crate::spec::doctor::ImageState;
use crate::spec::workloads::{self, ImageBuild, STATIC_PROFILE, WorkspaceFacts};

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
    /// Build inside the engine even when the host could (`bootstrap images --in-engine`).
    pub in_engine: bool,
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
    let path = steps
        .run("choose where to build the images", async {
            let engine_facts = engine.facts().await?;
            let host = host_facts(&facts.root).await;
            let path = build_path(
                &host,
                &EngineArch {
                    os: engine_facts.os_type,
                    arch: engine_facts.arch,
                },
            );
            Ok::<_, Error>(match path {
                BuildPath::Host { .. } if req.in_engine => BuildPath::Engine {
                    reason: "asked for with --in-engine".to_owned(),
                },
                other => other,
            })
        })
        .await?;
    steps.note(&format!("  images: {}", describe(&path)));
    let engine_context = match &path {
        BuildPath::Unsupported { reason } => return Err(Error::ImagesUnbuildable(reason.clone())),
        BuildPath::Host { .. } => None,
        BuildPath::Engine { .. } => {
            if let ImageState::Unavailable { reason } = builder_state(engine).await {
                return Err(Error::ImagesUnbuildable(format!(
                    "they are built inside the engine, which needs {BUILDER_IMAGE}; it is not present and cannot be pulled ({reason})"
                )));
            }
            Some(
                steps
                    .run("pack the workspace as the build context", async {
                        workspace_context(&facts.root)
                    })
                    .await?,
            )
        }
    };
    let mut built = Vec::new();
    for workload in chosen {
        let mut builds = workloads::builds(workload, &facts, req.repo_prefix.as_deref())?;
        if let BuildPath::Host { target } = path {
            for b in &mut builds {
                b.binary_path = facts
                    .target_dir
                    .join(target)
                    .join(STATIC_PROFILE)
                    .join(&b.binary_name);
            }
            steps
                .run(
                    format!("cargo static -p {} --target {target}", workload.package),
                    async {
                        // `cargo static` is the workspace's alias for static builds; its config
                        // path is relative, so it runs from the workspace root.
                        run_cargo(
                            &facts.root,
                            &["static", "-p", workload.package, "--target", target],
                        )
                        .await
                        .map(drop)
                    },
                )
                .await?;
        }
        for b in builds {
            let image = match &engine_context {
                None => build_one(engine, &b, steps).await?,
                Some(ctx) => build_in_engine(engine, &b, &facts.root, ctx, steps).await?,
            };
            let saved = match &req.save_dir {
                Some(dir) => Some(save(engine, &b, dir, steps).await?),
                None => None,
            };
            built.push(BuiltImage { saved, ..image });
        }
    }
    Ok(built)
}

/// The line `bootstrap doctor` and the build print for a path.
pub(crate) fn describe(path: &BuildPath) -> String {
    match path {
        BuildPath::Host { target } => format!("built on the host ({target} present)"),
        BuildPath::Engine { reason } => format!("built inside the engine ({reason})"),
        BuildPath::Unsupported { reason } => format!("cannot be built: {reason}"),
    }
}

/// Whether the engine has the rust builder image, or can pull it.
pub(crate) async fn builder_state(engine: &Engine) -> ImageState {
    match engine.image_present(BUILDER_IMAGE).await {
        Ok(true) => ImageState::Present,
        Ok(false) => match engine.registry_has(BUILDER_IMAGE).await {
            Ok(()) => ImageState::Pullable,
            Err(reason) => ImageState::Unavailable { reason },
        },
        Err(e) => ImageState::Unavailable {
            reason: e.to_string(),
        },
    }
}

/// This machine's side of [`build_path`]: its OS and arch, whether the toolchain has the
/// static target's standard library, and whether `cc` finds a static libc to link with.
/// A tool that is missing or fails counts as absent.
pub(crate) async fn host_facts(workspace: &Path) -> HostFacts {
    let arch = std::env::consts::ARCH;
    let mut facts = HostFacts {
        os: std::env::consts::OS.to_owned(),
        arch: arch.to_owned(),
        static_target_installed: false,
        linker_present: false,
    };
    if facts.os != "linux" {
        return facts;
    }
    let Some(target) = static_target(arch) else {
        return facts;
    };
    // The sysroot of the toolchain cargo will use here (rustup's proxy reads the
    // workspace's toolchain file), whether rustup installed it or not.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    if let Some(sysroot) = stdout_of(&rustc, &["--print", "sysroot"], workspace).await {
        facts.static_target_installed = Path::new(sysroot.trim())
            .join("lib/rustlib")
            .join(target)
            .join("lib")
            .is_dir();
    }
    // `+crt-static` links glibc's libc.a through `cc`; cc prints the bare name when it has
    // no such file.
    if let Some(libc) = stdout_of("cc", &["-print-file-name=libc.a"], workspace).await {
        let libc = Path::new(libc.trim());
        facts.linker_present = libc.is_absolute() && libc.is_file();
    }
    facts
}

async fn stdout_of(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The workspace as `docker build .` would send it: every regular file and symlink under
/// `root` that `.dockerignore` keeps.
fn workspace_context(root: &Path) -> Result<Vec<u8>, Error> {
    let ignore_path = root.join(".dockerignore");
    let ignore = match std::fs::read_to_string(&ignore_path) {
        Ok(text) => Ignore::parse(&text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ignore::parse("")?,
        Err(e) => return Err(Error::io(format!("read {}", ignore_path.display()))(e)),
    };
    let mut items = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(Error::io(format!("list {}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(Error::io(format!("list {}", dir.display())))?;
            let path = entry.path();
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            if ignore.excludes(&rel) {
                continue;
            }
            let kind = entry
                .file_type()
                .map_err(Error::io(format!("stat {}", path.display())))?;
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&path)
                    .map_err(Error::io(format!("read the link {}", path.display())))?;
                items.push(TarItem::Symlink {
                    path: rel,
                    target: target.to_string_lossy().into_owned(),
                });
            } else if kind.is_file() {
                let data =
                    std::fs::read(&path).map_err(Error::io(format!("read {}", path.display())))?;
                items.push(TarItem::File {
                    path: rel,
                    mode: file_mode(&entry),
                    data,
                });
            }
        }
    }
    // Sorted, so the same workspace gives the same context (and BuildKit's cache keys).
    items.sort_by(|a, b| item_path(a).cmp(item_path(b)));
    Ok(archive::build(&items)?)
}

fn item_path(item: &TarItem) -> &str {
    match item {
        TarItem::File { path, .. } | TarItem::Symlink { path, .. } => path,
    }
}

#[cfg(unix)]
fn file_mode(entry: &std::fs::DirEntry) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    entry
        .metadata()
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o644)
}

#[cfg(not(unix))]
fn file_mode(_: &std::fs::DirEntry) -> u32 {
    0o644
}

async fn build_in_engine(
    engine: &Engine,
    b: &ImageBuild,
    root: &Path,
    context: &[u8],
    steps: &Steps,
) -> Result<BuiltImage, Error> {
    let step = steps.begin(format!("build {} inside the engine", b.reference));
    let result = async {
        let dockerfile = b
            .dockerfile
            .strip_prefix(root)
            .unwrap_or(&b.dockerfile)
            .to_string_lossy()
            .replace('\\', "/");
        Ok::<_, Error>(
            engine
                .build_image_buildkit(
                    context.to_vec(),
                    &dockerfile,
                    &b.reference,
                    &b.build_args,
                    &|line| step.set_message(line),
                )
                .await?,
        )
    }
    .await;
    finish_build(b, step, result)
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
    finish_build(b, step, result)
}

fn finish_build(
    b: &ImageBuild,
    step: super::steps::Step,
    result: Result<crate::docker::BuildOutcome, Error>,
) -> Result<BuiltImage, Error> {
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
