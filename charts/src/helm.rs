//! Adapter: the pinned helm binary, run as a subprocess.

use std::path::PathBuf;
use std::process::Command;

use crate::{Chart, workspace_root};

/// Where `./test.sh` puts the pinned helm (a link into the versioned download under `.cache/`).
pub const CACHED_HELM: &str = ".cache/bin/helm";

/// The helm major version the committed renders come from; another one may print them
/// differently (comments, ordering), which the conf sync tests would report as drift.
const HELM_MAJOR: &str = "v4.";

/// A values override for one render.
#[derive(Debug, Clone)]
pub enum Override {
    /// `--values <file>`; a relative path is taken from the repository root.
    File(PathBuf),
    /// `--set <key>=<value>`, e.g. `apps.app-two.replicas=5`.
    Set(String),
}

#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    #[error(
        "helm not found at {}: run ./test.sh once (it installs the pinned helm into .cache/), \
         or set HELM to a helm v4 binary",
        path.display()
    )]
    Missing { path: PathBuf },
    #[error(
        "{} is helm {version}, but the charts are rendered with helm v4: run ./test.sh to \
         install the pinned one, or point HELM at a helm v4 binary",
        path.display()
    )]
    WrongVersion { path: PathBuf, version: String },
    #[error("could not run {}: {source}", path.display())]
    Run {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "namespace {0:?} is not a Kubernetes namespace name: use lowercase letters, digits and \
         '-', at most 63 characters, starting and ending with a letter or digit"
    )]
    BadNamespace(String),
    #[error("helm template of charts/{chart} failed: {message}")]
    Template {
        chart: &'static str,
        message: String,
    },
}

/// The helm binary the renders use.
#[derive(Debug, Clone)]
pub struct Helm {
    path: PathBuf,
}

impl Helm {
    /// `$HELM` when set, else the pinned helm that `./test.sh` installs; refuses a helm that is
    /// missing or not v4 rather than rendering something the committed confs never saw.
    pub fn locate() -> Result<Helm, HelmError> {
        let path = std::env::var_os("HELM")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(CACHED_HELM));
        if !path.is_file() {
            return Err(HelmError::Missing { path });
        }
        let helm = Helm { path };
        let version = helm.version()?;
        if !version.starts_with(HELM_MAJOR) {
            return Err(HelmError::WrongVersion {
                path: helm.path,
                version,
            });
        }
        Ok(helm)
    }

    /// `helm version --short`, e.g. `v4.1.4+g05fa379`.
    pub fn version(&self) -> Result<String, HelmError> {
        let out = self.run(Command::new(&self.path).args(["version", "--short"]))?;
        if !out.status.success() {
            return Err(HelmError::WrongVersion {
                path: self.path.clone(),
                version: format!("(`helm version` failed: {})", first_error(&out.stderr)),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// `helm template <chart> charts/<chart> --namespace <namespace> [overrides]`, run from the
    /// repository root: the release is named after the chart.
    pub fn template(
        &self,
        chart: Chart,
        namespace: &str,
        overrides: &[Override],
    ) -> Result<String, HelmError> {
        if !is_dns_label(namespace) {
            return Err(HelmError::BadNamespace(namespace.to_owned()));
        }
        let mut cmd = Command::new(&self.path);
        cmd.current_dir(workspace_root()).args([
            "template",
            chart.name(),
            &format!("charts/{}", chart.name()),
            "--namespace",
            namespace,
        ]);
        for o in overrides {
            match o {
                Override::File(path) => cmd.arg("--values").arg(path),
                Override::Set(kv) => cmd.arg("--set").arg(kv),
            };
        }
        let out = self.run(&mut cmd)?;
        if !out.status.success() {
            return Err(HelmError::Template {
                chart: chart.name(),
                message: first_error(&out.stderr),
            });
        }
        String::from_utf8(out.stdout).map_err(|_| HelmError::Template {
            chart: chart.name(),
            message: "helm printed something that is not UTF-8".to_owned(),
        })
    }

    fn run(&self, cmd: &mut Command) -> Result<std::process::Output, HelmError> {
        cmd.output().map_err(|source| HelmError::Run {
            path: self.path.clone(),
            source,
        })
    }
}

/// helm's stderr without its generic hint (`Use --debug flag ...`), on one line.
fn first_error(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Use --debug flag"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An RFC 1123 label, which is what a namespace name must be.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_dns_labels() {
        for ok in ["default", "dev", "a", "p-3", "0ab"] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in ["", "Dev", "-dev", "dev-", "d_v", "d.v", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }

    #[test]
    fn helm_errors_keep_the_message_and_drop_the_debug_hint() {
        let stderr = "Error: execution error at (p2/templates/service.yaml:1:4): exactly one app\n\
                      \nUse --debug flag to render out invalid YAML\n";
        assert_eq!(
            first_error(stderr.as_bytes()),
            "Error: execution error at (p2/templates/service.yaml:1:4): exactly one app"
        );
    }
}
