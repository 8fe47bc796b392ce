//! The git2 adapter: open the GitOps repository, read files as committed, make the bump
//! commit, push it (credentials bounded, rejections detected), fetch, move the branch.
//!
//! Everything works on commits and trees rather than on the working tree: the edit is made on
//! the committed blobs, the commit is built without touching any ref, and the local branch
//! (and, when it is checked out, the working tree) moves only once the push succeeded. A
//! failed run therefore leaves the clone exactly as it was.

use std::fmt;
use std::path::{Path, PathBuf};

use git2::build::{CheckoutBuilder, TreeUpdateBuilder};
use git2::{
    Cred, CredentialType, ErrorClass, ErrorCode, FetchOptions, FileMode, ObjectType, Oid,
    ProxyOptions, PushOptions, RemoteCallbacks, Repository, Signature, Status, Tree,
};

/// What can go wrong talking to Git. Every message says what to do about it.
/// A file of the GitOps repository, as committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// The file's text.
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// No repository around the given directory.
    #[error("{} is not inside a Git repository; run from the GitOps repository or pass --repo", .0.display())]
    NotARepository(PathBuf),
    /// A bare repository has no working tree to keep in step.
    #[error("{} is a bare repository; run gitops-bumper in a clone with a working tree", .0.display())]
    Bare(PathBuf),
    /// HEAD points at a commit, not a branch, and no `--branch` was given.
    #[error("HEAD is detached; check out the branch to bump or pass --branch")]
    DetachedHead,
    /// `--branch` names no local branch.
    #[error("branch `{0}` does not exist in this clone; check it out first (git switch {0})")]
    NoSuchBranch(String),
    /// A `--path` that is not in the committed tree.
    #[error(
        "`{path}` is not in the repository at {branch}; check --path (paths are relative to the repository root)"
    )]
    NoSuchPath {
        /// The path as given.
        path: String,
        /// The branch searched.
        branch: String,
    },
    /// A `--path` that tries to leave the repository.
    #[error("`{0}` is not a path inside the repository; give it relative to the repository root")]
    BadPath(String),
    /// A file under the paths that is not text.
    #[error("{0} is not UTF-8 text; leave it out of --path")]
    NotUtf8(String),
    /// Files the bump would touch have changes that are not committed.
    #[error(
        "{} has uncommitted changes; commit or stash them first so that they do not end up in \
         the bump commit", .0.join(", ")
    )]
    Dirty(Vec<String>),
    /// No author could be determined.
    #[error(
        "no Git identity: set user.name and user.email (git config) or pass --author 'Name <email>'"
    )]
    NoIdentity,
    /// `--remote` is not configured.
    #[error("remote `{0}` is not configured in this clone; check --remote (git remote -v)")]
    NoSuchRemote(String),
    /// The remote branch to rebase onto does not exist.
    #[error("{remote} has no branch `{branch}`; check --branch")]
    NoRemoteBranch {
        /// The remote.
        remote: String,
        /// The branch.
        branch: String,
    },
    /// The network or the server failed before Git could talk.
    #[error(
        "cannot reach remote `{remote}` ({url}): {message}; check the URL and that the server is up"
    )]
    Unreachable {
        /// The remote.
        remote: String,
        /// Its URL, without any credentials.
        url: String,
        /// libgit2's description.
        message: String,
    },
    /// Every credential source was tried and refused.
    #[error("authentication to {url} failed (tried {tried}); {hint}")]
    Auth {
        /// The URL, without any credentials.
        url: String,
        /// The credential sources tried, in order.
        tried: String,
        /// What the user can do.
        hint: String,
    },
    /// The local and the remote branch both have commits the other lacks.
    #[error(
        "your {branch} and {remote}/{branch} have diverged; pull (and resolve) first, then run \
         again — gitops-bumper never force-pushes"
    )]
    Diverged {
        /// The remote.
        remote: String,
        /// The branch.
        branch: String,
    },
    /// The working tree could not follow the branch after a successful push.
    #[error(
        "pushed {commit}, but the working tree could not be updated ({message}); run \
         git pull to bring it in step"
    )]
    WorkingTreeBehind {
        /// The pushed commit.
        commit: String,
        /// libgit2's description.
        message: String,
    },
    /// A push to a local remote could not run `git push`.
    #[error(
        "pushing to the local remote `{remote}` runs git's own receive-pack, as `git push` does \
         (so that the remote's hooks run), and that failed: {message}; check that git is installed"
    )]
    LocalPush {
        /// The remote.
        remote: String,
        /// What went wrong.
        message: String,
    },
    /// Anything else libgit2 reports.
    #[error("git: {}", .0.message())]
    Git(#[from] git2::Error),
}

