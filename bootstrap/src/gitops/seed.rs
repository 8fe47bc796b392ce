//! The local clone and the cluster's Git server: the clone gets a remote (`lab`) whose
//! credentials sit in a 0600 file read by Git's own `store` helper (so `git push lab` and
//! `gitops-bumper v2 --remote lab` need no typing and no token on the command line), and its
//! current branch is pushed there for Argo CD to read.

use std::path::{Path, PathBuf};

use git2::{ConfigLevel, Oid, Repository};
use lab_gitops::git::{Credentials, GitError, GitRepo, PushResult};

/// The remote every part-3 command talks about.
pub(crate) const REMOTE: &str = "lab";

/// Gitea refuses these as user names; a login among them gets a prefix.
const RESERVED: &[&str] = &[
    "admin",
    "api",
    "assets",
    "avatar",
    "avatars",
    "commits",
    "debug",
    "error",
    "explore",
    "ghost",
    "issues",
    "login",
    "metrics",
    "milestones",
    "new",
    "notifications",
    "org",
    "pulls",
    "raw",
    "repo",
    "search",
    "user",
    "v2",
];

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(
        "{0} is not inside a Git clone; run bootstrap p3 from a clone of this repository \
         (its history seeds the cluster's Git server), or pass --repo URL"
    )]
    NotARepository(PathBuf),
    #[error("the clone at {0} has no commit to push; commit first")]
    NoCommit(PathBuf),
    #[error("the clone is on a detached HEAD; check out a branch (Argo CD follows a branch)")]
    DetachedHead,
    #[error("configuring the remote {REMOTE} in {path}: {source}")]
    Config {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("writing the Git credentials file {path}: {source}")]
    CredentialFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Git(#[from] GitError),
}

/// The Gitea user who owns the lab repository: the 42 login (`$LOGIN`, else `$USER`), lower
/// case, reduced to what Gitea accepts.
pub(crate) fn owner_from(login: Option<&str>) -> String {
    let cleaned: String = login
        .unwrap_or_default()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let cleaned = cleaned.trim_matches('-');
    if cleaned.is_empty() {
        return "student".to_owned();
    }
    if RESERVED.contains(&cleaned) {
        return format!("iot-{cleaned}");
    }
    cleaned.chars().take(39).collect()
}

/// The lab repository's name: the subject wants the login in it.
pub(crate) fn repo_name(owner: &str) -> String {
    format!("iot-{owner}")
}

/// One `store`-format line: `http://user:password@host:port`.
pub(crate) fn credential_line(url: &str, username: &str, password: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    Some(format!(
        "{scheme}://{}:{}@{host}\n",
        encode(username),
        encode(password)
    ))
}

/// Percent-encoding for the user and password parts of a URL.
fn encode(part: &str) -> String {
    part.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `http://localhost:3000/o/r.git` → `http://localhost:3000`: the key git itself matches.
fn origin_of(url: &str) -> &str {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host_len = rest.find('/').unwrap_or(rest.len());
            &url[..scheme.len() + 3 + host_len]
        }
        None => url,
    }
}

/// The config keys that point Git at the credentials file: one for the origin (what the git
/// CLI matches) and one for the exact remote URL (what libgit2 matches).
pub(crate) fn helper_keys(url: &str) -> [String; 2] {
    [
        format!("credential.{}.helper", origin_of(url)),
        format!("credential.{url}.helper"),
    ]
}

fn helper_value(file: &Path) -> String {
    let path = file.display().to_string().replace('\'', "'\\''");
    format!("store --file='{path}'")
}

/// The clone around `dir`.
pub fn open_clone(dir: &Path) -> Result<Repository, SeedError> {
    Repository::discover(dir).map_err(|_| SeedError::NotARepository(dir.to_owned()))
}

/// Adds (or re-points) the remote, writes the credentials file (0600, replaced atomically) and
/// points the clone's credential helper at it.
pub fn configure(
    repo: &Repository,
    url: &str,
    username: &str,
    password: &str,
    file: &Path,
) -> Result<(), SeedError> {
    let workdir = repo.workdir().unwrap_or(repo.path()).to_owned();
    let config_err = |source| SeedError::Config {
        path: workdir.clone(),
        source,
    };
    match repo.find_remote(REMOTE) {
        Ok(existing) if existing.url() == Ok(url) => {}
        Ok(_) => repo.remote_set_url(REMOTE, url).map_err(config_err)?,
        Err(_) => {
            repo.remote(REMOTE, url).map_err(config_err)?;
        }
    }
    let line = credential_line(url, username, password).unwrap_or_default();
    write_private(file, &line).map_err(|source| SeedError::CredentialFile {
        path: file.to_owned(),
        source,
    })?;
    let mut config = repo
        .config()
        .and_then(|c| c.open_level(ConfigLevel::Local))
        .map_err(config_err)?;
    for key in helper_keys(url) {
        // An empty helper first empties the list Git has gathered so far (a global keychain or
        // Git Credential Manager), which would otherwise answer first with a stale password,
        // fail, and make Git erase the good line from the store.
        let _ = config.remove_multivar(&key, ".*");
        config.set_multivar(&key, "^$", "").map_err(config_err)?;
        config
            .set_multivar(&key, "^store ", &helper_value(file))
            .map_err(config_err)?;
    }
    Ok(())
}

