//! The command line: clap's definition of `gitops-bumper <TAG>`, its help and the checks of
//! its values.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use gitops_bumper::message;
use lab_gitops::git::Identity;
use lab_gitops::image::{ImageMatcher, Tag};
use lab_gitops::probe;

/// The paths searched when no --path is given.
pub(crate) const DEFAULT_PATHS: [&str; 2] = ["p3/confs", "charts/p3"];

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
pub(crate) struct Cli {
    /// The new image tag, e.g. v2 or 1.4.0
    #[arg(value_name = "TAG", value_parser = Tag::parse)]
    pub(crate) tag: Tag,

    /// The GitOps repository [default: the Git repository around the current directory]
    #[arg(long, value_name = "DIR", help_heading = "Find")]
    pub(crate) repo: Option<PathBuf>,

    /// A file or directory to search, relative to the repository root; repeatable
    /// [default: p3/confs and charts/p3]
    #[arg(long = "path", value_name = "PATH", help_heading = "Find")]
    pub(crate) paths: Vec<String>,

    /// The image whose tag changes; a bare name also matches it under any registry or
    /// namespace (docker.io/…/echo-app, registry:5000/echo-app)
    #[arg(long, value_name = "NAME", default_value = "echo-app",
          value_parser = ImageMatcher::parse, help_heading = "Find")]
    pub(crate) image: ImageMatcher,

    /// Bump every match even when they disagree on the image or the current tag
    #[arg(long, help_heading = "Find")]
    pub(crate) all: bool,

    /// Print the diff and change nothing
    #[arg(long, help_heading = "Edit")]
    pub(crate) dry_run: bool,

    /// Commit author as 'Name <email>' [default: user.name and user.email from Git's config]
    #[arg(long, value_name = "AUTHOR", value_parser = Identity::parse, help_heading = "Commit")]
    pub(crate) author: Option<Identity>,

    /// Commit message template with {image} {old} {new} {files}
    /// [default: "chore(p3): bump {image} {old} -> {new}" and the list of files]
    #[arg(long, value_name = "TEMPLATE", default_value = message::DEFAULT_TEMPLATE,
          hide_default_value = true, value_parser = parse_template, help_heading = "Commit")]
    pub(crate) message: String,

    /// Commit only; do not push
    #[arg(long, help_heading = "Push")]
    pub(crate) no_push: bool,

    /// The remote to push to
    #[arg(
        long,
        value_name = "NAME",
        default_value = "origin",
        help_heading = "Push"
    )]
    pub(crate) remote: String,

    /// The branch to bump and push [default: the checked-out branch]
    #[arg(long, value_name = "NAME", help_heading = "Push")]
    pub(crate) branch: Option<String>,

    /// How often a rejected push is retried on top of the freshly fetched remote branch
    #[arg(long, value_name = "N", default_value_t = 3, help_heading = "Push")]
    pub(crate) retries: u32,

    /// The environment variable that holds a token for https remotes
    #[arg(
        long,
        value_name = "VAR",
        default_value = "GIT_TOKEN",
        help_heading = "Push"
    )]
    pub(crate) token_env: String,

    /// After pushing, refresh the Argo CD Application and wait until it runs the new commit:
    /// revision synced, Synced, Healthy, new image deployed
    #[arg(long, conflicts_with_all = ["no_push", "dry_run"], help_heading = "Wait")]
    pub(crate) wait: bool,

    /// Do not ask Argo CD to refresh now: wait for its own poll of Git (every ~3 minutes, or
    /// argocd-cm's timeout.reconciliation), e.g. where you may not patch Applications
    #[arg(long, requires = "wait", help_heading = "Wait")]
    pub(crate) no_refresh: bool,

    /// The kubeconfig file [default: $KUBECONFIG or ~/.kube/config]
    #[arg(long, value_name = "FILE", requires = "wait", help_heading = "Wait")]
    pub(crate) kubeconfig: Option<PathBuf>,

    /// The kubeconfig context [default: the current context]
    #[arg(long, value_name = "NAME", requires = "wait", help_heading = "Wait")]
    pub(crate) context: Option<String>,

    /// The Argo CD Application
    #[arg(
        long,
        value_name = "NAME",
        default_value = "playground",
        help_heading = "Wait"
    )]
    pub(crate) app: String,

    /// The namespace of the Application object
    #[arg(
        long,
        value_name = "NS",
        default_value = "argocd",
        help_heading = "Wait"
    )]
    pub(crate) app_namespace: String,

    /// Give up waiting after this long (e.g. 90s, 5m)
    #[arg(long, value_name = "DURATION", default_value = "5m",
          value_parser = humantime::parse_duration, help_heading = "Wait")]
    pub(crate) timeout: Duration,

    /// Also poll this plain-http URL until the app answers with the new version
    #[arg(long, value_name = "URL", requires = "wait", value_parser = parse_probe_url,
          help_heading = "Wait")]
    pub(crate) probe: Option<String>,

    /// The text the probed body must contain [default: TAG]
    #[arg(long, value_name = "TEXT", requires = "probe", help_heading = "Wait")]
    pub(crate) probe_expect: Option<String>,

    /// Log what happens on stderr (-v info, -vv debug)
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

fn parse_template(text: &str) -> Result<String, message::TemplateError> {
    message::validate(text).map(|()| text.to_owned())
}

fn parse_probe_url(text: &str) -> Result<String, probe::ProbeError> {
    probe::check_url(text).map(|_| text.to_owned())
}