/// A commit author or committer (`Name <email>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The name.
    pub(crate) name: String,
    /// The e-mail address.
    pub(crate) email: String,
}

/// Why an `--author` value is not `Name <email>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an author; write it as 'Name <email>'")]
pub struct InvalidIdentity(pub String);

impl Identity {
    /// Parses `Name <email>`.
    pub fn parse(text: &str) -> Result<Identity, InvalidIdentity> {
        let invalid = || InvalidIdentity(text.to_owned());
        let (name, rest) = text.split_once('<').ok_or_else(invalid)?;
        let email = rest.strip_suffix('>').ok_or_else(invalid)?;
        let name = name.trim();
        let bad = |s: &str| s.is_empty() || s.contains(['<', '>', '\n', '\0']);
        if bad(name) || bad(email) || !email.contains('@') || email.contains(char::is_whitespace) {
            return Err(invalid());
        }
        Ok(Identity {
            name: name.to_owned(),
            email: email.to_owned(),
        })
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <{}>", self.name, self.email)
    }
}

/// Where credentials for the remote come from, besides ssh-agent and the credential helper.
#[derive(Clone, Default)]
pub struct Credentials {
    /// A token for https remotes (used as the password).
    pub token: Option<String>,
    /// Where the token came from, for messages (e.g. `$GIT_TOKEN`). Never the token itself.
    pub token_source: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_source", &self.token_source)
            .finish()
    }
}

/// The answer of the remote to a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushResult {
    /// The remote branch now points at the commit.
    Accepted,
    /// The remote refused the update (non-fast-forward, hook, protection).
    Rejected {
        /// The remote's reason.
        reason: String,
        /// What the remote printed while refusing (hook output), one line each.
        remote_messages: Vec<String>,
    },
}

/// An open GitOps repository.
pub struct GitRepo {
    repo: Repository,
}

impl fmt::Debug for GitRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitRepo")
            .field("path", &self.repo.path())
            .finish()
    }
}

impl GitRepo {
    /// Opens the repository that contains `dir` (searching upwards, as `git` does).
    pub fn discover(dir: &Path) -> Result<GitRepo, GitError> {
        let repo = Repository::discover(dir).map_err(|e| match e.code() {
            ErrorCode::NotFound => GitError::NotARepository(dir.to_owned()),
            _ => GitError::Git(e),
        })?;
        if repo.is_bare() {
            return Err(GitError::Bare(repo.path().to_owned()));
        }
        Ok(GitRepo { repo })
    }

    /// The branch HEAD points at.
    pub fn current_branch(&self) -> Result<String, GitError> {
        // An unborn branch has no commit to bump; treat it like a missing one below.
        if self.repo.head_detached()? {
            return Err(GitError::DetachedHead);
        }
        let head = self.repo.find_reference("HEAD")?;
        let target = head
            .symbolic_target()?
            .ok_or(GitError::DetachedHead)?
            .to_owned();
        Ok(target
            .strip_prefix("refs/heads/")
            .unwrap_or(&target)
            .to_owned())
    }