/// Undoes [`configure`]: the remote, the helper entries and the file. Missing pieces are fine,
/// and a `lab` remote that is not ours (its helper does not read `file`) is left alone.
pub fn unconfigure(repo: &Repository, file: &Path) -> Result<(), SeedError> {
    let workdir = repo.workdir().unwrap_or(repo.path()).to_owned();
    let config_err = |source| SeedError::Config {
        path: workdir.clone(),
        source,
    };
    if let Ok(remote) = repo.find_remote(REMOTE)
        && let Ok(url) = remote.url()
    {
        let url = url.to_owned();
        let mut config = repo
            .config()
            .and_then(|c| c.open_level(ConfigLevel::Local))
            .map_err(config_err)?;
        let ours = helper_keys(&url)
            .iter()
            .any(|key| config.get_string(key).ok() == Some(helper_value(file)));
        if ours {
            for key in helper_keys(&url) {
                let _ = config.remove_multivar(&key, ".*");
            }
            repo.remote_delete(REMOTE).map_err(config_err)?;
        }
    }
    match std::fs::remove_file(file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SeedError::CredentialFile {
            path: file.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let partial = path.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&partial, path)
}

/// What the Git server holds after [`push_current_branch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeded {
    pub branch: String,
    /// The commit Argo CD must sync: the pushed one, or the server's tip when the server was
    /// already ahead of the clone (someone bumped from another clone; nothing is forced).
    pub commit: Oid,
    pub note: Option<String>,
}

/// Pushes the clone's current branch to [`REMOTE`] (never forced; credentials through the
/// helper configured above).
pub fn push_current_branch(dir: &Path) -> Result<Seeded, SeedError> {
    let repo = GitRepo::discover(dir)?;
    let branch = repo.current_branch().map_err(|_| SeedError::DetachedHead)?;
    let commit = repo
        .branch_tip(&branch)
        .map_err(|_| SeedError::NoCommit(dir.to_owned()))?;
    let credentials = Credentials::default();
    match repo.push(REMOTE, commit, &branch, &credentials)? {
        PushResult::Accepted => Ok(Seeded {
            branch,
            commit,
            note: None,
        }),
        PushResult::Rejected { reason, .. } => {
            let tip = repo.fetch(REMOTE, &branch, &credentials)?;
            Ok(Seeded {
                note: Some(format!(
                    "{REMOTE} refused {} ({reason}): it is ahead of this clone; Argo CD follows \
                     {REMOTE}'s {branch} at {} (`git pull {REMOTE} {branch}` to catch up)",
                    lab_gitops::git::short(commit),
                    lab_gitops::git::short(tip),
                )),
                branch,
                commit: tip,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_what_gitea_accepts() {
        assert_eq!(owner_from(Some("Wil")), "wil");
        assert_eq!(owner_from(Some("jdoe_42.x")), "jdoe42x");
        assert_eq!(owner_from(Some("admin")), "iot-admin");
        assert_eq!(owner_from(Some("---")), "student");
        assert_eq!(owner_from(None), "student");
        assert_eq!(repo_name("wil"), "iot-wil");
    }

    #[test]
    fn credential_lines_and_helper_keys() {
        let url = "http://localhost:3000/wil/iot-wil.git";
        assert_eq!(
            credential_line(url, "wil", "p@ss:w/rd").unwrap(),
            "http://wil:p%40ss%3Aw%2Frd@localhost:3000\n"
        );
        assert_eq!(
            helper_keys(url),
            [
                "credential.http://localhost:3000.helper".to_owned(),
                "credential.http://localhost:3000/wil/iot-wil.git.helper".to_owned()
            ]
        );
        assert_eq!(
            helper_value(Path::new("/h/it's")),
            "store --file='/h/it'\\''s'"
        );
    }
}
