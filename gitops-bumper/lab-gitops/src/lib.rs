//! lab-gitops: what `bootstrap` and `gitops-bumper` share, so that neither tool links the other.
//!
//! - pure rules: [`image`] (tags, references, `--image` matching), [`edit`] (find and splice
//!   tag scalars in YAML), [`readiness`] (when a Deployment or StatefulSet is ready),
//!   [`quantity`] (CPU and memory as the API writes them);
//! - adapters: [`git`] (git2: open, commit, push, credentials), [`rollout`] (the Argo CD
//!   Application, its status rules and the wait for a rollout), [`probe`] (plain HTTP),
//!   [`kube_client`] (a client from a kubeconfig and context), [`wait`] (waits on kube's
//!   runtime watchers);
//! - [`diagnose`]: what is broken in a cluster and how to fix it (read-only gather, pure rules);
//! - [`error_chain`], the one way an error is printed with its causes.

pub mod diagnose;
pub mod edit;
mod error_chain;
pub mod git;
pub mod image;
pub mod kube_client;
pub mod probe;
pub mod quantity;
pub mod readiness;
pub mod rollout;
pub mod wait;

pub use error_chain::error_chain;
