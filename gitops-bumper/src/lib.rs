//! gitops-bumper: roll an app forward through Git.
//!
//! `gitops-bumper v2` finds the app's image tags in the GitOps repository (manifests and Helm
//! values), rewrites exactly those bytes, commits, pushes (fetching and re-applying the edit
//! when someone pushed first, never forcing) and, with `--wait`, watches the Argo CD
//! Application until the cluster runs the new commit.
//!
//! Layers, as in the rest of iot-rs:
//! - pure rules: [`image`] (tags, references, `--image` matching), [`edit`] (find and splice
//!   tag scalars in YAML), [`plan`] (several files, ambiguity, diff, message), [`diff`],
//!   [`message`];
//! - adapters: [`git`] (git2), [`rollout`] (kube: Argo CD Application status), [`probe`]
//!   (plain HTTP);
//! - the recipe: [`bump`] (find → edit → commit → push, with retries).

pub mod bump;
pub mod diff;
pub mod edit;
pub mod git;
pub mod image;
pub mod message;
pub mod plan;
pub mod probe;
pub mod rollout;
