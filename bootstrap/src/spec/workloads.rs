//! The lab's workload images, as data: which crate, which image name, which tags and build
//! arguments. `bootstrap images` turns this table and `cargo metadata` into image builds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::SpecError;

/// The target triple and profile of `cargo static` (see `.cargo/static.toml`).
pub(crate) const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";
pub(crate) const STATIC_PROFILE: &str = "image";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tags {
    /// One image per value of a build argument, tagged with the value (`echo-app:v1`, `:v2`).
    PerBuildArg {
        arg: &'static str,
        values: &'static [&'static str],
    },
    /// One image tagged with the crate's version.
    PackageVersion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Workload {
    pub(crate) package: &'static str,
    pub image: &'static str,
    pub(crate) tags: Tags,
}

pub(crate) const WORKLOADS: &[Workload] = &[
    Workload {
        package: "echo-app",
        image: "echo-app",
        tags: Tags::PerBuildArg {
            arg: "APP_VERSION",
            values: &["v1", "v2"],
        },
    },
    Workload {
        package: "token-server",
        image: "token-server",
        tags: Tags::PackageVersion,
    },
];

/// What `cargo metadata --no-deps` says about the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkspaceFacts {
    pub(crate) root: PathBuf,
    pub(crate) target_dir: PathBuf,
    pub(crate) packages: Vec<PackageFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackageFacts {
    pub name: String,
    pub(crate) version: String,
    pub(crate) dir: PathBuf,
    pub(crate) bins: Vec<String>,
}

#[derive(Deserialize)]
struct Metadata {
    workspace_root: PathBuf,
    target_directory: PathBuf,
    packages: Vec<MetaPackage>,
}

#[derive(Deserialize)]
struct MetaPackage {
    name: String,
    version: String,
    manifest_path: PathBuf,
    targets: Vec<MetaTarget>,
}

#[derive(Deserialize)]
struct MetaTarget {
    name: String,
    kind: Vec<String>,
}

impl WorkspaceFacts {
    pub(crate) fn from_cargo_metadata(json: &str) -> Result<Self, SpecError> {
        let m: Metadata =
            serde_json::from_str(json).map_err(|e| SpecError::Metadata(e.to_string()))?;
        Ok(Self {
            root: m.workspace_root,
            target_dir: m.target_directory,
            packages: m
                .packages
                .into_iter()
                .map(|p| PackageFacts {
                    dir: p
                        .manifest_path
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_default(),
                    bins: p
                        .targets
                        .into_iter()
                        .filter(|t| t.kind.iter().any(|k| k == "bin"))
                        .map(|t| t.name)
                        .collect(),
                    name: p.name,
                    version: p.version,
                })
                .collect(),
        })
    }

    pub(crate) fn package(&self, name: &str) -> Option<&PackageFacts> {
        self.packages.iter().find(|p| p.name == name)
    }
}

/// One image to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageBuild {
    pub(crate) package: String,
    /// The full reference, `[PREFIX/]image:tag`.
    pub reference: String,
    pub(crate) build_args: BTreeMap<String, String>,
    pub(crate) binary_name: String,
    /// Where `cargo static -p <package>` leaves the binary.
    pub(crate) binary_path: PathBuf,
    pub(crate) dockerfile: PathBuf,
    /// The file name `--save DIR` writes, e.g. `echo-app-v1.tar`.
    pub(crate) archive_name: String,
}

