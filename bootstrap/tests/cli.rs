//! The `bootstrap` binary as a user meets it: help, errors on bad input, the dry-run plan,
//! and Ctrl-C in the middle of a create.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn bootstrap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .args(args)
        .env(
            "KUBECONFIG",
            "/nonexistent/bootstrap-tests-must-not-write-here",
        )
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_names_every_command_and_the_k3d_flags() {
    let out = bootstrap(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for cmd in ["cluster", "image", "images", "doctor"] {
        assert!(help.contains(cmd), "{help}");
    }
    let out = bootstrap(&["cluster", "create", "--help"]);
    let help = text(&out.stdout);
    for flag in [
        "--servers",
        "--agents",
        "--image",
        "--api-port",
        "--port",
        "--k3s-arg",
        "--volume",
        "--token",
        "--dry-run",
        "--kubeconfig-switch-context",
    ] {
        assert!(help.contains(flag), "missing {flag} in\n{help}");
    }
    assert!(
        !help.contains("unprivileged-test-nodes"),
        "the test relaxation is hidden"
    );
}

#[test]
fn bad_input_is_one_sentence_and_exit_1() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["cluster", "create", "Bad_Name", "--dry-run"],
            "invalid cluster name \"Bad_Name\": it contains '_'",
        ),
        (
            &["cluster", "create", "ok", "--dry-run", "-p", "8080-8090:80"],
            "port ranges are not supported",
        ),
        (
            &[
                "cluster",
                "create",
                "ok",
                "--dry-run",
                "--api-port",
                "127.0.0.1:99999",
            ],
            "invalid --api-port",
        ),
        (
            &[
                "cluster",
                "create",
                "ok",
                "--dry-run",
                "--k3s-arg",
                "--disable=traefik",
            ],
            "lacks a node filter",
        ),
        (
            &[
                "cluster",
                "create",
                "ok",
                "--dry-run",
                "-p",
                "80:80@agent:3",
            ],
            "index 3 is out of range",
        ),
        (
            &["cluster", "create", "ok", "--dry-run", "--servers", "0"],
            "at least one server",
        ),
    ];
    for (args, expected) in cases {
        let out = bootstrap(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with("error: ") && err.contains(expected),
            "{args:?}: {err}"
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = bootstrap(&["cluster", "create", "--servers", "x"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "usage errors exit 2 as clap does"
    );
}

#[test]
fn dry_run_prints_the_plan_without_the_token() {
    let args = [
        "cluster",
        "create",
        "demo",
        "--dry-run",
        "--agents",
        "2",
        "--api-port",
        "6443",
        "-p",
        "8888:8888@loadbalancer",
        "--token",
        "SecretTokenValueABCD",
    ];
    let out = bootstrap(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let human = text(&out.stdout);
    for expected in [
        "network k3d-demo: create, driver bridge, labels app=k3d",
        "server k3d-demo-server-0: rancher/k3s:v1.35.5-k3s1",
        "cmd        server --tls-san 0.0.0.0 --tls-san k3d-demo-serverlb",
        "env        K3S_TOKEN=<redacted> K3S_URL=https://k3d-demo-server-0:6443",
        "loadbalancer k3d-demo-serverlb: ghcr.io/k3d-io/k3d-proxy:5.9.0",
        "ports      0.0.0.0:6443->6443/tcp 0.0.0.0:8888->8888/tcp",
        "settings   privileged, init, userns host, restart unless-stopped",
        "kubeconfig: context k3d-demo, user admin@k3d-demo, server https://0.0.0.0:6443",
    ] {
        assert!(human.contains(expected), "missing {expected:?} in\n{human}");
    }
    assert!(!human.contains("SecretTokenValueABCD"));

    let mut json_args = args.to_vec();
    json_args.extend(["-o", "json"]);
    let out = bootstrap(&json_args);
    assert!(out.status.success());
    let raw = text(&out.stdout);
    assert!(!raw.contains("SecretTokenValueABCD"));
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["nodes"].as_array().unwrap().len(), 4);
    assert_eq!(v["nodes"][0]["security"], "Privileged");
    assert_eq!(v["nodes"][3]["labels"]["k3d.role"], "loadbalancer");
    assert_eq!(
        v["network"]["options"]["com.docker.network.bridge.enable_ip_masquerade"],
        "true"
    );
    assert_eq!(v["k3dVersion"], "v5.9.0");
}

#[test]
fn deleting_a_missing_cluster_is_fine_and_importing_into_one_is_not() {
    let name = cluster_name();
    let out = bootstrap(&["cluster", "delete", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("no cluster named {name}; nothing to delete\n")
    );
    let out = bootstrap(&["image", "import", "busybox:latest", "-c", &name]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&format!(
        "no cluster named {name}; `bootstrap cluster list` shows the clusters"
    )));
}

#[test]
fn unknown_workloads_are_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .args(["images", "nginx"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("unknown workload \"nginx\"; the workloads are: echo-app, token-server"),
        "{err}"
    );
}

/// Ctrl-C (SIGINT) while a node waits: the binary rolls back, says so and exits 130.
#[tokio::test]
async fn ctrl_c_during_create_rolls_back() {
    let f = fixture().await;
    let (_engine, images, name) = (&f.engine, &f.images, f.name.clone());
    let child = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .args([
            "cluster",
            "create",
            &name,
            "--agents",
            "1",
            "--image",
            &images.node,
            "--lb-image",
            &images.loadbalancer,
            "--api-port",
            &format!("127.0.0.1:{}", free_port()),
            "--k3s-arg",
            "--standin-never-ready@server:0",
            "--timeout",
            "120s",
            "--unprivileged-test-nodes",
        ])
        .env("KUBECONFIG", f.dir.path().join("config"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let server = format!("k3d-{name}-server-0");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, state, _) = docker(&["inspect", "-f", "{{.State.Running}}", &server]);
        if state.trim() == "true" {
            break;
        }
        assert!(Instant::now() < deadline, "the server never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !leftovers(&name).is_empty(),
        "the cluster is half built when the signal arrives"
    );
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("error: interrupted (Ctrl-C)\neverything this run created was removed again"),
        "{err}"
    );
    assert!(err.contains("✓ rollback"), "{err}");
    assert!(
        err.contains(&format!("✗ start {server} (")) && err.contains("): interrupted"),
        "{err}"
    );
    assert_eq!(leftovers(&name), Vec::<String>::new());
    assert!(!f.dir.path().join("config").exists());
}

/// A kubeconfig whose API accepts connections and never answers (the listener is returned: it
/// must outlive the test's use of the file).
fn silent_api(dir: &std::path::Path) -> (std::net::TcpListener, std::path::PathBuf) {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: silent\n  cluster:\n    server: \
             http://127.0.0.1:{port}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: silent\n  \
             context: {{cluster: silent, user: u}}\ncurrent-context: silent\n"
        ),
    )
    .unwrap();
    (silent, kubeconfig)
}

