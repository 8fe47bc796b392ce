//! `gitops-bumper <TAG>`: arguments, output and exit codes. The work is in the library.

mod output;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use gitops_bumper::bump::{self, BumpRequest, Outcome};
use gitops_bumper::message;
use lab_gitops::git::{Credentials, Identity};
use lab_gitops::image::{ImageMatcher, Tag};
use lab_gitops::rollout::{self, AppRef, Expectation};
use lab_gitops::{diagnose, kube_client, probe};

/// Done, or nothing to do.
const EXIT_OK: u8 = 0;
/// Something failed; nothing was pushed (unless the message says otherwise).
const EXIT_ERROR: u8 = 1;
/// `--wait` could not confirm the rollout; the Git side is done.
const EXIT_NOT_CONFIRMED: u8 = 3;

/// The paths searched when no --path is given.
const DEFAULT_PATHS: [&str; 2] = ["p3/confs", "charts/p3"];

const AFTER_HELP: &str = "\
Exit codes:
  0  done: bumped (and pushed, and rolled out with --wait), or already at TAG
  1  error: nothing was committed or pushed, unless the message says so
  2  usage: bad arguments (including a TAG that is not a valid image tag)
  3  pushed (or already at TAG), but --wait did not confirm the rollout

Credentials for the push: ssh-agent (ssh remotes); the token in $GIT_TOKEN (see --token-env,
https remotes, or http to this machine); the Git credential helper. Each is tried once.

Examples:
  gitops-bumper v2 --dry-run
  gitops-bumper v2 --wait --probe http://localhost:8888/
  gitops-bumper 1.4.0 --image registry:5000/echo-app --path deploy/ --no-push";

/// Roll the app forward through Git: set its image tag in the GitOps repository, commit, push
/// (never forcing; re-applied on top when someone pushed first) and, with --wait, watch the
/// Argo CD Application until the cluster runs the new commit.
#[derive(Debug, Parser)]
#[command(name = "gitops-bumper", version, after_help = AFTER_HELP)]
struct Cli {
    /// The new image tag, e.g. v2 or 1.4.0
    #[arg(value_name = "TAG", value_parser = Tag::parse)]
    tag: Tag,

    /// The GitOps repository [default: the Git repository around the current directory]
    #[arg(long, value_name = "DIR", help_heading = "Find")]
    repo: Option<PathBuf>,

    /// A file or directory to search, relative to the repository root; repeatable
    /// [default: p3/confs and charts/p3]
    #[arg(long = "path", value_name = "PATH", help_heading = "Find")]
    paths: Vec<String>,

    /// The image whose tag changes; a bare name also matches it under any registry or
    /// namespace (docker.io/…/echo-app, registry:5000/echo-app)
    #[arg(long, value_name = "NAME", default_value = "echo-app",
          value_parser = ImageMatcher::parse, help_heading = "Find")]
    image: ImageMatcher,

    /// Bump every match even when they disagree on the image or the current tag
    #[arg(long, help_heading = "Find")]
    all: bool,

    /// Print the diff and change nothing
    #[arg(long, help_heading = "Edit")]
    dry_run: bool,

    /// Commit author as 'Name <email>' [default: user.name and user.email from Git's config]
    #[arg(long, value_name = "AUTHOR", value_parser = Identity::parse, help_heading = "Commit")]
    author: Option<Identity>,

    /// Commit message template with {image} {old} {new} {files}
    /// [default: "chore(p3): bump {image} {old} -> {new}" and the list of files]
    #[arg(long, value_name = "TEMPLATE", default_value = message::DEFAULT_TEMPLATE,
          hide_default_value = true, value_parser = parse_template, help_heading = "Commit")]
    message: String,

    /// Commit only; do not push
    #[arg(long, help_heading = "Push")]
    no_push: bool,

    /// The remote to push to
    #[arg(
        long,
        value_name = "NAME",
        default_value = "origin",
        help_heading = "Push"
    )]
    remote: String,

    /// The branch to bump and push [default: the checked-out branch]
    #[arg(long, value_name = "NAME", help_heading = "Push")]
    branch: Option<String>,

    /// How often a rejected push is retried on top of the freshly fetched remote branch
    #[arg(long, value_name = "N", default_value_t = 3, help_heading = "Push")]
    retries: u32,

    /// The environment variable that holds a token for https remotes
    #[arg(
        long,
        value_name = "VAR",
        default_value = "GIT_TOKEN",
        help_heading = "Push"
    )]
    token_env: String,

    /// After pushing, refresh the Argo CD Application and wait until it runs the new commit:
    /// revision synced, Synced, Healthy, new image deployed
    #[arg(long, conflicts_with_all = ["no_push", "dry_run"], help_heading = "Wait")]
    wait: bool,

    /// Do not ask Argo CD to refresh now: wait for its own poll of Git (every ~3 minutes, or
    /// argocd-cm's timeout.reconciliation), e.g. where you may not patch Applications
    #[arg(long, requires = "wait", help_heading = "Wait")]
    no_refresh: bool,

    /// The kubeconfig file [default: $KUBECONFIG or ~/.kube/config]
    #[arg(long, value_name = "FILE", requires = "wait", help_heading = "Wait")]
    kubeconfig: Option<PathBuf>,

    /// The kubeconfig context [default: the current context]
    #[arg(long, value_name = "NAME", requires = "wait", help_heading = "Wait")]
    context: Option<String>,

    /// The Argo CD Application
    #[arg(
        long,
        value_name = "NAME",
        default_value = "playground",
        help_heading = "Wait"
    )]
    app: String,

    /// The namespace of the Application object
    #[arg(
        long,
        value_name = "NS",
        default_value = "argocd",
        help_heading = "Wait"
    )]
    app_namespace: String,

    /// Give up waiting after this long (e.g. 90s, 5m)
    #[arg(long, value_name = "DURATION", default_value = "5m",
          value_parser = humantime::parse_duration, help_heading = "Wait")]
    timeout: Duration,

    /// Also poll this plain-http URL until the app answers with the new version
    #[arg(long, value_name = "URL", requires = "wait", value_parser = parse_probe_url,
          help_heading = "Wait")]
    probe: Option<String>,

    /// The text the probed body must contain [default: TAG]
    #[arg(long, value_name = "TEXT", requires = "probe", help_heading = "Wait")]
    probe_expect: Option<String>,

    /// Log what happens on stderr (-v info, -vv debug)
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn parse_template(text: &str) -> Result<String, message::TemplateError> {
    message::validate(text).map(|()| text.to_owned())
}

fn parse_probe_url(text: &str) -> Result<String, probe::ProbeError> {
    probe::check_url(text).map(|_| text.to_owned())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    ExitCode::from(run(&cli))
}

fn init_logging(verbosity: u8) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // Errors reach the user as one `error:` line; libraries' own logs only with -v.
    let (ours, theirs) = match verbosity {
        0 => (LevelFilter::WARN, LevelFilter::OFF),
        1 => (LevelFilter::INFO, LevelFilter::WARN),
        2 => (LevelFilter::DEBUG, LevelFilter::INFO),
        _ => (LevelFilter::TRACE, LevelFilter::DEBUG),
    };
    let filter = Targets::new()
        .with_default(theirs)
        .with_target("gitops_bumper", ours)
        .with_target("lab_gitops", ours);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false),
        )
        .with(filter)
        .init();
}

fn run(cli: &Cli) -> u8 {
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
