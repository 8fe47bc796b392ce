//! `bootstrap status`: each layer of part 3, looked at without changing anything.

use std::path::Path;
use std::time::Duration;

use kube::Client;
use lab_gitops::probe::probe_until;
use lab_gitops::rollout;

use crate::docker::Engine;
use crate::error::Error;
use crate::gitops::{application, argocd};
use crate::k8s;
use crate::k8s::existing;
use crate::recipes::cluster;
use crate::spec::names::ClusterName;

/// The cluster layer of `bootstrap status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterLayer {
    /// A cluster in Docker: None when there is none of that name.
    Docker {
        name: String,
        found: Option<cluster::ClusterSummary>,
    },
    /// A cluster of the user's: its context, and the API's version or why it does not answer.
    Existing {
        context: String,
        api: Result<String, String>,
    },
}

/// What `bootstrap status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub(crate) cluster: ClusterLayer,
    pub(crate) argocd: Option<Result<(), String>>,
    /// The Application's one-line state, and whether it is Synced and Healthy.
    pub(crate) application: Option<(String, bool)>,
    /// The URL asked (None: not asked) and its answer (None: no answer).
    pub(crate) app: Option<(String, Option<String>)>,
}

impl Status {
    /// Every layer there and fine: the exit code of `bootstrap status` is 0 then, 1 otherwise.
    pub(crate) fn all_fine(&self) -> bool {
        let cluster = match &self.cluster {
            ClusterLayer::Docker { found, .. } => found
                .as_ref()
                .is_some_and(|c| c.servers_running == c.servers && c.servers > 0),
            ClusterLayer::Existing { api, .. } => api.is_ok(),
        };
        cluster
            && matches!(self.argocd, Some(Ok(())))
            && self.application.as_ref().is_some_and(|(_, fine)| *fine)
            && self.app.as_ref().is_none_or(|(_, answer)| answer.is_some())
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        match &self.cluster {
            ClusterLayer::Docker { name, found: None } => {
                out.push_str(&format!(
                    "cluster {name}: absent (`bootstrap p3` creates it)\n"
                ));
                return out;
            }
            ClusterLayer::Docker {
                name,
                found: Some(c),
            } => out.push_str(&format!(
                "cluster {name}: {}/{} server(s), {}/{} agent(s) running, API {}\n",
                c.servers_running,
                c.servers,
                c.agents_running,
                c.agents,
                c.api.as_deref().unwrap_or("-")
            )),
            ClusterLayer::Existing {
                context,
                api: Ok(version),
            } => out.push_str(&format!(
                "context {context}: API answers, Kubernetes {version}\n"
            )),
            ClusterLayer::Existing {
                context,
                api: Err(why),
            } => {
                out.push_str(&format!(
                    "context {context}: the API does not answer: {why}\n"
                ));
                return out;
            }
        }
        out.push_str(&match &self.argocd {
            None => "Argo CD: unknown (the API does not answer)\n".to_owned(),
            Some(Ok(())) => format!("Argo CD {}: ready\n", argocd::VERSION),
            Some(Err(why)) => format!("Argo CD: not ready: {why}\n"),
        });
        out.push_str(&format!(
            "Application argocd/{}: {}\n",
            application::NAME,
            self.application
                .as_ref()
                .map(|(line, _)| line.as_str())
                .unwrap_or("absent")
        ));
        match &self.app {
            Some((url, answer)) => out.push_str(&format!(
                "app {url}: {}\n",
                answer.as_deref().unwrap_or("no answer")
            )),
            None => out.push_str("app: not asked (--no-probe)\n"),
        }
        out
    }
}

/// Argo CD's and the Application's layers, read through `client`.
async fn kube_layers(status: &mut Status, client: &Client) {
    status.argocd = argocd::readiness(client).await.ok();
    if let Ok(app) = rollout::application_status(client.clone(), &application::app_ref()).await {
        let fine = app.sync.status.as_deref() == Some("Synced")
            && app.health.status.as_deref() == Some("Healthy");
        status.application = Some((app.one_line(), fine));
    }
}

async fn app_layer(app_url: Option<String>) -> Option<(String, Option<String>)> {
    let url = app_url?;
    let answer = probe_until(&url, "", Duration::from_secs(2))
        .await
        .ok()
        .map(|r| r.body.trim_end().to_owned());
    Some((url, answer))
}

