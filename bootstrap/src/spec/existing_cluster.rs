//! Whether a cluster bootstrap did not create can take part 3 (`bootstrap p3 --context`): the
//! rules, applied to facts that `k8s::existing` reads from the cluster.

use std::fmt;

/// The oldest Kubernetes minor (of major 1) part 3 runs on: Argo CD v3.5 is tested from 1.32,
/// and bootstrap's Kubernetes types are those of 1.35; 1.30 is where every API that
/// install.yaml and the Application use has long been GA.
pub(crate) const MIN_MINOR: u32 = 30;

/// Something part 3 needs to be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Access {
    pub(crate) verb: &'static str,
    pub(crate) group: &'static str,
    pub(crate) resource: &'static str,
    /// None for cluster-scoped resources.
    pub(crate) namespace: Option<&'static str>,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resource = if self.group.is_empty() {
            self.resource.to_owned()
        } else {
            format!("{}.{}", self.resource, self.group)
        };
        match self.namespace {
            Some(ns) => write!(f, "{} {resource} in namespace {ns}", self.verb),
            None => write!(f, "{} {resource}", self.verb),
        }
    }
}

const fn access(
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    namespace: Option<&'static str>,
) -> Access {
    Access {
        verb,
        group,
        resource,
        namespace,
    }
}

const ARGOCD: Option<&str> = Some("argocd");

/// What part 3 creates: the kinds of Argo CD's install.yaml, the Application, and the
/// namespaces (`argocd`, and `dev` which Argo CD creates with its own rights).
pub(crate) const REQUIRED_ACCESS: &[Access] = &[
    access("create", "", "namespaces", None),
    access(
        "create",
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        None,
    ),
    access("create", "rbac.authorization.k8s.io", "clusterroles", None),
    access(
        "create",
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        None,
    ),
    access("create", "rbac.authorization.k8s.io", "roles", ARGOCD),
    access(
        "create",
        "rbac.authorization.k8s.io",
        "rolebindings",
        ARGOCD,
    ),
    access("create", "", "serviceaccounts", ARGOCD),
    access("create", "", "configmaps", ARGOCD),
    access("create", "", "secrets", ARGOCD),
    access("create", "", "services", ARGOCD),
    access("create", "apps", "deployments", ARGOCD),
    access("create", "apps", "statefulsets", ARGOCD),
    access("create", "networking.k8s.io", "networkpolicies", ARGOCD),
    access("create", "argoproj.io", "applications", ARGOCD),
];

/// The API server's version as it reports it (`/version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerVersion {
    pub(crate) major: String,
    /// May carry a vendor's suffix, e.g. `35+` on EKS and GKE.
    pub(crate) minor: String,
    pub(crate) git_version: String,
}

/// One node, as far as part 3 cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeFacts {
    pub name: String,
    pub(crate) ready: bool,
    pub(crate) schedulable: bool,
    /// `status.allocatable.memory`, unparsed.
    pub(crate) allocatable_memory: Option<String>,
}

/// What was read from the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    pub(crate) version: ServerVersion,
    /// The accesses the API refused (SelfSubjectAccessReview).
    pub(crate) denied: Vec<Access>,
    pub nodes: Vec<NodeFacts>,
    /// Namespaces part 3 would take over that exist without bootstrap's label.
    pub(crate) foreign_namespaces: Vec<String>,
}

/// Every reason the cluster cannot take part 3, each a sentence with what to do.
pub(crate) fn problems(facts: &Facts, memory_needed_mib: u64) -> Vec<String> {
    let mut problems = Vec::new();
    match supported(&facts.version) {
        Ok(()) => {}
        Err(why) => problems.push(why),
    }
    if !facts.denied.is_empty() {
        let denied: Vec<String> = facts.denied.iter().map(Access::to_string).collect();
        problems.push(format!(
            "this kubeconfig's user may not {}; use a context with cluster-admin rights",
            denied.join(", ")
        ));
    }
    for ns in &facts.foreign_namespaces {
        problems.push(format!(
            "namespace {ns} exists and was not made by bootstrap p3: p3 would take it over; \
             use a cluster without it, or delete it first"
        ));
    }
    let usable: Vec<&NodeFacts> = facts
        .nodes
        .iter()
        .filter(|n| n.ready && n.schedulable)
        .collect();
    if usable.is_empty() {
        problems.push(
            "no node is Ready and schedulable: `kubectl get nodes` shows why nothing can run"
                .to_owned(),
        );
    } else {
        let allocatable: u64 = usable
            .iter()
            .filter_map(|n| n.allocatable_memory.as_deref().and_then(memory_bytes))
            .sum();
        let needed = memory_needed_mib * 1024 * 1024;
        if allocatable < needed {
            problems.push(format!(
                "the Ready nodes have {} MiB of allocatable memory, part 3 needs {memory_needed_mib} MiB; \
                 add a node or memory",
                allocatable / (1024 * 1024)
            ));
        }
    }
    problems
}

