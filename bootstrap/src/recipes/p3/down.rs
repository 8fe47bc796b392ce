//! `bootstrap down`: part 3 removed, from a cluster in Docker or from a cluster of the user's.

use std::path::Path;

use super::credentials_file;
use crate::docker::Engine;
use crate::error::Error;
use crate::gitops::seed;
use crate::k8s::existing;
use crate::recipes::cluster::{self, DeleteRequest, Deleted};
use crate::recipes::steps::Steps;

/// What `bootstrap down --context` removed.
#[derive(Debug)]
pub struct RemovedFromExisting {
    pub(crate) context: String,
    pub(crate) removed: existing::Removed,
}

impl RemovedFromExisting {
    pub(crate) fn render(&self) -> String {
        let r = &self.removed;
        if r.applications.is_empty() && r.namespaces.is_empty() && r.cluster_objects.is_empty() {
            return format!(
                "nothing of part 3 in context {}; the cluster is untouched",
                self.context
            );
        }
        let mut text = format!(
            "part 3 is gone from context {} (the cluster stays): {} Application(s), namespace(s) {}, {} cluster-wide object(s)",
            self.context,
            r.applications.len(),
            if r.namespaces.is_empty() {
                "none".to_owned()
            } else {
                r.namespaces.join(", ")
            },
            r.cluster_objects.len()
        );
        if !r.finalizers_dropped.is_empty() {
            text.push_str(&format!(
                "\nnote: Argo CD did not process the finalizer of {}; it was dropped and the namespaces took the app with them",
                r.finalizers_dropped.join(", ")
            ));
        }
        text
    }
}

/// `bootstrap down --context`: removes exactly what part 3 installed there (by label).
pub async fn down_existing(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    steps: &Steps,
) -> Result<RemovedFromExisting, Error> {
    let conn = existing::connect(kubeconfig, context).await?;
    existing::server_version(&conn).await?;
    let step = steps.begin(format!("remove part 3 from context {}", conn.context));
    let result = existing::remove_installed(
        &conn.client,
        existing::RemoveWaits::default(),
        &mut |line| step.set_message(&line),
    )
    .await;
    match result {
        Ok(removed) => {
            step.done(None)?;
            Ok(RemovedFromExisting {
                context: conn.context,
                removed,
            })
        }
        Err(e) => {
            step.failed(&e);
            Err(e)
        }
    }
}

/// Removes the cluster and the `lab` remote's configuration; fine to run twice.
pub async fn down(
    engine: &Engine,
    req: &DeleteRequest,
    workspace: &Path,
    config_dir: &Path,
    steps: &Steps,
) -> Result<Deleted, Error> {
    let deleted = cluster::delete(engine, req, steps).await?;
    let file = credentials_file(config_dir, &req.name);
    steps
        .run(format!("forget the {} remote", seed::REMOTE), async {
            match seed::open_clone(workspace) {
                Ok(repo) => seed::unconfigure(&repo, &file)?,
                // Not in the clone: the credentials file still goes.
                Err(_) => {
                    let _ = std::fs::remove_file(&file);
                }
            }
            Ok::<_, Error>(())
        })
        .await?;
    Ok(deleted)
}
