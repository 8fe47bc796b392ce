//! k3d's local registry: the `--registry-create` / `--registry-use` flags, the registry
//! container, the `registries.yaml` every node gets, and the `LocalRegistryHosting` ConfigMap
//! (KEP-1755) — each as k3d v5.9 makes it (`pkg/client/registry.go`, `pkg/config/transform.go`,
//! `cmd/cluster/clusterCreate.go`).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::SpecError;
use super::cluster::{LABEL_APP, LABEL_CLUSTER, LABEL_CREATED_BY, LABEL_ROLE, NodeSpec, Role};
use super::names::ClusterName;
use super::ports::HostBinding;
use crate::K3D_COMPAT_VERSION;

/// The CNCF distribution image k3d runs (`DefaultRegistryImageRepo:DefaultRegistryImageTag`).
pub const REGISTRY_IMAGE: &str = "docker.io/library/registry:2";
/// The port the registry listens on inside its container (`DefaultRegistryPort`).
pub const INTERNAL_PORT: u16 = 5000;
/// Where K3s reads its mirrors (`DefaultRegistriesFilePath`).
pub const REGISTRIES_YAML_PATH: &str = "/etc/rancher/k3s/registries.yaml";
/// Where k3d puts the ConfigMap before `kubectl apply` in a node.
pub const HOSTING_CONFIGMAP_PATH: &str = "/tmp/localRegistryHostingCM.yaml";
/// k3d's log line for a registry that listens (`pkg/types/k3slogs.go`).
pub(crate) const READY_REGISTRY: &str = "listening on";
/// The host k3d's port spec assumes when none is given (`DefaultAPIHost`).
pub(crate) const DEFAULT_HOST: &str = "0.0.0.0";

pub(crate) const LABEL_REGISTRY_HOST: &str = "k3d.registry.host";
pub(crate) const LABEL_REGISTRY_HOST_IP: &str = "k3d.registry.hostIP";
// These two do start with `k3s.` in k3d.
pub(crate) const LABEL_PORT_EXTERNAL: &str = "k3s.registry.port.external";
pub(crate) const LABEL_PORT_INTERNAL: &str = "k3s.registry.port.internal";

const HELP_URL: &str = "https://k3d.io/stable/usage/registries/#using-a-local-registry";

/// `--registry-create NAME[:HOST][:HOSTPORT]`, parsed as k3d parses it: the container is named
/// exactly NAME; after NAME comes k3d's port-exposure spec `[HOST:]PORT|random`, so a HOST
/// without a port is refused as k3d refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryCreateFlag {
    pub name: String,
    /// A host address or name; `None`: k3d's 0.0.0.0.
    pub host: Option<String>,
    /// `None`: a free port, as k3d's `random`.
    pub port: Option<u16>,
}

impl RegistryCreateFlag {
    pub fn parse(flag: &str) -> Result<Self, SpecError> {
        let bad = |reason: &str| SpecError::InvalidFlag {
            flag: format!("--registry-create {flag}"),
            reason: format!(
                "{reason}; the form is NAME[:HOST]:PORT or NAME, e.g. demo-registry:127.0.0.1:5111"
            ),
        };
        let (name, rest) = match flag.split_once(':') {
            Some((name, rest)) => (name, Some(rest)),
            None => (flag, None),
        };
        check_registry_name(name).map_err(|r| bad(&r))?;
        let Some(rest) = rest else {
            return Ok(Self {
                name: name.to_owned(),
                host: None,
                port: None,
            });
        };
        // k3d's exposure regex: `^((IP)|(\S+):)?(\d{1,5}|random)$` — the port comes last.
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (Some(host), port),
            None => (None, rest),
        };
        if let Some(h) = host
            && (h.is_empty() || h.chars().any(char::is_whitespace))
        {
            return Err(bad("the host is empty or has spaces"));
        }
        let port = match port {
            "random" => None,
            p if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
                match p.parse::<u16>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => return Err(bad(&format!("the port {p} is not between 1 and 65535"))),
                }
            }
            other => {
                return Err(bad(&format!(
                    "{other:?} is not a port (a number or `random`)"
                )));
            }
        };
        Ok(Self {
            name: name.to_owned(),
            host: host.map(str::to_owned),
            port,
        })
    }
}

/// `--registry-use [http://|https://]NAME[:PORT[:PORT]]`: k3d looks the registry up by its
/// container name and takes its ports from the container, so only NAME matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryUseFlag {
    pub name: String,
}

