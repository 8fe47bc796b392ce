//! Waiting for Argo CD to roll a commit out, through the Kubernetes API only (no argocd CLI,
//! no argocd-server session): annotate the Application for a hard refresh, then watch its
//! status until it runs the expected revision, Synced and Healthy, with the expected image.
//!
//! Reusable from other crates (`bootstrap p3` waits for its first sync with it):
//!
//! ```no_run
//! # async fn example(client: kube::Client) -> Result<(), lab_gitops::rollout::WaitError> {
//! use std::time::Duration;
//! use lab_gitops::rollout::{AppRef, Expectation, request_hard_refresh, wait_for_rollout};
//!
//! let app = AppRef::new("argocd", "playground");
//! request_hard_refresh(client.clone(), &app).await?;
//! let expect = Expectation {
//!     image_tag: Some("v1".to_owned()),
//!     ..Expectation::default()
//! };
//! let report = wait_for_rollout(client, &app, &expect, Duration::from_secs(300), |m| {
//!     println!("{m}");
//! })
//! .await?;
//! println!("rolled out in {:?}", report.elapsed);
//! # Ok(())
//! # }
//! ```
//!
//! The rules (what counts as reached, what counts as failed) are pure functions over
//! [`ApplicationStatus`], see [`assess`]; the watch loop around them is thin.

use std::fmt;
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use serde::Deserialize;
use tokio::time::Instant;

use crate::error_chain;
use crate::image::{ImageMatcher, Reference};

/// The annotation Argo CD's controller watches for; it removes it once refreshed. `hard` also
/// drops the repo-server's manifest cache, so the new commit is read from Git at once.
pub(crate) const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";

/// Our name in the Application's `managedFields`.
pub(crate) const FIELD_MANAGER: &str = "gitops-bumper";

/// One watch request lasts at most this long before it is re-issued (the API server's own
/// limit is about 5 minutes).
const WATCH_SECONDS: u32 = 290;

/// `argoproj.io/v1alpha1` `Application`, plural `applications`.
pub fn application_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    )
}

/// Which Application to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRef {
    /// Namespace of the Application object (Argo CD's own, usually `argocd`).
    pub(crate) namespace: String,
    /// Its name.
    pub(crate) name: String,
}

impl AppRef {
    /// `AppRef::new("argocd", "playground")`.
    pub fn new(namespace: &str, name: &str) -> AppRef {
        AppRef {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for AppRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What "rolled out" means for this wait. Unset fields are not checked; the Application must
/// always end Synced and Healthy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectation {
    /// The Git commit Argo CD must have synced (full id, or a prefix of at least 7).
    pub revision: Option<String>,
    /// A tag that `status.summary.images` must hold.
    pub image_tag: Option<String>,
    /// Which image must carry that tag (any image when `None`).
    pub image: Option<ImageMatcher>,
}

/// The part of an Application's `status` the wait reads (Argo CD v2.x–v3.x field names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ApplicationStatus {
    /// `status.sync`.
    pub sync: SyncStatus,
    /// `status.health`.
    pub health: HealthStatus,
    /// `status.summary`.
    pub summary: Summary,
    /// `status.operationState`: the last or current sync operation.
    pub(crate) operation_state: Option<OperationState>,
    /// `status.conditions`: errors and warnings (ComparisonError, SyncError…).
    pub(crate) conditions: Vec<Condition>,
    /// `status.reconciledAt`.
    pub(crate) reconciled_at: Option<String>,
}

/// `status.sync`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SyncStatus {
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub status: Option<String>,
    /// The commit compared against (single-source apps).
    pub revision: Option<String>,
    /// The commits compared against (multi-source apps).
    pub(crate) revisions: Vec<String>,
}

