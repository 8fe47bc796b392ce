//! A Git server inside the cluster, so that the GitOps loop needs no account anywhere: Gitea
//! (rootless image, SQLite on a local-path volume), published on the host through the cluster's
//! load balancer. Argo CD reads from it inside the cluster; the learner pushes to it from the
//! host as the remote `lab`.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DynamicObject};
use serde_json::{Value, json};

use lab_gitops::diagnose::explain_wait;
use lab_gitops::readiness::deployment_unready;
use lab_gitops::wait::until_all_ready;

use crate::k8s::apply::{self as kube_apply, ApplyError};

/// Pinned Gitea release (rootless image: runs as uid 1000, no root anywhere).
pub const VERSION: &str = "1.25.4";
pub(crate) const IMAGE: &str = "docker.gitea.com/gitea:1.25.4-rootless";
pub(crate) const NAMESPACE: &str = "gitea";
pub(crate) const NAME: &str = "gitea";
pub(crate) const SERVICE: &str = "gitea-http";
/// Gitea's HTTP port, in the pod, on the Service and (by default) on the host.
pub(crate) const PORT: u16 = 3000;
pub const CREDENTIALS_SECRET: &str = "gitea-admin";

/// Who owns the lab repository, and the secrets Gitea needs; generated once per cluster and
/// kept in a Secret, so that re-runs reuse them.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub(crate) username: String,
    pub(crate) password: String,
    pub secret_key: String,
}

impl Credentials {
    /// Fresh credentials for `username`: a 32-character password and Gitea's 64-character
    /// secret key, from the OS's randomness.
    pub fn generate(username: &str) -> Result<Credentials, GiteaError> {
        Ok(Credentials {
            username: username.to_owned(),
            password: random_text(32)?,
            secret_key: random_text(64)?,
        })
    }
}

/// `len` characters from `[A-Za-z0-9]`, unbiased (bytes past the last whole alphabet are
/// skipped).
fn random_text(len: usize) -> Result<String, GiteaError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let limit = 256 - (256 % ALPHABET.len());
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut buf = [0u8; 64];
        getrandom::fill(&mut buf).map_err(|e| GiteaError::Random(e.to_string()))?;
        out.extend(
            buf.iter()
                .filter(|&&b| usize::from(b) < limit)
                .map(|&b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
                .take(len - out.len()),
        );
    }
    Ok(out)
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The in-cluster URL Argo CD clones from.
pub fn cluster_url(owner: &str, repo: &str) -> String {
    format!("http://{SERVICE}.{NAMESPACE}.svc.cluster.local:{PORT}/{owner}/{repo}.git")
}

/// The URL the host pushes to, through the load balancer's published port.
pub(crate) fn host_url(host_port: u16, owner: &str, repo: &str) -> String {
    format!("http://localhost:{host_port}/{owner}/{repo}.git")
}

/// The admin account is created (or its password reset to the Secret's) by an init container,
/// before the server starts; `gitea migrate` first creates the database schema.
const SETUP_SCRIPT: &str = r#"set -eu
gitea migrate >/dev/null
if gitea admin user list --admin | awk 'NR > 1 { print $2 }' | grep -qx "$GITEA_ADMIN_USERNAME"; then
  gitea admin user change-password --username "$GITEA_ADMIN_USERNAME" --password "$GITEA_ADMIN_PASSWORD" --must-change-password=false >/dev/null
else
  gitea admin user create --admin --username "$GITEA_ADMIN_USERNAME" --password "$GITEA_ADMIN_PASSWORD" --email "$GITEA_ADMIN_USERNAME@localhost" --must-change-password=false >/dev/null
fi
echo "admin account $GITEA_ADMIN_USERNAME ready"
"#;

