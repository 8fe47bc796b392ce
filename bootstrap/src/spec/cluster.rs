//! Cluster options → the network, volume and containers k3d v5 would create for them.
//!
//! Everything is decided here, before Docker is called: names, labels, env, commands, port
//! bindings, binds, the load balancer's config and the files each node gets before it starts.
//! Only what Docker assigns at creation (the network's id, subnet and gateway) comes in later,
//! as [`NetworkFacts`].

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::Serialize;

use super::SpecError;
use super::archive::FileSpec;
use super::filter::{self, NodeFilter, NodeRef, PortTarget, Topology, split_filters};
use super::fixes::{ENTRYPOINT_PATH, Fixes};
use super::loadbalancer::{self, LoadBalancerConfig};
use super::names::ClusterName;
use super::ports::{API_PORT, ApiEndpoint, HostBinding, PortFlag};
use super::registry::{self, Registry};
use crate::K3D_COMPAT_VERSION;

/// Where K3s writes the admin kubeconfig inside a server (`K3S_KUBECONFIG_OUTPUT`).
pub(crate) const KUBECONFIG_OUTPUT: &str = "/output/kubeconfig.yaml";

/// Where the images volume is mounted in every node.
pub(crate) const IMAGE_VOLUME_MOUNT: &str = "/k3d/images";

/// Our own label, outside k3d's `k3d.*` namespace (k3d ignores it): which bootstrap created
/// the object, so `bootstrap cluster list` can tell its clusters from k3d's.
pub(crate) const LABEL_CREATED_BY: &str = "io.iot-rs.bootstrap.version";

/// The label pair that marks a k3d object.
pub(crate) const LABEL_APP: (&str, &str) = ("app", "k3d");
pub(crate) const LABEL_CLUSTER: &str = "k3d.cluster";
pub(crate) const LABEL_ROLE: &str = "k3d.role";
pub(crate) const LABEL_NETWORK_EXTERNAL: &str = "k3d.cluster.network.external";
pub(crate) const LABEL_SERVER_INIT: &str = "k3d.server.init";
pub(crate) const LABEL_API_HOST: &str = "k3d.server.api.host";
pub(crate) const LABEL_API_HOST_IP: &str = "k3d.server.api.hostIP";
pub(crate) const LABEL_API_PORT: &str = "k3d.server.api.port";

/// The log lines k3d waits for (case-insensitive substrings).
pub(crate) const READY_SERVER: &str = "k3s is up and running";
pub(crate) const READY_AGENT: &str = "Successfully registered node";
pub(crate) const READY_LOADBALANCER: &str = "start worker processes";
/// The init server of a multi-server cluster cannot report "up and running" before its
/// etcd peers join, so on create k3d waits for containerd instead.
pub(crate) const READY_INIT_SERVER_CREATE: &str = "Containerd is now running";
/// ... and on a restart for the API server.
pub(crate) const READY_INIT_SERVER_RESTART: &str = "Running kube-apiserver";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Server,
    Agent,
    LoadBalancer,
    Registry,
}

impl Role {
    /// The `k3d.role` label value.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Agent => "agent",
            Role::LoadBalancer => "loadbalancer",
            Role::Registry => "registry",
        }
    }

    pub(crate) fn from_label(v: &str) -> Option<Self> {
        match v {
            "server" => Some(Role::Server),
            "agent" => Some(Role::Agent),
            "loadbalancer" => Some(Role::LoadBalancer),
            "registry" => Some(Role::Registry),
            _ => None,
        }
    }
}

/// How node containers get the powers K3s needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NodeSecurity {
    /// What k3d does and K3s needs: `privileged: true`.
    Privileged,
    /// Docker's default capabilities: what the registry container gets, which needs none.
    Unprivileged,
    /// For tests and benchmarks of stand-in nodes on hosts where privileged containers cannot
    /// start (a Docker engine that itself lacks CAP_SYS_RESOURCE): every capability but that
    /// one, no `privileged`. A real K3s node does not work like this.
    #[cfg(feature = "test-nodes")]
    TestWithoutPrivileged,
}

/// A `-v SRC:DST[:MODE][@FILTER]` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeFlag {
    pub(crate) bind: String,
    pub(crate) filters: Vec<NodeFilter>,
}