    /// The commit `branch` points at.
    pub fn branch_tip(&self, branch: &str) -> Result<Oid, GitError> {
        self.repo
            .find_reference(&format!("refs/heads/{branch}"))
            .and_then(|r| r.peel_to_commit())
            .map(|c| c.id())
            .map_err(|e| match e.code() {
                ErrorCode::NotFound | ErrorCode::InvalidSpec => {
                    GitError::NoSuchBranch(branch.to_owned())
                }
                _ => GitError::Git(e),
            })
    }

    /// Is `branch` the one checked out in this working tree?
    pub fn is_checked_out(&self, branch: &str) -> bool {
        self.repo
            .find_branch(branch, git2::BranchType::Local)
            .is_ok_and(|b| b.is_head())
    }

    /// Reads the YAML files under `paths` as committed in `commit`.
    ///
    /// A directory is searched recursively for `*.yaml` / `*.yml`, except the `templates/` of a
    /// Helm chart (Go templates, not YAML). A path given as a file is read whatever its name.
    /// A missing path is an error when `explicit`, and skipped otherwise (the defaults).
    pub fn read_sources(
        &self,
        commit: Oid,
        paths: &[String],
        explicit: bool,
        branch: &str,
    ) -> Result<Vec<SourceFile>, GitError> {
        let tree = self.repo.find_commit(commit)?.tree()?;
        let mut blobs: Vec<(String, Oid)> = Vec::new();
        for path in paths {
            let clean = clean_path(path)?;
            if clean.is_empty() {
                collect_yaml(&self.repo, &tree, "", &mut blobs)?;
                continue;
            }
            let entry = match tree.get_path(Path::new(&clean)) {
                Ok(entry) => entry,
                Err(e) if e.code() == ErrorCode::NotFound => {
                    if explicit {
                        return Err(GitError::NoSuchPath {
                            path: path.clone(),
                            branch: branch.to_owned(),
                        });
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    let sub = self.repo.find_tree(entry.id())?;
                    collect_yaml(&self.repo, &sub, &format!("{clean}/"), &mut blobs)?;
                }
                Some(ObjectType::Blob) if is_regular_file(entry.filemode()) => {
                    blobs.push((clean, entry.id()));
                }
                _ => {}
            }
        }
        let mut seen = std::collections::HashSet::new();
        blobs.retain(|(path, _)| seen.insert(path.clone()));
        blobs
            .into_iter()
            .map(|(path, id)| {
                let blob = self.repo.find_blob(id)?;
                let text = std::str::from_utf8(blob.content())
                    .map_err(|_| GitError::NotUtf8(path.clone()))?
                    .to_owned();
                Ok(SourceFile { path, text })
            })
            .collect()
    }

    /// The files among `paths` whose working-tree or index content differs from HEAD.
    pub fn uncommitted(&self, paths: &[&str]) -> Result<Vec<String>, GitError> {
        let mut dirty = Vec::new();
        for path in paths {
            let status = self.repo.status_file(Path::new(path))?;
            if status != Status::CURRENT && !status.contains(Status::IGNORED) {
                dirty.push((*path).to_owned());
            }
        }
        Ok(dirty)
    }

    /// Author and committer: `author` if given, else Git's configuration (and the
    /// `GIT_AUTHOR_*` / `GIT_COMMITTER_*` variables, as `git commit` honours them).
    pub fn signatures(
        &self,
        author: Option<&Identity>,
    ) -> Result<(Signature<'static>, Signature<'static>), GitError> {
        let from_config = self.repo.author_from_env().ok();
        let committer = self.repo.committer_from_env().ok();
        let author = match author {
            Some(id) => Signature::now(&id.name, &id.email)?,
            None => from_config.ok_or(GitError::NoIdentity)?,
        };
        let committer = match committer {
            Some(c) => c,
            None => author.clone(),
        };
        Ok((author, committer))
    }

    /// Creates (without moving any ref) the commit on top of `parent` that replaces the files in
    /// `changes` by their new text.
    pub fn commit_on(
        &self,
        parent: Oid,
        changes: &[(&str, &str)],
        signatures: &(Signature<'_>, Signature<'_>),
        message: &str,
    ) -> Result<Oid, GitError> {
        let parent = self.repo.find_commit(parent)?;
        let base = parent.tree()?;
        let mut update = TreeUpdateBuilder::new();
        for (path, text) in changes {
            let mode = base.get_path(Path::new(path))?.filemode();
            let blob = self.repo.blob(text.as_bytes())?;
            let mode = if mode == i32::from(FileMode::BlobExecutable) {
                FileMode::BlobExecutable
            } else {
                FileMode::Blob
            };
            update.upsert(*path, blob, mode);
        }
        let tree = self
            .repo
            .find_tree(update.create_updated(&self.repo, &base)?)?;
        let (author, committer) = signatures;
        Ok(self
            .repo
            .commit(None, author, committer, message, &tree, &[&parent])?)
    }

    /// The remote's URL as shown in messages: without user or password.
    pub(crate) fn remote_url(&self, remote: &str) -> Result<String, GitError> {
        let r = self.find_remote(remote)?;
        let url = r.pushurl()?.unwrap_or(r.url()?).to_owned();
        Ok(redact_url(&url))
    }

    fn find_remote(&self, remote: &str) -> Result<git2::Remote<'_>, GitError> {
        self.repo.find_remote(remote).map_err(|e| match e.code() {
            ErrorCode::NotFound | ErrorCode::InvalidSpec => {
                GitError::NoSuchRemote(remote.to_owned())
            }
            _ => GitError::Git(e),
        })
    }

