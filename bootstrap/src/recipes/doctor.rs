//! Gathers the preflight facts (Docker, memory, host ports, images) for
//! [`crate::spec::doctor::evaluate`].

use std::net::{Ipv4Addr, TcpListener, UdpSocket};

use crate::docker::{DockerError, Endpoint, Engine};
use crate::recipes::images;
use crate::spec::build_path::{BuildPath, EngineArch, build_path};
use crate::spec::cluster::ClusterPlan;
use crate::spec::doctor::{DoctorFacts, ImageState, PortState, WantedPort};
use crate::spec::ports::Protocol;

/// What a cluster will need from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub ports: Vec<WantedPort>,
    pub(crate) images: Vec<String>,
    pub servers: usize,
    pub agents: usize,
    /// Memory the cluster's workloads will take besides K3s itself (0 for a bare cluster).
    pub workloads_memory_mib: u64,
    /// Check where the workload images would be built (`bootstrap doctor`), from this
    /// workspace directory.
    pub(crate) image_build: Option<std::path::PathBuf>,
}

impl Wanted {
    pub(crate) fn for_plan(plan: &ClusterPlan) -> Self {
        let ports = plan
            .host_bindings()
            .into_iter()
            .filter(|(_, _, b)| !b.host_port.is_empty())
            .map(|(node, key, binding)| WantedPort {
                owner: format!("{key} of {node}"),
                protocol: if key.ends_with("/udp") {
                    Protocol::Udp
                } else {
                    Protocol::Tcp
                },
                binding,
            })
            .collect();
        Self {
            ports,
            images: plan.images(),
            servers: plan.options.servers,
            agents: plan.options.agents,
            workloads_memory_mib: 0,
            image_build: None,
        }
    }
}

/// Collects the facts; Docker being unreachable is a fact too, not an error.
pub(crate) async fn gather(engine: Result<&Engine, &DockerError>, wanted: &Wanted) -> DoctorFacts {
    let endpoint = match engine {
        Ok(e) => e.endpoint().clone(),
        Err(_) => Endpoint::from_env(std::env::var("DOCKER_HOST").ok()),
    };
    let mut facts = DoctorFacts {
        endpoint: endpoint.to_string(),
        engine: Err(String::new()),
        host_memory_available: None,
        ports: Vec::new(),
        images: Vec::new(),
        servers: wanted.servers,
        agents: wanted.agents,
        workloads_memory_mib: wanted.workloads_memory_mib,
        image_build: None,
    };
    let engine = match engine {
        Ok(e) => e,
        Err(e) => {
            facts.engine = Err(unreachable_reason(e));
            return facts;
        }
    };
    facts.engine = engine.facts().await.map_err(|e| e.to_string());
    if facts.engine.is_err() {
        return facts;
    }
    let local = endpoint.is_local();
    if local {
        facts.host_memory_available = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| mem_available(&m));
    }
    for w in &wanted.ports {
        let state = if local {
            check_port(engine, w).await
        } else {
            PortState::Unchecked {
                reason: "Docker runs on another machine".to_owned(),
            }
        };
        facts.ports.push((w.clone(), state));
    }
    for image in &wanted.images {
        let state = match engine.image_present(image).await {
            Ok(true) => ImageState::Present,
            Ok(false) => match engine.registry_has(image).await {
                Ok(()) => ImageState::Pullable,
                Err(reason) => ImageState::Unavailable { reason },
            },
            Err(e) => ImageState::Unavailable {
                reason: e.to_string(),
            },
        };
        facts.images.push((image.clone(), state));
    }
    if let (Some(dir), Ok(e)) = (&wanted.image_build, &facts.engine) {
        let host = images::host_facts(dir).await;
        let path = build_path(
            &host,
            &EngineArch {
                os: e.os_type.clone(),
                arch: e.arch.clone(),
            },
        );
        let builder = match path {
            BuildPath::Engine { .. } => Some(images::builder_state(engine).await),
            _ => None,
        };
        facts.image_build = Some((path, builder));
    }
    facts
}

