//! Port specs: Docker's `[IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]` for `-p`, and k3d's
//! `[HOST:]PORT|random` for `--api-port`.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use super::SpecError;
use super::filter::{NodeFilter, split_filters};

/// The port the Kubernetes API listens on inside every server.
pub(crate) const API_PORT: u16 = 6443;

/// k3d's API host when none is given.
pub(crate) const DEFAULT_API_HOST: &str = "0.0.0.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// A host binding as Docker stores it: an empty IP means every interface, an empty port means
/// "Docker picks one".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct HostBinding {
    pub host_ip: String,
    pub host_port: String,
}

/// One `-p` mapping without its node filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct PortMapping {
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: Option<u16>,
    pub(crate) container_port: u16,
    pub(crate) protocol: Protocol,
}

impl PortMapping {
    /// Docker's port key, e.g. `8888/tcp`.
    pub(crate) fn docker_key(&self) -> String {
        format!("{}/{}", self.container_port, self.protocol.as_str())
    }

    /// The load balancer config key, e.g. `8888.tcp`.
    pub(crate) fn lb_key(&self) -> String {
        format!("{}.{}", self.container_port, self.protocol.as_str())
    }

    pub(crate) fn binding(&self) -> HostBinding {
        HostBinding {
            host_ip: self.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            host_port: self.host_port.map(|p| p.to_string()).unwrap_or_default(),
        }
    }

    /// Parses Docker's short syntax (one port, not a range).
    pub fn parse(spec: &str) -> Result<Self, SpecError> {
        let bad = |reason: &str| SpecError::InvalidPort {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        if spec.starts_with('[') {
            return Err(bad(
                "IPv6 host addresses are not supported; use an IPv4 address",
            ));
        }
        let (addr, proto) = match spec.rsplit_once('/') {
            Some((a, p)) => (a, p),
            None => (spec, "tcp"),
        };
        let protocol = match proto {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "sctp" => Protocol::Sctp,
            _ => return Err(bad("the protocol must be tcp, udp or sctp")),
        };
        let parts: Vec<&str> = addr.split(':').collect();
        let (ip, host_port, container_port) = match parts.as_slice() {
            [c] => (None, None, *c),
            [h, c] => (None, Some(*h), *c),
            [ip, h, c] => (Some(*ip), Some(*h), *c),
            _ => {
                return Err(bad(
                    "the form is [IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], e.g. 8080:80",
                ));
            }
        };
        if container_port.contains('-') || host_port.is_some_and(|h| h.contains('-')) {
            return Err(bad("port ranges are not supported; give one -p per port"));
        }
        let host_ip = match ip {
            None | Some("") => None,
            Some(ip) => Some(
                ip.parse::<Ipv4Addr>()
                    .map_err(|_| bad("the host IP must be an IPv4 address such as 127.0.0.1"))?,
            ),
        };
        let host_port = match host_port {
            None | Some("") => None,
            Some(p) => Some(parse_port(p).ok_or_else(|| bad(PORT_RANGE))?),
        };
        let container_port = parse_port(container_port).ok_or_else(|| bad(PORT_RANGE))?;
        Ok(Self {
            host_ip,
            host_port,
            container_port,
            protocol,
        })
    }
}

const PORT_RANGE: &str = "a port must be a number from 1 to 65535";

fn parse_port(s: &str) -> Option<u16> {
    s.parse::<u16>().ok().filter(|p| *p != 0)
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ip) = self.host_ip {
            write!(f, "{ip}:")?;
        }
        match self.host_port {
            Some(p) => write!(f, "{p}:")?,
            None if self.host_ip.is_some() => write!(f, ":")?,
            None => {}
        }
        write!(f, "{}/{}", self.container_port, self.protocol.as_str())
    }
}

/// A `-p` flag: the mapping and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortFlag {
    pub(crate) mapping: PortMapping,
    pub(crate) filters: Vec<NodeFilter>,
}