impl VolumeFlag {
    pub fn parse(flag: &str) -> Result<Self, SpecError> {
        let (bind, filters) = split_filters(flag)?;
        let parts: Vec<&str> = bind.split(':').collect();
        let bad = |reason: &str| SpecError::InvalidVolume {
            spec: bind.clone(),
            reason: reason.to_owned(),
        };
        match parts.as_slice() {
            [src, dst] | [src, dst, _] if !src.is_empty() && dst.starts_with('/') => {}
            [_, _] | [_, _, _] => {
                return Err(bad(
                    "the source is empty or the destination is not an absolute path",
                ));
            }
            _ => return Err(bad("the form is SOURCE:DESTINATION[:ro|rw]")),
        }
        if let [_, _, mode] = parts.as_slice()
            && !mode.split(',').all(|m| {
                matches!(
                    m,
                    "ro" | "rw"
                        | "z"
                        | "Z"
                        | "shared"
                        | "slave"
                        | "private"
                        | "rshared"
                        | "rslave"
                        | "rprivate"
                )
            })
        {
            return Err(bad(
                "the mode must be ro or rw (optionally with z, Z or a propagation)",
            ));
        }
        Ok(Self {
            bind,
            filters: parse_filters(&filters)?,
        })
    }
}

/// A `--k3s-arg ARG@FILTER` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K3sArgFlag {
    pub(crate) arg: String,
    pub filters: Vec<NodeFilter>,
}

impl K3sArgFlag {
    pub fn parse(flag: &str) -> Result<Self, SpecError> {
        let (arg, filters) = split_filters(flag)?;
        Ok(Self {
            arg,
            filters: parse_filters(&filters)?,
        })
    }
}

fn parse_filters(filters: &[String]) -> Result<Vec<NodeFilter>, SpecError> {
    filters.iter().map(|f| NodeFilter::parse(f)).collect()
}

/// Everything `bootstrap cluster create` needs to know, in k3d's terms.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub name: ClusterName,
    pub servers: usize,
    pub agents: usize,
    pub image: String,
    pub lb_image: String,
    pub api: ApiEndpoint,
    pub ports: Vec<PortFlag>,
    pub volumes: Vec<VolumeFlag>,
    pub k3s_args: Vec<K3sArgFlag>,
    pub token: String,
    pub fixes: Fixes,
    pub security: NodeSecurity,
    /// Labels every node container carries besides k3d's (`bootstrap p3` records its
    /// parameters so that a resume can check them).
    pub extra_labels: BTreeMap<String, String>,
    /// `--registry-create` and `--registry-use`.
    pub registries: RegistryOptions,
}

/// The registries a cluster is wired to, their ports known.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `--registry-create`: made with the cluster, removed with it.
    pub create: Option<Registry>,
    /// `--registry-use`: registries that exist already (read back from their containers).
    pub existing: Vec<Registry>,
    /// The created registry's image; empty: k3d's `registry:2`.
    pub image: String,
    /// Further names the nodes pull from the first registry (what a `--registry-config`
    /// file merged over k3d's registries.yaml would add).
    pub aliases: Vec<String>,
}

/// A token as k3d makes them: 20 letters. `random` supplies the entropy (at least 20 bytes;
/// the caller reads it from the OS); bytes that would bias the choice are skipped.
pub(crate) fn token_from_random(random: &[u8]) -> Option<String> {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let token: String = random
        .iter()
        .filter(|b| usize::from(**b) < 256 - 256 % LETTERS.len())
        .take(20)
        .map(|b| char::from(LETTERS[usize::from(*b) % LETTERS.len()]))
        .collect();
    (token.len() == 20).then_some(token)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkSpec {
    pub name: String,
    pub(crate) driver: String,
    pub(crate) options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeSpec {
    pub name: String,
    pub(crate) driver: String,
    pub labels: BTreeMap<String, String>,
}

/// What Docker decides when the network is created (or what an existing network has).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkFacts {
    pub id: String,
    pub subnet: String,
    pub gateway: Option<String>,
    /// The network existed before: it is reused and never deleted with the cluster.
    pub external: bool,
}

impl NetworkFacts {
    /// Stand-ins for a dry run, before the network exists.
    pub(crate) fn unknown(external: bool) -> Self {
        Self {
            id: "<assigned by Docker>".to_owned(),
            subnet: "<assigned by Docker>".to_owned(),
            gateway: None,
            external,
        }
    }
}

/// One container, as k3d would create it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeSpec {
    pub name: String,
    pub role: Role,
    pub image: String,
    pub hostname: String,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub binds: Vec<String>,
    pub tmpfs: BTreeMap<String, String>,
    pub security: NodeSecurity,
    pub(crate) init: bool,
    pub(crate) userns_mode: String,
    pub(crate) restart_policy: String,
    pub network: String,
    /// Docker port key (`6443/tcp`) → host bindings; also the exposed ports.
    pub ports: BTreeMap<String, Vec<HostBinding>>,
    /// Uploaded before the container starts.
    pub(crate) files: Vec<FileSpec>,
    /// The log line that says the node is ready (case-insensitive substring).
    pub(crate) ready_log: String,
}

