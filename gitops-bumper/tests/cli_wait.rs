//! The binary's `--wait` end to end over real HTTP (see `support/fake_argocd.rs`), its exit
//! codes, and the argument checks that keep `--wait` from being half-used.
#![allow(clippy::unwrap_used)]

mod support;

use support::fake_argocd::{FakeArgoCd, Script};
use support::{Sandbox, write};

fn with_kubeconfig(sb: &Sandbox, argocd: &FakeArgoCd) -> String {
    let path = sb.path("kubeconfig");
    std::fs::write(&path, argocd.kubeconfig()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn wait_refreshes_follows_the_rollout_and_probes_the_app() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let argocd = FakeArgoCd::start(remote.clone(), Script::RollsOut);
    let kubeconfig = with_kubeconfig(&sb, &argocd);
    let probe = format!("http://127.0.0.1:{}/", argocd.port());
    let run = sb.bumper(
        &work,
        &[
            "v2",
            "--wait",
            "--kubeconfig",
            &kubeconfig,
            "--timeout",
            "30s",
            "--probe",
            &probe,
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let pushed = sb.git(&remote, &["rev-parse", "--short=7", "main"]);
    let steps: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("waiting for Application"))
        .map(|l| match l.trim_start().split_once(' ') {
            Some((time, rest)) if time.starts_with('+') => rest,
            _ => l,
        })
        .collect();
    assert_eq!(
        steps,
        [
            "waiting for Application argocd/playground (timeout 30s)",
            "refresh requested",
            "sync Synced at fedcba9, health Healthy",
            &format!("sync OutOfSync at {pushed}, health Healthy, operation Running"),
            "revision seen",
            &format!("sync Synced at {pushed}, health Progressing"),
            "Synced",
            "image deployed",
            &format!("sync Synced at {pushed}, health Healthy"),
            "Healthy",
            &format!("{probe} answers {{\"status\":\"ok\", \"message\": \"v2\"}}"),
            &format!("rolled out: sync Synced at {pushed}, health Healthy"),
        ],
        "{}",
        run.stdout
    );
    // Every step is timed from the push.
    assert!(run.stdout.contains("\n  +0."), "{}", run.stdout);
    assert_eq!(
        *argocd.patches.lock().unwrap(),
        [serde_json::json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}})]
    );
}

#[test]
fn no_refresh_waits_for_argo_cds_own_poll_and_patches_nothing() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let argocd = FakeArgoCd::start(remote.clone(), Script::RollsOut);
    let kubeconfig = with_kubeconfig(&sb, &argocd);
    let run = sb.bumper(
        &work,
        &[
            "v2",
            "--wait",
            "--no-refresh",
            "--kubeconfig",
            &kubeconfig,
            "--timeout",
            "30s",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("no refresh requested: waiting for Argo CD's own poll"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("refresh requested\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("rolled out: sync Synced at"),
        "{}",
        run.stdout
    );
    assert!(argocd.patches.lock().unwrap().is_empty());
}

#[test]
fn a_degraded_rollout_exits_3_with_the_applications_message_after_the_push() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let argocd = FakeArgoCd::start(remote.clone(), Script::Degrades);
    let kubeconfig = with_kubeconfig(&sb, &argocd);
    let run = sb.bumper(&work, &["v2", "--wait", "--kubeconfig", &kubeconfig], &[]);
    assert_eq!(run.code, 3, "{run:?}");
    // The Application's message, then what `bootstrap diagnose` finds in its namespace.
    assert_eq!(
        run.stderr,
        "error: Application argocd/playground is Degraded: Deployment \"playground\" exceeded \
         its progress deadline\n\
         \n\
         what the cluster shows (again: bootstrap diagnose -n argocd):\n\
         application-degraded: Application argocd/playground\n  \
         Application playground is Degraded\n  \
         status.health.status = Degraded\n  \
         status.health.message = Deployment \"playground\" exceeded its progress deadline\n  \
         fix: see which resources are Degraded: argocd app get playground, or kubectl -n argocd \
         get application playground -o jsonpath='{.status.resources}'\n\
         note: the Git side is done; Argo CD has not confirmed the rollout (kubectl -n argocd get \
         application playground)\n"
    );
    assert_eq!(
        sb.git(&remote, &["log", "-1", "--format=%s", "main"]),
        "chore(p3): bump echo-app v1 -> v2"
    );
}

#[test]
fn an_unreachable_cluster_or_a_missing_application_stops_before_the_push() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let before = sb.snapshot(&work, &remote);
    let closed = support::free_port();
    write(
        sb.dir.path(),
        "unreachable",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: \
             http://127.0.0.1:{closed}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: x\n  \
             context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        ),
    );
    let unreachable = sb.path("unreachable");
    let run = sb.bumper(
        &work,
        &[
            "v2",
            "--wait",
            "--kubeconfig",
            unreachable.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with("error: Kubernetes API: ")
            && run.stderr.contains("Connection refused"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.ends_with("; nothing was committed or pushed\n"),
        "{}",
        run.stderr
    );
    assert_eq!(sb.snapshot(&work, &remote), before);

    let run = sb.bumper(
        &work,
        &["v2", "--wait", "--kubeconfig", "/nonexistent/kubeconfig"],
        &[],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: cannot load the kube config (/nonexistent/kubeconfig: "),
        "{}",
        run.stderr
    );
    assert_eq!(sb.snapshot(&work, &remote), before);

    let argocd = FakeArgoCd::start(remote.clone(), Script::RollsOut);
    let kubeconfig = with_kubeconfig(&sb, &argocd);
    let run = sb.bumper(
        &work,
        &["v2", "--wait", "--kubeconfig", &kubeconfig, "--app", "nope"],
        &[],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: Application argocd/nope not found; check --app"),
        "{}",
        run.stderr
    );
    assert_eq!(sb.snapshot(&work, &remote), before);
}

#[test]
fn wait_needs_a_push_and_the_probe_needs_plain_http() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let before = sb.snapshot(&work, &remote);
    for (args, message) in [
        (
            &["v2", "--wait", "--no-push"][..],
            "the argument '--wait' cannot be used with '--no-push'",
        ),
        (
            &["v2", "--wait", "--dry-run"][..],
            "the argument '--wait' cannot be used with '--dry-run'",
        ),
        (
            &["v2", "--probe", "http://127.0.0.1:8888/"][..],
            "the following required arguments were not provided:\n  --wait",
        ),
        (
            &["v2", "--wait", "--probe", "https://127.0.0.1:8888/"][..],
            "is not a plain http:// URL; the probe speaks plain HTTP only",
        ),
        (
            &["v2", "--wait", "--timeout", "soon"][..],
            "invalid value 'soon' for '--timeout <DURATION>'",
        ),
    ] {
        let run = sb.bumper(&work, args, &[]);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }
    assert_eq!(sb.snapshot(&work, &remote), before);
}
