//! The recipe: find → edit → commit → push, re-applying the edit on the new tip when someone
//! pushed first. Each step reports through a callback; the caller decides how to show it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use git2::Oid;

use crate::message::TemplateError;
use crate::plan::{self, Plan, PlanError};
use lab_gitops::git::{self, Credentials, GitError, GitRepo, Identity, PushResult};
use lab_gitops::image::{ImageMatcher, Tag};

/// Everything a bump needs to know.
#[derive(Debug, Clone)]
pub struct BumpRequest {
    /// A directory inside the GitOps repository.
    pub repo_dir: PathBuf,
    /// Files or directories to search, relative to the repository root.
    pub paths: Vec<String>,
    /// Were the paths given by the user (a missing one is then an error)?
    pub paths_explicit: bool,
    /// The image whose tag changes.
    pub image: ImageMatcher,
    /// The new tag.
    pub tag: Tag,
    /// Bump every match even when they disagree on image or old tag.
    pub all: bool,
    /// Only show the diff.
    pub dry_run: bool,
    /// Commit author instead of Git's configuration.
    pub author: Option<Identity>,
    /// The commit message template (see [`crate::message`]).
    pub message_template: String,
    /// The remote to push to.
    pub remote: String,
    /// The branch to bump; `None` for the checked-out one.
    pub branch: Option<String>,
    /// Push after committing.
    pub push: bool,
    /// How many times a rejected push is retried on top of a freshly fetched tip.
    pub retries: u32,
    /// Credentials for the remote.
    pub credentials: Credentials,
}

/// Progress of a bump, in the order it happens.
#[derive(Debug)]
pub enum BumpEvent<'a> {
    /// The targets found on the branch.
    Found {
        /// The branch searched.
        branch: &'a str,
        /// What the bump changes.
        plan: &'a Plan,
    },
    /// The bump commit exists (no ref moved yet).
    Committed {
        /// The commit.
        commit: Oid,
        /// Its message.
        message: &'a str,
    },
    /// A push attempt starts.
    Pushing {
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// The remote refused the push.
    Rejected {
        /// The attempt refused.
        attempt: u32,
        /// The remote's reason.
        reason: &'a str,
    },
    /// The edit was re-applied on top of the remote's new tip.
    Rebased {
        /// The remote's tip.
        onto: Oid,
        /// The new plan (the old tags may differ now).
        plan: &'a Plan,
    },
}

/// How a bump ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every target already had the tag: nothing committed.
    AlreadyAtTag,
    /// `--dry-run`: the diff, nothing changed.
    DryRun {
        /// The unified diff the bump would commit.
        diff: String,
    },
    /// The bump is committed on the branch (and pushed, when asked).
    Committed {
        /// The commit.
        commit: Oid,
        /// The branch it is on.
        branch: String,
        /// The push, if one was made.
        pushed: Option<Pushed>,
    },
    /// While retrying, the fetched remote tip turned out to have the tag already (someone
    /// pushed the same bump): nothing committed, the local branch untouched.
    RemoteAlreadyAtTag {
        /// The remote's tip.
        remote_tip: Oid,
        /// The branch.
        branch: String,
    },
}

/// A successful push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The remote.
    pub remote: String,
    /// How many attempts it took.
    pub attempts: u32,
    /// From the first attempt to the remote's acceptance.
    pub elapsed: Duration,
    /// When the remote accepted (the clock `--wait` measures milestones from).
    pub at: Instant,
}

/// Why a bump failed. Nothing is committed or moved when one of these is returned, except
/// [`GitError::WorkingTreeBehind`], which says what was pushed.
#[derive(Debug, thiserror::Error)]
pub enum BumpError {
    /// Git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The files give no bump to make.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The message template is broken.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The remote refused for a reason other than a concurrent push (a hook, a protected
    /// branch): retrying cannot help.
    #[error("push to {remote}/{branch} was rejected: {reason}{}; nothing was changed locally", remote_said(.remote_messages))]
    Rejected {
        /// The remote.
        remote: String,
        /// The branch.
        branch: String,
        /// The remote's reason.
        reason: String,
        /// The remote's output.
        remote_messages: Vec<String>,
    },
    /// The remote kept moving.
    #[error(
        "push to {remote}/{branch} was still rejected after {attempts} attempts ({reason}); \
         others keep pushing — run again, or raise --retries; nothing was changed locally"
    )]
    GaveUp {
        /// The remote.
        remote: String,
        /// The branch.
        branch: String,
        /// Attempts made.
        attempts: u32,
        /// The last reason.
        reason: String,
    },
}

fn remote_said(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!(" (remote said: {})", lines.join(" | "))
    }
}