/// Looks at each layer without changing anything. `app_url`: where to ask the app, if at all.
pub async fn status(
    engine: &Engine,
    name: &ClusterName,
    app_url: Option<String>,
) -> Result<Status, Error> {
    let found = cluster::list(engine)
        .await?
        .into_iter()
        .find(|c| c.name == name.as_str());
    let mut status = Status {
        cluster: ClusterLayer::Docker {
            name: name.to_string(),
            found,
        },
        argocd: None,
        application: None,
        app: None,
    };
    let running = matches!(&status.cluster, ClusterLayer::Docker { found: Some(c), .. } if c.servers_running > 0);
    if !running {
        return Ok(status);
    }
    if let Ok(kubeconfig) = cluster::kubeconfig(engine, name, Duration::from_secs(10)).await
        && let Ok(client) = k8s::client(&kubeconfig).await
    {
        kube_layers(&mut status, &client).await;
    }
    status.app = app_layer(app_url).await;
    Ok(status)
}

/// `bootstrap status --context`: the same layers in a cluster of the user's.
pub async fn status_existing(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    app_url: Option<String>,
) -> Result<Status, Error> {
    let conn = existing::connect(kubeconfig, context).await?;
    let api = existing::server_version(&conn)
        .await
        .map(|v| v.git_version)
        .map_err(|e| e.to_string());
    let reachable = api.is_ok();
    let mut status = Status {
        cluster: ClusterLayer::Existing {
            context: conn.context.clone(),
            api,
        },
        argocd: None,
        application: None,
        app: None,
    };
    if reachable {
        kube_layers(&mut status, &conn.client).await;
        status.app = app_layer(app_url).await;
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipes::p3::playground_answer;

    #[test]
    fn status_lines() {
        let absent = Status {
            cluster: ClusterLayer::Docker {
                name: "iot".into(),
                found: None,
            },
            argocd: None,
            application: None,
            app: None,
        };
        assert_eq!(
            absent.render(),
            "cluster iot: absent (`bootstrap p3` creates it)\n"
        );
        assert!(!absent.all_fine());
        let mut up = Status {
            cluster: ClusterLayer::Docker {
                name: "iot".into(),
                found: Some(cluster::ClusterSummary {
                    name: "iot".into(),
                    servers: 1,
                    servers_running: 1,
                    agents: 0,
                    agents_running: 0,
                    loadbalancer: true,
                    api: Some("https://127.0.0.1:6443".into()),
                    created_by: "bootstrap".into(),
                }),
            },
            argocd: Some(Err("deployment argocd-server: 0/1 available".into())),
            application: Some(("Synced, Healthy at 1a2b3c4".into(), true)),
            app: Some((
                "http://localhost:8888/".into(),
                Some(playground_answer("v2")),
            )),
        };
        assert_eq!(
            up.render(),
            "cluster iot: 1/1 server(s), 0/0 agent(s) running, API https://127.0.0.1:6443\n\
             Argo CD: not ready: deployment argocd-server: 0/1 available\n\
             Application argocd/playground: Synced, Healthy at 1a2b3c4\n\
             app http://localhost:8888/: {\"status\":\"ok\", \"message\": \"v2\"}\n"
        );
        assert!(!up.all_fine(), "Argo CD is not ready");
        up.argocd = Some(Ok(()));
        assert!(up.all_fine());
        up.app = Some(("http://localhost:8888/".into(), None));
        assert!(!up.all_fine(), "the app does not answer");
        up.app = None;
        assert!(up.all_fine(), "an app not asked is not judged");
        up.application = Some(("OutOfSync, Healthy at 1a2b3c4".into(), false));
        assert!(!up.all_fine());
    }

    #[test]
    fn status_of_a_cluster_of_the_users() {
        let mut status = Status {
            cluster: ClusterLayer::Existing {
                context: "kind-lab".into(),
                api: Ok("v1.35.4".into()),
            },
            argocd: Some(Ok(())),
            application: Some(("Synced, Healthy at 1a2b3c4".into(), true)),
            app: None,
        };
        assert_eq!(
            status.render(),
            format!(
                "context kind-lab: API answers, Kubernetes v1.35.4\n\
                 Argo CD {}: ready\n\
                 Application argocd/playground: Synced, Healthy at 1a2b3c4\n\
                 app: not asked (--no-probe)\n",
                argocd::VERSION
            )
        );
        assert!(status.all_fine());
        status.cluster = ClusterLayer::Existing {
            context: "kind-lab".into(),
            api: Err("connection refused".into()),
        };
        assert_eq!(
            status.render(),
            "context kind-lab: the API does not answer: connection refused\n"
        );
        assert!(!status.all_fine());
    }
}