    /// Pushes `commit` to `branch` on `remote` — never with force — and reports whether the
    /// remote took it. A refused ref update is a [`PushResult::Rejected`], whether libgit2
    /// reports it as an error (local transport) or only through the per-ref status
    /// (smart protocols, where `push()` returns `Ok`).
    #[tracing::instrument(skip(self, credentials), fields(commit = %commit))]
    pub fn push(
        &self,
        remote: &str,
        commit: Oid,
        branch: &str,
        credentials: &Credentials,
    ) -> Result<PushResult, GitError> {
        let mut handle = self.find_remote(remote)?;
        let refspec = format!("{commit}:refs/heads/{branch}");
        let url = handle.pushurl()?.unwrap_or(handle.url()?).to_owned();
        if is_local_url(&url) {
            // libgit2 writes a local remote's objects and refs itself and runs none of its
            // hooks: a push `git push` would refuse would be reported as pushed.
            return self.push_with_git(remote, &refspec);
        }
        let config = self.repo.config()?;
        let mut attempts = CredentialAttempts::new(credentials, &config);
        let mut rejection: Option<String> = None;
        let mut remote_messages = Vec::new();
        let result = {
            let mut callbacks = RemoteCallbacks::new();
            callbacks.credentials(|url, user, allowed| attempts.next(url, user, allowed));
            callbacks.push_update_reference(|_refname, status| {
                if let Some(reason) = status {
                    rejection = Some(reason.to_owned());
                }
                Ok(())
            });
            callbacks.sideband_progress(|data| {
                collect_remote_lines(data, &mut remote_messages);
                true
            });
            let mut options = PushOptions::new();
            options.remote_callbacks(callbacks);
            options.proxy_options(auto_proxy());
            handle.push(&[refspec.as_str()], Some(&mut options))
        };
        match result {
            Ok(()) => Ok(match rejection {
                Some(reason) => PushResult::Rejected {
                    reason,
                    remote_messages,
                },
                None => PushResult::Accepted,
            }),
            Err(e) if e.code() == ErrorCode::NotFastForward => Ok(PushResult::Rejected {
                reason: "non-fast-forward (the remote branch has commits this clone lacks)"
                    .to_owned(),
                remote_messages,
            }),
            Err(e) => Err(self.classify(e, remote, &attempts)),
        }
    }

