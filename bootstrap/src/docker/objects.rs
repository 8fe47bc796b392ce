//! Networks and volumes.

use bollard::query_parameters::{ListVolumesOptionsBuilder, RemoveVolumeOptionsBuilder};

use super::{DockerError, Engine, is_not_found, is_status, label_filters, translate};
use crate::spec::cluster::{NetworkFacts, NetworkSpec, VolumeSpec};

impl Engine {
    /// The network named exactly `name`, if it exists.
    pub async fn network(&self, name: &str) -> Result<Option<NetworkFacts>, DockerError> {
        match self.docker.inspect_network(name, None).await {
            // inspect also matches ID prefixes; only an exact name is ours
            Ok(n) if n.name.as_deref() == Some(name) => {
                let ipam = n.ipam.and_then(|i| i.config).unwrap_or_default();
                let v4 = ipam
                    .iter()
                    .find(|c| c.subnet.as_deref().is_some_and(|s| !s.contains(':')));
                Ok(Some(NetworkFacts {
                    id: n.id.unwrap_or_default(),
                    subnet: v4.and_then(|c| c.subnet.clone()).unwrap_or_default(),
                    gateway: v4.and_then(|c| c.gateway.clone()),
                    external: true,
                }))
            }
            Ok(_) => Ok(None),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(DockerError::api(format!("inspect network {name}"))(e)),
        }
    }

    /// Creates the network and reports what Docker assigned.
    pub(crate) async fn create_network(
        &self,
        spec: &NetworkSpec,
    ) -> Result<NetworkFacts, DockerError> {
        self.docker
            .create_network(translate::network(spec))
            .await
            .map_err(DockerError::api(format!("create network {}", spec.name)))?;
        let mut facts = self.network(&spec.name).await?.ok_or_else(|| {
            DockerError::Other(format!(
                "network {} vanished right after creation",
                spec.name
            ))
        })?;
        facts.external = false;
        Ok(facts)
    }

    /// Removes a network; one that is already gone is not an error.
    pub(crate) async fn remove_network(&self, name: &str) -> Result<(), DockerError> {
        match self.docker.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(DockerError::api(format!("remove network {name}"))(e)),
        }
    }

    pub(crate) async fn create_volume(&self, spec: &VolumeSpec) -> Result<(), DockerError> {
        self.docker
            .create_volume(translate::volume(spec))
            .await
            .map(drop)
            .map_err(DockerError::api(format!("create volume {}", spec.name)))
    }

    /// Removes a volume; one that is already gone is not an error, one still in use is.
    pub(crate) async fn remove_volume(&self, name: &str) -> Result<(), DockerError> {
        let opts = RemoveVolumeOptionsBuilder::default().force(false).build();
        match self.docker.remove_volume(name, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) if is_status(&e, 409) => Err(DockerError::Other(format!(
                "volume {name} is still used by a container; remove that container, then run this again"
            ))),
            Err(e) => Err(DockerError::api(format!("remove volume {name}"))(e)),
        }
    }

    /// Names of the volumes carrying all `labels`.
    pub(crate) async fn volumes_with_labels(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<String>, DockerError> {
        let opts = ListVolumesOptionsBuilder::default()
            .filters(&label_filters(labels))
            .build();
        let list = self
            .docker
            .list_volumes(Some(opts))
            .await
            .map_err(DockerError::api("list volumes"))?;
        let mut names: Vec<String> = list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect();
        names.sort();
        Ok(names)
    }
}
