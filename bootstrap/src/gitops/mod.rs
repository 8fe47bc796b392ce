//! Part 3's GitOps loop inside the cluster: Argo CD ([`argocd`]), a Git server of its own
//! ([`gitserver`]) seeded from the local clone ([`seed`]), and the Application
//! ([`application`]) that ties them together.

pub mod application;
pub mod argocd;
pub mod gitserver;
pub mod seed;