    /// Pushes through the git CLI (`git push --porcelain`), whose receive-pack runs the remote's
    /// hooks, and reads the per-ref verdict it prints.
    fn push_with_git(&self, remote: &str, refspec: &str) -> Result<PushResult, GitError> {
        let dir = self.repo.workdir().unwrap_or(self.repo.path());
        let out = std::process::Command::new("git")
            .args(["push", "--porcelain", remote, refspec])
            .current_dir(dir)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .map_err(|e| GitError::LocalPush {
                remote: remote.to_owned(),
                message: e.to_string(),
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        match porcelain_verdict(&stdout) {
            Some(Ok(())) => Ok(PushResult::Accepted),
            Some(Err(reason)) => Ok(PushResult::Rejected {
                reason,
                remote_messages: stderr
                    .lines()
                    .filter_map(|l| l.strip_prefix("remote:"))
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
            }),
            None => Err(GitError::LocalPush {
                remote: remote.to_owned(),
                message: stderr.trim().to_owned(),
            }),
        }
    }

    /// Fetches `branch` from `remote` into `refs/remotes/<remote>/<branch>` and returns its tip.
    #[tracing::instrument(skip(self, credentials))]
    pub fn fetch(
        &self,
        remote: &str,
        branch: &str,
        credentials: &Credentials,
    ) -> Result<Oid, GitError> {
        let mut handle = self.find_remote(remote)?;
        let config = self.repo.config()?;
        let tracking = format!("refs/remotes/{remote}/{branch}");
        let refspec = format!("+refs/heads/{branch}:{tracking}");
        let mut attempts = CredentialAttempts::new(credentials, &config);
        let result = {
            let mut callbacks = RemoteCallbacks::new();
            callbacks.credentials(|url, user, allowed| attempts.next(url, user, allowed));
            let mut options = FetchOptions::new();
            options.remote_callbacks(callbacks);
            options.proxy_options(auto_proxy());
            handle.fetch(&[refspec.as_str()], Some(&mut options), None)
        };
        result.map_err(|e| self.classify(e, remote, &attempts))?;
        self.repo
            .find_reference(&tracking)
            .and_then(|r| r.peel_to_commit())
            .map(|c| c.id())
            .map_err(|e| match e.code() {
                ErrorCode::NotFound => GitError::NoRemoteBranch {
                    remote: remote.to_owned(),
                    branch: branch.to_owned(),
                },
                _ => GitError::Git(e),
            })
    }

    /// Is `ancestor` reachable from `descendant` (or the same commit)?
    pub fn contains(&self, descendant: Oid, ancestor: Oid) -> Result<bool, GitError> {
        Ok(descendant == ancestor || self.repo.graph_descendant_of(descendant, ancestor)?)
    }

    /// Fast-forwards the local `branch` from `from` to `to`; when it is checked out, the index
    /// and working tree follow (a safe checkout: local changes are never overwritten). The ref
    /// moves only if it still points at `from`.
    pub fn advance_branch(
        &self,
        branch: &str,
        from: Oid,
        to: Oid,
        reflog: &str,
    ) -> Result<(), GitError> {
        if self.is_checked_out(branch) {
            let target = self.repo.find_commit(to)?;
            let old_tree = self.repo.find_commit(from)?.tree()?;
            let diff = self
                .repo
                .diff_tree_to_tree(Some(&old_tree), Some(&target.tree()?), None)?;
            // Only the files that differ: a full checkout would stat the whole working tree.
            let mut checkout = CheckoutBuilder::new();
            checkout.safe().disable_pathspec_match(true);
            for delta in diff.deltas() {
                for file in [delta.old_file(), delta.new_file()] {
                    if let Some(path) = file.path() {
                        checkout.path(path);
                    }
                }
            }
            self.repo
                .checkout_tree(target.as_object(), Some(&mut checkout))
                .map_err(|e| GitError::WorkingTreeBehind {
                    commit: short(to),
                    message: e.message().to_owned(),
                })?;
        }
        self.repo
            .reference_matching(&format!("refs/heads/{branch}"), to, true, from, reflog)?;
        Ok(())
    }

    /// Turns a libgit2 failure of a network operation into the error the user can act on.
    fn classify(&self, e: git2::Error, remote: &str, attempts: &CredentialAttempts) -> GitError {
        let url = self
            .remote_url(remote)
            .unwrap_or_else(|_| remote.to_owned());
        if e.code() == ErrorCode::Auth || attempts.exhausted {
            return GitError::Auth {
                url,
                tried: attempts.tried_list(),
                hint: attempts.hint(),
            };
        }
        match e.class() {
            ErrorClass::Net
            | ErrorClass::Os
            | ErrorClass::Ssl
            | ErrorClass::Ssh
            | ErrorClass::Http => GitError::Unreachable {
                remote: remote.to_owned(),
                url,
                message: e.message().to_owned(),
            },
            _ => GitError::Git(e),
        }
    }
}

/// The short form of a commit id, as `git log --oneline` prints it.
pub fn short(id: Oid) -> String {
    id.to_string()[..7].to_owned()
}

fn auto_proxy() -> ProxyOptions<'static> {
    let mut proxy = ProxyOptions::new();
    proxy.auto();
    proxy
}

fn is_regular_file(mode: i32) -> bool {
    mode == i32::from(FileMode::Blob) || mode == i32::from(FileMode::BlobExecutable)
}

/// `./p3/confs/` → `p3/confs`; refuses absolute paths and `..`.
fn clean_path(path: &str) -> Result<String, GitError> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(GitError::BadPath(path.to_owned())),
            p => parts.push(p),
        }
    }
    if path.starts_with('/') {
        return Err(GitError::BadPath(path.to_owned()));
    }
    Ok(parts.join("/"))
}

