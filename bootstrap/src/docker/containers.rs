//! Containers: create, files in and out, start, wait for the ready line, stop, remove, list.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures_util::{StreamExt, TryStreamExt};

use super::{DockerError, Engine, is_not_found, is_status, label_filters, message_of, translate};
use crate::spec::archive::{self, FileSpec, TarItem};
use crate::spec::cluster::NodeSpec;
use crate::spec::logs::{ReadyMatcher, Timestamp, parse_timestamp};

/// How often k3d re-follows a log that ended on a fatal line (the node restarts).
const FATAL_RETRIES: usize = 10;

/// What `list` needs of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Docker's state word: `created`, `running`, `exited`, ...
    pub(crate) state: String,
    pub(crate) status: String,
    /// `host_ip:host_port->port/proto` for each published port.
    pub ports: Vec<String>,
}

impl Engine {
    pub(crate) async fn create_container(&self, node: &NodeSpec) -> Result<String, DockerError> {
        let opts = CreateContainerOptionsBuilder::default()
            .name(&node.name)
            .build();
        let created = self
            .docker
            .create_container(Some(opts), translate::container(node))
            .await
            .map_err(|e| {
                if is_status(&e, 409) {
                    DockerError::Other(format!(
                        "a container named {} already exists; remove it (`docker rm -f {}`) or choose another cluster name",
                        node.name, node.name
                    ))
                } else if is_not_found(&e) {
                    DockerError::Other(format!(
                        "image {} is not present; pull or build it first",
                        node.image
                    ))
                } else {
                    DockerError::api(format!("create container {}", node.name))(e)
                }
            })?;
        Ok(created.id)
    }

    /// Writes files into a (created or running) container through the archive API.
    pub(crate) async fn upload_files(
        &self,
        container: &str,
        files: &[FileSpec],
    ) -> Result<(), DockerError> {
        if files.is_empty() {
            return Ok(());
        }
        let items: Vec<TarItem> = files.iter().map(TarItem::from).collect();
        let tar = archive::build(&items).map_err(|e| DockerError::Other(e.to_string()))?;
        let opts = UploadToContainerOptionsBuilder::default().path("/").build();
        self.docker
            .upload_to_container(container, Some(opts), bollard::body_full(tar.into()))
            .await
            .map_err(DockerError::api(format!("copy files into {container}")))
    }

    /// Reads one file out of a container (Docker sends it as a tar).
    pub(crate) async fn read_file(
        &self,
        container: &str,
        path: &str,
    ) -> Result<Vec<u8>, DockerError> {
        let opts = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let chunks: Vec<bytes::Bytes> = self
            .docker
            .download_from_container(container, Some(opts))
            .try_collect()
            .await
            .map_err(DockerError::api(format!("read {path} from {container}")))?;
        let tar: Vec<u8> = chunks.concat();
        let name = path.rsplit('/').next().unwrap_or(path);
        archive::read_file(&tar, name)
            .map_err(|e| DockerError::Other(format!("{container}:{path}: {e}")))
    }

    pub(crate) async fn start_container(&self, container: &str) -> Result<(), DockerError> {
        self.docker.start_container(container, None).await.map_err(|e| {
            let message = message_of(&e);
            if message.contains("address already in use") || message.contains("port is already allocated") {
                DockerError::Other(format!(
                    "Docker could not start {container}: {message}; free that host port or choose another (`bootstrap doctor` shows who holds it)"
                ))
            } else {
                DockerError::api(format!("start {container}"))(e)
            }
        })
    }

    /// When the container's previous run ended (`None` if it never ran): lines logged after
    /// it belong to the next run. Docker's own clock, unlike `StartedAt`, precedes the first
    /// line of a run (it is recorded after the process is already writing).
    pub(crate) async fn previous_run_end(
        &self,
        container: &str,
    ) -> Result<Option<Timestamp>, DockerError> {
        let state = self.inspect_state(container).await?;
        Ok(state
            .finished_at
            .as_deref()
            .and_then(parse_timestamp)
            .filter(|ts| ts.0 > 0))
    }

    async fn inspect_state(
        &self,
        container: &str,
    ) -> Result<bollard::models::ContainerState, DockerError> {
        let c = self
            .docker
            .inspect_container(container, None)
            .await
            .map_err(DockerError::api(format!("inspect {container}")))?;
        Ok(c.state.unwrap_or_default())
    }