impl RegistryUseFlag {
    pub fn parse(flag: &str) -> Result<Self, SpecError> {
        let bad = |reason: String| SpecError::InvalidFlag {
            flag: format!("--registry-use {flag}"),
            reason: format!(
                "{reason}; the form is NAME[:PORT], the name of a registry container, e.g. k3d-demo-registry:5000"
            ),
        };
        let rest = flag
            .strip_prefix("http://")
            .or_else(|| flag.strip_prefix("https://"))
            .unwrap_or(flag);
        let mut parts = rest.split(':');
        let name = parts.next().unwrap_or_default();
        check_registry_name(name).map_err(bad)?;
        let ports: Vec<&str> = parts.collect();
        if ports.len() > 2
            || ports
                .iter()
                .any(|p| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad(
                "what follows the name is not one or two ports".to_owned()
            ));
        }
        Ok(Self {
            name: name.to_owned(),
        })
    }
}

fn check_registry_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the registry name is empty".to_owned());
    }
    // Docker container names and DNS names both; the nodes reach the registry by this name.
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        || !name.as_bytes()[0].is_ascii_alphanumeric()
        || name.len() > 63
    {
        return Err(format!(
            "the registry name {name:?} must be a hostname: letters, digits, '-' and '.', starting with a letter or digit, at most 63 characters"
        ));
    }
    Ok(())
}

/// A registry the cluster's nodes pull through: what k3d's `Registry` holds once its ports are
/// known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registry {
    /// The container's name, which is also its name on the cluster network.
    pub name: String,
    /// The `k3d.registry.host` label: the HOST of the flag, else 0.0.0.0. Empty for a used
    /// registry (k3d reads only its ports back from the container).
    pub host: String,
    /// The address the port is bound to.
    pub host_ip: String,
    pub host_port: u16,
    pub internal_port: u16,
}

impl Registry {
    /// A registry `--registry-create` makes, once HOST is resolved to `host_ip` and the port
    /// chosen.
    pub fn created(flag: &RegistryCreateFlag, host_ip: &str, host_port: u16) -> Self {
        Self {
            name: flag.name.clone(),
            host: flag.host.clone().unwrap_or_else(|| DEFAULT_HOST.to_owned()),
            host_ip: host_ip.to_owned(),
            host_port,
            internal_port: INTERNAL_PORT,
        }
    }

    /// `NAME:INTERNAL`: where the nodes reach it on the cluster network.
    pub fn cluster_address(&self) -> String {
        format!("{}:{}", self.name, self.internal_port)
    }

    /// Where the host reaches it (what the ConfigMap advertises as `host`): 0.0.0.0 becomes
    /// localhost, as k3d does.
    pub fn host_address(&self) -> String {
        let host = if self.host.is_empty() {
            &self.host_ip
        } else {
            &self.host
        };
        let host = if host == DEFAULT_HOST || host.is_empty() {
            "localhost"
        } else {
            host
        };
        format!("{host}:{}", self.host_port)
    }

