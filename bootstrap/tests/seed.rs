//! The clone's side of part 3's Git server, over real smart HTTP with Basic authentication
//! (`git http-backend` behind gitops-bumper's test forge): the `lab` remote, its 0600
//! credentials file, pushes through Git's own store helper by libgit2 *and* by the git CLI,
//! a server that is ahead (nothing forced), and the undo of it all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// gitops-bumper's test forge, shared rather than copied (`super::server` in http_git.rs
// resolves to the sibling below).
#[path = "../../gitops-bumper/tests/support/http_git.rs"]
mod http_git;
#[allow(dead_code)]
#[path = "../../gitops-bumper/lab-gitops/tests/support/server.rs"]
mod server;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use bootstrap::gitops::seed;
use http_git::HttpGit;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir.parent().unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn identify(clone: &Path, name: &str) {
    git(clone, &["config", "user.name", name]);
    git(
        clone,
        &[
            "config",
            "user.email",
            &format!("{}@example.invalid", name.to_lowercase()),
        ],
    );
}

struct Lab {
    _tmp: tempfile::TempDir,
    work: std::path::PathBuf,
    bare: std::path::PathBuf,
    credentials: std::path::PathBuf,
    server: HttpGit,
}

/// A clone with one commit of `p3/confs`, and an empty repository on the forge.
fn lab() -> Lab {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("forge");
    std::fs::create_dir_all(root.join("wil")).unwrap();
    let bare = root.join("wil/iot-wil.git");
    git(
        tmp.path(),
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    let work = tmp.path().join("work");
    git(
        tmp.path(),
        &["init", "-q", "-b", "main", work.to_str().unwrap()],
    );
    identify(&work, "Wil");
    std::fs::create_dir_all(work.join("p3/confs")).unwrap();
    std::fs::write(
        work.join("p3/confs/playground.yaml"),
        "image: \"echo-app:v1\"\n",
    )
    .unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "p3"]);
    let server = HttpGit::start(root, "wil", "s3cret-password");
    let credentials = tmp.path().join("config/iot-rs/iot/git-credentials");
    Lab {
        work,
        bare,
        credentials,
        server,
        _tmp: tmp,
    }
}

/// The forge's URL as bootstrap gives it: `localhost`, which Git's credential matching needs.
fn url(lab: &Lab) -> String {
    lab.server
        .url("wil/iot-wil.git")
        .replace("127.0.0.1", "localhost")
}

/// Commits a v2 and pushes it with `git push lab` (the CLI, as a learner would); the forge has it.
fn push_v2_with_the_git_cli(lab: &Lab) {
    std::fs::write(
        lab.work.join("p3/confs/playground.yaml"),
        "image: \"echo-app:v2\"\n",
    )
    .unwrap();
    git(&lab.work, &["commit", "-qam", "v2"]);
    git(&lab.work, &["push", "-q", "lab", "main"]);
    assert_eq!(
        git(&lab.bare, &["rev-parse", "main"]),
        git(&lab.work, &["rev-parse", "HEAD"])
    );
}

/// The clone with the lab remote configured as bootstrap p3 configures it.
fn configured(lab: &Lab) -> git2::Repository {
    let repo = seed::open_clone(&lab.work).unwrap();
    seed::configure(&repo, &url(lab), "wil", "s3cret-password", &lab.credentials).unwrap();
    repo
}

#[test]
fn the_current_branch_reaches_the_server_with_credentials_from_a_private_file() {
    let lab = lab();
    configured(&lab);

    let mode = std::fs::metadata(&lab.credentials)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(lab.credentials.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    let port = url(&lab)
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        std::fs::read_to_string(&lab.credentials).unwrap(),
        format!("http://wil:s3cret-password@localhost:{port}\n")
    );
    assert_eq!(git(&lab.work, &["remote", "get-url", "lab"]), url(&lab));
    // The password is in the 0600 file only, not in the clone's config.
    let config = std::fs::read_to_string(lab.work.join(".git/config")).unwrap();
    assert!(!config.contains("s3cret"), "{config}");

    let seeded = seed::push_current_branch(&lab.work).unwrap();
    assert_eq!(seeded.branch, "main");
    assert_eq!(seeded.note, None);
    let head = git(&lab.work, &["rev-parse", "HEAD"]);
    assert_eq!(seeded.commit.to_string(), head);
    assert_eq!(git(&lab.bare, &["rev-parse", "main"]), head);
    assert_eq!(lab.server.refused(), 0, "no wrong credentials were offered");

    // The git CLI finds the same credentials: `git push lab` needs no typing.
    push_v2_with_the_git_cli(&lab);

    // Pushing again when nothing changed is fine.
    assert!(seed::push_current_branch(&lab.work).unwrap().note.is_none());
}