    /// Follows the container's log (only lines after `since`, if given) until a line
    /// contains `needle` (ignoring case), bounded by `timeout`; errors carry the node's last
    /// lines.
    pub(crate) async fn wait_for_log(
        &self,
        container: &str,
        needle: &str,
        since: Option<Timestamp>,
        timeout: Duration,
    ) -> Result<(), DockerError> {
        let mut matcher = ReadyMatcher::new(needle, since);
        let follow = async {
            let mut from = since.unwrap_or((0, 0));
            for _ in 0..=FATAL_RETRIES {
                let opts = LogsOptionsBuilder::default()
                    .follow(true)
                    .stdout(true)
                    .stderr(true)
                    .timestamps(true)
                    .since(i32::try_from(from.0).unwrap_or(0))
                    .build();
                let mut logs = self.docker.logs(container, Some(opts));
                while let Some(item) = logs.next().await {
                    let chunk = match item {
                        Ok(
                            LogOutput::StdOut { message }
                            | LogOutput::StdErr { message }
                            | LogOutput::Console { message },
                        ) => message,
                        Ok(LogOutput::StdIn { .. }) => continue,
                        Err(e) => {
                            return Err(
                                DockerError::api(format!("follow the log of {container}"))(e),
                            );
                        }
                    };
                    if matcher.feed(&chunk) {
                        return Ok(());
                    }
                }
                if !matcher.ended_fatally() {
                    break;
                }
                from = matcher.last_seen().unwrap_or(from);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let state = self.inspect_state(container).await?;
            Err(DockerError::Exited {
                node: container.to_owned(),
                needle: needle.to_owned(),
                state: describe_state(&state),
                tail: String::new(),
            })
        };
        let tail = |m: &ReadyMatcher| {
            let lines = m.tail();
            if lines.is_empty() {
                "  (no output)".to_owned()
            } else {
                lines
                    .iter()
                    .map(|l| format!("  {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        };
        match tokio::time::timeout(timeout, follow).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(DockerError::Exited {
                node,
                needle,
                state,
                ..
            })) => Err(DockerError::Exited {
                node,
                needle,
                state,
                tail: tail(&matcher),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(DockerError::NotReady {
                node: container.to_owned(),
                needle: needle.to_owned(),
                waited_s: timeout.as_secs(),
                tail: tail(&matcher),
            }),
        }
    }

    /// Stops a container (Docker's default grace period); stopped or gone is fine.
    pub(crate) async fn stop_container(&self, container: &str) -> Result<(), DockerError> {
        let opts = StopContainerOptionsBuilder::default().t(10).build();
        match self.docker.stop_container(container, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) || is_status(&e, 304) => Ok(()),
            Err(e) => Err(DockerError::api(format!("stop {container}"))(e)),
        }
    }

    /// `docker rm -f -v`: the container and its anonymous volumes; gone is fine.
    pub(crate) async fn remove_container(&self, container: &str) -> Result<(), DockerError> {
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(container, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(DockerError::api(format!("remove {container}"))(e)),
        }
    }

    /// Every container (running or not) carrying all `labels`, sorted by name.
    pub(crate) async fn containers_with_labels(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<ContainerInfo>, DockerError> {
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&label_filters(labels))
            .build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(DockerError::api("list containers"))?;
        let mut out: Vec<ContainerInfo> = list
            .into_iter()
            .map(|c| ContainerInfo {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .unwrap_or_default()
                    .first()
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .unwrap_or_default(),
                labels: c.labels.unwrap_or_default().into_iter().collect(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                status: c.status.unwrap_or_default(),
                ports: c
                    .ports
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|p| {
                        let public = p.public_port?;
                        let ip = p.ip.clone().unwrap_or_default();
                        let proto = p
                            .typ
                            .map(|t| t.to_string())
                            .unwrap_or_else(|| "tcp".to_owned());
                        Some(format!("{ip}:{public}->{}/{proto}", p.private_port))
                    })
                    .collect(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

fn describe_state(s: &bollard::models::ContainerState) -> String {
    let status = s
        .status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "unknown".to_owned());
    match (s.exit_code, s.error.as_deref()) {
        (_, Some(err)) if !err.is_empty() => format!("{status}: {err}"),
        (Some(code), _) => format!("{status}, exit code {code}"),
        _ => status,
    }
}
