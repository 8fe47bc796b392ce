//! Arguments turned into the spec layer's options: the cluster's shape, its API endpoint,
//! its token and node security.

use std::net::{IpAddr, Ipv4Addr, TcpListener};

use super::args::ShapeArgs;

use crate::Error;
use crate::spec::cluster::{
    ClusterOptions, ClusterPlan, K3sArgFlag, NodeSecurity, VolumeFlag, token_from_random,
};
use crate::spec::fixes::Fixes;
use crate::spec::names::{ClusterName, DEFAULT_CLUSTER_NAME};
use crate::spec::ports::{
    ApiEndpoint, ApiHost, ApiPortSpec, DEFAULT_API_HOST, PortFlag, api_host_for_docker_host,
};
use crate::spec::registry::{Registry, RegistryCreateFlag};

/// Privileged nodes, as K3s needs, unless a test build asks for stand-in nodes without it.
pub(super) fn node_security(
    #[cfg(feature = "test-nodes")] unprivileged_test_nodes: bool,
) -> NodeSecurity {
    #[cfg(feature = "test-nodes")]
    if unprivileged_test_nodes {
        return NodeSecurity::TestWithoutPrivileged;
    }
    NodeSecurity::Privileged
}

pub(super) fn new_token() -> Result<String, Error> {
    let mut random = [0u8; 64];
    getrandom::fill(&mut random).map_err(|e| Error::Command {
        command: "generate a cluster token".to_owned(),
        reason: format!("the OS gave no randomness ({e}); pass --token"),
    })?;
    token_from_random(&random).ok_or_else(|| Error::Command {
        command: "generate a cluster token".to_owned(),
        reason: "too few usable random bytes; pass --token".to_owned(),
    })
}

impl ShapeArgs {
    /// Options for a real cluster.
    pub(super) fn options(
        &self,
        name: &str,
        token: String,
        fixes: Fixes,
        security: NodeSecurity,
        k3s_args: &[String],
        volumes: &[String],
    ) -> Result<ClusterOptions, Error> {
        let name = ClusterName::parse(name)?;
        let api = resolve_api(
            self.api_port.as_deref(),
            std::env::var("DOCKER_HOST").ok().as_deref(),
        )?;
        Ok(ClusterOptions {
            extra_labels: std::collections::BTreeMap::new(),
            registries: Default::default(),
            name,
            servers: self.servers,
            agents: self.agents,
            image: self.images.image.clone(),
            lb_image: self.images.lb_image.clone(),
            api,
            ports: self
                .ports
                .iter()
                .map(|p| PortFlag::parse(p))
                .collect::<Result<_, _>>()?,
            volumes: volumes
                .iter()
                .map(|v| VolumeFlag::parse(v))
                .collect::<Result<_, _>>()?,
            k3s_args: k3s_args
                .iter()
                .map(|a| K3sArgFlag::parse(a))
                .collect::<Result<_, _>>()?,
            token,
            fixes,
            security,
        })
    }

    /// A plan of this shape for `doctor`, which only looks at its ports and images.
    pub(super) fn plan_for_checks(&self) -> Result<ClusterPlan, Error> {
        let none = Fixes {
            cgroupv2: false,
            dns: false,
            mounts: false,
        };
        let options = self.options(
            DEFAULT_CLUSTER_NAME,
            "x".repeat(20),
            none,
            NodeSecurity::Privileged,
            &[],
            &[],
        )?;
        Ok(ClusterPlan::new(options)?)
    }
}

/// `--registry-create` → the registry with its host address resolved and its port chosen, as
/// k3d's port-exposure spec does it: a hostname to its IPv4 address, no host: 0.0.0.0, no
/// port: a free one.
pub(crate) fn resolve_registry_create(flag: &str) -> Result<Registry, Error> {
    let parsed = RegistryCreateFlag::parse(flag)?;
    let host_ip = match parsed.host.as_deref() {
        None => Ipv4Addr::UNSPECIFIED,
        Some(host) => host
            .parse::<Ipv4Addr>()
            .ok()
            .or_else(|| ipv4_of(host))
            .ok_or_else(|| crate::spec::SpecError::InvalidFlag {
                flag: format!("--registry-create {flag}"),
                reason: format!("the host {host} has no IPv4 address"),
            })?,
    };
    let port = match parsed.port {
        Some(p) => p,
        None => free_port(host_ip, "the registry")?,
    };
    Ok(Registry::created(&parsed, &host_ip.to_string(), port))
}

