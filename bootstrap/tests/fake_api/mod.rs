//! A fake Kubernetes API server on kube-rs's tower-test mock: it keeps what is applied,
//! answers reads from that store, lets each test decide what status objects report, and
//! records every request so tests can assert the exact calls, in order.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    pub body: Option<Value>,
}

/// Decides the `status` a stored object reports when read (None: as stored).
pub type StatusRule = Box<dyn Fn(&str, &Value) -> Option<Value> + Send + Sync>;

pub struct FakeApi {
    pub calls: Arc<Mutex<Vec<Call>>>,
    pub store: Arc<Mutex<BTreeMap<String, Value>>>,
}

impl FakeApi {
    /// A client wired to the fake; `status` decides what objects report as their status.
    pub fn start(status: StatusRule) -> (Client, FakeApi) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let store: Arc<Mutex<BTreeMap<String, Value>>> = Arc::new(Mutex::new(BTreeMap::new()));
        let (calls2, store2) = (calls.clone(), store.clone());
        tokio::spawn(async move {
            let mut open_watches = Vec::new();
            while let Some((request, send)) = handle.next_request().await {
                let (parts, body) = request.into_parts();
                let bytes = http_body_util::BodyExt::collect(body)
                    .await
                    .unwrap()
                    .to_bytes();
                let body: Option<Value> = if bytes.is_empty() {
                    None
                } else {
                    serde_json::from_slice(&bytes).ok()
                };
                let path = parts.uri.path().to_owned();
                let query = parts.uri.query().unwrap_or_default().to_owned();
                calls2.lock().unwrap().push(Call {
                    method: parts.method.to_string(),
                    path: path.clone(),
                    query: query.clone(),
                    content_type: parts
                        .headers
                        .get("content-type")
                        .map(|v| v.to_str().unwrap().to_owned()),
                    body: body.clone(),
                });
                let merge_patch = parts
                    .headers
                    .get("content-type")
                    .is_some_and(|v| v.as_bytes().starts_with(b"application/merge-patch"));
                // A watch is left open and never answered: what the fake serves does not
                // change by itself, so a watcher learns everything from its list.
                if parts.method == http::Method::GET && query.contains("watch=true") {
                    open_watches.push(send);
                    continue;
                }
                let selected = name_selected(&query);
                let (code, reply) = answer(
                    &parts.method,
                    &path,
                    selected.as_deref(),
                    body,
                    merge_patch,
                    &store2,
                    &status,
                );
                let response = Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                    .unwrap();
                send.send_response(response);
            }
        });
        (Client::new(service, "default"), FakeApi { calls, store })
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Puts an object in the store as if it had been created before the test.
    pub fn seed(&self, path: &str, object: Value) {
        self.store.lock().unwrap().insert(path.to_owned(), object);
    }
}

fn not_found(path: &str) -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
               "message": format!("{path} not found"), "reason": "NotFound", "code": 404}),
    )
}

/// `fieldSelector=metadata.name=NAME`, as kube's watcher asks for one object.
fn name_selected(query: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("fieldSelector=metadata.name%3D"))
        .map(str::to_owned)
}

fn answer(
    method: &http::Method,
    path: &str,
    selected: Option<&str>,
    body: Option<Value>,
    merge_patch: bool,
    store: &Mutex<BTreeMap<String, Value>>,
    status: &StatusRule,
) -> (StatusCode, Value) {
    let mut store = store.lock().unwrap();
    match method.as_str() {
        "PATCH" | "PUT" | "POST" => {
            let mut object = body.unwrap_or(Value::Null);
            // Server-side apply by the only manager replaces what it applied before; a merge
            // patch merges into what is there.
            if merge_patch {
                let Some(existing) = store.get(path) else {
                    return not_found(path);
                };
                let mut merged = existing.clone();
                merge(&mut merged, &object);
                object = merged;
            }
            store.insert(path.to_owned(), object.clone());
            (StatusCode::OK, with_status(path, object, status))
        }
        "GET" => match store.get(path) {
            Some(object) => (StatusCode::OK, with_status(path, object.clone(), status)),
            None if is_collection(path) => {
                let prefix = format!("{path}/");
                let items: Vec<Value> = store
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
                    .filter(|(k, _)| selected.is_none_or(|name| k[prefix.len()..] == *name))
                    .map(|(k, v)| with_status(k, v.clone(), status))
                    .collect();
                (
                    StatusCode::OK,
                    json!({"kind": "List", "apiVersion": "v1",
                           "metadata": {"resourceVersion": "1"}, "items": items}),
                )
            }
            None => not_found(path),
        },
        "DELETE" => match store.remove(path) {
            Some(object) => (StatusCode::OK, object),
            None => not_found(path),
        },
        _ => (StatusCode::METHOD_NOT_ALLOWED, json!({})),
    }
}

const PLURALS: &[&str] = &[
    "namespaces",
    "pods",
    "secrets",
    "configmaps",
    "services",
    "deployments",
    "statefulsets",
    "applications",
    "customresourcedefinitions",
    "jobs",
    "helmcharts",
    // What `diagnose` lists after a wait gives up.
    "nodes",
    "ingressclasses",
    "storageclasses",
    "endpointslices",
    "ingresses",
    "persistentvolumeclaims",
    "events",
    "replicasets",
];

fn is_collection(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|last| PLURALS.contains(&last))
}

fn with_status(path: &str, mut object: Value, status: &StatusRule) -> Value {
    if let Some(s) = status(path, &object) {
        object["status"] = s;
    }
    object
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}