/// Which workloads to build: the named ones (each must exist and be in the workspace), or
/// by default every workload the workspace has, with the names of those it lacks.
pub(crate) fn select<'a>(
    names: &[String],
    facts: &WorkspaceFacts,
) -> Result<(Vec<&'a Workload>, Vec<&'a str>), SpecError> {
    if names.is_empty() {
        let (present, absent): (Vec<&Workload>, Vec<&Workload>) = WORKLOADS
            .iter()
            .partition(|w| facts.package(w.package).is_some());
        return Ok((present, absent.iter().map(|w| w.package).collect()));
    }
    let mut chosen = Vec::new();
    for name in names {
        let w = WORKLOADS
            .iter()
            .find(|w| w.package == name || w.image == name)
            .ok_or_else(|| SpecError::UnknownWorkload {
                name: name.clone(),
                known: WORKLOADS
                    .iter()
                    .map(|w| w.package)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        if facts.package(w.package).is_none() {
            return Err(SpecError::WorkloadNotInWorkspace {
                name: w.package.to_owned(),
            });
        }
        if !chosen.contains(&w) {
            chosen.push(w);
        }
    }
    Ok((chosen, Vec::new()))
}

/// The builds of one workload. `prefix` (e.g. `ghcr.io/me`) is put before the image name.
pub(crate) fn builds(
    w: &Workload,
    facts: &WorkspaceFacts,
    prefix: Option<&str>,
) -> Result<Vec<ImageBuild>, SpecError> {
    let pkg = facts
        .package(w.package)
        .ok_or_else(|| SpecError::WorkloadNotInWorkspace {
            name: w.package.to_owned(),
        })?;
    let binary_name = pkg
        .bins
        .iter()
        .find(|b| *b == w.package)
        .or_else(|| pkg.bins.first())
        .cloned()
        .ok_or_else(|| {
            SpecError::Metadata(format!("package {} has no binary target", w.package))
        })?;
    let repo = match prefix.map(|p| p.trim_end_matches('/')) {
        Some(p) if !p.is_empty() => format!("{p}/{}", w.image),
        _ => w.image.to_owned(),
    };
    let variants: Vec<(String, BTreeMap<String, String>)> = match w.tags {
        Tags::PerBuildArg { arg, values } => values
            .iter()
            .map(|v| {
                (
                    (*v).to_owned(),
                    BTreeMap::from([(arg.to_owned(), (*v).to_owned())]),
                )
            })
            .collect(),
        Tags::PackageVersion => vec![(pkg.version.clone(), BTreeMap::new())],
    };
    Ok(variants
        .into_iter()
        .map(|(tag, build_args)| ImageBuild {
            package: w.package.to_owned(),
            reference: format!("{repo}:{tag}"),
            build_args,
            binary_path: facts
                .target_dir
                .join(STATIC_TARGET)
                .join(STATIC_PROFILE)
                .join(&binary_name),
            binary_name: binary_name.clone(),
            dockerfile: pkg.dir.join("Dockerfile"),
            archive_name: format!("{}-{tag}.tar", w.image),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = r#"{
      "workspace_root": "/w",
      "target_directory": "/w/target",
      "packages": [
        {"name": "echo-app", "version": "0.1.0", "manifest_path": "/w/echo-app/Cargo.toml",
         "targets": [{"name": "echo_app", "kind": ["lib"]}, {"name": "echo-app", "kind": ["bin"]}]},
        {"name": "bootstrap", "version": "0.1.0", "manifest_path": "/w/bootstrap/Cargo.toml",
         "targets": [{"name": "bootstrap", "kind": ["bin"]}]}
      ],
      "version": 1
    }"#;

    #[test]
    fn echo_app_gives_v1_and_v2() {
        let facts = WorkspaceFacts::from_cargo_metadata(METADATA).unwrap();
        let (chosen, absent) = select(&[], &facts).unwrap();
        assert_eq!(
            chosen.iter().map(|w| w.package).collect::<Vec<_>>(),
            ["echo-app"]
        );
        assert_eq!(absent, ["token-server"]);
        let b = builds(chosen[0], &facts, None).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].reference, "echo-app:v1");
        assert_eq!(b[1].reference, "echo-app:v2");
        assert_eq!(
            b[1].build_args,
            BTreeMap::from([("APP_VERSION".into(), "v2".into())])
        );
        assert_eq!(
            b[0].binary_path,
            PathBuf::from("/w/target/x86_64-unknown-linux-gnu/image/echo-app")
        );
        assert_eq!(b[0].dockerfile, PathBuf::from("/w/echo-app/Dockerfile"));
        assert_eq!(b[0].archive_name, "echo-app-v1.tar");
        let p = builds(chosen[0], &facts, Some("iot-test-x/")).unwrap();
        assert_eq!(p[0].reference, "iot-test-x/echo-app:v1");
        assert_eq!(p[0].archive_name, "echo-app-v1.tar");
    }

    #[test]
    fn token_server_is_tagged_with_its_version() {
        let json = METADATA.replace(
            r#""packages": ["#,
            r#""packages": [{"name": "token-server", "version": "0.3.1", "manifest_path": "/w/token-server/Cargo.toml", "targets": [{"name": "token-server", "kind": ["bin"]}]},"#,
        );
        let facts = WorkspaceFacts::from_cargo_metadata(&json).unwrap();
        let (chosen, absent) = select(&["token-server".into()], &facts).unwrap();
        assert!(absent.is_empty());
        let b = builds(chosen[0], &facts, None).unwrap();
        assert_eq!(b[0].reference, "token-server:0.3.1");
        assert!(b[0].build_args.is_empty());
        assert_eq!(b[0].archive_name, "token-server-0.3.1.tar");
    }

    #[test]
    fn named_workloads_must_exist() {
        let facts = WorkspaceFacts::from_cargo_metadata(METADATA).unwrap();
        let err = select(&["nginx".into()], &facts).unwrap_err().to_string();
        assert!(
            err.contains("unknown workload \"nginx\"; the workloads are: echo-app, token-server"),
            "{err}"
        );
        let err = select(&["token-server".into()], &facts)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a member of this workspace"), "{err}");
        assert!(WorkspaceFacts::from_cargo_metadata("{").is_err());
    }
}