/// Per-node extras that the flags add.
#[derive(Debug, Clone, Default)]
struct NodeExtras {
    args: Vec<String>,
    binds: Vec<String>,
    ports: BTreeMap<String, Vec<HostBinding>>,
}

/// The whole cluster, ready to be created.
#[derive(Debug, Clone)]
pub struct ClusterPlan {
    pub(crate) options: ClusterOptions,
    pub network: NetworkSpec,
    pub image_volume: VolumeSpec,
    pub lb_config: LoadBalancerConfig,
    extras: BTreeMap<NodeRef, NodeExtras>,
    /// k3d's order: the used registries, then the created one.
    registries: Vec<Registry>,
}

impl ClusterPlan {
    /// Applies the flags to the cluster's nodes as k3d's config transformation does, and
    /// checks them.
    pub fn new(options: ClusterOptions) -> Result<Self, SpecError> {
        if options.servers == 0 {
            return Err(SpecError::NoServers);
        }
        let name = &options.name;
        let topo = Topology {
            servers: options.servers,
            agents: options.agents,
            loadbalancer: true,
        };
        let mut extras: BTreeMap<NodeRef, NodeExtras> = topo
            .all()
            .into_iter()
            .map(|n| (n, NodeExtras::default()))
            .collect();
        let node_name = |n: NodeRef| node_name(name, n);

        for v in &options.volumes {
            // k3d: a volume without a filter goes into every node, the load balancer included.
            let nodes = if v.filters.is_empty() {
                topo.all()
            } else {
                filter::select(&v.filters, &topo)?
            };
            for n in nodes {
                extras.entry(n).or_default().binds.push(v.bind.clone());
            }
        }

        let mut lb_config = LoadBalancerConfig::new();
        lb_config.add(
            &format!("{API_PORT}.tcp"),
            (0..options.servers).map(|i| name.server(i)),
        );
        extras
            .entry(NodeRef::LoadBalancer)
            .or_default()
            .ports
            .insert(format!("{API_PORT}/tcp"), vec![options.api.binding()]);

        let mut seen_ports: Vec<String> = Vec::new();
        for p in &options.ports {
            let text = p.mapping.to_string();
            if seen_ports.contains(&text) {
                return Err(SpecError::DuplicatePort { spec: text });
            }
            seen_ports.push(text);
            let defaults = || {
                ["servers:*:proxy", "agents:*:proxy"]
                    .map(NodeFilter::parse)
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()
            };
            // k3d: no filter (with more than one node) or any `loadbalancer` filter means
            // "proxy through the load balancer to every server and agent".
            let filters = if p.filters.is_empty()
                || p.filters
                    .iter()
                    .any(|f| f.as_str().starts_with("loadbalancer"))
            {
                defaults()?
            } else {
                p.filters.clone()
            };
            for (target, nodes) in filter::select_by_suffix(&filters, &topo)? {
                if nodes.is_empty() {
                    continue;
                }
                match target {
                    PortTarget::Proxy => {
                        let lb = extras.entry(NodeRef::LoadBalancer).or_default();
                        lb.ports
                            .entry(p.mapping.docker_key())
                            .or_default()
                            .push(p.mapping.binding());
                        lb_config.add(&p.mapping.lb_key(), nodes.iter().map(|n| node_name(*n)));
                    }
                    PortTarget::Direct => {
                        let [node] = nodes.as_slice() else {
                            return Err(SpecError::DirectPortOnManyNodes {
                                spec: p.mapping.to_string(),
                                count: nodes.len(),
                            });
                        };
                        extras
                            .entry(*node)
                            .or_default()
                            .ports
                            .entry(p.mapping.docker_key())
                            .or_default()
                            .push(p.mapping.binding());
                    }
                }
            }
        }

        for a in &options.k3s_args {
            if a.filters.is_empty() && topo.node_count() > 1 {
                return Err(SpecError::MissingNodeFilter { arg: a.arg.clone() });
            }
            let nodes = filter::select(&a.filters, &topo)?;
            // K3s arguments mean nothing to the proxy; `@all` reaches servers and agents.
            let k3s_nodes: Vec<NodeRef> = nodes
                .into_iter()
                .filter(|n| *n != NodeRef::LoadBalancer)
                .collect();
            if k3s_nodes.is_empty() {
                return Err(SpecError::K3sArgOnLoadBalancer { arg: a.arg.clone() });
            }
            for n in k3s_nodes {
                extras.entry(n).or_default().args.push(a.arg.clone());
            }
        }

        if options.fixes.dns {
            for (n, e) in &extras {
                if *n != NodeRef::LoadBalancer
                    && e.binds.iter().any(|b| b.contains("/etc/resolv.conf"))
                {
                    return Err(SpecError::DnsFixWithResolvConf {
                        node: node_name(*n),
                    });
                }
            }
        }

        let network = NetworkSpec {
            name: name.network(),
            driver: "bridge".to_owned(),
            options: BTreeMap::from([(
                "com.docker.network.bridge.enable_ip_masquerade".to_owned(),
                "true".to_owned(),
            )]),
            labels: BTreeMap::from([(LABEL_APP.0.to_owned(), LABEL_APP.1.to_owned())]),
        };
        let image_volume = VolumeSpec {
            name: name.image_volume(),
            driver: "local".to_owned(),
            labels: BTreeMap::from([
                (LABEL_APP.0.to_owned(), LABEL_APP.1.to_owned()),
                (LABEL_CLUSTER.to_owned(), name.to_string()),
                ("k3d.version".to_owned(), K3D_COMPAT_VERSION.to_owned()),
                (
                    LABEL_CREATED_BY.to_owned(),
                    env!("CARGO_PKG_VERSION").to_owned(),
                ),
            ]),
        };
        let regs = &options.registries;
        let mut registries = regs.existing.clone();
        // k3d: a registry both created and used is only used.
        if let Some(created) = &regs.create
            && !registries.iter().any(|r| r.name == created.name)
        {
            registries.push(created.clone());
        }
        let node_names: Vec<String> = topo.all().into_iter().map(node_name).collect();
        if let Some(r) = registries.iter().find(|r| node_names.contains(&r.name)) {
            return Err(SpecError::InvalidFlag {
                flag: format!("--registry-create {}", r.name),
                reason:
                    "that is the name of one of the cluster's nodes; name the registry otherwise"
                        .to_owned(),
            });
        }
        Ok(Self {
            options,
            network,
            image_volume,
            lb_config,
            extras,
            registries,
        })
    }