    /// The registry container, as `RegistryCreate` makes it: on `bridge` first (it is
    /// connected to the cluster network after creation), the port bound, k3d's labels. Not
    /// privileged: a registry needs no capability beyond Docker's default set (k3d gives every
    /// container `privileged`; the registry is the one place bootstrap does not follow).
    pub(crate) fn container(
        &self,
        cluster: &ClusterName,
        image: &str,
        extra_labels: &BTreeMap<String, String>,
    ) -> NodeSpec {
        let mut labels: BTreeMap<String, String> = [
            (LABEL_APP.0, LABEL_APP.1.to_owned()),
            ("k3d.version", K3D_COMPAT_VERSION.to_owned()),
            (LABEL_ROLE, Role::Registry.label().to_owned()),
            (LABEL_CLUSTER, cluster.to_string()),
            (LABEL_REGISTRY_HOST, self.host.clone()),
            (LABEL_REGISTRY_HOST_IP, self.host_ip.clone()),
            (LABEL_PORT_EXTERNAL, self.host_port.to_string()),
            (LABEL_PORT_INTERNAL, self.internal_port.to_string()),
            (LABEL_CREATED_BY, env!("CARGO_PKG_VERSION").to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        labels.extend(extra_labels.clone());
        NodeSpec {
            name: self.name.clone(),
            hostname: self.name.clone(),
            role: Role::Registry,
            image: image.to_owned(),
            entrypoint: None,
            cmd: Vec::new(),
            env: Vec::new(),
            labels,
            binds: Vec::new(),
            tmpfs: BTreeMap::from([
                ("/run".to_owned(), String::new()),
                ("/var/run".to_owned(), String::new()),
            ]),
            security: super::cluster::NodeSecurity::Unprivileged,
            init: true,
            userns_mode: "host".to_owned(),
            restart_policy: "unless-stopped".to_owned(),
            network: "bridge".to_owned(),
            ports: BTreeMap::from([(
                format!("{}/tcp", self.internal_port),
                vec![HostBinding {
                    host_ip: self.host_ip.clone(),
                    host_port: self.host_port.to_string(),
                }],
            )]),
            files: Vec::new(),
            ready_log: READY_REGISTRY.to_owned(),
        }
    }
}

/// `/etc/rancher/k3s/registries.yaml` as k3d writes it (`RegistryGenerateK3sConfig`, marshalled
/// by `gopkg.in/yaml.v2`): for each registry a mirror under `NAME:INTERNAL` and one under
/// `NAME:HOSTPORT`, both to `http://NAME:INTERNAL`. `aliases` are further names the nodes pull
/// from the first registry, as a `--registry-config` file merged over k3d's would add.
pub fn registries_yaml(registries: &[Registry], aliases: &[String]) -> String {
    let mut mirrors: Vec<(String, String)> = Vec::new();
    for r in registries {
        let endpoint = format!("http://{}", r.cluster_address());
        mirrors.push((format!("{}:{}", r.name, r.host_port), endpoint.clone()));
        mirrors.push((r.cluster_address(), endpoint));
    }
    if let Some(first) = registries.first() {
        for a in aliases {
            mirrors.push((a.clone(), format!("http://{}", first.cluster_address())));
        }
    }
    // yaml.v2 sorts map keys, comparing runs of digits as numbers; a later key replaces an
    // earlier equal one, as Go's map assignment does.
    let mut map: Vec<(String, String)> = Vec::new();
    for (k, v) in mirrors {
        match map.iter_mut().find(|(key, _)| *key == k) {
            Some(slot) => slot.1 = v,
            None => map.push((k, v)),
        }
    }
    map.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    let mut out = String::from("mirrors:\n");
    for (key, endpoint) in &map {
        let _ = write!(
            out,
            "  {key}:\n    endpoint:\n    - {endpoint}\n    rewrite: {{}}\n"
        );
    }
    out.push_str("configs: {}\nauths: {}\n");
    out
}

/// yaml.v2's key order: runs of digits compare by value, other characters by code point.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let (na, nb) = (
                std::str::from_utf8(&a[si..i])
                    .unwrap_or("0")
                    .trim_start_matches('0'),
                std::str::from_utf8(&b[sj..j])
                    .unwrap_or("0")
                    .trim_start_matches('0'),
            );
            let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// The `kube-public/local-registry-hosting` ConfigMap (KEP-1755) as k3d renders it
/// (`RegistryGenerateLocalRegistryHostingConfigMapYAML`, sigs.k8s.io/yaml: keys sorted). k3d
/// advertises the first registry only.
pub fn hosting_configmap(registry: &Registry) -> String {
    format!(
        "apiVersion: v1\n\
         data:\n  \
           localRegistryHosting.v1: |\n    \
             help: {HELP_URL}\n    \
             host: {}\n    \
             hostFromClusterNetwork: {}\n    \
             hostFromContainerRuntime: {}\n\
         kind: ConfigMap\n\
         metadata:\n  \
           name: local-registry-hosting\n  \
           namespace: kube-public\n",
        registry.host_address(),
        registry.cluster_address(),
        registry.cluster_address(),
    )
}

/// A registry read back from its container (k3d's `RegistryFromNode`): exactly one port, with
/// at most one binding. `Err` says what is wrong with it.
pub(crate) fn registry_from_container(
    name: &str,
    ports: &BTreeMap<String, Vec<HostBinding>>,
) -> Result<Registry, String> {
    let [(key, bindings)] = ports.iter().collect::<Vec<_>>()[..] else {
        return Err(format!(
            "container {name} publishes {} ports; a k3d registry publishes exactly one",
            ports.len()
        ));
    };
    let internal_port = key
        .split('/')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or_else(|| format!("container {name} has the port {key:?}, which is no number"))?;
    let binding = match bindings.as_slice() {
        [b] => b.clone(),
        [] => HostBinding {
            host_ip: String::new(),
            host_port: String::new(),
        },
        _ => {
            return Err(format!(
                "container {name} binds its port {key} more than once; a k3d registry binds it once"
            ));
        }
    };
    let host_port = binding.host_port.parse::<u16>().map_err(|_| {
        format!("container {name} does not publish its port {key} on the host; publish it")
    })?;
    Ok(Registry {
        name: name.to_owned(),
        host: String::new(),
        host_ip: binding.host_ip,
        host_port,
        internal_port,
    })
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