/// `status.health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HealthStatus {
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`.
    pub status: Option<String>,
    /// Why, when not healthy.
    pub(crate) message: Option<String>,
}

/// `status.summary`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Summary {
    /// The images currently deployed.
    pub images: Vec<String>,
}

/// `status.operationState`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct OperationState {
    /// `Running`, `Succeeded`, `Failed`, `Error` or `Terminating`.
    pub(crate) phase: Option<String>,
    /// The operation's message.
    pub(crate) message: Option<String>,
    /// `operationState.syncResult`.
    pub(crate) sync_result: Option<SyncResult>,
    /// `operationState.operation`.
    pub(crate) operation: Option<Operation>,
}

/// `operationState.syncResult`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SyncResult {
    /// The commit the operation synced.
    pub revision: Option<String>,
}

/// `operationState.operation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Operation {
    /// `operation.sync`.
    pub sync: Option<SyncResult>,
}

/// One of `status.conditions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Condition {
    /// `ComparisonError`, `SyncError`, `InvalidSpecError`, …
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// Its message.
    pub(crate) message: Option<String>,
}

impl ApplicationStatus {
    /// The `status` of an Application object (empty when it has none yet).
    pub(crate) fn of(object: &DynamicObject) -> Result<ApplicationStatus, serde_json::Error> {
        match object.data.get("status") {
            Some(status) => ApplicationStatus::deserialize(status),
            None => Ok(ApplicationStatus::default()),
        }
    }

    /// `sync OutOfSync at 1a2b3c4, health Progressing, operation Running`.
    pub fn one_line(&self) -> String {
        let unknown = "Unknown";
        let mut line = format!("sync {}", self.sync.status.as_deref().unwrap_or(unknown));
        if let Some(revision) = self.revisions().first() {
            line.push_str(&format!(" at {}", short_revision(revision)));
        }
        line.push_str(&format!(
            ", health {}",
            self.health.status.as_deref().unwrap_or(unknown)
        ));
        if let Some(phase) = self
            .operation_state
            .as_ref()
            .and_then(|o| o.phase.as_deref())
        {
            line.push_str(&format!(", operation {phase}"));
        }
        line
    }

    /// Every message the Application gives about what is wrong, most specific first.
    pub(crate) fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(m) = self.health.message.as_deref().filter(|m| !m.is_empty()) {
            out.push(m.to_owned());
        }
        if let Some(op) = &self.operation_state
            && let Some(m) = op.message.as_deref().filter(|m| !m.is_empty())
            && !matches!(op.phase.as_deref(), Some("Succeeded"))
        {
            out.push(m.to_owned());
        }
        for c in &self.conditions {
            if let Some(m) = c.message.as_deref().filter(|m| !m.is_empty()) {
                out.push(format!("{}: {m}", c.kind));
            }
        }
        out
    }

    fn revisions(&self) -> Vec<&str> {
        match &self.sync.revision {
            Some(r) if !r.is_empty() => vec![r.as_str()],
            _ => self.sync.revisions.iter().map(String::as_str).collect(),
        }
    }
}

fn short_revision(revision: &str) -> &str {
    revision.get(..7).unwrap_or(revision)
}

fn same_revision(actual: &str, expected: &str) -> bool {
    expected.len() >= 7
        && actual.len() >= expected.len()
        && actual[..expected.len()].eq_ignore_ascii_case(expected)
}

/// A step of a rollout, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Goal {
    /// `status.sync.revision` is the expected commit.
    Revision,
    /// `status.sync.status` is `Synced` (at that revision).
    Synced,
    /// `status.health.status` is `Healthy` (at that revision).
    Healthy,
    /// `status.summary.images` holds the expected tag.
    Image,
}

impl fmt::Display for Goal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Goal::Revision => "revision seen",
            Goal::Synced => "Synced",
            Goal::Healthy => "Healthy",
            Goal::Image => "image deployed",
        })
    }
}