fn ipv4_of(name: &str) -> Option<Ipv4Addr> {
    std::net::ToSocketAddrs::to_socket_addrs(&(name, 0))
        .ok()
        .and_then(|mut addrs| {
            addrs.find_map(|a| match a.ip() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            })
        })
}

fn free_port(ip: Ipv4Addr, what: &str) -> Result<u16, Error> {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(Error::io(format!("find a free port on {ip} for {what}")))
}

/// `--api-port` → where the API is published: k3d's defaults (0.0.0.0, a free port), a
/// hostname resolved to its IPv4 address, and the Docker host's name when Docker is remote.
fn resolve_api(spec: Option<&str>, docker_host: Option<&str>) -> Result<ApiEndpoint, Error> {
    let parsed = match spec {
        Some(s) => ApiPortSpec::parse(s)?,
        None => ApiPortSpec {
            host: None,
            port: None,
        },
    };
    let (host, host_ip) = match &parsed.host {
        None => (DEFAULT_API_HOST.to_owned(), Ipv4Addr::UNSPECIFIED),
        Some(ApiHost::Ip(ip)) => (ip.to_string(), *ip),
        Some(ApiHost::Name(name)) => {
            let ip = ipv4_of(name).ok_or_else(|| crate::spec::SpecError::InvalidApiPort {
                spec: spec.unwrap_or_default().to_owned(),
                reason: format!("the host {name} has no IPv4 address"),
            })?;
            (name.clone(), ip)
        }
    };
    let port = match parsed.port {
        Some(p) => p,
        None => free_port(host_ip, "the API")?,
    };
    Ok(ApiEndpoint {
        host: api_host_for_docker_host(&host, docker_host),
        host_ip: host_ip.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_resolution() {
        let api = resolve_api(Some("6443"), None).unwrap();
        assert_eq!(
            api,
            ApiEndpoint {
                host: "0.0.0.0".into(),
                host_ip: "0.0.0.0".into(),
                port: 6443
            }
        );
        let api = resolve_api(Some("localhost:6550"), None).unwrap();
        assert_eq!(
            api,
            ApiEndpoint {
                host: "localhost".into(),
                host_ip: "127.0.0.1".into(),
                port: 6550
            }
        );
        let api = resolve_api(Some("127.0.0.1:random"), None).unwrap();
        assert_eq!(api.host_ip, "127.0.0.1");
        assert_ne!(api.port, 0);
        let api = resolve_api(None, Some("tcp://docker.example:2376")).unwrap();
        assert_eq!(api.host, "docker.example");
        assert_eq!(api.host_ip, "0.0.0.0");
    }

    #[test]
    fn registry_resolution() {
        let r = resolve_registry_create("demo-registry:0.0.0.0:5111").unwrap();
        assert_eq!(
            (
                r.name.as_str(),
                r.host.as_str(),
                r.host_ip.as_str(),
                r.host_port
            ),
            ("demo-registry", "0.0.0.0", "0.0.0.0", 5111)
        );
        let r = resolve_registry_create("reg:localhost:5111").unwrap();
        assert_eq!(
            (r.host.as_str(), r.host_ip.as_str()),
            ("localhost", "127.0.0.1")
        );
        let r = resolve_registry_create("reg").unwrap();
        assert_eq!(
            (r.host.as_str(), r.host_ip.as_str()),
            ("0.0.0.0", "0.0.0.0")
        );
        assert_ne!(r.host_port, 0);
        let e = resolve_registry_create("reg:no-such-host.invalid:5000").unwrap_err();
        assert!(e.to_string().contains("has no IPv4 address"), "{e}");
    }
}
