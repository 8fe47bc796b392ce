//! `bootstrap p3` / `status` / `down` against the real Docker engine, with stand-in nodes (no
//! K3s can be pulled here): the Docker half runs for real (images, cluster, import), the run
//! stops at the Kubernetes API the stand-ins do not serve, and a second run resumes with the
//! cluster it left. The Kubernetes half is tested against the mock API in gitops_kube.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use bootstrap::gitops::argocd;
use std::process::{Command, Output};

use common::{Cleanup, cluster_name, engine, free_port, leftovers, standins};

struct Env {
    _tmp: tempfile::TempDir,
    home: std::path::PathBuf,
    cache: std::path::PathBuf,
}

/// A HOME of its own (kubeconfig, credentials), and a cache that already holds the pinned
/// Argo CD manifest, as a user working offline would put it there. None after a visible skip
/// where the manifest cannot be had.
fn env(test: &str) -> Option<Env> {
    let manifest = common::pinned_argocd_manifest()
        .map_err(|why| common::skip(test, &why))
        .ok()?;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let cache = tmp.path().join("cache");
    std::fs::create_dir_all(cache.join("argocd")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(argocd::cache_path(&cache), manifest).unwrap();
    Some(Env {
        _tmp: tmp,
        home,
        cache,
    })
}

fn bootstrap(env: &Env, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .args(args)
        // From the workspace: images are built from it.
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env("HOME", &env.home)
        .env_remove("KUBECONFIG")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn p3_builds_the_docker_half_stops_at_the_api_resumes_and_goes_down() {
    let Some(env) = env("p3_builds_the_docker_half_stops_at_the_api_resumes_and_goes_down") else {
        return;
    };
    let engine = engine().await;
    let images = standins(&engine).await;
    let name = cluster_name();
    let mut cleanup = Cleanup::default();
    cleanup.clusters.push(name.clone());
    cleanup.standins(&images);
    let (api, app, argocd, git) = (free_port(), free_port(), free_port(), free_port());
    let ports = [
        "--api-port",
        &api.to_string(),
        "--app-port",
        &app.to_string(),
        "--argocd-port",
        &argocd.to_string(),
        "--git-port",
        &git.to_string(),
    ]
    .map(str::to_owned);
    let mut args: Vec<String> = [
        "p3",
        "--cluster",
        &name,
        "--unprivileged-test-nodes",
        // registry:2 cannot be pulled here; tests/registry.rs covers the registry
        "--no-registry",
        "--image",
        &images.node,
        "--lb-image",
        &images.loadbalancer,
        "--cache-dir",
        env.cache.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(ports);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let first = bootstrap(&env, &args);
    let out = text(&first);
    assert_eq!(first.status.code(), Some(1), "{out}");
    for step in [
        "build echo-app:v1",
        "build echo-app:v2",
        "preflight",
        &format!("start k3d-{name}-server-0"),
        "import",
        "kubeconfig",
    ] {
        assert!(
            out.contains(&format!("✓ {step}")),
            "no finished step {step:?} in:\n{out}"
        );
    }
    assert!(out.contains("✗ connect to the Kubernetes API"), "{out}");
    assert!(out.contains("run `bootstrap p3` again to resume"), "{out}");
    assert!(
        !leftovers(&name).is_empty(),
        "the cluster stays for the next run"
    );
    // Every port is published on loopback only.
    let (_, ports, _) = common::docker(&["port", &format!("k3d-{name}-serverlb")]);
    for line in ports.lines() {
        assert!(line.contains("127.0.0.1:"), "{ports}");
    }
    assert_eq!(ports.lines().count(), 4, "{ports}");
    let kubeconfig = std::fs::read_to_string(env.home.join(".kube/config")).unwrap();
    assert!(
        kubeconfig.contains(&format!("current-context: k3d-{name}")),
        "{kubeconfig}"
    );

    // A resume with other ports would point Gitea, the lab remote and the UI at ports the load
    // balancer does not publish: refused, naming the difference, before anything changes.
    let other_app = free_port().to_string();
    let moved: Vec<&str> = args
        .iter()
        .map(|a| {
            if *a == app.to_string() {
                other_app.as_str()
            } else {
                a
            }
        })
        .collect();
    let refused = bootstrap(&env, &moved);
    let out = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "cluster {name} was made with --app-port {app} (this run: {other_app}); run again \
             with those flags to resume it, or `bootstrap down --cluster {name}` to start over"
        )),
        "{out}"
    );
    assert!(!out.contains("✓ import"), "{out}");

    let second = bootstrap(&env, &args);
    let out = text(&second);
    assert_eq!(second.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!("cluster {name} exists: resuming with it")),
        "{out}"
    );
    assert!(
        !out.contains(&format!("create k3d-{name}-server-0")),
        "the cluster was created again:\n{out}"
    );
    assert!(out.contains("✗ connect to the Kubernetes API"), "{out}");

    let status = bootstrap(
        &env,
        &["status", "--cluster", &name, "--app-port", &app.to_string()],
    );
    let out = text(&status);
    // The cluster runs, the layers above it do not: not every layer is fine.
    assert_eq!(status.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "cluster {name}: 1/1 server(s), 0/0 agent(s) running, API https://127.0.0.1:{api}"
        )),
        "{out}"
    );
    assert!(
        out.contains("Argo CD: unknown (the API does not answer)"),
        "{out}"
    );
    assert!(
        out.contains("Application argocd/playground: absent"),
        "{out}"
    );

    let down = bootstrap(&env, &["down", "--cluster", &name]);
    let out = text(&down);
    assert_eq!(down.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!("part 3 is gone: cluster {name} deleted")),
        "{out}"
    );
    assert_eq!(leftovers(&name), Vec::<String>::new());
    let kubeconfig = std::fs::read_to_string(env.home.join(".kube/config")).unwrap();
    assert!(!kubeconfig.contains(&name), "{kubeconfig}");
    let again = bootstrap(&env, &["down", "--cluster", &name]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
}

#[test]
fn a_port_in_use_stops_p3_before_anything_is_created() {
    let Some(env) = env("a_port_in_use_stops_p3_before_anything_is_created") else {
        return;
    };
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let name = cluster_name();
    let out = bootstrap(
        &env,
        &[
            "p3",
            "--cluster",
            &name,
            "--app-port",
            &port,
            "--image",
            "iot-test-absent/k3s:none",
            "--cache-dir",
            env.cache.to_str().unwrap(),
        ],
    );
    let text = text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(&port) && text.contains("preflight"), "{text}");
    assert_eq!(leftovers(&name), Vec::<String>::new());
}
