//! Kubeconfig rules: K3s's admin kubeconfig rewritten to k3d's names, and merged into (or
//! removed from) a user's kubeconfig the way k3d does it. Unknown fields survive untouched.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::SpecError;
use super::names::ClusterName;
use super::ports::ApiEndpoint;

/// The names K3s gives the cluster, user and context in the kubeconfig it writes.
const K3S_DEFAULT: &str = "default";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kubeconfig {
    #[serde(rename = "apiVersion", default = "api_version")]
    pub(crate) api_version: String,
    #[serde(default = "kind")]
    pub(crate) kind: String,
    #[serde(default, deserialize_with = "null_is_empty")]
    pub clusters: Vec<Entry>,
    #[serde(default, deserialize_with = "null_is_empty")]
    pub contexts: Vec<Entry>,
    #[serde(default, deserialize_with = "null_is_empty")]
    pub users: Vec<Entry>,
    #[serde(
        rename = "current-context",
        default,
        deserialize_with = "null_is_empty"
    )]
    pub current_context: String,
    #[serde(flatten)]
    pub(crate) other: BTreeMap<String, Value>,
}

/// One named cluster, context or user; the body (`cluster:`, `context:`, `user:`) is kept
/// as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    #[serde(flatten)]
    pub(crate) body: BTreeMap<String, Value>,
}

fn api_version() -> String {
    "v1".to_owned()
}

fn kind() -> String {
    "Config".to_owned()
}

fn null_is_empty<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl Default for Kubeconfig {
    fn default() -> Self {
        Self {
            api_version: api_version(),
            kind: kind(),
            clusters: Vec::new(),
            contexts: Vec::new(),
            users: Vec::new(),
            current_context: String::new(),
            other: BTreeMap::new(),
        }
    }
}

impl Kubeconfig {
    pub fn parse(text: &str, what: &str) -> Result<Self, SpecError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_saphyr::from_str(text).map_err(|e| SpecError::Kubeconfig {
            what: what.to_owned(),
            reason: format!(
                "is not a valid kubeconfig ({}); fix or move the file",
                first_line(&e.to_string())
            ),
        })
    }

    pub(crate) fn to_yaml(&self) -> Result<String, SpecError> {
        serde_saphyr::to_string(self).map_err(|e| SpecError::Kubeconfig {
            what: "output".to_owned(),
            reason: format!("cannot be written as YAML: {e}"),
        })
    }

    /// K3s's kubeconfig → k3d's: server `https://<api host>:<port>`, cluster and context
    /// `k3d-<name>`, user `admin@k3d-<name>`, current context `k3d-<name>`.
    pub(crate) fn from_k3s(
        text: &str,
        cluster: &ClusterName,
        api: &ApiEndpoint,
    ) -> Result<Self, SpecError> {
        let mut kc = Self::parse(text, "written by K3s")?;
        let missing = |what: &str| SpecError::Kubeconfig {
            what: "written by K3s".to_owned(),
            reason: format!(
                "has no {what} named \"default\"; the node image is not a K3s image bootstrap knows"
            ),
        };
        let context = cluster.kube_context();
        let user = cluster.kube_user();

        let c = find_mut(&mut kc.clusters, K3S_DEFAULT).ok_or_else(|| missing("cluster"))?;
        c.name = context.clone();
        let body = c
            .body
            .entry("cluster".to_owned())
            .or_insert_with(|| Value::Object(Default::default()));
        let Value::Object(body) = body else {
            return Err(missing("cluster body"));
        };
        body.insert("server".to_owned(), Value::String(api.server_url()));

        let u = find_mut(&mut kc.users, K3S_DEFAULT).ok_or_else(|| missing("user"))?;
        u.name = user.clone();

        let ctx = find_mut(&mut kc.contexts, K3S_DEFAULT).ok_or_else(|| missing("context"))?;
        ctx.name = context.clone();
        if let Some(Value::Object(body)) = ctx.body.get_mut("context") {
            body.insert("cluster".to_owned(), Value::String(context.clone()));
            body.insert("user".to_owned(), Value::String(user));
        }
        kc.current_context = context;
        Ok(kc)
    }

    /// k3d's merge: entries of `new` replace same-named ones (or are appended); the current
    /// context becomes `new`'s when `switch_context` is set or none was set.
    pub(crate) fn merge(&mut self, new: &Kubeconfig, switch_context: bool) {
        for (mine, theirs) in [
            (&mut self.clusters, &new.clusters),
            (&mut self.contexts, &new.contexts),
            (&mut self.users, &new.users),
        ] {
            for entry in theirs {
                match find_mut(mine, &entry.name) {
                    Some(existing) => *existing = entry.clone(),
                    None => mine.push(entry.clone()),
                }
            }
        }
        if switch_context || self.current_context.is_empty() {
            self.current_context = new.current_context.clone();
        }
    }

    /// Removes a cluster's entries as `k3d cluster delete` does; if it was the current
    /// context, the first remaining context (or none) becomes current. Returns whether
    /// anything changed.
    pub(crate) fn remove_cluster(&mut self, cluster: &ClusterName) -> bool {
        let context = cluster.kube_context();
        let user = cluster.kube_user();
        let before = (self.clusters.len(), self.contexts.len(), self.users.len());
        self.clusters.retain(|e| e.name != context);
        self.contexts.retain(|e| e.name != context);
        self.users.retain(|e| e.name != user);
        let mut changed = before != (self.clusters.len(), self.contexts.len(), self.users.len());
        if self.current_context == context {
            self.current_context = self
                .contexts
                .first()
                .map(|c| c.name.clone())
                .unwrap_or_default();
            changed = true;
        }
        changed
    }

    /// The `server:` of the named cluster.
    pub fn server(&self, cluster: &str) -> Option<&str> {
        self.clusters
            .iter()
            .find(|c| c.name == cluster)
            .and_then(|c| c.body.get("cluster"))
            .and_then(|b| b.get("server"))
            .and_then(Value::as_str)
    }
}