impl PortFlag {
    pub fn parse(flag: &str) -> Result<Self, SpecError> {
        let (spec, filters) = split_filters(flag)?;
        Ok(Self {
            mapping: PortMapping::parse(&spec)?,
            filters: filters
                .iter()
                .map(|f| NodeFilter::parse(f))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// `--api-port` as written, before name resolution and free-port picking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiPortSpec {
    /// `None`: k3d's default host, 0.0.0.0.
    pub host: Option<ApiHost>,
    /// `None`: `random`, a free port picked on the host.
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiHost {
    Ip(Ipv4Addr),
    Name(String),
}

impl ApiPortSpec {
    /// k3d's syntax: `[HOST_IP|HOSTNAME:]PORT`, where PORT may be `random`.
    pub fn parse(spec: &str) -> Result<Self, SpecError> {
        let bad = |reason: &str| SpecError::InvalidApiPort {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let (host, port) = match spec.rsplit_once(':') {
            Some((h, p)) => (Some(h), p),
            None => (None, spec),
        };
        let host = match host {
            None => None,
            Some("") => return Err(bad("the host before ':' is empty")),
            Some(h) if h.chars().any(char::is_whitespace) || h.contains(':') => {
                return Err(bad("the host must be an IPv4 address or a hostname"));
            }
            Some(h) => Some(match h.parse::<Ipv4Addr>() {
                Ok(ip) => ApiHost::Ip(ip),
                Err(_) => ApiHost::Name(h.to_owned()),
            }),
        };
        let port = match port {
            "random" => None,
            p => Some(parse_port(p).ok_or_else(|| {
                bad("the port must be a number from 1 to 65535 or the word random")
            })?),
        };
        Ok(Self { host, port })
    }
}

/// Where the Kubernetes API is published, after resolution: what the kubeconfig and the
/// `--tls-san` name (`host`), the IP Docker binds (`host_ip`) and the host port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiEndpoint {
    pub host: String,
    pub host_ip: String,
    pub port: u16,
}

impl ApiEndpoint {
    pub(crate) fn binding(&self) -> HostBinding {
        HostBinding {
            host_ip: self.host_ip.clone(),
            host_port: self.port.to_string(),
        }
    }

    pub(crate) fn server_url(&self) -> String {
        format!("https://{}:{}", self.host, self.port)
    }
}

/// k3d names the Docker host in the kubeconfig when Docker is remote (`DOCKER_HOST=tcp://H:P`)
/// and the API host is the default; otherwise the host stays as given.
pub(crate) fn api_host_for_docker_host(api_host: &str, docker_host: Option<&str>) -> String {
    if api_host != DEFAULT_API_HOST {
        return api_host.to_owned();
    }
    let remote = docker_host
        .and_then(|h| {
            h.strip_prefix("tcp://")
                .or_else(|| h.strip_prefix("http://"))
        })
        .map(|rest| rest.split([':', '/']).next().unwrap_or_default())
        .filter(|h| !h.is_empty());
    remote.map_or_else(|| api_host.to_owned(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_short_syntax() {
        let p = PortMapping::parse("8888:8888").unwrap();
        assert_eq!(p.docker_key(), "8888/tcp");
        assert_eq!(p.lb_key(), "8888.tcp");
        assert_eq!(
            p.binding(),
            HostBinding {
                host_ip: String::new(),
                host_port: "8888".into()
            }
        );
        let p = PortMapping::parse("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(p.docker_key(), "80/udp");
        assert_eq!(p.binding().host_ip, "127.0.0.1");
        assert_eq!(p.to_string(), "127.0.0.1:8080:80/udp");
        let p = PortMapping::parse("127.0.0.1::80").unwrap();
        assert_eq!(p.binding().host_port, "");
        assert_eq!(p.to_string(), "127.0.0.1::80/tcp");
        let p = PortMapping::parse("80").unwrap();
        assert_eq!(
            p.binding(),
            HostBinding {
                host_ip: String::new(),
                host_port: String::new()
            }
        );
    }

    #[test]
    fn docker_short_syntax_errors() {
        let err = |s: &str| PortMapping::parse(s).unwrap_err().to_string();
        assert!(err("8080-8090:80-90").contains("ranges are not supported"));
        assert!(err("70000:80").contains("1 to 65535"));
        assert!(err("0:80").contains("1 to 65535"));
        assert!(err("localhost:80:80").contains("IPv4 address"));
        assert!(err("80/icmp").contains("tcp, udp or sctp"));
        assert!(err("1:2:3:4").contains("the form is"));
        assert!(err("[::1]:80:80").contains("IPv6"));
    }

    #[test]
    fn port_flag_with_filters() {
        let f = PortFlag::parse("8888:8888@loadbalancer").unwrap();
        assert_eq!(f.mapping.container_port, 8888);
        assert_eq!(f.filters.len(), 1);
        assert_eq!(f.filters[0].as_str(), "loadbalancer");
    }

    #[test]
    fn api_port_syntax() {
        assert_eq!(
            ApiPortSpec::parse("6443").unwrap(),
            ApiPortSpec {
                host: None,
                port: Some(6443)
            }
        );
        assert_eq!(
            ApiPortSpec::parse("127.0.0.1:6550").unwrap(),
            ApiPortSpec {
                host: Some(ApiHost::Ip(Ipv4Addr::LOCALHOST)),
                port: Some(6550)
            }
        );
        assert_eq!(
            ApiPortSpec::parse("localhost:random").unwrap(),
            ApiPortSpec {
                host: Some(ApiHost::Name("localhost".into())),
                port: None
            }
        );
        assert!(
            ApiPortSpec::parse(":6443")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        assert!(
            ApiPortSpec::parse("x:99999")
                .unwrap_err()
                .to_string()
                .contains("random")
        );
    }

    #[test]
    fn api_endpoint_url_and_remote_docker() {
        let api = ApiEndpoint {
            host: "0.0.0.0".into(),
            host_ip: "0.0.0.0".into(),
            port: 6443,
        };
        assert_eq!(api.server_url(), "https://0.0.0.0:6443");
        assert_eq!(api_host_for_docker_host("0.0.0.0", None), "0.0.0.0");
        assert_eq!(
            api_host_for_docker_host("0.0.0.0", Some("unix:///var/run/docker.sock")),
            "0.0.0.0"
        );
        assert_eq!(
            api_host_for_docker_host("0.0.0.0", Some("tcp://docker.example:2376")),
            "docker.example"
        );
        assert_eq!(
            api_host_for_docker_host("127.0.0.1", Some("tcp://docker.example:2376")),
            "127.0.0.1"
        );
    }
}
