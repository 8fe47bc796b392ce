//! lab-gitops: what `bootstrap` and `gitops-bumper` share.

pub mod diagnose;
