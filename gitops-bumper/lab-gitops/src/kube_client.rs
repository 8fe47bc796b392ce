//! A client for a cluster named by a kubeconfig and one of its contexts, as kubectl finds them:
//! `--kubeconfig` (else `$KUBECONFIG`, else `~/.kube/config`), `--context` (else the file's
//! current one); with no file at all, the in-cluster service account.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// A connection and where it came from, for messages that name the cluster.
#[derive(Clone)]
pub struct Connection {
    pub client: Client,
    /// The context used (the file's current one when none was named; `in-cluster` without a
    /// file).
    pub context: String,
    pub server: String,
    /// The kubeconfig file, or the `$KUBECONFIG` list, it came from.
    pub kubeconfig: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("context", &self.context)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// What could not be done, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action}: {reason}")]
pub struct ConnectError {
    /// e.g. `read the kubeconfig`, `choose a context`.
    pub action: String,
    pub reason: String,
}

fn failed(action: &str, reason: impl std::fmt::Display) -> ConnectError {
    ConnectError {
        action: action.to_owned(),
        reason: reason.to_string(),
    }
}

const DEFAULT_KUBECONFIG: &str = "~/.kube/config";

/// Opens `kubeconfig` (else `$KUBECONFIG`, else `~/.kube/config`) at `context` (else its
/// current context). Without a flag and without a file, the in-cluster configuration.
pub async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<Connection, ConnectError> {
    let (file, source) = match kubeconfig {
        Some(path) => (
            Kubeconfig::read_from(path)
                .map_err(|e| failed("read the kubeconfig", format!("{}: {e}", path.display())))?,
            path.display().to_string(),
        ),
        None => match Kubeconfig::read() {
            Ok(file) => (
                file,
                std::env::var("KUBECONFIG").unwrap_or_else(|_| DEFAULT_KUBECONFIG.to_owned()),
            ),
            Err(e) if context.is_none() => return in_cluster(&e.to_string()),
            Err(e) => {
                return Err(failed(
                    "read the kubeconfig",
                    format!("{e}; name the file with --kubeconfig"),
                ));
            }
        },
    };
    let context = match context {
        Some(c) => c.to_owned(),
        None => file.current_context.clone().ok_or_else(|| {
            failed(
                "choose a context",
                format!("{source} has no current context; name one with --context"),
            )
        })?,
    };
    if !file.contexts.iter().any(|c| c.name == context) {
        let known: Vec<&str> = file.contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(failed(
            "choose a context",
            format!(
                "{source} has no context {context:?} (it has: {})",
                known.join(", ")
            ),
        ));
    }
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..KubeConfigOptions::default()
    };
    let config = Config::from_custom_kubeconfig(file, &options)
        .await
        .map_err(|e| failed(&format!("use context {context}"), e))?;
    finish(config, context, source)
}

fn in_cluster(no_file: &str) -> Result<Connection, ConnectError> {
    let config = Config::incluster().map_err(|e| {
        failed(
            "read the kubeconfig",
            format!("{no_file}; not in a pod either ({e}); name the file with --kubeconfig"),
        )
    })?;
    finish(
        config,
        "in-cluster".to_owned(),
        "the pod's service account".to_owned(),
    )
}

fn finish(config: Config, context: String, source: String) -> Result<Connection, ConnectError> {
    let server = config.cluster_url.to_string();
    let client =
        Client::try_from(config).map_err(|e| failed(&format!("connect to {server}"), e))?;
    Ok(Connection {
        client,
        context,
        server,
        kubeconfig: source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: \
             https://127.0.0.1:6443\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: a\n  \
             context: {cluster: c, user: u}\n- name: b\n  context: {cluster: c, user: u}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        path
    }

    #[tokio::test]
    async fn a_named_context_is_used_and_an_unknown_one_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = kubeconfig(dir.path());
        let conn = connect(Some(&path), Some("b"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(conn.context, "b");
        assert_eq!(conn.server, "https://127.0.0.1:6443/");
        let e = connect(Some(&path), Some("z"))
            .await
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(&*format!(
                "cannot choose a context: {} has no context \"z\" (it has: a, b)",
                path.display()
            ))
        );
        let e = connect(Some(&path), None)
            .await
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.ends_with("has no current context; name one with --context")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn a_missing_file_is_named() {
        let e = connect(Some(Path::new("/nonexistent/kubeconfig")), None)
            .await
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(
                |e| e.starts_with("cannot read the kubeconfig: /nonexistent/kubeconfig: ")
            ),
            "{e:?}"
        );
    }
}