/// Runs a bump. See the crate documentation for the steps.
#[tracing::instrument(skip_all, fields(tag = %request.tag, image = %request.image))]
pub fn run(
    request: &BumpRequest,
    progress: &mut dyn FnMut(BumpEvent<'_>),
) -> Result<Outcome, BumpError> {
    let repo = GitRepo::discover(&request.repo_dir)?;
    let branch = match &request.branch {
        Some(b) => b.clone(),
        None => repo.current_branch()?,
    };
    let local_tip = repo.branch_tip(&branch)?;
    let mut plan = plan_at(&repo, request, local_tip, &branch)?;
    progress(BumpEvent::Found {
        branch: &branch,
        plan: &plan,
    });
    if plan.is_noop() {
        return Ok(Outcome::AlreadyAtTag);
    }
    if request.dry_run {
        return Ok(Outcome::DryRun { diff: plan.diff() });
    }
    let checked_out = repo.is_checked_out(&branch);
    let signatures = repo.signatures(request.author.as_ref())?;
    let reflog = |plan: &Plan| {
        format!(
            "gitops-bumper: {} {} -> {}",
            request.image,
            plan.old_tags().join(", "),
            plan.tag
        )
    };

    let mut base = local_tip;
    let mut commit = commit_plan(&repo, &plan, base, checked_out, &signatures, request)?;
    progress(BumpEvent::Committed {
        commit,
        message: &plan.message(&request.message_template, &request.image)?,
    });
    if !request.push {
        repo.advance_branch(&branch, local_tip, commit, &reflog(&plan))?;
        return Ok(Outcome::Committed {
            commit,
            branch,
            pushed: None,
        });
    }

    let started = Instant::now();
    let attempts = request.retries.saturating_add(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        progress(BumpEvent::Pushing { attempt });
        let (reason, remote_messages) =
            match repo.push(&request.remote, commit, &branch, &request.credentials)? {
                PushResult::Accepted => {
                    let at = Instant::now();
                    repo.advance_branch(&branch, local_tip, commit, &reflog(&plan))?;
                    return Ok(Outcome::Committed {
                        commit,
                        branch,
                        pushed: Some(Pushed {
                            remote: request.remote.clone(),
                            attempts: attempt,
                            elapsed: at - started,
                            at,
                        }),
                    });
                }
                PushResult::Rejected {
                    reason,
                    remote_messages,
                } => (reason, remote_messages),
            };
        progress(BumpEvent::Rejected {
            attempt,
            reason: &reason,
        });
        let remote_tip = repo.fetch(&request.remote, &branch, &request.credentials)?;
        if repo.contains(base, remote_tip)? {
            // The remote has nothing we lack: the refusal is a hook or a protection rule.
            return Err(BumpError::Rejected {
                remote: request.remote.clone(),
                branch,
                reason,
                remote_messages,
            });
        }
        if !repo.contains(remote_tip, local_tip)? {
            return Err(GitError::Diverged {
                remote: request.remote.clone(),
                branch,
            }
            .into());
        }
        if attempt == attempts {
            return Err(BumpError::GaveUp {
                remote: request.remote.clone(),
                branch,
                attempts,
                reason,
            });
        }
        plan = plan_at(&repo, request, remote_tip, &branch)?;
        if plan.is_noop() {
            return Ok(Outcome::RemoteAlreadyAtTag { remote_tip, branch });
        }
        base = remote_tip;
        commit = commit_plan(&repo, &plan, base, checked_out, &signatures, request)?;
        progress(BumpEvent::Rebased {
            onto: remote_tip,
            plan: &plan,
        });
        progress(BumpEvent::Committed {
            commit,
            message: &plan.message(&request.message_template, &request.image)?,
        });
    }
}

fn plan_at(
    repo: &GitRepo,
    request: &BumpRequest,
    commit: Oid,
    branch: &str,
) -> Result<Plan, BumpError> {
    let files = repo.read_sources(commit, &request.paths, request.paths_explicit, branch)?;
    Ok(plan::plan(
        &files,
        &request.image,
        &request.tag,
        request.all,
        &request.paths,
    )?)
}

/// Refuses to commit over uncommitted work in the files the plan changes, then builds the
/// commit on `base` (no ref moves).
fn commit_plan(
    repo: &GitRepo,
    plan: &Plan,
    base: Oid,
    checked_out: bool,
    signatures: &(git2::Signature<'_>, git2::Signature<'_>),
    request: &BumpRequest,
) -> Result<Oid, BumpError> {
    let changes: Vec<(&str, &str)> = plan.changes().collect();
    if checked_out {
        let paths: Vec<&str> = changes.iter().map(|(p, _)| *p).collect();
        let dirty = repo.uncommitted(&paths)?;
        if !dirty.is_empty() {
            return Err(GitError::Dirty(dirty).into());
        }
    }
    let message = plan.message(&request.message_template, &request.image)?;
    let commit = repo.commit_on(base, &changes, signatures, &message)?;
    tracing::debug!(commit = %git::short(commit), "bump commit built");
    Ok(commit)
}
