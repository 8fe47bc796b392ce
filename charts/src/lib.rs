//! The lab's Helm charts (`charts/p1`, `charts/p2`, `charts/p3`) as typed Kubernetes objects.
//!
//! [`render`] runs the pinned `helm template` (installed by `./test.sh` into `.cache/`) and
//! parses what it prints into k8s-openapi types; [`rules`] holds what a rendered chart must keep
//! (Ingress routing, the Service → pod → container port chain, pod hardening) as pure
//! functions; [`confs`] is the table of the plain manifests committed under `pN/confs/`, which
//! `cargo run -p lab-charts --bin render-confs` regenerates.

pub mod confs;
pub mod helm;
pub mod objects;
pub mod rules;

use std::path::{Path, PathBuf};

pub use helm::{Helm, Override};
pub use objects::Object;

/// One of the lab's charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    P1,
    P2,
    P3,
}

impl Chart {
    pub const ALL: [Chart; 3] = [Chart::P1, Chart::P2, Chart::P3];

    /// The chart's name (Chart.yaml), its directory under `charts/` and its release name.
    pub fn name(self) -> &'static str {
        match self {
            Chart::P1 => "p1",
            Chart::P2 => "p2",
            Chart::P3 => "p3",
        }
    }

    pub fn dir(self) -> PathBuf {
        workspace_root().join("charts").join(self.name())
    }
}

/// Everything that can go wrong between a chart and its typed objects.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Helm(#[from] helm::HelmError),
    #[error(transparent)]
    Parse(#[from] objects::ParseError),
}

/// The repository root: the workspace that holds this crate.
pub fn workspace_root() -> &'static Path {
    // charts/ is a direct member of the workspace, so its parent is the root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
}

/// `helm template <chart> charts/<chart> --namespace <namespace>` with `overrides`, as text.
pub fn render_text(chart: Chart, namespace: &str, overrides: &[Override]) -> Result<String, Error> {
    Ok(Helm::locate()?.template(chart, namespace, overrides)?)
}

/// [`render_text`], parsed into typed objects in the order helm printed them.
pub fn render(chart: Chart, namespace: &str, overrides: &[Override]) -> Result<Vec<Object>, Error> {
    let text = render_text(chart, namespace, overrides)?;
    Ok(objects::parse(&text)?)
}
