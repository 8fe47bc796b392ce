//! A stand-in for a cluster running Argo CD, over real HTTP, for the binary's `--wait`: the
//! Kubernetes API paths of one Application, whose status follows what the bare remote holds
//! (like Argo CD reading Git), and the app's own `GET /` answering its version. The library's
//! exact requests are asserted in `tests/wait.rs` against kube-rs's tower-test mock; this
//! checks the binary end to end: kubeconfig, refresh, watch, probe, output, exit code.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{Value, json};

use super::application::{application, old_status, status};
use super::server::{TestServer, respond};

const APP_PATH: &str = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications";
const ALL_APPS_PATH: &str = "/apis/argoproj.io/v1alpha1/applications";

/// How the Application behaves once it sees the new commit.
#[derive(Debug, Clone, Copy)]
pub enum Script {
    /// OutOfSync, then Synced + Progressing, then Synced + Healthy with the new image.
    RollsOut,
    /// Synced + Progressing, then Degraded.
    Degrades,
}

pub struct FakeArgoCd {
    server: TestServer,
    /// Bodies of the PATCH requests received.
    pub patches: Arc<Mutex<Vec<Value>>>,
}

impl FakeArgoCd {
    /// Serves an Application `argocd/playground` that syncs `remote`'s `main`.
    pub fn start(remote: PathBuf, script: Script) -> FakeArgoCd {
        let patches = Arc::new(Mutex::new(Vec::new()));
        let seen = patches.clone();
        let server = TestServer::start(move |req| {
            let remote = remote.clone();
            let seen = seen.clone();
            async move { route(req, &remote, script, &seen).await }
        });
        FakeArgoCd { server, patches }
    }

    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// A kubeconfig whose current context points here.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{}\n\
             users:\n- name: fake\n  user: {{}}\n\
             contexts:\n- name: fake\n  context: {{cluster: fake, user: fake}}\n\
             current-context: fake\n",
            self.server.port
        )
    }
}

async fn route(
    req: Request<Incoming>,
    remote: &PathBuf,
    script: Script,
    patches: &Mutex<Vec<Value>>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or_default();
    let app_path = format!("{APP_PATH}/playground");
    let json = |v: Value| respond(200, "application/json", serde_json::to_vec(&v).unwrap());
    match (&parts.method, path) {
        (&Method::PATCH, p) if p == app_path => {
            patches
                .lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap());
            json(application("1", old_status()))
        }
        (&Method::GET, p) if p == app_path => json(application("1", old_status())),
        // The watcher's list, by field selector on the name, as the Application starts; a
        // list of them all, in every namespace (`diagnose`), as it ends.
        (&Method::GET, APP_PATH | ALL_APPS_PATH) if !query.contains("watch=true") => {
            let item = if query.contains("fieldSelector=metadata.name%3Dplayground") {
                application("1", old_status())
            } else {
                let (revision, tag) = synced(remote);
                let last = events(script, &revision, &tag).pop().unwrap();
                application("9", last)
            };
            list(vec![item])
        }
        (&Method::GET, APP_PATH) if query.contains("watch=true") => {
            let (revision, tag) = synced(remote);
            let events = events(script, &revision, &tag);
            let mut out = Vec::new();
            for (i, s) in events.into_iter().enumerate() {
                let object = application(&(i + 2).to_string(), s);
                serde_json::to_writer(&mut out, &json!({"type": "MODIFIED", "object": object}))
                    .unwrap();
                out.push(b'\n');
            }
            respond(200, "application/json", out)
        }
        // The app itself, as the playground image answers.
        (&Method::GET, "/") => {
            let (_, tag) = synced(remote);
            respond(
                200,
                "application/json",
                format!("{{\"status\":\"ok\", \"message\": \"{tag}\"}}"),
            )
        }
        // Everything else `diagnose` lists: nothing of it exists here.
        (&Method::GET, p)
            if p.starts_with("/api")
                && !p.starts_with(APP_PATH)
                && !query.contains("watch=true") =>
        {
            list(Vec::new())
        }
        _ => respond(404, "text/plain", "not found\n"),
    }
}

fn list(items: Vec<Value>) -> Response<Full<Bytes>> {
    let body = json!({"kind": "List", "apiVersion": "v1",
                      "metadata": {"resourceVersion": "1"}, "items": items});
    respond(200, "application/json", serde_json::to_vec(&body).unwrap())
}

/// The Application's statuses, in order, as the script has Argo CD roll `tag` out.
fn events(script: Script, revision: &str, tag: &str) -> Vec<Value> {
    let image = format!("echo-app:{tag}");
    match script {
        Script::RollsOut => vec![
            running(revision),
            status(revision, "Synced", "Progressing", &["echo-app:v1", &image]),
            status(revision, "Synced", "Healthy", &[&image]),
        ],
        Script::Degrades => {
            let mut degraded = status(revision, "Synced", "Degraded", &[&image]);
            degraded["health"]["message"] =
                json!("Deployment \"playground\" exceeded its progress deadline");
            vec![
                status(revision, "Synced", "Progressing", &["echo-app:v1", &image]),
                degraded,
            ]
        }
    }
}

/// What Argo CD would sync now: the remote's main and the tag in its manifest.
fn synced(remote: &PathBuf) -> (String, String) {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(remote)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let revision = git(&["rev-parse", "main"]).trim().to_owned();
    let manifest = git(&["show", "main:p3/confs/playground.yaml"]);
    let tag = manifest
        .lines()
        .find_map(|l| l.split("echo-app:").nth(1))
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .unwrap();
    (revision, tag)
}

fn running(revision: &str) -> Value {
    let mut s = status(revision, "OutOfSync", "Healthy", &["echo-app:v1"]);
    s["operationState"] = json!({"phase": "Running", "message": "syncing"});
    s
}