fn secret_env(name: &str, key: &str) -> Value {
    json!({"name": name, "valueFrom": {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": key}}})
}

/// Every object of the Git server, in apply order. `host_port` is where the host reaches it
/// (it appears in the clone URLs Gitea shows).
pub(crate) fn objects(credentials: &Credentials, host_port: u16) -> Vec<Value> {
    let labels = json!({
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/part-of": "inception-of-things",
    });
    let selector = json!({ "app.kubernetes.io/name": NAME });
    let env = json!([
        {"name": "GITEA_APP_INI", "value": "/var/lib/gitea/custom/conf/app.ini"},
        {"name": "GITEA__security__INSTALL_LOCK", "value": "true"},
        secret_env("GITEA__security__SECRET_KEY", "secret-key"),
        {"name": "GITEA__database__DB_TYPE", "value": "sqlite3"},
        {"name": "GITEA__server__HTTP_PORT", "value": PORT.to_string()},
        {"name": "GITEA__server__ROOT_URL", "value": format!("http://localhost:{host_port}/")},
        {"name": "GITEA__server__DISABLE_SSH", "value": "true"},
        {"name": "GITEA__service__DISABLE_REGISTRATION", "value": "true"},
        // `git push` to a new name creates the repository, public so Argo CD reads it anonymously.
        {"name": "GITEA__repository__ENABLE_PUSH_CREATE_USER", "value": "true"},
        {"name": "GITEA__repository__DEFAULT_PUSH_CREATE_PRIVATE", "value": "false"},
        secret_env("GITEA_ADMIN_USERNAME", "username"),
        secret_env("GITEA_ADMIN_PASSWORD", "password"),
    ]);
    // One volume for data and configuration: local-path volumes are created world-writable
    // but kubelet-made subPath directories are not (and fsGroup does not reach hostPath
    // volumes), so Gitea (uid 1000) gets the volume's root and makes its own directories.
    let mounts = json!([
        {"name": "data", "mountPath": "/var/lib/gitea"},
        {"name": "tmp", "mountPath": "/tmp"},
    ]);
    let container_security = json!({
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
    });
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": NAMESPACE, "labels": labels}}),
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": CREDENTIALS_SECRET, "namespace": NAMESPACE, "labels": labels},
               "type": "Opaque",
               "stringData": {"username": credentials.username, "password": credentials.password,
                              "secret-key": credentials.secret_key}}),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": {"name": "gitea-data", "namespace": NAMESPACE, "labels": labels},
               "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 1,
            // One volume, one writer: the old pod goes before the new one starts.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": false,
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "runAsGroup": 1000,
                                        "fsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                    "initContainers": [{
                        "name": "setup", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                        // The image's entrypoint writes app.ini from the environment, then runs this.
                        "args": ["/bin/sh", "-c", SETUP_SCRIPT],
                        "env": env, "volumeMounts": mounts, "securityContext": container_security,
                    }],
                    "containers": [{
                        "name": "gitea", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                        "env": env, "volumeMounts": mounts, "securityContext": container_security,
                        "ports": [{"name": "http", "containerPort": PORT}],
                        "readinessProbe": {"httpGet": {"path": "/api/healthz", "port": "http"},
                                           "periodSeconds": 5},
                        "livenessProbe": {"httpGet": {"path": "/api/healthz", "port": "http"},
                                          "initialDelaySeconds": 30, "periodSeconds": 20},
                        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                                      "limits": {"memory": "512Mi"}},
                    }],
                    "volumes": [
                        {"name": "data", "persistentVolumeClaim": {"claimName": "gitea-data"}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        }}),
        // servicelb binds the port on the nodes; the k3d load balancer publishes it on the host.
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": labels},
               "spec": {"type": "LoadBalancer", "selector": selector,
                        "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]}}),
    ]
}