fn unreachable_reason(e: &DockerError) -> String {
    match e {
        DockerError::Unreachable { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// Binds the port as Docker would; if that fails, finds who holds it.
async fn check_port(engine: &Engine, w: &WantedPort) -> PortState {
    let Ok(port) = w.binding.host_port.parse::<u16>() else {
        return PortState::Unchecked {
            reason: format!("{:?} is not a port number", w.binding.host_port),
        };
    };
    let ip: Ipv4Addr = if w.binding.host_ip.is_empty() {
        Ipv4Addr::UNSPECIFIED
    } else {
        match w.binding.host_ip.parse() {
            Ok(ip) => ip,
            Err(_) => {
                return PortState::Unchecked {
                    reason: format!("{:?} is not an IPv4 address", w.binding.host_ip),
                };
            }
        }
    };
    let bound = match w.protocol {
        Protocol::Udp => UdpSocket::bind((ip, port)).map(drop),
        _ => TcpListener::bind((ip, port)).map(drop),
    };
    match bound {
        Ok(()) => PortState::Free,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => PortState::InUse {
            holder: holder_of(engine, port, w.protocol).await,
        },
        Err(e) => PortState::Unchecked {
            reason: format!("binding it here failed: {e}"),
        },
    }
}

/// A container publishing the port, else a local process listening on it.
async fn holder_of(engine: &Engine, port: u16, protocol: Protocol) -> Option<String> {
    if let Ok(containers) = engine.containers_with_labels(&[]).await {
        let suffix = format!(":{port}->");
        for c in containers {
            if c.state == "running"
                && c.ports
                    .iter()
                    .any(|p| p.contains(&suffix) && p.ends_with(protocol.as_str()))
            {
                return Some(format!("container {}", c.name));
            }
        }
    }
    process_listening_on(port, protocol)
}

/// `comm (pid N)` of a process with a listening socket on `port`, from /proc.
fn process_listening_on(port: u16, protocol: Protocol) -> Option<String> {
    let tables: &[&str] = match protocol {
        Protocol::Udp => &["/proc/net/udp", "/proc/net/udp6"],
        _ => &["/proc/net/tcp", "/proc/net/tcp6"],
    };
    let inodes: Vec<u64> = tables
        .iter()
        .filter_map(|t| std::fs::read_to_string(t).ok())
        .flat_map(|text| socket_inodes(&text, port, protocol == Protocol::Udp))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for proc_entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = proc_entry.file_name().to_string_lossy().to_string();
        if !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && wanted.iter().any(|w| target.as_os_str() == w.as_str())
            {
                let comm =
                    std::fs::read_to_string(proc_entry.path().join("comm")).unwrap_or_default();
                return Some(format!("process {} (pid {pid})", comm.trim()));
            }
        }
    }
    Some("a process this user cannot see (try as root)".to_owned())
}

/// Inodes of sockets bound to `port` in a /proc/net/{tcp,udp}[6] table: listening (state
/// 0A) for TCP, any bound socket for UDP.
fn socket_inodes(table: &str, port: u16, udp: bool) -> Vec<u64> {
    let port_hex = format!("{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local = f.get(1)?;
            let state = f.get(3)?;
            let inode = f.get(9)?.parse::<u64>().ok()?;
            let (_, p) = local.rsplit_once(':')?;
            (p.eq_ignore_ascii_case(&port_hex) && (udp || *state == "0A") && inode != 0)
                .then_some(inode)
        })
        .collect()
}

fn mem_available(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tables() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0
";
        assert_eq!(
            socket_inodes(table, 8080, false),
            vec![12345],
            "only the listener on 8080"
        );
        assert_eq!(socket_inodes(table, 22, false), vec![999]);
        assert_eq!(socket_inodes(table, 8080, true), vec![12345, 777]);
        assert!(socket_inodes(table, 9, false).is_empty());
    }

    #[test]
    fn meminfo() {
        let m = "MemTotal:       24684032 kB\nMemFree:        23375064 kB\nMemAvailable:   24182540 kB\n";
        assert_eq!(mem_available(m), Some(24_182_540 * 1024));
        assert_eq!(mem_available("MemTotal: 1 kB\n"), None);
    }
}
