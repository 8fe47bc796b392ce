//! bootstrap and the real k3d v5.9.0 CLI (built from the Go module proxy by
//! `p3/scripts/k3d.sh build`) on the same Docker engine, with stand-in node images: each lists,
//! reads and deletes the clusters the other created.
//!
//! k3d starts every container `privileged`, which cannot start on the machines these tests run
//! on. Where a k3d container has to run, k3d talks to the engine through [`unprivileged`]: a
//! socket in front of Docker's that turns `Privileged: true` into bootstrap's
//! `--unprivileged-test-nodes` relaxation (every capability but SYS_RESOURCE) and changes
//! nothing else. One test leaves k3d's requests untouched: its containers are created but
//! cannot start, and bootstrap must still list and delete them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bootstrap::spec::cluster::RegistryOptions;
use bootstrap::spec::kubeconfig::Kubeconfig;
use bootstrap::spec::registry::{Registry, RegistryCreateFlag};
use common::*;

const K3D_VERSION: &str = "v5.9.0";

/// The k3d binary, or None after a visible skip (no Docker engine, no Go, no module proxy).
async fn k3d(test: &str) -> Option<PathBuf> {
    if let Err(e) = bootstrap::docker::Engine::connect().await {
        skip(test, &format!("no Docker engine answers ({e})"));
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../p3/scripts/k3d.sh");
    let out = tokio::process::Command::new(&script)
        .arg("build")
        .output()
        .await
        .expect("p3/scripts/k3d.sh runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "p3/scripts/k3d.sh build failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    if let Some(reason) = last.strip_prefix("skipped: ") {
        skip(test, &format!("no k3d binary: {reason}"));
        return None;
    }
    Some(PathBuf::from(last))
}

/// Runs a command to its end (async, so that the proxy's tasks keep running meanwhile).
async fn run(cmd: &mut tokio::process::Command) -> (bool, String, String) {
    let out = cmd.output().await.expect("the command runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// k3d with its environment: the stand-in helper images, the test's kubeconfig, and the
/// engine at `docker_host` (the unprivileged proxy) when given.
fn k3d_cmd(
    k3d: &Path,
    images: &bootstrap::standin::StandinImages,
    kubeconfig: &Path,
    docker_host: Option<&str>,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(k3d);
    cmd.env("KUBECONFIG", kubeconfig)
        .env("K3D_IMAGE_LOADBALANCER", &images.loadbalancer)
        // k3d runs its tools node (`noop`) during create; any local image lets it be created.
        .env("K3D_IMAGE_TOOLS", &images.node)
        // The stand-ins run unprivileged: no root cgroup to evacuate (bootstrap's tests, too).
        .env("K3D_FIX_CGROUPV2", "false")
        .env_remove("DOCKER_HOST");
    if let Some(host) = docker_host {
        cmd.env("DOCKER_HOST", host);
    }
    cmd
}

fn bootstrap_cmd(kubeconfig: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    cmd.env("KUBECONFIG", kubeconfig).env_remove("DOCKER_HOST");
    cmd
}

/// `k3d cluster list NAME --token -o json`'s one entry.
async fn k3d_cluster(k3d: &Path, f: &Fixture, kubeconfig: &Path) -> serde_json::Value {
    let (ok, out, err) = run(k3d_cmd(k3d, &f.images, kubeconfig, None)
        .args(["cluster", "list", &f.name, "--token", "-o", "json"]))
    .await;
    assert!(ok, "k3d cluster list {}: {err}", f.name);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{out}");
    list[0].clone()
}

/// The anonymous volumes of a cluster's containers (the node image's VOLUMEs).
fn anonymous_volumes(cluster: &str) -> Vec<String> {
    let (_, ids, _) = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=k3d.cluster={cluster}"),
    ]);
    let mut volumes = Vec::new();
    for id in ids.lines() {
        let v = inspect("container", id);
        for m in v["Mounts"].as_array().unwrap() {
            if m["Type"] == "volume" && m["Destination"] != "/k3d/images" {
                volumes.push(m["Name"].as_str().unwrap().to_owned());
            }
        }
    }
    volumes
}

fn assert_all_gone(cluster: &str, anonymous: &[String], who: &str) {
    assert_eq!(
        leftovers(cluster),
        Vec::<String>::new(),
        "{who} left some of cluster {cluster}"
    );
    for v in anonymous {
        let (exists, _, _) = docker(&["volume", "inspect", v]);
        assert!(!exists, "{who} left the anonymous volume {v}");
    }
}

fn read_kubeconfig(path: &Path) -> Kubeconfig {
    Kubeconfig::parse(&std::fs::read_to_string(path).unwrap(), "test kubeconfig").unwrap()
}

fn names(entries: &[bootstrap::spec::kubeconfig::Entry]) -> BTreeSet<String> {
    entries.iter().map(|e| e.name.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k3d_lists_reads_joins_and_deletes_a_bootstrap_cluster() {
    let test = "k3d_lists_reads_joins_and_deletes_a_bootstrap_cluster";
    let Some(k3d) = k3d(test).await else { return };
    let f = fixture().await;
    let kubeconfig = f.kubeconfig();
    let (api_port, app_port) = (free_port(), free_port());
    let opts = options(&f.name, &f.images, api_port, app_port);
    let token = opts.token.clone();
    create(
        &f.engine,
        request(opts, kubeconfig.clone(), Duration::from_secs(60)),
        &steps(),
    )
    .await
    .unwrap();

    // `k3d cluster list` counts what bootstrap made as k3d counts its own
    let c = k3d_cluster(&k3d, &f, &kubeconfig).await;
    assert_eq!(c["name"], f.name.as_str());
    assert_eq!(c["serversCount"], 1);
    assert_eq!(c["serversRunning"], 1);
    assert_eq!(c["agentsCount"], 2);
    assert_eq!(c["agentsRunning"], 2);
    assert_eq!(c["hasLoadbalancer"], true);
    assert_eq!(c["clusterToken"], token.as_str());
    assert_eq!(c["network"]["name"], format!("k3d-{}", f.name));
    assert_eq!(c["imageVolume"], format!("k3d-{}-images", f.name));
    let nodes: BTreeSet<(String, String)> = c["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_owned(),
                n["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let n = &f.name;
    let expected: BTreeSet<(String, String)> = [
        (format!("k3d-{n}-server-0"), "server"),
        (format!("k3d-{n}-agent-0"), "agent"),
        (format!("k3d-{n}-agent-1"), "agent"),
        (format!("k3d-{n}-serverlb"), "loadbalancer"),
    ]
    .into_iter()
    .map(|(a, b)| (a, b.to_owned()))
    .collect();
    assert_eq!(nodes, expected);
    let server = c["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["role"] == "server")
        .unwrap();
    assert_eq!(
        server["serverOpts"]["kubeAPI"]["Binding"]["HostPort"],
        api_port.to_string()
    );

    // `k3d node list` and `k3d kubeconfig get` read it too; the kubeconfig k3d assembles from
    // the server's file and labels is the one bootstrap merged
    let (ok, out, err) =
        run(k3d_cmd(&k3d, &f.images, &kubeconfig, None).args(["node", "list", "--no-headers"]))
            .await;
    assert!(ok, "k3d node list: {err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains(&format!("k3d-{n}-")))
            .count(),
        4,
        "{out}"
    );
    let (ok, out, err) =
        run(k3d_cmd(&k3d, &f.images, &kubeconfig, None).args(["kubeconfig", "get", n])).await;
    assert!(ok, "k3d kubeconfig get: {err}");
    let from_k3d = Kubeconfig::parse(&out, "k3d kubeconfig get").unwrap();
    let merged = read_kubeconfig(&kubeconfig);
    assert_eq!(from_k3d.clusters, merged.clusters);
    assert_eq!(from_k3d.contexts, merged.contexts);
    assert_eq!(from_k3d.users, merged.users);
    assert_eq!(
        from_k3d.server(&format!("k3d-{n}")),
        Some(format!("https://127.0.0.1:{api_port}").as_str())
    );

    // `k3d node create` joins it from its labels (token, network, server URL, image volume)
    let proxy = unprivileged::Proxy::start().await;
    let extra = format!("{n}-x");
    let (ok, out, err) = run(
        k3d_cmd(&k3d, &f.images, &kubeconfig, Some(&proxy.docker_host()))
            .args([
                "node",
                "create",
                &extra,
                "--cluster",
                n,
                "--image",
                &f.images.node,
            ])
            .args(["--timeout", "60s"]),
    )
    .await;
    assert!(ok, "k3d node create {extra}:\n{out}\n{err}");
    let joined = inspect("container", &format!("k3d-{extra}-0"));
    assert_eq!(joined["State"]["Running"], true);
    let env: Vec<String> = serde_json::from_value(joined["Config"]["Env"].clone()).unwrap();
    assert!(env.contains(&format!("K3S_TOKEN={token}")), "{env:?}");
    assert!(
        env.contains(&format!("K3S_URL=https://k3d-{n}-server-0:6443")),
        "{env:?}"
    );
    let c = k3d_cluster(&k3d, &f, &kubeconfig).await;
    assert_eq!(
        (c["agentsCount"].clone(), c["agentsRunning"].clone()),
        (3.into(), 3.into())
    );
    let (ok, out, err) =
        run(bootstrap_cmd(&kubeconfig).args(["cluster", "list", "-o", "json"])).await;
    assert!(ok, "bootstrap cluster list: {err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ours = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == n.as_str())
        .unwrap();
    assert_eq!(
        (ours["agents"].clone(), ours["agents_running"].clone()),
        (3.into(), 3.into())
    );

    // `k3d cluster delete` removes every container, the network, the volumes and the
    // kubeconfig entries bootstrap made (and the node k3d added)
    let anonymous = anonymous_volumes(n);
    assert_eq!(
        anonymous.len(),
        16,
        "4 VOLUMEs in each of 4 nodes: {anonymous:?}"
    );
    let (ok, _, err) =
        run(k3d_cmd(&k3d, &f.images, &kubeconfig, None).args(["cluster", "delete", n])).await;
    assert!(ok, "k3d cluster delete {n}: {err}");
    assert_all_gone(n, &anonymous, "k3d cluster delete");
    let after = read_kubeconfig(&kubeconfig);
    assert!(names(&after.clusters).is_empty(), "{after:?}");
    assert!(names(&after.contexts).is_empty(), "{after:?}");
    assert!(names(&after.users).is_empty(), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_lists_reads_and_deletes_a_k3d_cluster() {
    let test = "bootstrap_lists_reads_and_deletes_a_k3d_cluster";
    let Some(k3d) = k3d(test).await else { return };
    let f = fixture().await;
    let n = f.name.clone();
    let kubeconfig = f.kubeconfig();
    let proxy = unprivileged::Proxy::start().await;
    let (api_port, app_port) = (free_port(), free_port());
    let (ok, out, err) = run(
        k3d_cmd(&k3d, &f.images, &kubeconfig, Some(&proxy.docker_host()))
            .args([
                "cluster",
                "create",
                &n,
                "--agents",
                "2",
                "--image",
                &f.images.node,
            ])
            .args(["--api-port", &format!("127.0.0.1:{api_port}")])
            .args(["--port", &format!("127.0.0.1:{app_port}:8888@loadbalancer")])
            .args(["--token", "abcdefghijklmnopqrst", "--timeout", "60s"])
            // The stand-in has no CoreDNS manifest for k3d's NodeHosts rewrite to edit.
            .args(["--k3s-arg", "--disable=coredns@server:*"]),
    )
    .await;
    assert!(ok, "k3d cluster create {n}:\n{out}\n{err}");
    assert!(
        proxy.relaxed() >= 4,
        "the proxy relaxed {} privileged request(s)",
        proxy.relaxed()
    );
    for node in ["server-0", "agent-0", "agent-1", "serverlb"] {
        let v = inspect("container", &format!("k3d-{n}-{node}"));
        assert_eq!(v["State"]["Running"], true, "k3d-{n}-{node} runs");
    }

    // bootstrap lists it with k3d's counts and its API address
    let (ok, out, err) =
        run(bootstrap_cmd(&kubeconfig).args(["cluster", "list", "-o", "json"])).await;
    assert!(ok, "bootstrap cluster list: {err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let c = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == n.as_str())
        .unwrap_or_else(|| panic!("bootstrap cluster list shows {n}: {out}"));
    assert_eq!(
        c,
        &serde_json::json!({
            "name": n,
            "servers": 1, "servers_running": 1,
            "agents": 2, "agents_running": 2,
            "loadbalancer": true,
            "api": format!("https://127.0.0.1:{api_port}"),
            "created_by": format!("k3d {K3D_VERSION}"),
        })
    );

    // bootstrap reads the kubeconfig k3d would write
    let (ok, from_k3d, err) =
        run(k3d_cmd(&k3d, &f.images, &kubeconfig, None).args(["kubeconfig", "get", &n])).await;
    assert!(ok, "k3d kubeconfig get: {err}");
    let file = f.dir.path().join("from-bootstrap");
    let (ok, out, err) = run(bootstrap_cmd(&kubeconfig)
        .args(["cluster", "kubeconfig", &n, "--output"])
        .arg(&file))
    .await;
    assert!(ok, "bootstrap cluster kubeconfig: {out}{err}");
    let from_k3d = Kubeconfig::parse(&from_k3d, "k3d kubeconfig get").unwrap();
    let from_bootstrap = read_kubeconfig(&file);
    assert_eq!(from_bootstrap.clusters, from_k3d.clusters);
    assert_eq!(from_bootstrap.contexts, from_k3d.contexts);
    assert_eq!(from_bootstrap.users, from_k3d.users);
    assert_eq!(from_bootstrap.current_context, format!("k3d-{n}"));

    // bootstrap deletes all of it, k3d's kubeconfig entries included
    let merged = read_kubeconfig(&kubeconfig);
    assert!(
        names(&merged.contexts).contains(&format!("k3d-{n}")),
        "{merged:?}"
    );
    let anonymous = anonymous_volumes(&n);
    assert_eq!(
        anonymous.len(),
        12,
        "4 VOLUMEs in each of 3 nodes: {anonymous:?}"
    );
    let (ok, out, err) = run(bootstrap_cmd(&kubeconfig).args(["cluster", "delete", &n])).await;
    assert!(ok, "bootstrap cluster delete {n}: {out}{err}");
    assert!(
        out.contains(&format!("deleted cluster {n}: 4 container(s)")),
        "{out}"
    );
    assert_all_gone(&n, &anonymous, "bootstrap cluster delete");
    let after = read_kubeconfig(&kubeconfig);
    assert!(
        !names(&after.contexts).contains(&format!("k3d-{n}")),
        "{after:?}"
    );
    assert!(
        !names(&after.clusters).contains(&format!("k3d-{n}")),
        "{after:?}"
    );
    assert!(
        !names(&after.users).contains(&format!("admin@k3d-{n}")),
        "{after:?}"
    );
    let (_, out, _) =
        run(k3d_cmd(&k3d, &f.images, &kubeconfig, None).args(["cluster", "list", "-o", "json"]))
            .await;
    assert!(
        !out.contains(&format!("\"{n}\"")),
        "k3d still lists {n}: {out}"
    );
}

/// k3d's own requests, untouched: its privileged containers are created, cannot start here,
/// and `--no-rollback` leaves them; bootstrap lists them as stopped and deletes all of them,
/// k3d's tools node included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_deletes_a_k3d_cluster_whose_privileged_nodes_never_started() {
    let test = "bootstrap_deletes_a_k3d_cluster_whose_privileged_nodes_never_started";
    let Some(k3d) = k3d(test).await else { return };
    let f = fixture().await;
    let n = f.name.clone();
    let kubeconfig = f.kubeconfig();
    let (ok, out, err) = run(k3d_cmd(&k3d, &f.images, &kubeconfig, None)
        .args([
            "cluster",
            "create",
            &n,
            "--agents",
            "1",
            "--image",
            &f.images.node,
        ])
        .args(["--api-port", &format!("127.0.0.1:{}", free_port())])
        .args(["--no-rollback", "--timeout", "60s"]))
    .await;
    assert!(
        !ok,
        "k3d cluster create {n} started privileged containers here:\n{out}"
    );
    let (_, names_out, _) = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=k3d.cluster={n}"),
        "--format",
        "{{.Names}}",
    ]);
    let created: BTreeSet<&str> = names_out.lines().collect();
    assert!(
        created.contains(format!("k3d-{n}-server-0").as_str()),
        "k3d created no server before failing:\n{err}\n{names_out}"
    );
    let v = inspect("container", &format!("k3d-{n}-server-0"));
    assert_eq!(v["HostConfig"]["Privileged"], true);

    let (ok, out, err) =
        run(bootstrap_cmd(&kubeconfig).args(["cluster", "list", "-o", "json"])).await;
    assert!(ok, "bootstrap cluster list: {err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let c = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == n.as_str())
        .unwrap_or_else(|| panic!("bootstrap cluster list shows {n}: {out}"));
    assert_eq!(c["servers"], 1);
    assert_eq!(c["servers_running"], 0);
    assert_eq!(c["created_by"], format!("k3d {K3D_VERSION}"));

    let anonymous = anonymous_volumes(&n);
    let (ok, out, err) = run(bootstrap_cmd(&kubeconfig).args(["cluster", "delete", &n])).await;
    assert!(ok, "bootstrap cluster delete {n}: {out}{err}");
    assert!(
        out.contains(&format!(
            "deleted cluster {n}: {} container(s)",
            created.len()
        )),
        "{out}"
    );
    assert_all_gone(&n, &anonymous, "bootstrap cluster delete");
}

/// `k3d registry create` with a stand-in for `registry:2` (Debian's build of the same
/// registry): k3d lists it, it serves the registry API on its 127.0.0.1 port, and bootstrap,
/// which lists clusters, does not take it for one (it has no `k3d.cluster` label).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_k3d_registry_serves_and_is_no_cluster_to_bootstrap() {
    let test = "a_k3d_registry_serves_and_is_no_cluster_to_bootstrap";
    let Some(k3d) = k3d(test).await else { return };
    if !Path::new("/usr/bin/docker-registry").exists() {
        skip(
            test,
            "no /usr/bin/docker-registry (Debian's docker-registry) for the registry:2 stand-in",
        );
        return;
    }
    let mut f = fixture().await;
    let image = format!("{}/registry-standin:2", unique("iot-test"));
    bootstrap::standin::build_registry(&f.engine, &image)
        .await
        .unwrap();
    f.cleanup.images.push(image.clone());
    let name = f.name.clone();
    f.cleanup.containers.push(format!("k3d-{name}"));
    let kubeconfig = f.kubeconfig();
    let proxy = unprivileged::Proxy::start().await;
    let port = free_port();
    let (ok, out, err) = run(
        k3d_cmd(&k3d, &f.images, &kubeconfig, Some(&proxy.docker_host()))
            .args(["registry", "create", &name, "--image", &image])
            .args(["--port", &format!("127.0.0.1:{port}")]),
    )
    .await;
    assert!(ok, "k3d registry create {name}:\n{out}\n{err}");

    let (ok, out, err) =
        run(k3d_cmd(&k3d, &f.images, &kubeconfig, None).args(["registry", "list", "-o", "json"]))
            .await;
    assert!(ok, "k3d registry list: {err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let reg = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == format!("k3d-{name}"))
        .unwrap_or_else(|| panic!("k3d registry list shows k3d-{name}: {out}"));
    assert_eq!(reg["role"], "registry");
    assert_eq!(reg["State"]["Running"], true, "{reg}");

    // the registry API answers on the published port
    let mut answered = false;
    for _ in 0..50 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: localhost\r\n\r\n")
                .await
                .unwrap();
            let mut reply = String::new();
            let _ = s.read_to_string(&mut reply).await;
            if reply.starts_with("HTTP/1.0 200") {
                assert!(
                    reply.contains("Docker-Distribution-Api-Version: registry/2.0"),
                    "{reply}"
                );
                answered = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        answered,
        "the registry did not answer GET /v2/ on 127.0.0.1:{port}"
    );

    let (ok, out, err) =
        run(bootstrap_cmd(&kubeconfig).args(["cluster", "list", "-o", "json"])).await;
    assert!(ok, "bootstrap cluster list: {err}");
    assert!(
        !out.contains(&format!("k3d-{name}")),
        "bootstrap lists the registry: {out}"
    );

    let (ok, _, err) = run(k3d_cmd(&k3d, &f.images, &kubeconfig, None).args([
        "registry",
        "delete",
        &format!("k3d-{name}"),
    ]))
    .await;
    assert!(ok, "k3d registry delete: {err}");
    let (exists, _, _) = docker(&["container", "inspect", &format!("k3d-{name}")]);
    assert!(!exists, "k3d registry delete left k3d-{name}");
}

/// The `registry:2` stand-in, built for this test and removed with it; None after a visible
/// skip.
async fn registry_standin(test: &str, f: &mut Fixture) -> Option<String> {
    if !Path::new("/usr/bin/docker-registry").exists() {
        skip(
            test,
            "no /usr/bin/docker-registry (Debian's docker-registry) for the registry:2 stand-in",
        );
        return None;
    }
    let image = format!("{}/registry-standin:2", unique("iot-test"));
    bootstrap::standin::build_registry(&f.engine, &image)
        .await
        .unwrap();
    f.cleanup.images.push(image.clone());
    Some(image)
}

/// The labels k3d reads and writes: `app`, `k3d.*`, `k3s.registry.*`.
fn k3d_labels(labels: &serde_json::Value) -> BTreeMap<String, String> {
    let all: BTreeMap<String, String> = serde_json::from_value(labels.clone()).unwrap();
    all.into_iter()
        .filter(|(k, _)| k == "app" || k.starts_with("k3d.") || k.starts_with("k3s.registry."))
        .collect()
}

/// bootstrap's `--registry-create NAME:127.0.0.1:PORT` (through the library, which is where the
/// registry image can be the stand-in): `k3d registry list` shows it as its own, and
/// `k3d cluster delete` removes it with the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k3d_lists_and_deletes_the_registry_bootstrap_created() {
    let test = "k3d_lists_and_deletes_the_registry_bootstrap_created";
    let Some(k3d) = k3d(test).await else { return };
    let mut f = fixture().await;
    let Some(image) = registry_standin(test, &mut f).await else {
        return;
    };
    let n = f.name.clone();
    let reg = format!("{n}-registry");
    f.cleanup.containers.push(reg.clone());
    let kubeconfig = f.kubeconfig();
    let port = free_port();
    let flag = RegistryCreateFlag::parse(&format!("{reg}:127.0.0.1:{port}")).unwrap();
    let mut opts = options(&n, &f.images, free_port(), free_port());
    opts.agents = 0;
    opts.registries = RegistryOptions {
        create: Some(Registry::created(&flag, "127.0.0.1", port)),
        image: image.clone(),
        ..RegistryOptions::default()
    };
    create(
        &f.engine,
        request(opts, kubeconfig.clone(), Duration::from_secs(60)),
        &steps(),
    )
    .await
    .unwrap();

    let (ok, out, err) =
        run(k3d_cmd(&k3d, &f.images, &kubeconfig, None).args(["registry", "list", "-o", "json"]))
            .await;
    assert!(ok, "k3d registry list: {err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == reg.as_str())
        .unwrap_or_else(|| panic!("k3d registry list shows {reg}: {out}"));
    assert_eq!(r["role"], "registry");
    // k3d reports the container's image ID, not its reference
    assert_eq!(r["image"], inspect("image", &image)["Id"]);
    assert_eq!(r["State"]["Running"], true, "{r}");
    // k3d keeps only the `k3d.` labels in what it lists
    assert_eq!(
        r["runtimeLabels"],
        serde_json::json!({
            "k3d.cluster": n,
            "k3d.registry.host": "127.0.0.1",
            "k3d.registry.hostIP": "127.0.0.1",
            "k3d.role": "registry",
            "k3d.version": K3D_VERSION,
        })
    );
    let mut networks: Vec<String> = serde_json::from_value(r["Networks"].clone()).unwrap();
    networks.sort();
    assert_eq!(networks, ["bridge".to_owned(), format!("k3d-{n}")]);
    assert_eq!(
        r["portMappings"]["5000/tcp"],
        serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": port.to_string()}]),
        "{r}"
    );
    // `k3d registry list` also counts it among the cluster's nodes
    let c = k3d_cluster(&k3d, &f, &kubeconfig).await;
    assert!(
        c["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|node| node["name"] == reg.as_str() && node["role"] == "registry"),
        "{c}"
    );

    let anonymous = anonymous_volumes(&n);
    let (ok, out, err) =
        run(k3d_cmd(&k3d, &f.images, &kubeconfig, None).args(["cluster", "delete", &n])).await;
    assert!(ok, "k3d cluster delete {n}:\n{out}\n{err}");
    assert_all_gone(&n, &anonymous, "k3d cluster delete");
    assert!(
        !docker(&["container", "inspect", &reg]).0,
        "k3d cluster delete left the registry {reg}"
    );
}

/// k3d's `--registry-create NAME:127.0.0.1:PORT` (the image from a config file, which the flag
/// keeps) makes the container bootstrap's plan for the same flags describes, and writes the
/// same registries.yaml; `bootstrap cluster delete` removes the cluster and the registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k3d_registry_create_is_bootstraps_plan_and_bootstrap_deletes_it() {
    let test = "k3d_registry_create_is_bootstraps_plan_and_bootstrap_deletes_it";
    let Some(k3d) = k3d(test).await else { return };
    let mut f = fixture().await;
    let Some(image) = registry_standin(test, &mut f).await else {
        return;
    };
    let n = f.name.clone();
    // the form of the subject's `demo-registry:0.0.0.0:5111`, on 127.0.0.1 and a free port
    let reg = format!("{n}-demo-registry");
    f.cleanup.containers.push(reg.clone());
    let kubeconfig = f.kubeconfig();
    let (api_port, port) = (free_port(), free_port());
    let flag = format!("{reg}:127.0.0.1:{port}");

    let (ok, out, err) = run(bootstrap_cmd(&kubeconfig).args([
        "cluster",
        "create",
        &n,
        "--registry-create",
        &flag,
        "--dry-run",
        "-o",
        "json",
    ]))
    .await;
    assert!(ok, "bootstrap cluster create --dry-run: {out}{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let want = &plan["registries"]["create"];
    let want_yaml = plan["registries"]["registriesYaml"].as_str().unwrap();

    let config = f.dir.path().join("k3d.yaml");
    std::fs::write(
        &config,
        format!(
            "apiVersion: k3d.io/v1alpha5\nkind: Simple\nregistries:\n  create:\n    image: {image}\n"
        ),
    )
    .unwrap();
    let proxy = unprivileged::Proxy::start().await;
    let (ok, out, err) = run(
        k3d_cmd(&k3d, &f.images, &kubeconfig, Some(&proxy.docker_host()))
            .args(["cluster", "create", &n, "--config"])
            .arg(&config)
            .args(["--agents", "0", "--image", &f.images.node])
            .args(["--api-port", &format!("127.0.0.1:{api_port}")])
            .args(["--registry-create", &flag])
            .args(["--token", "abcdefghijklmnopqrst", "--timeout", "60s"])
            .args(["--k3s-arg", "--disable=coredns@server:*"]),
    )
    .await;
    assert!(ok, "k3d cluster create {n}:\n{out}\n{err}");

    // the name is NAME as given, not k3d-NAME
    assert!(
        !docker(&["container", "inspect", &format!("k3d-{reg}")]).0,
        "k3d named the registry k3d-{reg}"
    );
    let v = inspect("container", &reg);
    assert_eq!(v["State"]["Running"], true, "{reg} runs");
    assert_eq!(v["Name"], format!("/{reg}"));
    assert_eq!(want["name"], reg.as_str());
    let got_labels = k3d_labels(&v["Config"]["Labels"]);
    let want_labels = k3d_labels(&want["labels"]);
    println!("k3d's registry labels: {got_labels:?}");
    assert_eq!(got_labels, want_labels);
    let bindings = &v["HostConfig"]["PortBindings"];
    assert_eq!(
        bindings.as_object().unwrap().keys().collect::<Vec<_>>(),
        want["ports"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>()
    );
    for (key, b) in want["ports"].as_object().unwrap() {
        let want_b: Vec<(String, String)> = b
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["host_ip"].to_string(), b["host_port"].to_string()))
            .collect();
        let got_b: Vec<(String, String)> = bindings[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["HostIp"].to_string(), b["HostPort"].to_string()))
            .collect();
        assert_eq!(got_b, want_b, "{key}");
    }
    let mut networks: Vec<String> = v["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    networks.sort();
    assert_eq!(
        networks,
        [
            want["network"].as_str().unwrap().to_owned(),
            plan["network"]["name"].as_str().unwrap().to_owned()
        ]
    );
    let (ok, yaml, err) = docker(&[
        "exec",
        &format!("k3d-{n}-server-0"),
        "cat",
        "/etc/rancher/k3s/registries.yaml",
    ]);
    assert!(ok, "{err}");
    assert_eq!(yaml, want_yaml);

    let anonymous = anonymous_volumes(&n);
    let (ok, out, err) = run(bootstrap_cmd(&kubeconfig).args(["cluster", "delete", &n])).await;
    assert!(ok, "bootstrap cluster delete {n}: {out}{err}");
    println!("{out}");
    assert_all_gone(&n, &anonymous, "bootstrap cluster delete");
    assert!(
        !docker(&["container", "inspect", &reg]).0,
        "bootstrap cluster delete left the registry {reg}"
    );
}

/// A Docker API socket in front of the engine's for k3d: the one change is `privileged`.
mod unprivileged {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{UnixListener, UnixStream};

    pub struct Proxy {
        socket: PathBuf,
        relaxed: Arc<AtomicUsize>,
        task: tokio::task::JoinHandle<()>,
        _dir: tempfile::TempDir,
    }

    impl Drop for Proxy {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl Proxy {
        pub async fn start() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let socket = dir.path().join("docker.sock");
            let listener = UnixListener::bind(&socket).unwrap();
            let relaxed = Arc::new(AtomicUsize::new(0));
            let upstream = engine_socket();
            let count = relaxed.clone();
            let task = tokio::spawn(async move {
                while let Ok((conn, _)) = listener.accept().await {
                    let (upstream, count) = (upstream.clone(), count.clone());
                    tokio::spawn(async move {
                        if let Err(e) = forward(conn, &upstream, &count).await {
                            eprintln!("unprivileged docker proxy: {e}");
                        }
                    });
                }
            });
            Self {
                socket,
                relaxed,
                task,
                _dir: dir,
            }
        }

        pub fn docker_host(&self) -> String {
            format!("unix://{}", self.socket.display())
        }

        /// How many privileged containers and execs it has relaxed.
        pub fn relaxed(&self) -> usize {
            self.relaxed.load(Ordering::SeqCst)
        }
    }

    fn engine_socket() -> PathBuf {
        std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
    }

    /// One connection, one request: the engine is asked to close after its answer (or, for a
    /// hijacked stream such as `exec start`, the bytes flow until either side ends).
    async fn forward(
        mut client: UnixStream,
        upstream: &Path,
        relaxed: &AtomicUsize,
    ) -> std::io::Result<()> {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 8192];
            let read = client.read(&mut chunk).await?;
            if read == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..read]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut body = buf[head_end..].to_vec();
        let mut lines: Vec<String> = head.trim_end().split("\r\n").map(str::to_owned).collect();
        let mut request_line = lines[0].split(' ');
        let method = request_line.next().unwrap_or_default().to_owned();
        let path = request_line
            .next()
            .unwrap_or_default()
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned();
        let header = |lines: &[String], name: &str| {
            lines.iter().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let create = path.ends_with("/containers/create");
        let exec = path.contains("/containers/") && path.ends_with("/exec");
        if method == "POST" && (create || exec) {
            let length: usize = header(&lines, "content-length")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| std::io::Error::other(format!("{path} without Content-Length")))?;
            while body.len() < length {
                let mut chunk = [0u8; 8192];
                let read = client.read(&mut chunk).await?;
                if read == 0 {
                    return Err(std::io::Error::other("request body cut short"));
                }
                body.extend_from_slice(&chunk[..read]);
            }
            let mut json: serde_json::Value = serde_json::from_slice(&body)?;
            let target = if create {
                &mut json["HostConfig"]
            } else {
                &mut json
            };
            if target["Privileged"] == true {
                target["Privileged"] = false.into();
                if create {
                    target["CapAdd"] = serde_json::json!(["ALL"]);
                    target["CapDrop"] = serde_json::json!(["SYS_RESOURCE"]);
                }
                relaxed.fetch_add(1, Ordering::SeqCst);
            }
            body = serde_json::to_vec(&json)?;
            lines.retain(|l| {
                !l.split_once(':')
                    .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            });
            lines.push(format!("Content-Length: {}", body.len()));
        }
        if header(&lines, "upgrade").is_none() {
            lines.retain(|l| {
                !l.split_once(':')
                    .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("connection"))
            });
            lines.push("Connection: close".to_owned());
        }
        let mut engine = UnixStream::connect(upstream).await?;
        engine
            .write_all(format!("{}\r\n\r\n", lines.join("\r\n")).as_bytes())
            .await?;
        engine.write_all(&body).await?;
        tokio::io::copy_bidirectional(&mut client, &mut engine).await?;
        Ok(())
    }
}