/// Where an Application stands against an [`Expectation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assessment {
    /// Goals met now, in [`Goal`] order.
    pub reached: Vec<Goal>,
    /// Goals still missing.
    pub(crate) missing: Vec<Goal>,
    /// The rollout has failed (Degraded, or the sync operation failed) and will not recover
    /// by waiting.
    pub(crate) failure: Option<Failure>,
}

/// A rollout that failed, with the Application's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// `status.health.status: Degraded` at the expected revision.
    Degraded(String),
    /// `status.operationState.phase: Failed|Error` for the expected revision.
    OperationFailed {
        /// `Failed` or `Error`.
        phase: String,
        /// The operation's message.
        message: String,
    },
}

/// The rules: which goals `status` meets for `expect`, and whether it has failed.
///
/// Synced, Healthy and the image only count once the expected revision is the one compared:
/// before the refresh the Application is usually Synced and Healthy — at the old commit. And
/// Healthy only counts once Synced: while the new commit is OutOfSync, health still describes
/// the old pods.
pub(crate) fn assess(status: &ApplicationStatus, expect: &Expectation) -> Assessment {
    let mut required = Vec::new();
    if expect.revision.is_some() {
        required.push(Goal::Revision);
    }
    required.extend([Goal::Synced, Goal::Healthy]);
    if expect.image_tag.is_some() {
        required.push(Goal::Image);
    }

    let at_revision = match &expect.revision {
        Some(want) => status.revisions().iter().any(|r| same_revision(r, want)),
        None => true,
    };
    let synced = at_revision && status.sync.status.as_deref() == Some("Synced");
    let met = |goal: Goal| match goal {
        Goal::Revision => at_revision,
        Goal::Synced => synced,
        // Health while OutOfSync is the old pods' health; it means something once synced.
        Goal::Healthy => synced && status.health.status.as_deref() == Some("Healthy"),
        Goal::Image => at_revision && holds_image(status, expect),
    };
    let (reached, missing) = required.into_iter().partition(|g| met(*g));

    let mut failure = None;
    if at_revision && status.health.status.as_deref() == Some("Degraded") {
        failure = Some(Failure::Degraded(
            status
                .messages()
                .first()
                .cloned()
                .unwrap_or_else(|| "no message".to_owned()),
        ));
    }
    if let Some(op) = &status.operation_state
        && let Some(phase @ ("Failed" | "Error")) = op.phase.as_deref()
    {
        let op_revision = op
            .sync_result
            .as_ref()
            .and_then(|r| r.revision.as_deref())
            .or_else(|| {
                op.operation
                    .as_ref()
                    .and_then(|o| o.sync.as_ref())
                    .and_then(|s| s.revision.as_deref())
            });
        let ours = match (&expect.revision, op_revision) {
            (Some(want), Some(got)) => same_revision(got, want),
            (Some(_), None) => false,
            (None, _) => true,
        };
        if ours {
            failure = Some(Failure::OperationFailed {
                phase: phase.to_owned(),
                message: op.message.clone().unwrap_or_default(),
            });
        }
    }
    Assessment {
        reached,
        missing,
        failure,
    }
}

fn holds_image(status: &ApplicationStatus, expect: &Expectation) -> bool {
    let Some(tag) = &expect.image_tag else {
        return true;
    };
    status.summary.images.iter().any(|image| {
        Reference::parse(image).is_some_and(|r| {
            r.tag == Some(tag.as_str()) && expect.image.as_ref().is_none_or(|m| m.matches(r.name))
        })
    })
}

/// What the wait reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Milestone {
    /// The Application's state changed (the first observation included).
    Observed {
        /// Since the wait started.
        elapsed: Duration,
        /// [`ApplicationStatus::one_line`].
        state: String,
    },
    /// A goal was met for the first time.
    Reached {
        /// Since the wait started.
        elapsed: Duration,
        /// Which goal.
        goal: Goal,
    },
}

