//! Real Git for the integration tests: temp repositories with bare remotes, the real `git`
//! CLI to set them up and inspect them, a real `git daemon` and `git http-backend` on
//! 127.0.0.1, and the real `gitops-bumper` binary run in an isolated environment.
#![allow(dead_code)]

// The Application and the HTTP server stand-ins are lab-gitops's; the CLI tests reuse them.
#[path = "../../lab-gitops/tests/support/application.rs"]
pub mod application;
pub mod fake_argocd;
pub mod http_git;
#[path = "../../lab-gitops/tests/support/server.rs"]
pub mod server;

pub use server::free_port;

use std::io::Write as _;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const PLAYGROUND: &str = "\
# Rendered from charts/p3: the app Argo CD deploys into `dev`.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: playground
  namespace: dev
spec:
  replicas: 1
  selector:
    matchLabels: {app: playground}
  template:
    metadata:
      labels: {app: playground}
    spec:
      containers:
        - name: playground
          image: \"echo-app:v1\"   # gitops-bumper edits this tag
          imagePullPolicy: IfNotPresent
          ports:
            - containerPort: 8888
---
apiVersion: v1
kind: Service
metadata:
  name: playground
  namespace: dev
spec:
  selector: {app: playground}
  ports:
    - port: 8888
";

pub const APPLICATION: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: playground
  namespace: argocd
spec:
  project: default
  source:
    repoURL: http://gitea.example/iot/p3.git
    path: p3/confs
    targetRevision: HEAD
  destination: {server: https://kubernetes.default.svc, namespace: dev}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
";

pub const VALUES: &str = "\
# Values for the p3 chart.
replicaCount: 1
image:
  repository: echo-app
  tag: v1            # the version Argo CD rolls out
  pullPolicy: IfNotPresent
service:
  port: 8888
";

pub const CHART: &str = "apiVersion: v2\nname: p3\nversion: 0.1.0\nappVersion: v1\n";

/// A Go template: not YAML until Helm renders it, so it must never be parsed.
pub const TEMPLATE: &str = "\
{{- if .Values.enabled }}
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
        - image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"
{{- end }}
";

/// A temp directory with its own HOME (Git identity, no credential helper, no global hooks).
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
}

/// A finished process.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        std::fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = Test Bumper\n\temail = bumper@example.org\n\
             [init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
        )
        .unwrap();
        Sandbox { dir, home }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, program: &str, cwd: &Path) -> Command {
        let mut c = Command::new(program);
        c.current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::null());
        c
    }

    /// Runs the real `git`; panics with its stderr when it fails.
    pub fn git(&self, cwd: &Path, args: &[&str]) -> String {
        let run = Run::from(self.command("git", cwd).args(args).output().unwrap());
        assert_eq!(run.code, 0, "git {args:?} failed: {}", run.stderr);
        run.stdout.trim_end().to_owned()
    }

    /// A bare repository on branch main.
    pub fn bare(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        self.git(
            self.dir.path(),
            &["init", "-q", "--bare", "-b", "main", path.to_str().unwrap()],
        );
        path
    }

    pub fn clone(&self, url: &str, name: &str) -> PathBuf {
        let path = self.path(name);
        self.git(
            self.dir.path(),
            &["clone", "-q", url, path.to_str().unwrap()],
        );
        path
    }

    /// Writes the p3 layout into `work`, commits it and pushes it to origin/main.
    pub fn seed(&self, work: &Path) {
        write(work, "p3/confs/playground.yaml", PLAYGROUND);
        write(work, "p3/confs/application.yaml", APPLICATION);
        write(work, "charts/p3/Chart.yaml", CHART);
        write(work, "charts/p3/values.yaml", VALUES);
        write(work, "charts/p3/templates/deployment.yaml", TEMPLATE);
        write(work, "README.md", "# GitOps repository\n");
        self.git(work, &["add", "-A"]);
        self.git(work, &["commit", "-q", "-m", "p3 at v1"]);
        self.git(work, &["push", "-q", "origin", "HEAD:main"]);
    }

    /// A bare remote `remote.git` seeded with the p3 layout, and a clone of it in `work`.
    pub fn repo_with_remote() -> (Sandbox, PathBuf, PathBuf) {
        let sandbox = Sandbox::new();
        let remote = sandbox.bare("remote.git");
        let work = sandbox.clone(remote.to_str().unwrap(), "work");
        sandbox.seed(&work);
        (sandbox, remote, work)
    }

    /// Runs the real `gitops-bumper` in `cwd` with only PATH and HOME (plus `env`).
    pub fn bumper(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(env!("CARGO_BIN_EXE_gitops-bumper"), cwd);
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        Run::from(c.output().unwrap())
    }

    /// Starts the real `gitops-bumper` without waiting for it.
    pub fn spawn_bumper(&self, cwd: &Path, args: &[&str]) -> Child {
        self.command(env!("CARGO_BIN_EXE_gitops-bumper"), cwd)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub fn wait(child: Child) -> Run {
        Run::from(child.wait_with_output().unwrap())
    }

    /// Everything that "nothing changed" means for a clone: HEAD, status, the remote's tip.
    pub fn snapshot(&self, work: &Path, remote: &Path) -> (String, String, String) {
        (
            self.git(work, &["rev-parse", "HEAD"]),
            self.git(work, &["status", "--porcelain=v1"]),
            self.git(remote, &["rev-parse", "main"]),
        )
    }
}

pub fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

pub fn read(root: &Path, relative: &str) -> String {
    std::fs::read_to_string(root.join(relative)).unwrap()
}

/// Installs an executable hook script in a bare repository.
pub fn hook(bare: &Path, name: &str, script: &str) {
    let path = bare.join("hooks").join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(script.as_bytes()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `git daemon --enable=receive-pack` serving every repository under a directory, on
/// 127.0.0.1 and a free port; stopped on drop.
pub struct GitDaemon {
    child: Child,
    pub port: u16,
}

impl GitDaemon {
    pub fn start(sandbox: &Sandbox, root: &Path) -> GitDaemon {
        let port = free_port();
        // The daemon itself, not the `git` wrapper: killing the wrapper would orphan it.
        let exec_path = sandbox.git(root, &["--exec-path"]);
        let daemon = format!("{exec_path}/git-daemon");
        let child = sandbox
            .command(&daemon, root)
            .args([
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--informative-errors",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", root.display()),
                root.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port);
        GitDaemon { child, port }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