/// `--timeout` bounds the whole run, not only Argo CD's wait: a first call to the API that
/// never answers is cut off at the deadline, with the step it was in.
#[test]
fn p3s_timeout_bounds_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let (_silent, kubeconfig) = silent_api(dir.path());
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .args(["p3", "--kubeconfig", kubeconfig.to_str().unwrap()])
        .args([
            "--repo",
            "http://127.0.0.1:9/lab.git",
            "--no-probe",
            "--timeout",
            "2s",
        ])
        .output()
        .unwrap();
    let took = started.elapsed();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        err.contains("bootstrap p3 failed: did not finish within --timeout 2s"),
        "{err}"
    );
    assert!(err.contains("✗ connect to the Kubernetes API"), "{err}");
}

/// Ctrl-C (SIGINT) during a long wait that is not the cluster's creation — here the first call
/// to a cluster's API, which accepts connections and never answers — ends the run within a
/// second with exit 130, saying what to run to resume. No Docker needed: a cluster of one's own.
#[test]
fn ctrl_c_during_any_wait_ends_the_run_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let (silent, kubeconfig) = silent_api(dir.path());
    let child = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .args(["p3", "--kubeconfig", kubeconfig.to_str().unwrap()])
        .args(["--repo", "http://127.0.0.1:9/lab.git", "--no-probe"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The API call is under way once the connection is accepted (and left unanswered).
    let (_held, _) = silent.accept().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = child.id().to_string();
    let signalled = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let took = signalled.elapsed();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(err.contains("error: interrupted (Ctrl-C)"), "{err}");
    assert!(err.contains("run `bootstrap p3` again to resume"), "{err}");
    assert!(
        err.contains("✗ connect to the Kubernetes API") && err.contains("interrupted"),
        "{err}"
    );
}

/// What k3d itself leaves on Docker for a cluster (labelled containers, network, volume):
/// `bootstrap cluster list` shows it as k3d's and `cluster delete` removes all of it.
#[tokio::test]
async fn clusters_made_by_k3d_are_listed_and_deleted() {
    let f = fixture().await;
    let (_engine, images, name) = (&f.engine, &f.images, f.name.clone());
    let net = format!("k3d-{name}");
    assert!(docker(&["network", "create", "--label", "app=k3d", &net]).0);
    assert!(
        docker(&[
            "volume",
            "create",
            "--label",
            "app=k3d",
            "--label",
            &format!("k3d.cluster={name}"),
            &format!("{net}-images")
        ])
        .0
    );
    for (node, role) in [("server-0", "server"), ("serverlb", "loadbalancer")] {
        let labels = [
            "app=k3d".to_owned(),
            format!("k3d.cluster={name}"),
            format!("k3d.role={role}"),
            "k3d.version=v5.8.3".to_owned(),
            format!("k3d.cluster.network={net}"),
            "k3d.cluster.network.external=false".to_owned(),
            "k3d.server.api.host=0.0.0.0".to_owned(),
            "k3d.server.api.port=6550".to_owned(),
        ];
        let container = format!("{net}-{node}");
        let mut args = vec![
            "create".to_owned(),
            "--name".to_owned(),
            container,
            "--network".to_owned(),
            net.clone(),
        ];
        for l in labels {
            args.extend(["--label".to_owned(), l]);
        }
        args.push(images.node.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, _, err) = docker(&args);
        assert!(ok, "{err}");
    }

    let out = bootstrap(&["cluster", "list"]);
    let table = text(&out.stdout);
    let row = table
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            name.as_str(),
            "0/1",
            "0/0",
            "true",
            "https://0.0.0.0:6550",
            "k3d",
            "v5.8.3"
        ]
    );
    let out = bootstrap(&["cluster", "list", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == name && c["created_by"] == "k3d v5.8.3")
    );

    let out = bootstrap(&["-q", "cluster", "delete", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("deleted cluster {name}: 2 container(s), network {net}, 1 volume(s)\n")
    );
    assert_eq!(leftovers(&name), Vec::<String>::new());
}