impl fmt::Display for Milestone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Milestone::Observed { elapsed, state } => {
                write!(f, "+{:.1}s {state}", elapsed.as_secs_f64())
            }
            Milestone::Reached { elapsed, goal } => {
                write!(f, "+{:.1}s {goal}", elapsed.as_secs_f64())
            }
        }
    }
}

/// A finished rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutReport {
    /// When each goal was first met, since the wait started, in that order.
    pub reached: Vec<(Goal, Duration)>,
    /// The whole wait.
    pub elapsed: Duration,
    /// The Application's status at the end.
    pub status: ApplicationStatus,
}

/// Why a wait did not confirm the rollout.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// No such Application.
    #[error(
        "Application {0} not found; check --app and --app-namespace, and that the kube context \
         is the cluster running Argo CD"
    )]
    NotFound(AppRef),
    /// The Application was deleted while waiting.
    #[error("Application {0} was deleted while waiting for it")]
    Deleted(AppRef),
    /// Degraded at the expected revision.
    #[error("Application {app} is Degraded: {message}")]
    Degraded {
        /// The Application.
        app: AppRef,
        /// Its health message.
        message: String,
    },
    /// The sync operation for the expected revision failed.
    #[error("Application {app}: sync {phase}: {message}")]
    OperationFailed {
        /// The Application.
        app: AppRef,
        /// `Failed` or `Error`.
        phase: String,
        /// The operation's message.
        message: String,
    },
    /// The deadline passed first.
    #[error(
        "Application {app} did not roll out within {}s: still waiting for {} (last seen: {last})",
        .waited.as_secs(), .missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    Timeout {
        /// The Application.
        app: AppRef,
        /// How long it waited.
        waited: Duration,
        /// Goals not met.
        missing: Vec<Goal>,
        /// The last state seen, with the Application's messages.
        last: String,
    },
    /// The Application's status is not what Argo CD writes.
    #[error("Application {app} has a status this tool cannot read: {source}")]
    BadStatus {
        /// The Application.
        app: AppRef,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// No usable kubeconfig.
    #[error("cannot load the kube config ({0}); pass --kubeconfig FILE and/or --context NAME")]
    Config(String),
    /// The API server refused or could not be reached.
    #[error("Kubernetes API: {}", error_chain(.0))]
    Kube(#[from] kube::Error),
}

fn applications(client: Client, app: &AppRef) -> Api<DynamicObject> {
    Api::namespaced_with(client, &app.namespace, &application_resource())
}

fn not_found(e: kube::Error, app: &AppRef) -> WaitError {
    match e {
        kube::Error::Api(status) if status.code == 404 => WaitError::NotFound(app.clone()),
        e => WaitError::Kube(e),
    }
}

/// Reads the Application's status once (e.g. to check, before pushing, that it can be
/// watched at all).
pub async fn application_status(
    client: Client,
    app: &AppRef,
) -> Result<ApplicationStatus, WaitError> {
    let object = applications(client, app)
        .get(&app.name)
        .await
        .map_err(|e| not_found(e, app))?;
    ApplicationStatus::of(&object).map_err(|source| WaitError::BadStatus {
        app: app.clone(),
        source,
    })
}

/// Asks Argo CD to re-read Git now instead of at its next poll (every ~3 minutes): a JSON merge
/// patch setting `metadata.annotations["argocd.argoproj.io/refresh"] = "hard"`.
#[tracing::instrument(skip(client))]
pub async fn request_hard_refresh(client: Client, app: &AppRef) -> Result<(), WaitError> {
    let patch = serde_json::json!({
        "metadata": { "annotations": { REFRESH_ANNOTATION: "hard" } }
    });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    applications(client, app)
        .patch(&app.name, &params, &Patch::Merge(&patch))
        .await
        .map_err(|e| not_found(e, app))?;
    Ok(())
}

/// Watches the Application until it meets `expect` (see [`assess`]), fails, or `timeout`
/// passes. `progress` hears every state change and every goal met, timed from the call.
///
#[tracing::instrument(skip(client, progress))]
pub async fn wait_for_rollout(
    client: Client,
    app: &AppRef,
    expect: &Expectation,
    timeout: Duration,
    progress: impl FnMut(&Milestone),
) -> Result<RolloutReport, WaitError> {
    let mut tracker = Tracker {
        app,
        expect,
        started: Instant::now(),
        reached: Vec::new(),
        last_state: None,
        last_status: ApplicationStatus::default(),
        last_watch_error: None,
        progress,
    };
    let api = applications(client, app);
    match tokio::time::timeout(timeout, watch(api, &mut tracker)).await {
        Ok(result) => result,
        Err(_) => Err(tracker.timeout()),
    }
}

/// kube's watcher on the one Application (a field selector on its name), with the watcher's
/// own backoff between failed requests: it lists, then watches from the list's version,
/// re-watches when the server ends a watch and re-lists when the version is gone (410).
async fn watch<F: FnMut(&Milestone)>(
    api: Api<DynamicObject>,
    tracker: &mut Tracker<'_, F>,
) -> Result<RolloutReport, WaitError> {
    let config = watcher::Config::default()
        .fields(&format!("metadata.name={}", tracker.app.name))
        .timeout(WATCH_SECONDS);
    let mut events = std::pin::pin!(watcher(api, config).default_backoff());
    let mut listed = false;
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Init) => listed = false,
            Ok(Event::InitApply(object) | Event::Apply(object)) => {
                listed = true;
                if let Some(report) = tracker.observe(&object)? {
                    return Ok(report);
                }
            }
            Ok(Event::InitDone) if !listed => return Err(WaitError::NotFound(tracker.app.clone())),
            Ok(Event::InitDone) => {}
            Ok(Event::Delete(_)) => return Err(WaitError::Deleted(tracker.app.clone())),
            // Not allowed to read or watch: waiting longer cannot change that.
            Err(
                watcher::Error::InitialListFailed(kube::Error::Api(status))
                | watcher::Error::WatchStartFailed(kube::Error::Api(status)),
            ) if matches!(status.code, 401 | 403) => {
                return Err(WaitError::Kube(kube::Error::Api(status)));
            }
            // 410 Gone makes the watcher list again; any other error event is the server's answer.
            Err(watcher::Error::WatchError(status)) if status.code != 410 => {
                return Err(WaitError::Kube(kube::Error::Api(status)));
            }
            Err(e) => tracker.last_watch_error = Some(error_chain(&e)),
        }
    }
    Err(tracker.timeout())
}

