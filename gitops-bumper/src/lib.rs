//! gitops-bumper: roll an app forward through Git.
//!
//! `gitops-bumper v2` finds the app's image tags in the GitOps repository (manifests and Helm
//! values), rewrites exactly those bytes, commits, pushes (fetching and re-applying the edit
//! when someone pushed first, never forcing) and, with `--wait`, watches the Argo CD
//! Application until the cluster runs the new commit.
//!
//! The tag rules, the YAML splicing, Git, the Application's rollout and the probe are
//! `lab-gitops`'s, shared with `bootstrap`. Here:
//! - pure rules: [`plan`] (several files, ambiguity, diff, message), [`diff`], [`message`];
//! - the recipe: [`bump`] (find → edit → commit → push, with retries).

pub mod bump;
pub(crate) mod diff;
pub mod message;
pub mod plan;
