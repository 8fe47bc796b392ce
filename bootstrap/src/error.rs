//! The errors `bootstrap` reports: one sentence with what went wrong and what to do.

use thiserror::Error;

use crate::docker::DockerError;
use crate::kubeconfig_file::KubeconfigFileError;
use crate::recipes::steps::InjectedFailure;
use crate::spec::SpecError;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] SpecError),

    #[error(transparent)]
    Docker(#[from] DockerError),

    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigFileError),

    #[error(
        "a cluster named {0} already exists; delete it with `bootstrap cluster delete {0}` or choose another name"
    )]
    ClusterExists(String),

    #[error("no cluster named {0}; `bootstrap cluster list` shows the clusters")]
    NoSuchCluster(String),

    #[error(
        "cluster {cluster} has no running server or agent; start it with `bootstrap cluster start {cluster}`"
    )]
    NoRunningNodes { cluster: String },

    #[error(
        "image {0} is not present locally; build it (`bootstrap images`) or pull it (`docker pull {0}`) first"
    )]
    ImageMissing(String),

    #[error(
        "the preflight checks found {0} problem(s), listed above; fix them, or skip the checks with --no-preflight"
    )]
    Preflight(usize),

    #[error("interrupted ({0})")]
    Interrupted(&'static str),

    #[error("{0}")]
    Injected(InjectedFailure),

    #[error("{error}\neverything this run created was removed again")]
    RolledBack { error: Box<Error> },

    #[error(
        "{error}\nthe rollback failed too ({rollback}); remove what is left with `bootstrap cluster delete {cluster}`"
    )]
    RollbackFailed {
        error: Box<Error>,
        rollback: String,
        cluster: String,
    },

    #[error(transparent)]
    ArgoCd(#[from] crate::gitops::argocd::ArgoError),

    #[error(transparent)]
    GitServer(#[from] crate::gitops::gitserver::GiteaError),

    #[error(transparent)]
    Seed(#[from] crate::gitops::seed::SeedError),

    #[error(transparent)]
    Apply(#[from] crate::k8s::apply::ApplyError),

    #[error("{0}")]
    Rollout(#[from] lab_gitops::rollout::WaitError),

    #[error("{0}")]
    Probe(#[from] lab_gitops::probe::ProbeError),

    #[error(
        "{0}\nwhat was built so far stays; run `bootstrap p3` again to resume (or `bootstrap down`)"
    )]
    Resumable(Box<Error>),

    /// Neither the host nor the engine can build the workload images; the sentence says why.
    #[error("the workload images cannot be built: {0}")]
    ImagesUnbuildable(String),

    #[error("{command} failed: {reason}")]
    Command { command: String, reason: String },

    /// `diagnose` could not read the cluster (no kubeconfig, no such context, no answer):
    /// exit 3, apart from the 1 of "something was found".
    #[error("{0}")]
    ClusterUnreadable(String),

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<InjectedFailure> for Error {
    fn from(i: InjectedFailure) -> Self {
        Error::Injected(i)
    }
}

impl Error {
    /// 130 after Ctrl-C or SIGTERM (the shell convention), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Interrupted(_) => 130,
            Error::ClusterUnreadable(_) => 3,
            Error::RolledBack { error }
            | Error::RollbackFailed { error, .. }
            | Error::Resumable(error) => error.exit_code(),
            _ => 1,
        }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}
