//! Cluster names and the names k3d derives from them.

use std::fmt;

use serde::Serialize;

use super::SpecError;

/// k3d's default cluster name when none is given.
pub(crate) const DEFAULT_CLUSTER_NAME: &str = "k3s-default";

/// k3d refuses longer names: node names (`k3d-<name>-server-0`) must stay valid hostnames.
pub(crate) const MAX_CLUSTER_NAME_LEN: usize = 32;

/// Prefix of every object k3d creates.
const PREFIX: &str = "k3d";

/// A validated cluster name: an RFC 1123 hostname of at most 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ClusterName(String);

impl ClusterName {
    /// Validates `name` with k3d's rules.
    pub fn parse(name: &str) -> Result<Self, SpecError> {
        if name.is_empty() {
            return Err(SpecError::InvalidClusterName {
                name: name.to_owned(),
                reason: "it is empty".to_owned(),
            });
        }
        if let Some(reason) = hostname_problem(name) {
            return Err(SpecError::InvalidClusterName {
                name: name.to_owned(),
                reason,
            });
        }
        if name.len() > MAX_CLUSTER_NAME_LEN {
            return Err(SpecError::InvalidClusterName {
                name: name.to_owned(),
                reason: format!(
                    "it has {} characters and at most {MAX_CLUSTER_NAME_LEN} are allowed",
                    name.len()
                ),
            });
        }
        Ok(Self(name.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// `k3d-<name>`: the network, the kubeconfig cluster and context.
    pub(crate) fn prefixed(&self) -> String {
        format!("{PREFIX}-{}", self.0)
    }

    pub(crate) fn network(&self) -> String {
        self.prefixed()
    }

    pub(crate) fn image_volume(&self) -> String {
        format!("{PREFIX}-{}-images", self.0)
    }

    pub(crate) fn server(&self, index: usize) -> String {
        format!("{PREFIX}-{}-server-{index}", self.0)
    }

    pub(crate) fn agent(&self, index: usize) -> String {
        format!("{PREFIX}-{}-agent-{index}", self.0)
    }

    pub(crate) fn loadbalancer(&self) -> String {
        format!("{PREFIX}-{}-serverlb", self.0)
    }

    /// The kubeconfig cluster and context name.
    pub(crate) fn kube_context(&self) -> String {
        self.prefixed()
    }

    /// The kubeconfig user name.
    pub(crate) fn kube_user(&self) -> String {
        format!("admin@{PREFIX}-{}", self.0)
    }
}

impl fmt::Display for ClusterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why `name` is not an RFC 1123 hostname (dot-separated labels of letters, digits and inner
/// hyphens), or `None` when it is one.
fn hostname_problem(name: &str) -> Option<String> {
    for label in name.split('.') {
        if label.is_empty() {
            return Some("it has an empty part between dots".to_owned());
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Some(format!(
                "it contains {c:?}; use letters, digits, '-' and '.' only"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some("a part starts or ends with '-'".to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_follow_k3d() {
        let n = ClusterName::parse("demo").unwrap();
        assert_eq!(n.network(), "k3d-demo");
        assert_eq!(n.image_volume(), "k3d-demo-images");
        assert_eq!(n.server(0), "k3d-demo-server-0");
        assert_eq!(n.agent(1), "k3d-demo-agent-1");
        assert_eq!(n.loadbalancer(), "k3d-demo-serverlb");
        assert_eq!(n.kube_context(), "k3d-demo");
        assert_eq!(n.kube_user(), "admin@k3d-demo");
    }

    #[test]
    fn accepts_what_k3d_accepts() {
        for ok in ["a", "demo", "k3s-default", "a.b-c", "A1", &"x".repeat(32)] {
            assert!(ClusterName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("-demo", "starts or ends"),
            ("demo-", "starts or ends"),
            ("de_mo", "'_'"),
            ("a..b", "empty part"),
            ("dé", "'é'"),
        ];
        for (bad, why) in cases {
            let err = ClusterName::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let long = "x".repeat(33);
        let err = ClusterName::parse(&long).unwrap_err().to_string();
        assert!(err.contains("33 characters"), "{err}");
    }
}