    pub(crate) fn name(&self) -> &ClusterName {
        &self.options.name
    }

    /// The images the cluster runs, nodes first.
    pub(crate) fn images(&self) -> Vec<String> {
        let mut images = vec![self.options.image.clone(), self.options.lb_image.clone()];
        if self.options.registries.create.is_some() {
            images.push(self.registry_image().to_owned());
        }
        images
    }

    fn registry_image(&self) -> &str {
        match self.options.registries.image.as_str() {
            "" => registry::REGISTRY_IMAGE,
            image => image,
        }
    }

    /// The registries the nodes pull through, in k3d's order (the first is advertised).
    pub fn registries(&self) -> &[Registry] {
        &self.registries
    }

    /// The registry container `--registry-create` makes, unless it is also used (then it
    /// exists already).
    pub fn registry_container(&self) -> Option<NodeSpec> {
        let created = self.options.registries.create.as_ref()?;
        if self
            .options
            .registries
            .existing
            .iter()
            .any(|r| r.name == created.name)
        {
            return None;
        }
        Some(created.container(
            &self.options.name,
            self.registry_image(),
            &self.options.extra_labels,
        ))
    }

    /// registries.yaml, when the cluster has registries.
    pub fn registries_yaml(&self) -> Option<String> {
        (!self.registries.is_empty())
            .then(|| registry::registries_yaml(&self.registries, &self.options.registries.aliases))
    }