fn collect_yaml(
    repo: &Repository,
    tree: &Tree<'_>,
    prefix: &str,
    out: &mut Vec<(String, Oid)>,
) -> Result<(), GitError> {
    // Helm's templates/ hold Go templates, which are not YAML until rendered.
    let is_chart = tree.get_name("Chart.yaml").is_some();
    for entry in tree.iter() {
        let Ok(name) = entry.name() else {
            continue;
        };
        match entry.kind() {
            Some(ObjectType::Tree) if !(is_chart && name == "templates") => {
                let sub = repo.find_tree(entry.id())?;
                collect_yaml(repo, &sub, &format!("{prefix}{name}/"), out)?;
            }
            Some(ObjectType::Blob)
                if is_regular_file(entry.filemode())
                    && (name.ends_with(".yaml") || name.ends_with(".yml")) =>
            {
                out.push((format!("{prefix}{name}"), entry.id()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `https://user:secret@host/x` → `https://host/x`: URLs go into messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Whether `url` names a repository on this machine: a path, or `file://`. (`host:path` is
/// scp-like SSH; anything with `://` but `file` is a network transport.)
pub(crate) fn is_local_url(url: &str) -> bool {
    if let Some((scheme, _)) = url.split_once("://") {
        return scheme.eq_ignore_ascii_case("file");
    }
    match url.split_once(':') {
        // scp-like `[user@]host:path`, unless a `/` comes first (`./a:b`, `/srv/a:b`).
        Some((before, _)) => before.contains('/'),
        None => true,
    }
}

/// The verdict of `git push --porcelain` for the one ref pushed: `Ok` when updated (or already
/// up to date), `Err(reason)` when refused, `None` when it printed no ref line (it failed
/// before talking to the remote).
fn porcelain_verdict(stdout: &str) -> Option<Result<(), String>> {
    let line = stdout.lines().find(|l| {
        l.len() > 1 && matches!(&l[..2], " \t" | "+\t" | "-\t" | "*\t" | "!\t" | "=\t")
    })?;
    if !line.starts_with('!') {
        return Some(Ok(()));
    }
    let summary = line.rsplit('\t').next().unwrap_or_default();
    let reason = summary
        .split_once('(')
        .map(|(_, r)| r.trim_end_matches(')').to_owned())
        .unwrap_or_else(|| summary.trim_matches(['[', ']']).to_owned());
    Some(Err(match reason.as_str() {
        "non-fast-forward" | "fetch first" => {
            "non-fast-forward (the remote branch has commits this clone lacks)".to_owned()
        }
        _ => reason,
    }))
}

fn collect_remote_lines(data: &[u8], out: &mut Vec<String>) {
    for line in String::from_utf8_lossy(data).split(['\n', '\r']) {
        let line = line.trim();
        if !line.is_empty() && out.len() < 50 {
            out.push(line.to_owned());
        }
    }
}

/// libgit2 calls the credentials callback again after every refusal, forever; each source is
/// offered once, then the callback gives up.
struct CredentialAttempts<'a> {
    credentials: &'a Credentials,
    config: &'a git2::Config,
    username: bool,
    agent: bool,
    token: bool,
    helper: bool,
    default: bool,
    tried: Vec<String>,
    token_withheld: bool,
    exhausted: bool,
}

impl<'a> CredentialAttempts<'a> {
    fn new(credentials: &'a Credentials, config: &'a git2::Config) -> Self {
        CredentialAttempts {
            credentials,
            config,
            username: false,
            agent: false,
            token: false,
            helper: false,
            default: false,
            tried: Vec::new(),
            token_withheld: false,
            exhausted: false,
        }
    }

    fn next(
        &mut self,
        url: &str,
        user: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        let user_or_git = user.unwrap_or("git");
        if allowed.contains(CredentialType::USERNAME) && !self.username {
            self.username = true;
            return Cred::username(user_or_git);
        }
        if allowed.contains(CredentialType::SSH_KEY) && !self.agent {
            self.agent = true;
            self.tried.push("ssh-agent".to_owned());
            return Cred::ssh_key_from_agent(user_or_git);
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            if !self.token {
                self.token = true;
                if let Some(token) = &self.credentials.token {
                    if token_may_travel_to(url) {
                        self.tried
                            .push(format!("the token in {}", self.credentials.token_source));
                        return Cred::userpass_plaintext(user_or_git, token);
                    }
                    self.token_withheld = true;
                }
            }
            if !self.helper {
                self.helper = true;
                if let Ok(cred) = Cred::credential_helper(self.config, url, user) {
                    self.tried.push("the Git credential helper".to_owned());
                    return Ok(cred);
                }
            }
        }
        if allowed.contains(CredentialType::DEFAULT) && !self.default {
            self.default = true;
            self.tried.push("default credentials".to_owned());
            return Cred::default();
        }
        self.exhausted = true;
        Err(git2::Error::new(
            ErrorCode::Auth,
            ErrorClass::Callback,
            "no more credentials to try",
        ))
    }

    fn tried_list(&self) -> String {
        if self.tried.is_empty() {
            "nothing: no credential source applies".to_owned()
        } else {
            self.tried.join(", then ")
        }
    }

    fn hint(&self) -> String {
        let mut hint = format!(
            "put a token with push rights in {}, load a key into ssh-agent, or configure a Git \
             credential helper",
            self.credentials.token_source
        );
        if self.token_withheld {
            hint.push_str(" (the token is only sent over https or to a loopback address)");
        }
        hint
    }
}

/// A token is a password: it goes over https, or over http only to this machine.
fn token_may_travel_to(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    match scheme {
        "https" => true,
        "http" => {
            host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_urls_are_paths_and_file_urls() {
        for local in [
            "/srv/git/lab.git",
            "../lab.git",
            "lab.git",
            "file:///srv/lab.git",
            "FILE:///x",
            "./a:b",
        ] {
            assert!(is_local_url(local), "{local}");
        }
        for remote in [
            "https://github.com/wil/iot.git",
            "http://127.0.0.1:3000/wil/iot.git",
            "ssh://git@host/x.git",
            "git@github.com:wil/iot.git",
            "git://127.0.0.1/x.git",
        ] {
            assert!(!is_local_url(remote), "{remote}");
        }
    }

    #[test]
    fn porcelain_verdicts() {
        let ok = "To /srv/lab.git\n \tabc:refs/heads/main\t1a2b..3c4d\nDone\n";
        assert_eq!(porcelain_verdict(ok), Some(Ok(())));
        let same = "To /srv/lab.git\n=\tabc:refs/heads/main\t[up to date]\nDone\n";
        assert_eq!(porcelain_verdict(same), Some(Ok(())));
        let hook = "To /srv/lab.git\n!\tabc:refs/heads/main\t[remote rejected] (pre-receive hook declined)\nDone\n";
        assert_eq!(
            porcelain_verdict(hook),
            Some(Err("pre-receive hook declined".to_owned()))
        );
        let behind = "To /srv/lab.git\n!\tabc:refs/heads/main\t[rejected] (fetch first)\nDone\n";
        assert_eq!(
            porcelain_verdict(behind),
            Some(Err(
                "non-fast-forward (the remote branch has commits this clone lacks)".to_owned()
            ))
        );
        assert_eq!(porcelain_verdict(""), None);
    }

    #[test]
    fn identities_parse_name_and_email() {
        assert_eq!(
            Identity::parse(" Ada Lovelace <ada@example.org>").unwrap(),
            Identity {
                name: "Ada Lovelace".to_owned(),
                email: "ada@example.org".to_owned()
            }
        );
        for bad in [
            "Ada",
            "<ada@example.org>",
            "Ada <ada>",
            "Ada <a b@c>",
            "Ada <a@b",
        ] {
            assert!(Identity::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_are_cleaned_and_kept_inside_the_repository() {
        assert_eq!(clean_path("./p3/confs/").unwrap(), "p3/confs");
        assert_eq!(clean_path("charts//p3").unwrap(), "charts/p3");
        assert_eq!(clean_path(".").unwrap(), "");
        assert!(matches!(clean_path("../x"), Err(GitError::BadPath(_))));
        assert!(matches!(clean_path("/etc"), Err(GitError::BadPath(_))));
    }

    #[test]
    fn urls_lose_their_credentials_before_being_shown() {
        assert_eq!(
            redact_url("https://bot:s3cret@git.example.org/org/repo.git"),
            "https://git.example.org/org/repo.git"
        );
        assert_eq!(
            redact_url("git@github.com:org/repo.git"),
            "git@github.com:org/repo.git"
        );
        assert_eq!(redact_url("/srv/repo.git"), "/srv/repo.git");
        assert_eq!(redact_url("ssh://git@h/x@y"), "ssh://h/x@y");
    }

    #[test]
    fn tokens_travel_over_https_or_to_loopback_only() {
        assert!(token_may_travel_to("https://git.example.org/x"));
        assert!(token_may_travel_to("http://127.0.0.1:8080/x"));
        assert!(token_may_travel_to("http://localhost/x"));
        assert!(token_may_travel_to("http://[::1]:80/x"));
        assert!(!token_may_travel_to("http://git.example.org/x"));
        assert!(!token_may_travel_to("http://127.0.0.1.example.org/x"));
        assert!(!token_may_travel_to("git://127.0.0.1/x"));
    }

    #[test]
    fn credentials_never_print_the_token() {
        let c = Credentials {
            token: Some("s3cret".to_owned()),
            token_source: "$GIT_TOKEN".to_owned(),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
