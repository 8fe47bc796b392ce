//! The pure layer: every rule about what Docker objects, files and images look like, as
//! functions of their inputs. Nothing here touches Docker, the network or the filesystem.

pub mod archive;
pub(crate) mod build_path;
pub mod cluster;
pub(crate) mod dockerfile;
pub(crate) mod dockerignore;
pub(crate) mod doctor;
pub(crate) mod error;
pub(crate) mod existing_cluster;
pub mod filter;
pub mod fixes;
pub mod kubeconfig;
pub mod loadbalancer;
pub mod logs;
pub mod names;
pub mod ports;
pub mod registry;
pub mod workloads;

pub use error::SpecError;
