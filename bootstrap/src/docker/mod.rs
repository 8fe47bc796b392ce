//! The thin bollard adapter: specs in, Docker API calls out. No decisions are made here
//! beyond mapping Docker's answers to typed errors.

mod containers;
mod exec;
mod images;
mod objects;
mod registry;
pub(crate) mod translate;

use std::collections::HashMap;

use bollard::Docker;
use thiserror::Error;

pub use containers::ContainerInfo;
pub use exec::{ExecOutcome, ExecSession};
pub use images::{BuildOutcome, PullProgress};

/// A connected, version-negotiated Docker engine.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    endpoint: Endpoint,
}

/// Where Docker is reached and why there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) url: String,
    pub(crate) from_docker_host: bool,
}

impl Endpoint {
    /// `DOCKER_HOST` if set, else the local socket (what the docker CLI does).
    pub(crate) fn from_env(docker_host: Option<String>) -> Self {
        match docker_host.filter(|h| !h.is_empty()) {
            Some(url) => Self {
                url,
                from_docker_host: true,
            },
            None => Self {
                url: "unix:///var/run/docker.sock".to_owned(),
                from_docker_host: false,
            },
        }
    }

    /// Docker runs on this machine: host ports and memory can be checked here.
    pub(crate) fn is_local(&self) -> bool {
        self.url.starts_with("unix://") || self.url.starts_with("npipe://")
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = if self.from_docker_host {
            "DOCKER_HOST"
        } else {
            "default"
        };
        write!(f, "{} ({why})", self.url)
    }
}

#[derive(Debug, Error)]
pub enum DockerError {
    #[error(
        "cannot reach Docker at {endpoint}: {reason}; start Docker or point DOCKER_HOST at a running engine"
    )]
    Unreachable { endpoint: String, reason: String },

    #[error("Docker could not {action}: {message}")]
    Api { action: String, message: String },

    #[error("node {node} did not log {needle:?} within {waited_s}s; its last lines:\n{tail}")]
    NotReady {
        node: String,
        needle: String,
        waited_s: u64,
        tail: String,
    },

    #[error("node {node} stopped ({state}) before it logged {needle:?}; its last lines:\n{tail}")]
    Exited {
        node: String,
        needle: String,
        state: String,
        tail: String,
    },

    #[error("{0}")]
    Other(String),
}

impl DockerError {
    fn api(action: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> DockerError {
        let action = action.into();
        move |e| DockerError::Api {
            action,
            message: message_of(&e),
        }
    }
}

/// Docker's own message for server errors; bollard's text for the rest.
fn message_of(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn is_status(e: &bollard::errors::Error, code: u16) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code, .. } if *status_code == code)
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    is_status(e, 404)
}

/// Docker label filters: `label=k=v` for each pair.
fn label_filters(labels: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_owned(),
        labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    )])
}

impl Engine {
    /// Connects as the docker CLI would (`DOCKER_HOST`, else the local socket) and negotiates
    /// the API version, so an older engine (here: API 1.41) is spoken to in its version.
    pub async fn connect() -> Result<Self, DockerError> {
        let endpoint = Endpoint::from_env(std::env::var("DOCKER_HOST").ok());
        let unreachable = |reason: String| DockerError::Unreachable {
            endpoint: endpoint.to_string(),
            reason,
        };
        let docker = Docker::connect_with_defaults().map_err(|e| unreachable(e.to_string()))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| unreachable(message_of(&e)))?;
        Ok(Self { docker, endpoint })
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// `GET /info` and `GET /version`, as preflight facts.
    pub(crate) async fn facts(&self) -> Result<crate::spec::doctor::EngineFacts, DockerError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(DockerError::api("report its info"))?;
        let version = self
            .docker
            .version()
            .await
            .map_err(DockerError::api("report its version"))?;
        Ok(crate::spec::doctor::EngineFacts {
            server_version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            os: info.operating_system.unwrap_or_default(),
            os_type: info.os_type.unwrap_or_default(),
            arch: version.arch.unwrap_or_default(),
            name: info.name.unwrap_or_default(),
            cgroup_version: info
                .cgroup_version
                .map(|v| v.to_string())
                .filter(|v| !v.is_empty()),
            mem_total: info
                .mem_total
                .and_then(|m| u64::try_from(m).ok())
                .unwrap_or(0),
            rootless: info
                .security_options
                .unwrap_or_default()
                .iter()
                .any(|o| o.contains("rootless")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_follows_docker_host() {
        let d = Endpoint::from_env(None);
        assert_eq!(d.to_string(), "unix:///var/run/docker.sock (default)");
        assert!(d.is_local());
        let t = Endpoint::from_env(Some("tcp://docker.example:2376".into()));
        assert_eq!(t.to_string(), "tcp://docker.example:2376 (DOCKER_HOST)");
        assert!(!t.is_local());
        assert!(!Endpoint::from_env(Some(String::new())).from_docker_host);
    }
}