    /// The LocalRegistryHosting ConfigMap, when the cluster has registries.
    pub fn hosting_configmap(&self) -> Option<String> {
        self.registries.first().map(registry::hosting_configmap)
    }

    /// Every host binding the cluster publishes, for the preflight port check.
    pub(crate) fn host_bindings(&self) -> Vec<(String, String, HostBinding)> {
        let mut out = Vec::new();
        for (n, e) in &self.extras {
            for (key, bindings) in &e.ports {
                for b in bindings {
                    out.push((node_name(&self.options.name, *n), key.clone(), b.clone()));
                }
            }
        }
        if let Some(reg) = self.registry_container() {
            for (key, bindings) in &reg.ports {
                for b in bindings {
                    out.push((reg.name.clone(), key.clone(), b.clone()));
                }
            }
        }
        out
    }

    /// The containers in k3d's creation order: servers, agents, then the load balancer.
    pub fn nodes(&self, net: &NetworkFacts) -> Vec<NodeSpec> {
        let o = &self.options;
        let mut refs: Vec<NodeRef> = (0..o.servers).map(NodeRef::Server).collect();
        refs.extend((0..o.agents).map(NodeRef::Agent));
        refs.push(NodeRef::LoadBalancer);
        refs.into_iter().map(|r| self.node(r, net)).collect()
    }

    fn node(&self, r: NodeRef, net: &NetworkFacts) -> NodeSpec {
        let o = &self.options;
        let name = &o.name;
        let extras = self.extras.get(&r).cloned().unwrap_or_default();
        let multi_server = o.servers > 1;
        let role = match r {
            NodeRef::Server(_) => Role::Server,
            NodeRef::Agent(_) => Role::Agent,
            NodeRef::LoadBalancer => Role::LoadBalancer,
        };
        let is_init = multi_server && r == NodeRef::Server(0);
        let server_url = format!("https://{}:{API_PORT}", name.server(0));

        let mut labels = BTreeMap::from([
            (LABEL_APP.0, LABEL_APP.1.to_owned()),
            (LABEL_CLUSTER, name.to_string()),
            ("k3d.cluster.imageVolume", name.image_volume()),
            ("k3d.cluster.network", self.network.name.clone()),
            (LABEL_NETWORK_EXTERNAL, net.external.to_string()),
            ("k3d.cluster.network.id", net.id.clone()),
            ("k3d.cluster.network.iprange", net.subnet.clone()),
            ("k3d.cluster.token", o.token.clone()),
            ("k3d.cluster.url", server_url.clone()),
            (LABEL_ROLE, role.label().to_owned()),
            ("k3d.server.loadbalancer", name.loadbalancer()),
            ("k3d.version", K3D_COMPAT_VERSION.to_owned()),
            (LABEL_CREATED_BY, env!("CARGO_PKG_VERSION").to_owned()),
        ]);
        if role == Role::Server {
            labels.insert(LABEL_API_HOST, o.api.host.clone());
            labels.insert(LABEL_API_HOST_IP, o.api.host_ip.clone());
            labels.insert(LABEL_API_PORT, o.api.port.to_string());
            if multi_server {
                labels.insert(LABEL_SERVER_INIT, is_init.to_string());
            }
        }

        let token_env = format!("K3S_TOKEN={}", o.token);
        let url_env = format!("K3S_URL={server_url}");
        let output_env = format!("K3S_KUBECONFIG_OUTPUT={KUBECONFIG_OUTPUT}");
        let env = match role {
            Role::Server if multi_server && !is_init => vec![token_env, url_env, output_env],
            Role::Server => vec![token_env, output_env],
            Role::Agent => vec![token_env, url_env, output_env],
            Role::LoadBalancer | Role::Registry => vec![output_env],
        };

        let cmd = match role {
            Role::Server => {
                let mut cmd = vec!["server".to_owned()];
                cmd.extend(extras.args.iter().cloned());
                if is_init {
                    cmd.push("--cluster-init".to_owned());
                }
                cmd.extend([
                    "--tls-san".to_owned(),
                    o.api.host.clone(),
                    "--tls-san".to_owned(),
                    name.loadbalancer(),
                ]);
                cmd
            }
            Role::Agent => {
                let mut cmd = vec!["agent".to_owned()];
                cmd.extend(extras.args.iter().cloned());
                cmd
            }
            Role::LoadBalancer | Role::Registry => Vec::new(),
        };

        let (image, entrypoint, files) = match role {
            Role::LoadBalancer | Role::Registry => (
                o.lb_image.clone(),
                None,
                vec![FileSpec {
                    path: loadbalancer::CONFIG_PATH.to_owned(),
                    mode: 0o744,
                    content: self.lb_config.to_yaml(),
                }],
            ),
            _ => {
                let mut files = o.fixes.files(net.gateway.as_deref());
                // k3d's preStart hooks for registries: mode 0644 on servers and agents.
                for (path, content) in [
                    (registry::REGISTRIES_YAML_PATH, self.registries_yaml()),
                    (registry::HOSTING_CONFIGMAP_PATH, self.hosting_configmap()),
                ] {
                    if let Some(content) = content {
                        files.push(FileSpec {
                            path: path.to_owned(),
                            mode: 0o644,
                            content,
                        });
                    }
                }
                (
                    o.image.clone(),
                    o.fixes.any().then(|| vec![ENTRYPOINT_PATH.to_owned()]),
                    files,
                )
            }
        };

        let ready_log = match role {
            Role::Server if is_init => READY_INIT_SERVER_CREATE,
            Role::Server => READY_SERVER,
            Role::Agent => READY_AGENT,
            Role::LoadBalancer | Role::Registry => READY_LOADBALANCER,
        };

        let mut labels: BTreeMap<String, String> =
            labels.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        labels.extend(o.extra_labels.clone());
        let mut binds = extras.binds.clone();
        binds.push(format!("{}:{IMAGE_VOLUME_MOUNT}", name.image_volume()));
        let node_name = node_name(name, r);
        NodeSpec {
            hostname: node_name.clone(),
            name: node_name,
            role,
            image,
            entrypoint,
            cmd,
            env,
            labels,
            binds,
            tmpfs: BTreeMap::from([
                ("/run".to_owned(), String::new()),
                ("/var/run".to_owned(), String::new()),
            ]),
            security: o.security,
            init: true,
            userns_mode: "host".to_owned(),
            restart_policy: "unless-stopped".to_owned(),
            network: self.network.name.clone(),
            ports: extras.ports,
            files,
            ready_log: ready_log.to_owned(),
        }
    }

