//! The server load balancer's configuration: k3d's `/etc/confd/values.yaml`, from which the
//! k3d-proxy image's confd renders one nginx `stream` upstream per port.

use std::collections::BTreeMap;

use serde::Serialize;

/// Where k3d-proxy reads its configuration.
pub(crate) const CONFIG_PATH: &str = "/etc/confd/values.yaml";

/// k3d's default nginx `worker_connections`.
pub(crate) const WORKER_CONNECTIONS: u32 = 1024;

/// `ports`: `<port>.<proto>` → the node names nginx forwards that port to (same port number).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoadBalancerConfig {
    pub ports: BTreeMap<String, Vec<String>>,
    pub(crate) worker_connections: u32,
}

impl LoadBalancerConfig {
    pub(crate) fn new() -> Self {
        Self {
            ports: BTreeMap::new(),
            worker_connections: WORKER_CONNECTIONS,
        }
    }

    /// Adds `targets` to the upstream of `key`, keeping each node once and in order.
    pub(crate) fn add(&mut self, key: &str, targets: impl IntoIterator<Item = String>) {
        let entry = self.ports.entry(key.to_owned()).or_default();
        for t in targets {
            if !entry.contains(&t) {
                entry.push(t);
            }
        }
    }

    /// The file as k3d writes it (`sigs.k8s.io/yaml`: keys sorted, block lists at the key's
    /// indentation), so a k3d-proxy sees byte for byte what k3d would give it.
    pub fn to_yaml(&self) -> String {
        let mut out = String::from("ports:\n");
        if self.ports.is_empty() {
            out = String::from("ports: {}\n");
        }
        for (key, targets) in &self.ports {
            out.push_str(&format!("  {key}:\n"));
            for t in targets {
                out.push_str(&format!("  - {t}\n"));
            }
        }
        out.push_str(&format!(
            "settings:\n  workerConnections: {}\n",
            self.worker_connections
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_k3d() {
        let mut c = LoadBalancerConfig::new();
        c.add("6443.tcp", ["k3d-demo-server-0".to_owned()]);
        c.add(
            "8888.tcp",
            ["k3d-demo-server-0", "k3d-demo-agent-0", "k3d-demo-agent-1"].map(String::from),
        );
        c.add("8888.tcp", ["k3d-demo-agent-0".to_owned()]);
        assert_eq!(
            c.to_yaml(),
            "ports:\n  6443.tcp:\n  - k3d-demo-server-0\n  8888.tcp:\n  - k3d-demo-server-0\n  \
             - k3d-demo-agent-0\n  - k3d-demo-agent-1\nsettings:\n  workerConnections: 1024\n"
        );
    }

    #[test]
    fn sorted_keys_and_empty_ports() {
        let mut c = LoadBalancerConfig::new();
        c.add("80.tcp", ["a".to_owned()]);
        c.add("6443.tcp", ["b".to_owned()]);
        let y = c.to_yaml();
        assert!(y.find("6443.tcp").unwrap() < y.find("80.tcp").unwrap());
        assert!(
            LoadBalancerConfig::new()
                .to_yaml()
                .starts_with("ports: {}\n")
        );
    }
}
