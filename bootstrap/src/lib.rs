//! `bootstrap` builds the lab from a laptop with Docker: k3d-compatible K3s-in-Docker clusters
//! (`cluster create|delete|list|start|stop|kubeconfig`), the workload images (`images`,
//! `image import`) and the preflight checks (`doctor`).
//!
//! The crate follows k3d's split between what and how:
//! - [`spec`] is pure: cluster options in, the exact Docker objects k3d v5 would create out
//!   (names, labels, env, ports, the load balancer's config, entrypoint scripts), kubeconfig
//!   rewrite and merge rules, Dockerfile rewriting, preflight rules. No I/O; unit-tested.
//! - [`docker`] is a thin bollard adapter that turns specs into Docker API calls.
//! - [`recipes`] are the user-visible actions as short sequences of named, timed steps run by
//!   [`recipes::steps::Steps`], which `bootstrap p3` reuses.

pub mod cli;
pub mod diagnose;
pub mod docker;
pub mod download;
pub mod error;
pub mod gitops;
pub mod k8s;
pub mod kubeconfig_file;
pub mod recipes;
pub mod spec;
#[cfg(feature = "test-nodes")]
pub mod standin;

pub use error::Error;

/// The K3s image every node runs unless `--image` says otherwise: k3d HEAD's default tag,
/// which the pinned `k8s-openapi` feature (`v1_35`) of the Kubernetes tools matches.
pub const K3S_IMAGE: &str = "rancher/k3s:v1.35.5-k3s1";

/// The load balancer image: k3d's own nginx + confd proxy, so the LB reads
/// `/etc/confd/values.yaml` exactly as it does under k3d.
pub const LB_IMAGE: &str = "ghcr.io/k3d-io/k3d-proxy:5.9.0";

/// The k3d release whose object layout we reproduce; written into every `k3d.version` label so
/// that `k3d cluster list/delete` treat our clusters as their own.
pub const K3D_COMPAT_VERSION: &str = "v5.9.0";