struct Tracker<'a, F> {
    app: &'a AppRef,
    expect: &'a Expectation,
    started: Instant,
    /// Goals in the order they were first met.
    reached: Vec<(Goal, Duration)>,
    last_state: Option<String>,
    last_status: ApplicationStatus,
    last_watch_error: Option<String>,
    progress: F,
}

impl<F: FnMut(&Milestone)> Tracker<'_, F> {
    fn observe(&mut self, object: &DynamicObject) -> Result<Option<RolloutReport>, WaitError> {
        let status = ApplicationStatus::of(object).map_err(|source| WaitError::BadStatus {
            app: self.app.clone(),
            source,
        })?;
        let elapsed = self.started.elapsed();
        let state = status.one_line();
        if self.last_state.as_ref() != Some(&state) {
            (self.progress)(&Milestone::Observed {
                elapsed,
                state: state.clone(),
            });
            self.last_state = Some(state);
        }
        let assessment = assess(&status, self.expect);
        for goal in &assessment.reached {
            if !self.reached.iter().any(|(g, _)| g == goal) {
                self.reached.push((*goal, elapsed));
                (self.progress)(&Milestone::Reached {
                    elapsed,
                    goal: *goal,
                });
            }
        }
        self.last_status = status;
        match assessment.failure {
            Some(Failure::Degraded(message)) => {
                return Err(WaitError::Degraded {
                    app: self.app.clone(),
                    message,
                });
            }
            Some(Failure::OperationFailed { phase, message }) => {
                return Err(WaitError::OperationFailed {
                    app: self.app.clone(),
                    phase,
                    message,
                });
            }
            None => {}
        }
        if !assessment.missing.is_empty() {
            return Ok(None);
        }
        let mut reached: Vec<(Goal, Duration)> =
            self.reached.iter().map(|(g, d)| (*g, *d)).collect();
        reached.sort_by_key(|(_, d)| *d);
        Ok(Some(RolloutReport {
            reached,
            elapsed,
            status: self.last_status.clone(),
        }))
    }

    fn timeout(&self) -> WaitError {
        let missing = assess(&self.last_status, self.expect).missing;
        let mut last = match &self.last_state {
            Some(state) => state.clone(),
            None => "nothing yet".to_owned(),
        };
        for message in self.last_status.messages() {
            last.push_str(&format!("; {message}"));
        }
        if let Some(e) = &self.last_watch_error {
            last.push_str(&format!("; last watch error: {e}"));
        }
        WaitError::Timeout {
            app: self.app.clone(),
            waited: self.started.elapsed(),
            missing,
            last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REV: &str = "0123456789abcdef0123456789abcdef01234567";
    const OLD: &str = "fedcba9876543210fedcba9876543210fedcba98";

    fn status(json: serde_json::Value) -> ApplicationStatus {
        ApplicationStatus::deserialize(json).unwrap()
    }

    fn expect() -> Expectation {
        Expectation {
            revision: Some(REV.to_owned()),
            image_tag: Some("v2".to_owned()),
            image: Some(ImageMatcher::parse("echo-app").unwrap()),
        }
    }

    #[test]
    fn synced_and_healthy_at_the_old_revision_counts_for_nothing() {
        let s = status(serde_json::json!({
            "sync": {"status": "Synced", "revision": OLD},
            "health": {"status": "Healthy"},
            "summary": {"images": ["echo-app:v1"]}
        }));
        let a = assess(&s, &expect());
        assert_eq!(a.reached, []);
        assert_eq!(
            a.missing,
            [Goal::Revision, Goal::Synced, Goal::Healthy, Goal::Image]
        );
        assert_eq!(a.failure, None);
        assert_eq!(s.one_line(), "sync Synced at fedcba9, health Healthy");
    }

    #[test]
    fn progressing_at_the_new_revision_then_done() {
        let progressing = status(serde_json::json!({
            "sync": {"status": "Synced", "revision": REV},
            "health": {"status": "Progressing", "message": "Waiting for rollout"},
            "summary": {"images": ["echo-app:v1", "echo-app:v2"]},
            "operationState": {"phase": "Running"}
        }));
        let a = assess(&progressing, &expect());
        assert_eq!(a.reached, [Goal::Revision, Goal::Synced, Goal::Image]);
        assert_eq!(a.missing, [Goal::Healthy]);

        let done = status(serde_json::json!({
            "sync": {"status": "Synced", "revision": REV},
            "health": {"status": "Healthy"},
            "summary": {"images": ["docker.io/library/echo-app:v2"]},
            "operationState": {"phase": "Succeeded", "message": "successfully synced"}
        }));
        let a = assess(&done, &expect());
        assert_eq!(a.missing, []);
        assert_eq!(done.messages(), Vec::<String>::new());
    }

    #[test]
    fn healthy_while_out_of_sync_is_the_old_pods_health() {
        let s = status(serde_json::json!({
            "sync": {"status": "OutOfSync", "revision": REV},
            "health": {"status": "Healthy"},
            "summary": {"images": ["echo-app:v1"]},
            "operationState": {"phase": "Running"}
        }));
        let a = assess(&s, &expect());
        assert_eq!(a.reached, [Goal::Revision]);
        assert_eq!(a.missing, [Goal::Synced, Goal::Healthy, Goal::Image]);
    }

    #[test]
    fn the_image_must_be_the_apps_and_carry_the_tag() {
        let s = status(serde_json::json!({
            "sync": {"status": "Synced", "revision": REV},
            "health": {"status": "Healthy"},
            "summary": {"images": ["redis:v2", "echo-app:v1"]}
        }));
        assert_eq!(assess(&s, &expect()).missing, [Goal::Image]);
        let any_image = Expectation {
            image: None,
            ..expect()
        };
        assert_eq!(assess(&s, &any_image).missing, []);
    }

    #[test]
    fn multi_source_revisions_and_short_expected_revisions() {
        let s = status(serde_json::json!({
            "sync": {"status": "Synced", "revisions": [OLD, REV]},
            "health": {"status": "Healthy"}
        }));
        let e = Expectation {
            revision: Some(REV[..7].to_owned()),
            ..Expectation::default()
        };
        assert_eq!(assess(&s, &e).missing, []);
        let too_short = Expectation {
            revision: Some(REV[..4].to_owned()),
            ..Expectation::default()
        };
        assert_eq!(assess(&s, &too_short).reached, []);
    }

    #[test]
    fn degraded_fails_only_at_the_expected_revision() {
        let degraded_old = status(serde_json::json!({
            "sync": {"status": "Synced", "revision": OLD},
            "health": {"status": "Degraded", "message": "old is broken"}
        }));
        assert_eq!(assess(&degraded_old, &expect()).failure, None);

        let degraded_new = status(serde_json::json!({
            "sync": {"status": "Synced", "revision": REV},
            "health": {"status": "Degraded",
                       "message": "Deployment \"playground\" exceeded its progress deadline"}
        }));
        assert_eq!(
            assess(&degraded_new, &expect()).failure,
            Some(Failure::Degraded(
                "Deployment \"playground\" exceeded its progress deadline".to_owned()
            ))
        );
    }

    #[test]
    fn a_failed_sync_of_our_revision_fails_one_of_another_does_not() {
        let failed = |revision: &str| {
            status(serde_json::json!({
                "sync": {"status": "OutOfSync", "revision": REV},
                "health": {"status": "Healthy"},
                "operationState": {
                    "phase": "Failed",
                    "message": "one or more objects failed to apply",
                    "syncResult": {"revision": revision}
                }
            }))
        };
        assert_eq!(
            assess(&failed(REV), &expect()).failure,
            Some(Failure::OperationFailed {
                phase: "Failed".to_owned(),
                message: "one or more objects failed to apply".to_owned()
            })
        );
        assert_eq!(assess(&failed(OLD), &expect()).failure, None);
    }

    #[test]
    fn messages_gather_health_operation_and_conditions() {
        let s = status(serde_json::json!({
            "health": {"status": "Progressing", "message": "1 of 2 updated"},
            "operationState": {"phase": "Running", "message": "waiting for healthy state"},
            "conditions": [{"type": "ComparisonError", "message": "repo unreachable"}]
        }));
        assert_eq!(
            s.messages(),
            [
                "1 of 2 updated",
                "waiting for healthy state",
                "ComparisonError: repo unreachable"
            ]
        );
        assert_eq!(
            s.one_line(),
            "sync Unknown, health Progressing, operation Running"
        );
    }

    #[test]
    fn unknown_fields_are_ignored_and_a_missing_status_is_empty() {
        let s = status(
            serde_json::json!({"sync": {"status": "Synced", "comparedTo": {}},
                                          "resources": [], "history": []}),
        );
        assert_eq!(s.sync.status.as_deref(), Some("Synced"));
        let object: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "playground"}
        }))
        .unwrap();
        assert_eq!(
            ApplicationStatus::of(&object).unwrap(),
            ApplicationStatus::default()
        );
    }
}