fn find_mut<'a>(entries: &'a mut [Entry], name: &str) -> Option<&'a mut Entry> {
    entries.iter_mut().find(|e| e.name == name)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The shape K3s writes to `K3S_KUBECONFIG_OUTPUT` (secrets shortened).
    pub(crate) const K3S_KUBECONFIG: &str = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EK
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Q0VSVAo=
    client-key-data: S0VZCg==
";

    fn api() -> ApiEndpoint {
        ApiEndpoint {
            host: "0.0.0.0".into(),
            host_ip: "0.0.0.0".into(),
            port: 6550,
        }
    }

    #[test]
    fn rewrites_k3s_names_and_server() {
        let name = ClusterName::parse("demo").unwrap();
        let kc = Kubeconfig::from_k3s(K3S_KUBECONFIG, &name, &api()).unwrap();
        assert_eq!(kc.current_context, "k3d-demo");
        assert_eq!(kc.clusters[0].name, "k3d-demo");
        assert_eq!(kc.server("k3d-demo"), Some("https://0.0.0.0:6550"));
        assert_eq!(kc.users[0].name, "admin@k3d-demo");
        assert_eq!(kc.contexts[0].name, "k3d-demo");
        assert_eq!(kc.contexts[0].body["context"]["cluster"], "k3d-demo");
        assert_eq!(kc.contexts[0].body["context"]["user"], "admin@k3d-demo");
        // secrets and unknown fields are carried over
        assert_eq!(kc.users[0].body["user"]["client-key-data"], "S0VZCg==");
        assert_eq!(
            kc.clusters[0].body["cluster"]["certificate-authority-data"],
            "Q0EK"
        );
        assert!(kc.other.contains_key("preferences"));
        // and it round-trips through YAML
        let again = Kubeconfig::parse(&kc.to_yaml().unwrap(), "test").unwrap();
        assert_eq!(again, kc);
    }

    #[test]
    fn rejects_what_is_not_k3s() {
        let name = ClusterName::parse("demo").unwrap();
        let err =
            Kubeconfig::from_k3s("apiVersion: v1\nclusters: []\n", &name, &api()).unwrap_err();
        assert!(
            err.to_string().contains("no cluster named \"default\""),
            "{err}"
        );
        let err = Kubeconfig::parse("clusters: [unclosed", "at ~/.kube/config").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("kubeconfig at ~/.kube/config: is not a valid kubeconfig"),
            "{err}"
        );
    }

    #[test]
    fn merge_overwrites_same_names_and_switches() {
        let demo = ClusterName::parse("demo").unwrap();
        let other = ClusterName::parse("other").unwrap();
        let new_demo = Kubeconfig::from_k3s(K3S_KUBECONFIG, &demo, &api()).unwrap();
        let new_other = Kubeconfig::from_k3s(K3S_KUBECONFIG, &other, &api()).unwrap();

        let mut user = Kubeconfig::parse("", "empty").unwrap();
        user.merge(&new_other, false);
        assert_eq!(
            user.current_context, "k3d-other",
            "empty current context is set"
        );
        user.merge(&new_demo, false);
        assert_eq!(
            user.current_context, "k3d-other",
            "not switched when told not to"
        );
        assert_eq!(user.clusters.len(), 2);

        let mut moved = new_demo.clone();
        let Value::Object(c) = moved.clusters[0].body.get_mut("cluster").unwrap() else {
            panic!()
        };
        c.insert(
            "server".into(),
            Value::String("https://127.0.0.1:7000".into()),
        );
        user.merge(&moved, true);
        assert_eq!(user.clusters.len(), 2, "same name replaced, not added");
        assert_eq!(user.server("k3d-demo"), Some("https://127.0.0.1:7000"));
        assert_eq!(user.current_context, "k3d-demo");
    }

    #[test]
    fn remove_cluster_picks_another_context() {
        let demo = ClusterName::parse("demo").unwrap();
        let other = ClusterName::parse("other").unwrap();
        let mut user = Kubeconfig::default();
        user.merge(
            &Kubeconfig::from_k3s(K3S_KUBECONFIG, &other, &api()).unwrap(),
            true,
        );
        user.merge(
            &Kubeconfig::from_k3s(K3S_KUBECONFIG, &demo, &api()).unwrap(),
            true,
        );
        assert!(user.remove_cluster(&demo));
        assert_eq!(user.current_context, "k3d-other");
        assert_eq!(user.users.len(), 1);
        assert!(!user.remove_cluster(&demo), "idempotent");
        assert!(user.remove_cluster(&other));
        assert_eq!(user.current_context, "");
        assert!(user.clusters.is_empty());
    }

    #[test]
    fn null_lists_are_empty() {
        let kc = Kubeconfig::parse(
            "apiVersion: v1\nkind: Config\nclusters: null\ncurrent-context: null\n",
            "t",
        )
        .unwrap();
        assert!(kc.clusters.is_empty());
        assert_eq!(kc.current_context, "");
    }
}
