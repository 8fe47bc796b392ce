//! The command: bump, then with `--wait` follow the rollout; errors and exit codes.

use std::path::PathBuf;
use std::time::Instant;

use gitops_bumper::bump::{self, BumpRequest, Outcome};
use lab_gitops::git::Credentials;
use lab_gitops::rollout::{self, AppRef, Expectation};
use lab_gitops::{diagnose, kube_client, probe};

use crate::args::{Cli, DEFAULT_PATHS};
use crate::output;

/// Done, or nothing to do.
const EXIT_OK: u8 = 0;
/// Something failed; nothing was pushed (unless the message says otherwise).
const EXIT_ERROR: u8 = 1;
/// `--wait` could not confirm the rollout; the Git side is done.
const EXIT_NOT_CONFIRMED: u8 = 3;

pub(crate) fn run(cli: &Cli) -> u8 {
    // With --wait, make sure the Application can be watched before anything is pushed.
    let cluster = match cli.wait.then(|| preflight(cli)).transpose() {
        Ok(cluster) => cluster,
        Err(message) => {
            eprintln!("error: {message}; nothing was committed or pushed");
            return EXIT_ERROR;
        }
    };
    let token = std::env::var(&cli.token_env).ok().filter(|t| !t.is_empty());
    let request = BumpRequest {
        repo_dir: cli.repo.clone().unwrap_or_else(|| PathBuf::from(".")),
        paths_explicit: !cli.paths.is_empty(),
        paths: if cli.paths.is_empty() {
            DEFAULT_PATHS.map(str::to_owned).to_vec()
        } else {
            cli.paths.clone()
        },
        image: cli.image.clone(),
        tag: cli.tag.clone(),
        all: cli.all,
        dry_run: cli.dry_run,
        author: cli.author.clone(),
        message_template: cli.message.clone(),
        remote: cli.remote.clone(),
        branch: cli.branch.clone(),
        push: !cli.no_push,
        retries: cli.retries,
        credentials: Credentials {
            token,
            token_source: format!("${}", cli.token_env),
        },
    };
    let mut printer = output::Printer::new(&cli.image, &cli.remote);
    let outcome = match bump::run(&request, &mut |event| printer.event(&event)) {
        Ok(outcome) => outcome,
        Err(e) => {
            output::error(&e);
            return EXIT_ERROR;
        }
    };
    let (revision, pushed_at) = match &outcome {
        Outcome::AlreadyAtTag => {
            println!("nothing to do: every target already has {}", cli.tag);
            (None, None)
        }
        Outcome::DryRun { .. } => {
            println!("dry run: nothing was changed");
            (None, None)
        }
        Outcome::Committed {
            commit,
            branch,
            pushed: None,
        } => {
            println!("committed {} on {branch} (not pushed)", short(commit));
            (None, None)
        }
        Outcome::Committed {
            commit,
            branch,
            pushed: Some(p),
        } => {
            println!(
                "pushed {} to {}/{branch} in {} ms{}",
                short(commit),
                p.remote,
                p.elapsed.as_millis(),
                match p.attempts {
                    1 => String::new(),
                    n => format!(" (attempt {n})"),
                }
            );
            (Some(commit.to_string()), Some(p.at))
        }
        Outcome::RemoteAlreadyAtTag { remote_tip, branch } => {
            println!(
                "{}/{branch} already has {} at {} (someone pushed it first): nothing \
                 committed, your branch is untouched; git pull to catch up",
                cli.remote,
                cli.tag,
                short(remote_tip)
            );
            (Some(remote_tip.to_string()), None)
        }
    };
    let Some(cluster) = cluster else {
        return EXIT_OK;
    };
    let expect = Expectation {
        revision,
        image_tag: Some(cli.tag.to_string()),
        image: Some(cli.image.clone()),
    };
    match wait(
        cli,
        cluster,
        &expect,
        pushed_at.unwrap_or_else(Instant::now),
    ) {
        Ok(()) => EXIT_OK,
        Err(message) => {
            eprintln!("error: {message}");
            eprintln!(
                "note: the Git side is done; Argo CD has not confirmed the rollout \
                 (kubectl -n {} get application {})",
                cli.app_namespace, cli.app
            );
            EXIT_NOT_CONFIRMED
        }
    }
}

/// The runtime and client `--wait` uses, once the Application has answered.
struct Cluster {
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
}

fn preflight(cli: &Cli) -> Result<Cluster, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let app = AppRef::new(&cli.app_namespace, &cli.app);
    let client = runtime
        .block_on(async {
            let client = kube_client::connect(cli.kubeconfig.as_deref(), cli.context.as_deref())
                .await
                .map_err(|e| rollout::WaitError::Config(e.reason))?
                .client;
            rollout::application_status(client.clone(), &app).await?;
            Ok::<_, rollout::WaitError>(client)
        })
        .map_err(|e| e.to_string())?;
    Ok(Cluster { runtime, client })
}

/// `--wait`: refresh, watch, optionally probe; every step timed from the push.
fn wait(
    cli: &Cli,
    cluster: Cluster,
    expect: &Expectation,
    pushed_at: Instant,
) -> Result<(), String> {
    let Cluster { runtime, client } = cluster;
    let app = AppRef::new(&cli.app_namespace, &cli.app);
    let since_push = || output::seconds(pushed_at.elapsed());
    runtime.block_on(async {
        println!(
            "waiting for Application {app} (timeout {}s)",
            cli.timeout.as_secs()
        );
        if cli.no_refresh {
            println!(
                "  {} no refresh requested: waiting for Argo CD's own poll",
                since_push()
            );
        } else {
            rollout::request_hard_refresh(client.clone(), &app)
                .await
                .map_err(|e| e.to_string())?;
            println!("  {} refresh requested", since_push());
        }
        let offset = pushed_at.elapsed();
        let waited = rollout::wait_for_rollout(client.clone(), &app, expect, cli.timeout, |m| {
            println!("  {}", output::milestone(m, offset));
        })
        .await;
        let report = match waited {
            Ok(report) => report,
            // What Argo CD and the app's namespace show, with the fix, rather than the
            // Application's last word alone.
            Err(e) => {
                let namespaces = diagnose::application_namespaces(&client, &app).await;
                return Err(diagnose::explain_wait(e.to_string(), &client, &namespaces).await);
            }
        };
        let Some(url) = &cli.probe else {
            println!("rolled out: {}", report.status.one_line());
            return Ok(());
        };
        let expected = cli
            .probe_expect
            .clone()
            .unwrap_or_else(|| cli.tag.to_string());
        let remaining = cli.timeout.saturating_sub(report.elapsed);
        let answer = probe::probe_until(url, &expected, remaining)
            .await
            .map_err(|e| e.to_string())?;
        println!("  {} {url} answers {}", since_push(), answer.body.trim());
        println!("rolled out: {}", report.status.one_line());
        Ok(())
    })
}

fn short(id: &git2::Oid) -> String {
    lab_gitops::git::short(*id)
}
