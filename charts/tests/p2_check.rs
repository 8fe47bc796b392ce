//! p2/scripts/check.sh, run for real against a stand-in for the VM (no VM or Traefik can run
//! here): an HTTP server on 127.0.0.1 that routes each request with the rendered Ingress
//! (`rules::ingress_backend`), follows the Service to its Deployment, and answers as one of
//! that Deployment's replicas would, with the text from the rendered container arguments.
//! So the script is checked against what the chart really deploys, and a chart whose routes,
//! texts or replica count break the lab makes check.sh fail.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;

use common::*;
use lab_charts::objects::Objects;
use lab_charts::rules::{follow, ingress_backend};
use lab_charts::{Chart, Object, Override};

/// Serves `objects` as Traefik in front of the pods would; returns the address.
fn stand_in(objects: Vec<Object>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut next_replica: HashMap<String, i32> = HashMap::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            // One request per connection: curl opens one for each.
            let _ = answer(&objects, &mut next_replica, stream);
        }
    });
    addr
}

fn answer(
    objects: &[Object],
    next_replica: &mut HashMap<String, i32>,
    mut stream: TcpStream,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
    let mut host = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("host")
        {
            host = value.trim().to_owned();
        }
    }
    let body = route(objects, next_replica, &host, &path);
    let (status, body) = match body {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", "404 page not found\n".to_owned()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// What the pod that Traefik would pick answers, with pods named like a Deployment's
/// (`<deployment>-<hash>-<suffix>`) and replicas taken in turn.
fn route(
    objects: &[Object],
    next_replica: &mut HashMap<String, i32>,
    host: &str,
    path: &str,
) -> Option<String> {
    let backend = ingress_backend(&objects.ingresses(), "traefik", host, path)?;
    let chain = follow(objects, &backend.name, backend.port.as_ref()?).ok()?;
    let deployment = objects
        .deployments()
        .into_iter()
        .find(|d| d.metadata.name.as_deref() == Some(chain.workload.name))?;
    let replicas = deployment.spec.as_ref()?.replicas.unwrap_or(1);
    if replicas == 0 {
        return None;
    }
    let n = next_replica
        .entry(chain.workload.name.to_owned())
        .or_default();
    let pod = format!("{}-7d4b9c8f6-x{:04}", chain.workload.name, *n);
    *n = (*n + 1) % replicas;
    let text = args(chain.container)
        .into_iter()
        .find_map(|a| a.strip_prefix("-text="))?
        .replace("$(POD_NAME)", &pod);
    Some(format!("{text}\n"))
}

fn check(overrides: &[Override]) -> (bool, String) {
    let addr = stand_in(render(Chart::P2, "default", overrides));
    let out = Command::new(lab_charts::workspace_root().join("p2/scripts/check.sh"))
        .arg(&addr)
        .env("APP2_TRIES", "12")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn check_passes_on_what_the_chart_deploys() {
    let (ok, out) = check(&[]);
    assert!(ok, "{out}");
    assert!(
        out.contains("ok    Host app1.com/ -> Hello from app1, pod app-one-"),
        "{out}"
    );
    assert!(
        out.contains("ok    Host <no Host header>/ -> Hello from app3, pod app-three-"),
        "{out}"
    );
    assert!(
        out.contains("ok    Host app2.com answered from 3 pods"),
        "{out}"
    );
    assert!(out.contains("check: 6 passed, 0 failed"), "{out}");
}

#[test]
fn check_fails_when_app_two_runs_fewer_than_three_pods() {
    let (ok, out) = check(&[set("apps.app-two.replicas=2")]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("FAIL  Host app2.com answered from 2 pod(s) in 12 requests"),
        "{out}"
    );
}

#[test]
fn check_fails_when_a_route_or_a_text_is_wrong() {
    let (ok, out) = check(&[set("apps.app-one.text=Hi there")]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("FAIL  Host app1.com/ answered 'Hi there, pod app-one-"),
        "{out}"
    );

    // The catch-all moves to app-one: every host but app2.com now reaches the wrong app.
    let (ok, out) = check(&[
        set("apps.app-one.host="),
        set("apps.app-three.host=app3.com"),
    ]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("FAIL  Host anything.else/ answered 'Hello from app1"),
        "{out}"
    );
    assert!(out.contains("check: 3 passed, 3 failed"), "{out}");
}
