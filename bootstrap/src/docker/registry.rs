//! Registry containers: read one back, connect and disconnect it, which networks it is on;
//! push an image to it.

use std::collections::BTreeMap;

use bollard::models::{NetworkConnectRequest, NetworkDisconnectRequest};
use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::StreamExt;

use super::{DockerError, Engine, is_not_found};
use crate::spec::ports::HostBinding;
use crate::spec::registry::{Registry, registry_from_container};

impl Engine {
    /// The registry container `name` as `--registry-use` needs it (k3d's `RegistryFromNode`).
    pub(crate) async fn registry(&self, name: &str) -> Result<Registry, DockerError> {
        let c = match self.docker.inspect_container(name, None).await {
            Ok(c) => c,
            Err(e) if is_not_found(&e) => {
                return Err(DockerError::Other(format!(
                    "no registry container named {name}; create one first (e.g. `bootstrap cluster create other --registry-create {name}:127.0.0.1:5000`)"
                )));
            }
            Err(e) => return Err(DockerError::api(format!("inspect container {name}"))(e)),
        };
        let ports: BTreeMap<String, Vec<HostBinding>> = c
            .host_config
            .and_then(|h| h.port_bindings)
            .unwrap_or_default()
            .into_iter()
            .map(|(key, bindings)| {
                let bindings = bindings
                    .unwrap_or_default()
                    .into_iter()
                    .map(|b| HostBinding {
                        host_ip: b.host_ip.unwrap_or_default(),
                        host_port: b.host_port.unwrap_or_default(),
                    })
                    .collect();
                (key, bindings)
            })
            .collect();
        registry_from_container(name, &ports).map_err(DockerError::Other)
    }

    /// The names of the networks a container is attached to.
    pub(crate) async fn container_networks(
        &self,
        container: &str,
    ) -> Result<Vec<String>, DockerError> {
        let c = self
            .docker
            .inspect_container(container, None)
            .await
            .map_err(DockerError::api(format!("inspect container {container}")))?;
        let mut nets: Vec<String> = c
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default()
            .into_keys()
            .collect();
        nets.sort();
        Ok(nets)
    }

    /// Attaches a container to a network; already attached is fine.
    pub(crate) async fn connect_network(
        &self,
        container: &str,
        network: &str,
    ) -> Result<(), DockerError> {
        if self
            .container_networks(container)
            .await?
            .iter()
            .any(|n| n == network)
        {
            return Ok(());
        }
        self.docker
            .connect_network(
                network,
                NetworkConnectRequest {
                    container: container.to_owned(),
                    ..Default::default()
                },
            )
            .await
            .map_err(DockerError::api(format!(
                "connect {container} to network {network}"
            )))
    }

    /// Detaches a container from a network; either gone is fine.
    pub(crate) async fn disconnect_network(
        &self,
        container: &str,
        network: &str,
    ) -> Result<(), DockerError> {
        match self
            .docker
            .disconnect_network(
                network,
                NetworkDisconnectRequest {
                    container: container.to_owned(),
                    force: Some(true),
                },
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(DockerError::api(format!(
                "disconnect {container} from network {network}"
            ))(e)),
        }
    }

    /// The containers attached to a network, by name (none when it is gone).
    pub(crate) async fn network_containers(
        &self,
        network: &str,
    ) -> Result<Vec<String>, DockerError> {
        match self.docker.inspect_network(network, None).await {
            Ok(n) => Ok(n
                .containers
                .unwrap_or_default()
                .into_values()
                .filter_map(|c| c.name)
                .collect()),
            Err(e) if is_not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(DockerError::api(format!("inspect network {network}"))(e)),
        }
    }

    /// Tags `image` as `target` (`host:port/repo:tag`) and pushes it through the Docker API.
    /// Returns the digest the registry reported.
    pub async fn push_image(&self, image: &str, target: &str) -> Result<String, DockerError> {
        let (repo, tag) = split_tag(target);
        self.docker
            .tag_image(
                image,
                Some(
                    TagImageOptionsBuilder::default()
                        .repo(repo)
                        .tag(tag)
                        .build(),
                ),
            )
            .await
            .map_err(DockerError::api(format!("tag {image} as {target}")))?;
        let opts = PushImageOptionsBuilder::default().tag(tag).build();
        let mut stream = self.docker.push_image(repo, Some(opts), None);
        let mut digest = String::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(DockerError::api(format!("push {target}")))?;
            if let Some(e) = info.error_detail.and_then(|d| d.message) {
                return Err(DockerError::Other(format!("push {target}: {e}")));
            }
            // the last status line: `<tag>: digest: sha256:… size: N`
            if let Some(d) = info
                .status
                .as_deref()
                .and_then(|s| s.split_once("digest: "))
                .and_then(|(_, rest)| rest.split_whitespace().next())
            {
                digest = d.to_owned();
            }
        }
        Ok(digest)
    }
}

/// `host:port/repo:tag` → (`host:port/repo`, `tag`); the port's colon is no tag.
pub(crate) fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::split_tag;

    #[test]
    fn tag_split() {
        assert_eq!(
            split_tag("localhost:5111/echo-app:v1"),
            ("localhost:5111/echo-app", "v1")
        );
        assert_eq!(
            split_tag("localhost:5111/echo-app"),
            ("localhost:5111/echo-app", "latest")
        );
        assert_eq!(split_tag("echo-app:v2"), ("echo-app", "v2"));
    }
}