/// Whether part 3 runs on this server version.
pub(crate) fn supported(version: &ServerVersion) -> Result<(), String> {
    let digits = |s: &str| -> Option<u32> {
        s.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    };
    match (digits(&version.major), digits(&version.minor)) {
        (Some(1), Some(minor)) if minor >= MIN_MINOR => Ok(()),
        (Some(1), Some(_)) => Err(format!(
            "Kubernetes {} is older than part 3 supports (v1.{MIN_MINOR} or later); upgrade the cluster",
            version.git_version
        )),
        _ => Err(format!(
            "the API server reports version {} (major {:?}, minor {:?}), which bootstrap cannot read",
            version.git_version, version.major, version.minor
        )),
    }
}

/// A memory quantity (`64Gi`, `16318480Ki`, `2e9`, `512M`) in bytes; None when unreadable.
pub(crate) fn memory_bytes(quantity: &str) -> Option<u64> {
    lab_gitops::quantity::quantity(quantity)
        .filter(|bytes| *bytes >= 0.0)
        .map(|bytes| bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(minor: &str) -> ServerVersion {
        ServerVersion {
            major: "1".into(),
            minor: minor.into(),
            git_version: format!("v1.{}.2", minor.trim_end_matches('+')),
        }
    }

    fn node(name: &str, memory: &str) -> NodeFacts {
        NodeFacts {
            name: name.into(),
            ready: true,
            schedulable: true,
            allocatable_memory: Some(memory.into()),
        }
    }

    fn fine() -> Facts {
        Facts {
            version: version("35"),
            denied: vec![],
            nodes: vec![node("k3s-0", "3906368Ki")],
            foreign_namespaces: vec![],
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(memory_bytes("64Gi"), Some(64 << 30));
        assert_eq!(memory_bytes("16318480Ki"), Some(16318480 << 10));
        assert_eq!(memory_bytes("2e9"), Some(2_000_000_000));
        assert_eq!(memory_bytes("512M"), Some(512_000_000));
        assert_eq!(memory_bytes("1073741824"), Some(1 << 30));
        assert_eq!(memory_bytes("12parsecs"), None);
        assert_eq!(memory_bytes(""), None);
    }

    #[test]
    fn a_fitting_cluster_has_no_problem() {
        assert_eq!(problems(&fine(), 768), Vec::<String>::new());
    }

    #[test]
    fn versions_with_vendor_suffixes_are_read_and_old_ones_refused() {
        assert_eq!(supported(&version("33+")), Ok(()));
        let old = supported(&version("29")).unwrap_err();
        assert!(
            old.contains("v1.29.2 is older than part 3 supports (v1.30 or later)"),
            "{old}"
        );
        let odd = ServerVersion {
            major: "".into(),
            minor: "".into(),
            git_version: "v0.0.0-master".into(),
        };
        assert!(supported(&odd).unwrap_err().contains("cannot read"));
    }

    #[test]
    fn every_denied_access_is_named() {
        let mut facts = fine();
        facts.denied = vec![REQUIRED_ACCESS[1], REQUIRED_ACCESS[13]];
        let found = problems(&facts, 768);
        assert_eq!(
            found,
            [
                "this kubeconfig's user may not create customresourcedefinitions.apiextensions.k8s.io, \
              create applications.argoproj.io in namespace argocd; use a context with cluster-admin rights"
            ]
        );
    }

    #[test]
    fn memory_counts_only_ready_schedulable_nodes() {
        let mut facts = fine();
        facts.nodes = vec![node("a", "512Mi"), node("b", "512Mi"), node("c", "8Gi")];
        facts.nodes[2].ready = false;
        facts.nodes[1].schedulable = false;
        let found = problems(&facts, 768);
        assert_eq!(
            found,
            [
                "the Ready nodes have 512 MiB of allocatable memory, part 3 needs 768 MiB; add a node or memory"
            ]
        );
        facts.nodes.clear();
        assert!(problems(&facts, 1)[0].starts_with("no node is Ready and schedulable"));
    }

    #[test]
    fn a_namespace_p3_did_not_make_is_not_taken_over() {
        let mut facts = fine();
        facts.foreign_namespaces = vec!["argocd".into()];
        let found = problems(&facts, 768);
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("namespace argocd exists and was not made by bootstrap p3"));
    }
}
