//! Shared by the integration tests: a real Docker engine, unique names, stand-in images, and
//! cleanup that runs even when a test panics. Checks go through the docker CLI, not through
//! the adapter under test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bootstrap::docker::Engine;
use bootstrap::recipes::cluster::{self, CreateRequest, CreatedCluster, KubeconfigOutput};
use bootstrap::recipes::steps::{Show, Steps};
use bootstrap::spec::cluster::{ClusterOptions, ClusterPlan, NodeSecurity};
use bootstrap::spec::fixes::Fixes;
use bootstrap::spec::names::ClusterName;
use bootstrap::spec::ports::{ApiEndpoint, PortFlag};
use bootstrap::standin::StandinImages;

/// The Go module of the pinned Argo CD release: its zip carries `manifests/install.yaml`.
const ARGOCD_GO_MODULE: &str = "github.com/argoproj/argo-cd/v3";

/// The pinned Argo CD `install.yaml`, checked against the pinned sha256, from wherever it can
/// be had without reaching GitHub: the Go module cache (the control plane's build of Argo CD
/// puts the tagged module there), else the Go module proxy into that cache (`go mod download`,
/// itself checked by Go's checksum database), else `shared/fixtures/argocd/` beside the
/// workspace or one of its ancestors. `Err` says why none could be had, for a visible skip.
pub fn pinned_argocd_manifest() -> Result<String, String> {
    use bootstrap::gitops::argocd;
    let mut tried = Vec::new();
    match argocd_manifest_from_go_modules() {
        Ok(text) => return Ok(text),
        Err(why) => tried.push(why),
    }
    let name = format!("argocd/install-{}.yaml", argocd::VERSION);
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match workspace
        .ancestors()
        .map(|dir| dir.join("../shared/fixtures").join(&name))
        .find(|candidate| candidate.is_file())
    {
        Some(path) => {
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            argocd::verify(&bytes, &path.display().to_string()).map_err(|e| e.to_string())?;
            return String::from_utf8(bytes).map_err(|e| e.to_string());
        }
        None => tried.push(format!("no shared/fixtures/{name} beside the workspace")),
    }
    Err(format!(
        "the pinned Argo CD manifest cannot be had here: {}",
        tried.join("; ")
    ))
}

fn argocd_manifest_from_go_modules() -> Result<String, String> {
    use bootstrap::gitops::argocd;
    let version = argocd::VERSION;
    let download = Command::new("go")
        .args(["mod", "download", "-json"])
        .arg(format!("{ARGOCD_GO_MODULE}@{version}"))
        .current_dir(std::env::temp_dir())
        .env("GOFLAGS", "-mod=mod")
        .output()
        .map_err(|e| format!("no go command ({e})"))?;
    let json: serde_json::Value = serde_json::from_slice(&download.stdout)
        .map_err(|_| "`go mod download` printed no JSON".to_owned())?;
    let zip = json["Zip"].as_str().ok_or_else(|| {
        format!(
            "the Go module proxy did not give {ARGOCD_GO_MODULE}@{version}: {}",
            json["Error"].as_str().unwrap_or("no reason given")
        )
    })?;
    let member = format!("{ARGOCD_GO_MODULE}@{version}/manifests/install.yaml");
    let out = Command::new("unzip")
        .args(["-p", zip, &member])
        .output()
        .map_err(|e| format!("no unzip command ({e})"))?;
    if !out.status.success() {
        return Err(format!("{zip} has no {member}"));
    }
    argocd::verify(&out.stdout, zip).map_err(|e| e.to_string())?;
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

/// Says that a test did not run and why, in its output and in `$IOT_SKIP_LOG` (test.sh counts
/// the lines there, so a skip is never silent).
pub fn skip(test: &str, reason: &str) {
    println!("skipped: {reason}");
    if let Some(path) = std::env::var_os("IOT_SKIP_LOG") {
        use std::io::Write as _;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{test}: {reason}");
        }
    }
}

/// A name no other test or worker uses: `<prefix>-<pid>-<random>`.
pub fn unique(prefix: &str) -> String {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).unwrap();
    format!(
        "{prefix}-{}-{:08x}",
        std::process::id(),
        u32::from_le_bytes(b)
    )
}

/// A cluster name of at most 32 characters.
pub fn cluster_name() -> String {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).unwrap();
    format!("it-{:08x}", u32::from_le_bytes(b))
}

