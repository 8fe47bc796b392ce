//! The plain manifests committed under `pN/confs/`: what the 42 subject expects to find there,
//! generated from the charts so that the two never disagree.

use std::path::PathBuf;

use crate::{Chart, Error, render_text, workspace_root};

/// One committed render.
#[derive(Debug, Clone, Copy)]
pub struct Conf {
    pub chart: Chart,
    pub namespace: &'static str,
    /// Relative to the repository root.
    pub file: &'static str,
}

/// Every committed render. Other files in these directories (p3's Argo CD Application) are
/// written by hand and not checked here.
pub const CONFS: [Conf; 3] = [
    Conf {
        chart: Chart::P1,
        namespace: "default",
        file: "p1/confs/node-echo.yaml",
    },
    Conf {
        chart: Chart::P2,
        namespace: "default",
        file: "p2/confs/apps.yaml",
    },
    Conf {
        chart: Chart::P3,
        namespace: "dev",
        file: "p3/confs/playground.yaml",
    },
];

/// How to regenerate the files, as their header and the sync test's failure message say.
pub const REGENERATE: &str = "cargo run -p lab-charts --bin render-confs";

impl Conf {
    pub fn path(&self) -> PathBuf {
        workspace_root().join(self.file)
    }

    /// The file's exact expected content: a header saying where it comes from, then the render.
    pub fn expected(&self) -> Result<String, Error> {
        let name = self.chart.name();
        let render = render_text(self.chart, self.namespace, &[])?;
        Ok(format!(
            "# Generated from charts/{name} by `helm template {name} charts/{name} --namespace {ns}`;\n\
             # edit the chart, then run `{REGENERATE}`.\n{render}",
            ns = self.namespace,
        ))
    }
}
