//! Part 3's GitOps loop converging for real: `p3/scripts/loop.sh` driving this build's
//! `bootstrap` and `gitops-bumper` against a real kube-apiserver, etcd, controller-manager and
//! scheduler with Argo CD's real application-controller, repo-server and server, reading a real
//! Git server on 127.0.0.1. Simulated: the kubelet and containers (kwok) and ServiceLB's status.
//! The script fails on any step that does not converge; this test checks its verdict and that
//! the versions it ran are the pinned ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use bootstrap::gitops::argocd;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// gitops-bumper of the same build (a workspace test run builds it beside bootstrap).
fn gitops_bumper() -> PathBuf {
    let bootstrap = PathBuf::from(env!("CARGO_BIN_EXE_bootstrap"));
    let bumper = bootstrap.with_file_name("gitops-bumper");
    if !bumper.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--locked", "-q", "-p", "gitops-bumper"])
            .current_dir(workspace())
            .status()
            .unwrap();
        assert!(status.success(), "cargo build -p gitops-bumper failed");
    }
    bumper
}

/// The Kubernetes minor of the K3s pin, e.g. `v1.35`.
fn k3s_minor() -> String {
    let tag = bootstrap::K3S_IMAGE.rsplit(':').next().unwrap();
    let mut parts = tag.split('.');
    format!("{}.{}", parts.next().unwrap(), parts.next().unwrap())
}

#[test]
fn the_gitops_loop_converges_on_a_real_control_plane_with_the_real_argo_cd() {
    let run = Command::new(workspace().join("p3/scripts/loop.sh"))
        .env("BOOTSTRAP", env!("CARGO_BIN_EXE_bootstrap"))
        .env("GITOPS_BUMPER", gitops_bumper())
        .current_dir(workspace())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let last = stdout.lines().last().unwrap_or_default();
    if let Some(reason) = last.strip_prefix("skipped: ") {
        common::skip(
            "the_gitops_loop_converges_on_a_real_control_plane_with_the_real_argo_cd",
            reason,
        );
        return;
    }
    assert!(
        run.status.success(),
        "loop.sh failed ({:?})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        run.status
    );
    let wanted_end = format!("(argocd {}, kubernetes {}.", argocd::VERSION, k3s_minor());
    assert!(
        last.starts_with("loop: v1 synced in ")
            && last.contains(" s, v2 healthy in ")
            && last.contains(&wanted_end)
            && last.ends_with(')'),
        "last line {last:?} is not `loop: v1 synced in S s, v2 healthy in S s {wanted_end}N)`\n{stdout}"
    );
    for step in [
        "# v1: Synced and Healthy at",
        "dev/playground runs echo-app:v1",
        "rolled out: sync Synced at",
        "deployment \"playground\" successfully rolled out",
        "Application argocd/playground: sync Synced",
        "# the cluster is as it was before bootstrap p3",
    ] {
        assert!(stdout.contains(step), "no {step:?} in\n{stdout}");
    }
    // bootstrap p3 shows the rollout's progress as it happens, under its wait.
    assert!(
        stderr.contains("    +") && stderr.contains(" Healthy\n"),
        "no progress lines in\n{stderr}"
    );
}
