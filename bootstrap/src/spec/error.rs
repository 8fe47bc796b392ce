//! Errors of the pure layer: each says what is wrong and what to do, in one sentence.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SpecError {
    #[error(
        "invalid cluster name {name:?}: {reason}; k3d names are hostnames of at most 32 letters, digits and '-'"
    )]
    InvalidClusterName { name: String, reason: String },

    #[error("invalid node filter {filter:?}: {reason}")]
    InvalidNodeFilter { filter: String, reason: String },

    #[error("invalid flag value {flag:?}: {reason}")]
    InvalidFlag { flag: String, reason: String },

    #[error("invalid port mapping {spec:?}: {reason}")]
    InvalidPort { spec: String, reason: String },

    #[error("invalid --api-port {spec:?}: {reason} (e.g. 6443, 127.0.0.1:6443 or random)")]
    InvalidApiPort { spec: String, reason: String },

    #[error("invalid volume {spec:?}: {reason}")]
    InvalidVolume { spec: String, reason: String },

    #[error("a cluster needs at least one server; use --servers 1 or more")]
    NoServers,

    #[error(
        "the port mapping {spec} is given twice; give each mapping once and list its nodes with ';' (e.g. @server:0;agent:1)"
    )]
    DuplicatePort { spec: String },

    #[error(
        "the direct port mapping {spec} targets {count} nodes; a host port can be bound on one node only, so name one (e.g. @agent:0:direct)"
    )]
    DirectPortOnManyNodes { spec: String, count: usize },

    #[error(
        "--k3s-arg {arg:?} lacks a node filter but the cluster has more than one node; add one, e.g. {arg}@server:0"
    )]
    MissingNodeFilter { arg: String },

    #[error(
        "--k3s-arg {arg:?} targets only the load balancer, which does not run K3s; target servers or agents instead"
    )]
    K3sArgOnLoadBalancer { arg: String },

    #[error(
        "node {node} mounts a file at /etc/resolv.conf, which the DNS fix rewrites; remove that volume or set K3D_FIX_DNS=0"
    )]
    DnsFixWithResolvConf { node: String },

    #[error("archive error: {0}")]
    Archive(String),

    #[error("{path}: {reason}")]
    Dockerfile { path: String, reason: String },

    #[error("kubeconfig {what}: {reason}")]
    Kubeconfig { what: String, reason: String },

    #[error("cargo metadata: {0}; run bootstrap from inside the iot-rs workspace")]
    Metadata(String),

    #[error("unknown workload {name:?}; the workloads are: {known}")]
    UnknownWorkload { name: String, known: String },

    #[error(
        "workload {name} is not a member of this workspace; build it from a checkout that has {name}/"
    )]
    WorkloadNotInWorkspace { name: String },
}