#[derive(Debug, thiserror::Error)]
pub enum GiteaError {
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("Kubernetes API: reading {what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("the Git server did not become ready within {timeout:?}: {detail}")]
    NotReady { timeout: Duration, detail: String },
    #[error("the OS gave no randomness for the Git server's password: {0}")]
    Random(String),
}

/// The credentials already stored in the cluster, if a previous run created them.
pub async fn existing_credentials(client: &Client) -> Result<Option<Credentials>, GiteaError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let secret = secrets
        .get_opt(CREDENTIALS_SECRET)
        .await
        .map_err(|source| GiteaError::Api {
            what: format!("secret {NAMESPACE}/{CREDENTIALS_SECRET}"),
            source,
        })?;
    let field = |data: &std::collections::BTreeMap<String, k8s_openapi::ByteString>, key: &str| {
        data.get(key)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
    };
    Ok(secret.and_then(|s| s.data).and_then(|data| {
        Some(Credentials {
            username: field(&data, "username")?,
            password: field(&data, "password")?,
            secret_key: field(&data, "secret-key")?,
        })
    }))
}

/// Applies the Git server and waits until its Deployment is available.
pub async fn install(
    client: &Client,
    credentials: &Credentials,
    host_port: u16,
    timeout: Duration,
) -> Result<(), GiteaError> {
    for value in objects(credentials, host_port) {
        let object: DynamicObject =
            serde_json::from_value(value).map_err(|e| ApplyError::Untyped {
                kind: e.to_string(),
                name: NAME.into(),
            })?;
        kube_apply::apply(client, &object, NAMESPACE, None).await?;
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let names = [NAME.to_owned()];
    match until_all_ready(
        deployments,
        "deployment",
        &names,
        deployment_unready,
        timeout,
    )
    .await
    {
        Ok(()) => Ok(()),
        Err(not_ready) => {
            let detail = not_ready.pending.join("; ");
            Err(GiteaError::NotReady {
                timeout,
                detail: explain_wait(detail, client, &[NAMESPACE.to_owned()]).await,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Service};

    fn creds() -> Credentials {
        Credentials {
            username: "wil".into(),
            password: "pw".into(),
            secret_key: "sk".into(),
        }
    }

    #[test]
    fn every_object_is_a_valid_typed_kubernetes_object() {
        let objects = objects(&creds(), 3000);
        let kinds: Vec<&str> = objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "Secret",
                "PersistentVolumeClaim",
                "Deployment",
                "Service"
            ]
        );
        let _: Namespace = serde_json::from_value(objects[0].clone()).unwrap();
        let _: Secret = serde_json::from_value(objects[1].clone()).unwrap();
        let _: PersistentVolumeClaim = serde_json::from_value(objects[2].clone()).unwrap();
        let deployment: Deployment = serde_json::from_value(objects[3].clone()).unwrap();
        let service: Service = serde_json::from_value(objects[4].clone()).unwrap();
        let pod = deployment.spec.unwrap().template.spec.unwrap();
        assert_eq!(pod.containers[0].image.as_deref(), Some(IMAGE));
        assert_eq!(pod.security_context.unwrap().run_as_non_root, Some(true));
        let svc = service.spec.unwrap();
        assert_eq!(svc.type_.as_deref(), Some("LoadBalancer"));
        assert_eq!(svc.ports.unwrap()[0].port, i32::from(PORT));
    }

    #[test]
    fn secrets_go_through_the_secret_only() {
        let text = serde_json::to_string(&objects(&creds(), 3000)[3]).unwrap();
        assert!(
            !text.contains("\"pw\"") && !text.contains("\"sk\""),
            "{text}"
        );
        assert!(format!("{:?}", creds()).find("pw").is_none());
    }

    #[test]
    fn generated_credentials_are_long_and_distinct() {
        let a = Credentials::generate("wil").unwrap();
        let b = Credentials::generate("wil").unwrap();
        assert_eq!((a.password.len(), a.secret_key.len()), (32, 64));
        assert!(a.password.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.password, b.password);
    }

    #[test]
    fn urls() {
        assert_eq!(
            cluster_url("wil", "iot"),
            "http://gitea-http.gitea.svc.cluster.local:3000/wil/iot.git"
        );
        assert_eq!(
            host_url(3001, "wil", "iot"),
            "http://localhost:3001/wil/iot.git"
        );
    }
}