/// A global helper (a keychain, Git Credential Manager) that still knows an old password of the
/// forge must not shadow the store: `git push lab` pushes, and the good line stays.
#[test]
fn a_global_helper_with_a_stale_password_does_not_shadow_the_lab_credentials() {
    let lab = lab();
    std::fs::write(
        lab.work.parent().unwrap().join(".gitconfig"),
        "[credential]\n\thelper = \"!f() { echo username=wil; echo password=stale-password; }; f\"\n",
    )
    .unwrap();
    configured(&lab);
    push_v2_with_the_git_cli(&lab);
    assert_eq!(
        lab.server.refused(),
        0,
        "the stale password was never offered"
    );
    // Git's store rewrites the line it used (`:` in the host becomes `%3a`); it keeps it.
    let kept = std::fs::read_to_string(&lab.credentials).unwrap();
    assert!(kept.contains("wil:s3cret-password@localhost"), "{kept}");
    // And libgit2's push finds the same entry first.
    assert!(seed::push_current_branch(&lab.work).is_ok());
}

#[test]
fn a_server_that_is_ahead_is_followed_not_overwritten() {
    let lab = lab();
    configured(&lab);
    seed::push_current_branch(&lab.work).unwrap();
    // Someone bumps from another clone...
    let other = lab.work.parent().unwrap().join("other");
    git(
        lab.work.parent().unwrap(),
        &[
            "clone",
            "-q",
            lab.bare.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    identify(&other, "Other");
    std::fs::write(
        other.join("p3/confs/playground.yaml"),
        "image: \"echo-app:v2\"\n",
    )
    .unwrap();
    git(&other, &["commit", "-qam", "bump elsewhere"]);
    git(&other, &["push", "-q", "origin", "main"]);
    let theirs = git(&other, &["rev-parse", "HEAD"]);
    // ...and this clone, behind with a commit of its own, seeds again.
    std::fs::write(lab.work.join("README"), "local\n").unwrap();
    git(&lab.work, &["add", "README"]);
    git(&lab.work, &["commit", "-qm", "local"]);
    let seeded = seed::push_current_branch(&lab.work).unwrap();
    assert_eq!(
        seeded.commit.to_string(),
        theirs,
        "Argo CD follows the server's tip"
    );
    let note = seeded.note.unwrap();
    assert!(
        note.contains("it is ahead of this clone") && note.contains("git pull lab main"),
        "{note}"
    );
    assert_eq!(
        git(&lab.bare, &["rev-parse", "main"]),
        theirs,
        "nothing was forced"
    );
}

#[test]
fn unconfigure_removes_the_remote_its_helper_and_the_file_and_may_run_twice() {
    let lab = lab();
    let repo = configured(&lab);
    seed::unconfigure(&repo, &lab.credentials).unwrap();
    assert!(!lab.credentials.exists());
    // No key is left (libgit2 may leave the emptied section headers, which git ignores).
    assert_eq!(git(&lab.work, &["remote"]), "");
    let keys = Command::new("git")
        .args([
            "config",
            "--local",
            "--get-regexp",
            "^(credential|remote)\\.",
        ])
        .current_dir(&lab.work)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&keys.stdout), "");
    seed::unconfigure(&repo, &lab.credentials).unwrap();
}

#[test]
fn a_lab_remote_that_is_not_ours_is_left_alone() {
    let lab = lab();
    git(
        &lab.work,
        &["remote", "add", "lab", "https://example.invalid/mine.git"],
    );
    let repo = seed::open_clone(&lab.work).unwrap();
    seed::unconfigure(&repo, &lab.credentials).unwrap();
    assert_eq!(
        git(&lab.work, &["remote", "get-url", "lab"]),
        "https://example.invalid/mine.git"
    );
}

#[test]
fn outside_a_clone_the_error_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let Err(err) = seed::open_clone(tmp.path()) else {
        panic!("a clone was found in an empty directory")
    };
    let err = err.to_string();
    assert!(
        err.contains("is not inside a Git clone; run bootstrap p3 from a clone"),
        "{err}"
    );
}
