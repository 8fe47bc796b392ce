//! `bootstrap image import`: `docker save` streamed into `ctr image import` in every server
//! and agent at once, over exec stdin (k3d's direct mode, without its temp files).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::try_join_all;

use super::steps::Steps;
use crate::Error;
use crate::docker::{DockerError, Engine, ExecSession};
use crate::spec::cluster::{LABEL_APP, LABEL_CLUSTER, LABEL_ROLE};
use crate::spec::names::ClusterName;

/// What K3s nodes run to load an image tarball from stdin into containerd.
pub(crate) const CTR_IMPORT: &[&str] = &["ctr", "image", "import", "--all-platforms", "-"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub nodes: Vec<String>,
    /// Bytes of the `docker save` stream (each node received all of them).
    pub bytes: u64,
    pub elapsed: Duration,
}

#[tracing::instrument(skip_all, fields(cluster = %cluster))]
pub async fn import(
    engine: &Engine,
    cluster: &ClusterName,
    images: &[String],
    steps: &Steps,
) -> Result<ImportReport, Error> {
    let containers = engine
        .containers_with_labels(&[LABEL_APP, (LABEL_CLUSTER, cluster.as_str())])
        .await?;
    if containers.is_empty() {
        return Err(Error::NoSuchCluster(cluster.to_string()));
    }
    let nodes: Vec<String> = containers
        .iter()
        .filter(|c| {
            matches!(
                c.labels.get(LABEL_ROLE).map(String::as_str),
                Some("server" | "agent")
            )
        })
        .filter(|c| c.state == "running")
        .map(|c| c.name.clone())
        .collect();
    if nodes.is_empty() {
        return Err(Error::NoRunningNodes {
            cluster: cluster.to_string(),
        });
    }
    for image in images {
        if !engine.image_present(image).await? {
            return Err(Error::ImageMissing(image.clone()));
        }
    }

    let step = steps.begin(format!(
        "import {} into {} node(s)",
        images.join(" "),
        nodes.len()
    ));
    let started = Instant::now();
    let result = stream_into_nodes(engine, images, &nodes, &step).await;
    match result {
        Ok(bytes) => {
            let elapsed = started.elapsed();
            let mib = bytes as f64 / (1024.0 * 1024.0);
            step.done(Some(format!(
                "{mib:.1} MiB each, {:.1} MiB/s",
                mib / elapsed.as_secs_f64().max(1e-9)
            )))?;
            Ok(ImportReport {
                nodes,
                bytes,
                elapsed,
            })
        }
        Err(e) => {
            step.failed(&e);
            Err(e)
        }
    }
}

async fn stream_into_nodes(
    engine: &Engine,
    images: &[String],
    nodes: &[String],
    step: &super::steps::Step,
) -> Result<u64, Error> {
    let mut sessions: Vec<ExecSession> =
        try_join_all(nodes.iter().map(|n| engine.exec_with_stdin(n, CTR_IMPORT))).await?;
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let mut stream = Box::pin(engine.export_images(&refs));
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        try_join_all(sessions.iter_mut().map(|s| s.write(&chunk))).await?;
        bytes += chunk.len() as u64;
        step.set_bytes(bytes);
    }
    let outcomes = try_join_all(sessions.into_iter().map(|s| {
        let node = s.container().to_owned();
        async move { s.finish(engine).await.map(|o| (node, o)) }
    }))
    .await?;
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|(_, o)| o.exit_code != 0)
        .map(|(n, o)| format!("{n} (exit {}): {}", o.exit_code, o.output.trim()))
        .collect();
    if !failed.is_empty() {
        return Err(DockerError::Other(format!(
            "`{}` failed in {}; check the node's containerd (`docker logs <node>`)",
            CTR_IMPORT.join(" "),
            failed.join("; ")
        ))
        .into());
    }
    Ok(bytes)
}