    /// The plan as `--dry-run` prints it, with the token hidden.
    pub(crate) fn render_human(&self, net: &NetworkFacts) -> String {
        let mut out = String::new();
        let o = &self.options;
        let _ = writeln!(
            out,
            "cluster {} ({} server(s), {} agent(s); k3d {K3D_COMPAT_VERSION} layout)",
            o.name, o.servers, o.agents
        );
        let verb = if net.external { "reuse" } else { "create" };
        let _ = writeln!(
            out,
            "  network {}: {verb}, driver {}, labels {}",
            self.network.name,
            self.network.driver,
            kv(&self.network.labels)
        );
        let _ = writeln!(
            out,
            "  volume  {}: labels {}",
            self.image_volume.name,
            kv(&self.image_volume.labels)
        );
        for mut n in self.nodes(net) {
            n.redact();
            let _ = writeln!(out, "  {} {}: {}", n.role.label(), n.name, n.image);
            if let Some(ep) = &n.entrypoint {
                let _ = writeln!(out, "      entrypoint {}", ep.join(" "));
            }
            let _ = writeln!(out, "      cmd        {}", n.cmd.join(" "));
            let _ = writeln!(out, "      env        {}", n.env.join(" "));
            let _ = writeln!(out, "      binds      {}", n.binds.join(" "));
            let ports: Vec<String> = n
                .ports
                .iter()
                .flat_map(|(k, bs)| {
                    bs.iter().map(move |b| {
                        let ip = if b.host_ip.is_empty() {
                            "0.0.0.0"
                        } else {
                            &b.host_ip
                        };
                        let port = if b.host_port.is_empty() {
                            "random"
                        } else {
                            &b.host_port
                        };
                        format!("{ip}:{port}->{k}")
                    })
                })
                .collect();
            if !ports.is_empty() {
                let _ = writeln!(out, "      ports      {}", ports.join(" "));
            }
            let files: Vec<String> = n
                .files
                .iter()
                .map(|f| format!("{} ({:o})", f.path, f.mode))
                .collect();
            let _ = writeln!(out, "      files      {}", files.join(" "));
            let _ = writeln!(
                out,
                "      settings   {}, init, userns {}, restart {}, tmpfs /run /var/run",
                match n.security {
                    NodeSecurity::Privileged => "privileged",
                    NodeSecurity::Unprivileged => "not privileged",
                    #[cfg(feature = "test-nodes")]
                    NodeSecurity::TestWithoutPrivileged => "UNPRIVILEGED (test stand-in)",
                },
                n.userns_mode,
                n.restart_policy
            );
            let _ = writeln!(out, "      ready when the log says {:?}", n.ready_log);
        }
        let _ = writeln!(
            out,
            "  load balancer config ({}):",
            loadbalancer::CONFIG_PATH
        );
        for line in self.lb_config.to_yaml().lines() {
            let _ = writeln!(out, "      {line}");
        }
        for r in &self.registries {
            let created = self.registry_container().filter(|c| c.name == r.name);
            match created {
                Some(c) => {
                    let _ = writeln!(
                        out,
                        "  registry {}: {}, create on network bridge, then connect to {}",
                        c.name, c.image, self.network.name
                    );
                    let _ = writeln!(out, "      labels     {}", kv(&c.labels));
                    for (key, bs) in &c.ports {
                        for b in bs {
                            let _ = writeln!(
                                out,
                                "      ports      {}:{}->{key}",
                                b.host_ip, b.host_port
                            );
                        }
                    }
                    let _ = writeln!(
                        out,
                        "      settings   not privileged, init, userns {}, restart {}, tmpfs /run /var/run; removed with the cluster",
                        c.userns_mode, c.restart_policy
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "  registry {}: use (exists, published on {}:{}); connect to {}, kept when the cluster is deleted",
                        r.name, r.host_ip, r.host_port, self.network.name
                    );
                }
            }
        }
        if let Some(yaml) = self.registries_yaml() {
            let _ = writeln!(
                out,
                "  {} (every server and agent, mode 644):",
                registry::REGISTRIES_YAML_PATH
            );
            for line in yaml.lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
        if let Some(cm) = self.hosting_configmap() {
            let _ = writeln!(
                out,
                "  ConfigMap kube-public/local-registry-hosting ({}, applied after start):",
                registry::HOSTING_CONFIGMAP_PATH
            );
            for line in cm.lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
        let _ = writeln!(
            out,
            "  kubeconfig: context {}, user {}, server {}",
            o.name.kube_context(),
            o.name.kube_user(),
            o.api.server_url()
        );
        out
    }

    /// The plan as `--dry-run --output json` prints it, with the token hidden.
    pub(crate) fn render_json(&self, net: &NetworkFacts) -> serde_json::Value {
        let nodes: Vec<NodeSpec> = self
            .nodes(net)
            .into_iter()
            .map(|mut n| {
                n.redact();
                n
            })
            .collect();
        serde_json::json!({
            "cluster": self.options.name,
            "k3dVersion": K3D_COMPAT_VERSION,
            "network": self.network,
            "networkFacts": net,
            "imageVolume": self.image_volume,
            "nodes": nodes,
            "loadBalancerConfig": self.lb_config.to_yaml(),
            "registries": {
                "create": self.registry_container(),
                "use": self.options.registries.existing,
                "registriesYaml": self.registries_yaml(),
                "localRegistryHosting": self.hosting_configmap(),
            },
            "kubeconfig": {
                "context": self.options.name.kube_context(),
                "user": self.options.name.kube_user(),
                "server": self.options.api.server_url(),
            },
        })
    }
}

impl NodeSpec {
    /// Hides the cluster token (env and label) for printing.
    pub(crate) fn redact(&mut self) {
        const HIDDEN: &str = "<redacted>";
        for e in &mut self.env {
            if e.starts_with("K3S_TOKEN=") {
                *e = format!("K3S_TOKEN={HIDDEN}");
            }
        }
        if let Some(v) = self.labels.get_mut("k3d.cluster.token") {
            *v = HIDDEN.to_owned();
        }
    }
}

fn node_name(name: &ClusterName, n: NodeRef) -> String {
    match n {
        NodeRef::Server(i) => name.server(i),
        NodeRef::Agent(i) => name.agent(i),
        NodeRef::LoadBalancer => name.loadbalancer(),
    }
}

fn kv(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