/// A free port on 127.0.0.1 (released before use, as k3d does).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn docker(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `docker inspect` (of any object kind) as JSON.
pub fn inspect(kind: &str, name: &str) -> serde_json::Value {
    let (ok, out, err) = docker(&[kind, "inspect", name]);
    assert!(ok, "docker {kind} inspect {name}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

pub async fn engine() -> Engine {
    Engine::connect()
        .await
        .expect("these tests need a Docker engine; ./test.sh starts one")
}

/// Builds the stand-in images under a unique repository.
pub async fn standins(engine: &Engine) -> StandinImages {
    bootstrap::standin::build(engine, &unique("iot-test"), "1")
        .await
        .expect("stand-in images build")
}

/// What is left of a cluster: containers and volumes with its label, its network.
pub fn leftovers(cluster: &str) -> Vec<String> {
    let label = format!("label=k3d.cluster={cluster}");
    let mut left = Vec::new();
    let (_, out, _) = docker(&[
        "ps",
        "-a",
        "--filter",
        &label,
        "--format",
        "container {{.Names}}",
    ]);
    left.extend(out.lines().map(str::to_owned));
    let (_, out, _) = docker(&[
        "volume",
        "ls",
        "--filter",
        &label,
        "--format",
        "volume {{.Name}}",
    ]);
    left.extend(out.lines().map(str::to_owned));
    let net = format!("k3d-{cluster}");
    let (_, out, _) = docker(&[
        "network",
        "ls",
        "--filter",
        &format!("name=^{net}$"),
        "--format",
        "network {{.Name}}",
    ]);
    left.extend(out.lines().map(str::to_owned));
    left
}

/// Removes, on drop, everything a test made: clusters by label, networks, images, containers.
#[derive(Default)]
pub struct Cleanup {
    pub clusters: Vec<String>,
    pub images: Vec<String>,
    pub containers: Vec<String>,
    pub networks: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.clusters {
            let (_, ids, _) = docker(&["ps", "-aq", "--filter", &format!("label=k3d.cluster={c}")]);
            for id in ids.lines() {
                docker(&["rm", "-f", "-v", id]);
            }
            let (_, vols, _) = docker(&[
                "volume",
                "ls",
                "-q",
                "--filter",
                &format!("label=k3d.cluster={c}"),
            ]);
            for v in vols.lines() {
                docker(&["volume", "rm", "-f", v]);
            }
            docker(&["network", "rm", &format!("k3d-{c}")]);
        }
        for c in &self.containers {
            docker(&["rm", "-f", "-v", c]);
        }
        for n in &self.networks {
            docker(&["network", "rm", n]);
        }
        for i in &self.images {
            docker(&["rmi", "-f", i]);
        }
    }
}

impl Cleanup {
    pub fn standins(&mut self, s: &StandinImages) {
        self.images.push(s.node.clone());
        self.images.push(s.loadbalancer.clone());
    }
}

/// A 1-server/2-agent stand-in cluster, API and one port published on 127.0.0.1 only.
pub fn options(name: &str, images: &StandinImages, api_port: u16, app_port: u16) -> ClusterOptions {
    ClusterOptions {
        extra_labels: BTreeMap::new(),
        registries: Default::default(),
        name: ClusterName::parse(name).unwrap(),
        servers: 1,
        agents: 2,
        image: images.node.clone(),
        lb_image: images.loadbalancer.clone(),
        api: ApiEndpoint {
            host: "127.0.0.1".into(),
            host_ip: "127.0.0.1".into(),
            port: api_port,
        },
        ports: vec![PortFlag::parse(&format!("127.0.0.1:{app_port}:8888@loadbalancer")).unwrap()],
        volumes: vec![],
        k3s_args: vec![],
        token: "testtokentesttokenab".into(),
        fixes: Fixes {
            cgroupv2: false,
            dns: true,
            mounts: true,
        },
        security: NodeSecurity::TestWithoutPrivileged,
    }
}

pub fn request(options: ClusterOptions, kubeconfig: PathBuf, timeout: Duration) -> CreateRequest {
    CreateRequest {
        plan: ClusterPlan::new(options).unwrap(),
        wait_timeout: timeout,
        kubeconfig: KubeconfigOutput {
            merge_into: Some((kubeconfig, true)),
            write_to: None,
        },
        preflight: true,
        workloads_memory_mib: 0,
        rollback: true,
    }
}

pub async fn create(
    engine: &Engine,
    req: CreateRequest,
    steps: &Steps,
) -> Result<CreatedCluster, bootstrap::Error> {
    cluster::create(engine, req, steps, &bootstrap::recipes::Shutdown::never()).await
}

pub fn steps() -> Steps {
    Steps::new(Show::Lines)
}

pub fn labels_of(v: &serde_json::Value) -> BTreeMap<String, String> {
    serde_json::from_value(v["Config"]["Labels"].clone()).unwrap()
}

/// What most cluster tests start from: the engine, stand-in images, a fresh cluster name, a
/// temporary directory, and cleanup of all of it.
pub struct Fixture {
    pub engine: Engine,
    pub images: StandinImages,
    pub name: String,
    pub dir: tempfile::TempDir,
    pub cleanup: Cleanup,
}

pub async fn fixture() -> Fixture {
    let engine = engine().await;
    let images = standins(&engine).await;
    let name = cluster_name();
    let mut cleanup = Cleanup::default();
    cleanup.standins(&images);
    cleanup.clusters.push(name.clone());
    Fixture {
        engine,
        images,
        name,
        dir: tempfile::tempdir().unwrap(),
        cleanup,
    }
}

impl Fixture {
    /// The standard stand-in cluster on fresh 127.0.0.1 ports.
    pub fn options(&self) -> ClusterOptions {
        options(&self.name, &self.images, free_port(), free_port())
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("config")
    }
}
