//! The real binary against real repositories: temp clones with bare remotes, `git daemon`
//! with hooks, `git http-backend` behind Basic authentication.
#![allow(clippy::unwrap_used)]

mod support;

use support::http_git::HttpGit;
use support::{GitDaemon, Sandbox, hook, read, write};

#[test]
fn a_bump_commits_and_pushes_exactly_one_line_per_target() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let run = sb.bumper(&work, &["v2"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(
            "p3/confs/playground.yaml:17:28  spec.template.spec.containers[0].image: echo-app:v1"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("charts/p3/values.yaml:5:8"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("pushed "), "{}", run.stdout);

    // One line changed in each file, nothing else: compared by git itself.
    assert_eq!(
        sb.git(&work, &["diff", "--numstat", "HEAD~1", "HEAD"]),
        "1\t1\tcharts/p3/values.yaml\n1\t1\tp3/confs/playground.yaml"
    );
    assert_eq!(
        read(&work, "p3/confs/playground.yaml"),
        support::PLAYGROUND.replace("\"echo-app:v1\"", "\"echo-app:v2\"")
    );
    assert_eq!(
        read(&work, "charts/p3/values.yaml"),
        support::VALUES.replace("tag: v1 ", "tag: v2 ")
    );
    // The message, the author from Git's configuration, a clean tree, remote in step.
    assert_eq!(
        sb.git(&work, &["log", "-1", "--format=%an <%ae>%n%B"]),
        "Test Bumper <bumper@example.org>\nchore(p3): bump echo-app v1 -> v2\n\n\
         - p3/confs/playground.yaml\n- charts/p3/values.yaml"
    );
    assert_eq!(sb.git(&work, &["status", "--porcelain"]), "");
    let head = sb.git(&work, &["rev-parse", "HEAD"]);
    assert_eq!(sb.git(&remote, &["rev-parse", "main"]), head);
    assert_eq!(sb.git(&work, &["rev-parse", "origin/main"]), head);
}

#[test]
fn dry_run_prints_the_diff_and_changes_nothing() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let before = sb.snapshot(&work, &remote);
    let run = sb.bumper(&work, &["v2", "--dry-run"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains(
        "--- a/p3/confs/playground.yaml\n+++ b/p3/confs/playground.yaml\n@@ -14,7 +14,7 @@\n"
    ));
    assert!(run.stdout.contains(
        "-          image: \"echo-app:v1\"   # gitops-bumper edits this tag\n\
         +          image: \"echo-app:v2\"   # gitops-bumper edits this tag\n"
    ));
    assert!(run.stdout.contains("dry run: nothing was changed"));
    assert_eq!(sb.snapshot(&work, &remote), before);
    assert_eq!(read(&work, "p3/confs/playground.yaml"), support::PLAYGROUND);
}

#[test]
fn bumping_to_the_tag_already_there_is_a_noop() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let before = sb.snapshot(&work, &remote);
    let run = sb.bumper(&work, &["v1"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("nothing to do: every target already has v1")
    );
    assert_eq!(sb.snapshot(&work, &remote), before);
}

#[test]
fn an_invalid_tag_is_a_usage_error() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let before = sb.snapshot(&work, &remote);
    let run = sb.bumper(&work, &["v2:latest"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("`v2:latest` is not a valid image tag"));
    assert_eq!(sb.snapshot(&work, &remote), before);
}

#[test]
fn uncommitted_changes_in_a_file_to_edit_are_never_swept_into_the_commit() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let edited = support::VALUES.replace("replicaCount: 1", "replicaCount: 3");
    write(&work, "charts/p3/values.yaml", &edited);
    let before = sb.snapshot(&work, &remote);
    let run = sb.bumper(&work, &["v2"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: charts/p3/values.yaml has uncommitted changes; commit or stash them first so \
         that they do not end up in the bump commit\n"
    );
    assert_eq!(sb.snapshot(&work, &remote), before);
    assert_eq!(read(&work, "charts/p3/values.yaml"), edited);

    // Staged counts too.
    sb.git(&work, &["add", "charts/p3/values.yaml"]);
    let run = sb.bumper(&work, &["v2"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("charts/p3/values.yaml has uncommitted changes")
    );
}

#[test]
fn unrelated_local_work_is_left_alone_staged_or_not() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    write(
        &work,
        "README.md",
        "# GitOps repository\n\nwork in progress\n",
    );
    write(&work, "notes.txt", "staged\n");
    sb.git(&work, &["add", "notes.txt"]);
    let run = sb.bumper(&work, &["v2"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        sb.git(&work, &["show", "--name-only", "--format=", "HEAD"]),
        "charts/p3/values.yaml\np3/confs/playground.yaml"
    );
    assert_eq!(
        sb.git(&work, &["status", "--porcelain"]),
        " M README.md\nA  notes.txt"
    );
    assert_eq!(
        sb.git(&remote, &["rev-parse", "main"]),
        sb.git(&work, &["rev-parse", "HEAD"])
    );
}

#[test]
fn a_missing_image_is_a_clear_error_and_nothing_is_committed() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let before = sb.snapshot(&work, &remote);
    let run = sb.bumper(&work, &["v2", "--image", "wil42/playground"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: no tag of image `wil42/playground` in the 4 YAML file(s) under p3/confs, \
         charts/p3; check --image and --path\n"
    );
    assert_eq!(sb.snapshot(&work, &remote), before);
}

#[test]
fn malformed_yaml_is_a_clear_error_and_nothing_is_committed() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    write(
        &work,
        "p3/confs/broken.yaml",
        "kind: ConfigMap\ndata:\n  a: [1, 2\n",
    );
    sb.git(&work, &["add", "-A"]);
    sb.git(&work, &["commit", "-q", "-m", "broken file"]);
    let before = sb.snapshot(&work, &remote);
    let run = sb.bumper(&work, &["v2"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with(
            "error: p3/confs/broken.yaml: line 3, column 6: malformed YAML: unclosed bracket"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(sb.snapshot(&work, &remote), before);
}

#[test]
fn different_current_tags_need_all() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    write(
        &work,
        "charts/p3/values.yaml",
        &support::VALUES.replace("tag: v1", "tag: v0"),
    );
    sb.git(&work, &["commit", "-qam", "values lag behind"]);
    let before = sb.snapshot(&work, &remote);
    let run = sb.bumper(&work, &["v2"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(
            "`echo-app` matches different images or tags (p3/confs/playground.yaml line 17: \
             echo-app:v1; charts/p3/values.yaml line 5: echo-app:v0); pass --all"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(sb.snapshot(&work, &remote), before);

    let run = sb.bumper(&work, &["v2", "--all"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        sb.git(&work, &["log", "-1", "--format=%s"]),
        "chore(p3): bump echo-app v1, v0 -> v2"
    );
}

#[test]
fn a_path_that_does_not_exist_is_refused() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let before = sb.snapshot(&work, &remote);
    let run = sb.bumper(&work, &["v2", "--path", "p3/conf"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: `p3/conf` is not in the repository at main; check --path (paths are relative \
         to the repository root)\n"
    );
    assert_eq!(sb.snapshot(&work, &remote), before);
}

#[test]
fn outside_a_repository_the_error_says_where_to_run() {
    let sb = Sandbox::new();
    let run = sb.bumper(sb.dir.path(), &["v2"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(
            "is not inside a Git repository; run from the GitOps repository or pass --repo"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn a_detached_head_needs_a_branch() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    sb.git(&work, &["checkout", "-q", "--detach"]);
    let before = sb.snapshot(&work, &remote);
    let run = sb.bumper(&work, &["v2"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: HEAD is detached; check out the branch to bump or pass --branch\n"
    );
    assert_eq!(sb.snapshot(&work, &remote), before);
    let run = sb.bumper(&work, &["v2", "--branch", "main"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        sb.git(&remote, &["rev-parse", "main"]),
        sb.git(&work, &["rev-parse", "main"])
    );
}

#[test]
fn no_push_commits_locally_only() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let remote_before = sb.git(&remote, &["rev-parse", "main"]);
    let run = sb.bumper(&work, &["v2", "--no-push"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("(not pushed)"));
    assert_eq!(sb.git(&remote, &["rev-parse", "main"]), remote_before);
    assert_eq!(sb.git(&work, &["rev-parse", "HEAD~1"]), remote_before);
    assert_eq!(sb.git(&work, &["status", "--porcelain"]), "");
}

#[test]
fn a_branch_that_is_not_checked_out_is_bumped_without_touching_the_working_tree() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    sb.git(&work, &["branch", "staging"]);
    sb.git(&work, &["push", "-q", "origin", "staging"]);
    let run = sb.bumper(&work, &["v2", "--branch", "staging"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(read(&work, "p3/confs/playground.yaml"), support::PLAYGROUND);
    assert_eq!(
        sb.git(&work, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "main"
    );
    assert_eq!(
        sb.git(&remote, &["show", "staging:charts/p3/values.yaml"]),
        support::VALUES.replace("tag: v1 ", "tag: v2 ").trim_end()
    );
    assert_eq!(
        sb.git(&remote, &["rev-parse", "staging"]),
        sb.git(&work, &["rev-parse", "staging"])
    );
}

#[test]
fn crlf_files_keep_their_line_endings_in_the_commit() {
    let (sb, _remote, work) = Sandbox::repo_with_remote();
    let crlf = support::VALUES.replace('\n', "\r\n");
    write(&work, "charts/p3/values.yaml", &crlf);
    sb.git(&work, &["commit", "-qam", "values with CRLF"]);
    sb.git(&work, &["push", "-q"]);
    let run = sb.bumper(&work, &["v2", "--path", "charts/p3"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let blob = sb.git(&work, &["cat-file", "blob", "HEAD:charts/p3/values.yaml"]);
    assert_eq!(format!("{blob}\r\n"), crlf.replace("tag: v1 ", "tag: v2 "));
}

#[test]
fn author_and_message_can_be_overridden() {
    let (sb, _remote, work) = Sandbox::repo_with_remote();
    let run = sb.bumper(
        &work,
        &[
            "v2",
            "--author",
            "Release Bot <bot@example.org>",
            "--message",
            "deploy {image} {new} (was {old})",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        sb.git(&work, &["log", "-1", "--format=%an <%ae>|%cn|%B"]),
        "Release Bot <bot@example.org>|Test Bumper|deploy echo-app v2 (was v1)"
    );
    let run = sb.bumper(&work, &["v3", "--message", "bump {tag}"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("unknown placeholder `{tag}`"));
}

#[test]
fn an_unreachable_remote_is_a_clear_error_and_nothing_is_committed() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let url = format!("git://127.0.0.1:{}/remote.git", support::free_port());
    sb.git(&work, &["remote", "set-url", "origin", &url]);
    let before = sb.snapshot(&work, &remote);
    let run = sb.bumper(&work, &["v2"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with(&format!("error: cannot reach remote `origin` ({url}): ")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("check the URL and that the server is up")
    );
    assert_eq!(sb.snapshot(&work, &remote), before);
    assert_eq!(read(&work, "p3/confs/playground.yaml"), support::PLAYGROUND);
}

#[test]
fn a_stale_clone_fetches_re_applies_and_pushes_on_top_without_force() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    // Someone else changes another line and pushes first.
    let other = sb.clone(remote.to_str().unwrap(), "other");
    write(
        &other,
        "charts/p3/values.yaml",
        &support::VALUES.replace("replicaCount: 1", "replicaCount: 2"),
    );
    sb.git(&other, &["commit", "-qam", "scale to 2"]);
    sb.git(&other, &["push", "-q"]);
    let theirs = sb.git(&other, &["rev-parse", "HEAD"]);

    let run = sb.bumper(&work, &["v2"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("push rejected (attempt 1): non-fast-forward"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("re-applied the edit on top (v1 -> v2)"),
        "{}",
        run.stdout
    );
    // History: theirs, then ours on top; both changes in the file.
    assert_eq!(sb.git(&remote, &["rev-parse", "main~1"]), theirs);
    assert_eq!(
        sb.git(&remote, &["log", "--format=%s", "main"]),
        "chore(p3): bump echo-app v1 -> v2\nscale to 2\np3 at v1"
    );
    assert_eq!(
        sb.git(&remote, &["show", "main:charts/p3/values.yaml"]),
        support::VALUES
            .replace("replicaCount: 1", "replicaCount: 2")
            .replace("tag: v1 ", "tag: v2 ")
            .trim_end()
    );
    // The clone followed: HEAD is the pushed commit, the tree is clean and has both changes.
    assert_eq!(
        sb.git(&work, &["rev-parse", "HEAD"]),
        sb.git(&remote, &["rev-parse", "main"])
    );
    assert_eq!(sb.git(&work, &["status", "--porcelain"]), "");
    assert!(read(&work, "charts/p3/values.yaml").contains("replicaCount: 2"));
}

#[test]
fn unpushed_local_work_on_a_moved_remote_is_diverged_not_forced() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    write(&work, "README.md", "# local, not pushed\n");
    sb.git(&work, &["commit", "-qam", "local work"]);
    let other = sb.clone(remote.to_str().unwrap(), "other");
    write(&other, "README.md", "# theirs\n");
    sb.git(&other, &["commit", "-qam", "their work"]);
    sb.git(&other, &["push", "-q"]);
    let before = sb.snapshot(&work, &remote);
    let run = sb.bumper(&work, &["v2"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: your main and origin/main have diverged; pull (and resolve) first, then run \
         again — gitops-bumper never force-pushes\n"
    );
    assert_eq!(sb.snapshot(&work, &remote), before);
}

#[test]
fn a_stale_clone_whose_remote_already_has_the_tag_commits_nothing() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let other = sb.clone(remote.to_str().unwrap(), "other");
    // Another message, so that the two bump commits are not byte-identical objects.
    let run = sb.bumper(&other, &["v2", "--message", "release {new}"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let before = sb.snapshot(&work, &remote);
    let run = sb.bumper(&work, &["v2"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("origin/main already has v2 at "),
        "{}",
        run.stdout
    );
    assert_eq!(sb.snapshot(&work, &remote), before);
}

#[test]
fn a_pre_receive_hook_rejection_is_reported_not_swallowed() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    hook(
        &remote,
        "pre-receive",
        "#!/bin/sh\necho 'main is protected: open a pull request'\nexit 1\n",
    );
    let daemon = GitDaemon::start(&sb, sb.dir.path());
    sb.git(
        &work,
        &["remote", "set-url", "origin", &daemon.url("remote.git")],
    );
    let before = sb.snapshot(&work, &remote);
    let run = sb.bumper(&work, &["v2"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: push to origin/main was rejected: pre-receive hook declined (remote said: main \
         is protected: open a pull request); nothing was changed locally\n"
    );
    // Rejected once, not retried: the remote had not moved.
    assert_eq!(
        run.stdout.matches("push rejected").count(),
        1,
        "{}",
        run.stdout
    );
    assert_eq!(sb.snapshot(&work, &remote), before);
    assert_eq!(read(&work, "p3/confs/playground.yaml"), support::PLAYGROUND);
}

/// A local remote (a path, as `git clone /srv/lab.git` sets it) runs its hooks too: the push
/// goes through git's own receive-pack, as `git push` does, not libgit2's local transport.
#[test]
fn a_local_remotes_pre_receive_hook_is_honoured() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    hook(
        &remote,
        "pre-receive",
        "#!/bin/sh\necho 'main is protected: open a pull request'\nexit 1\n",
    );
    let before = sb.snapshot(&work, &remote);
    for url in [
        remote.to_str().unwrap().to_owned(),
        format!("file://{}", remote.display()),
    ] {
        sb.git(&work, &["remote", "set-url", "origin", &url]);
        let run = sb.bumper(&work, &["v2"], &[]);
        assert_eq!(run.code, 1, "{url}: {run:?}");
        assert_eq!(
            run.stderr,
            "error: push to origin/main was rejected: pre-receive hook declined (remote said: main \
             is protected: open a pull request); nothing was changed locally\n",
            "{url}"
        );
        assert_eq!(read(&work, "p3/confs/playground.yaml"), support::PLAYGROUND);
    }
    sb.git(
        &work,
        &["remote", "set-url", "origin", remote.to_str().unwrap()],
    );
    assert_eq!(sb.snapshot(&work, &remote), before);
}

#[test]
fn two_bumpers_racing_on_one_remote_both_land_in_order_without_force() {
    let (sb, remote, _work) = Sandbox::repo_with_remote();
    // A slow hook widens the race: both clones start from the same tip.
    hook(&remote, "pre-receive", "#!/bin/sh\nsleep 0.3\n");
    let daemon = GitDaemon::start(&sb, sb.dir.path());
    let url = daemon.url("remote.git");
    let a = sb.clone(&url, "a");
    let b = sb.clone(&url, "b");
    let base = sb.git(&remote, &["rev-parse", "main"]);

    let first = sb.spawn_bumper(&a, &["v2"]);
    let second = sb.spawn_bumper(&b, &["v3"]);
    let (first, second) = (Sandbox::wait(first), Sandbox::wait(second));
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(second.code, 0, "{second:?}");

    // Linear history: base, then one bump, then the other on top of it.
    let log = sb.git(&remote, &["log", "--format=%H %P|%s", "main"]);
    let lines: Vec<(&str, &str)> = log.lines().map(|l| l.split_once('|').unwrap()).collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines[2].0.starts_with(&base), "{log}");
    for (ids, _) in &lines[..2] {
        assert_eq!(
            ids.split(' ').count(),
            2,
            "not a single-parent commit: {log}"
        );
    }
    let subjects: Vec<&str> = lines.iter().map(|(_, s)| *s).collect();
    let order_v2_then_v3 = [
        "chore(p3): bump echo-app v2 -> v3",
        "chore(p3): bump echo-app v1 -> v2",
        "p3 at v1",
    ];
    let order_v3_then_v2 = [
        "chore(p3): bump echo-app v3 -> v2",
        "chore(p3): bump echo-app v1 -> v3",
        "p3 at v1",
    ];
    assert!(
        subjects == order_v2_then_v3 || subjects == order_v3_then_v2,
        "{log}"
    );
    // Exactly one of them had to re-apply; the file holds the later bump's tag.
    let rebased = [&first, &second]
        .iter()
        .filter(|r| r.stdout.contains("re-applied the edit on top"))
        .count();
    assert_eq!(rebased, 1, "{first:?}\n{second:?}");
    let last_tag = if subjects == order_v2_then_v3 {
        "v3"
    } else {
        "v2"
    };
    assert!(
        sb.git(&remote, &["show", "main:p3/confs/playground.yaml"])
            .contains(&format!("image: \"echo-app:{last_tag}\""))
    );
}

#[test]
fn a_remote_that_keeps_moving_is_retried_a_bounded_number_of_times() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    // Every push attempt finds main moved by someone else a moment before.
    // (The update hook runs outside the push's object quarantine, so it may move refs.)
    hook(
        &remote,
        "update",
        "#!/bin/sh\n\
         next=$(git commit-tree -p \"$2\" -m 'someone else' \"$2^{tree}\")\n\
         git update-ref \"$1\" \"$next\" \"$2\"\n\
         exit 1\n",
    );
    let daemon = GitDaemon::start(&sb, sb.dir.path());
    sb.git(
        &work,
        &["remote", "set-url", "origin", &daemon.url("remote.git")],
    );
    let head_before = sb.git(&work, &["rev-parse", "HEAD"]);
    let run = sb.bumper(&work, &["v2", "--retries", "2"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stdout.matches("push rejected").count(),
        3,
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("push to origin/main was still rejected after 3 attempts"),
        "{}",
        run.stderr
    );
    assert_eq!(sb.git(&work, &["rev-parse", "HEAD"]), head_before);
    assert_eq!(sb.git(&work, &["status", "--porcelain"]), "");
    assert!(
        !sb.git(&remote, &["log", "--format=%s", "main"])
            .contains("bump echo-app")
    );
}

#[test]
fn a_token_from_the_environment_pushes_over_http_and_a_bad_one_gives_up() {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let server = HttpGit::start(sb.dir.path().to_owned(), "bot", "right-token");
    let url = server.url("remote.git");
    sb.git(&work, &["remote", "set-url", "origin", &url]);
    let before = sb.snapshot(&work, &remote);

    let run = sb.bumper(&work, &["v2"], &[("GIT_TOKEN", "wrong-token")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "error: authentication to {url} failed (tried the token in $GIT_TOKEN); put a token \
             with push rights in $GIT_TOKEN, load a key into ssh-agent, or configure a Git \
             credential helper\n"
        )
    );
    assert!(!run.stderr.contains("wrong-token") && !run.stdout.contains("wrong-token"));
    assert_eq!(
        server.refused(),
        1,
        "the bad token must be offered once, not forever"
    );
    assert_eq!(sb.snapshot(&work, &remote), before);

    let run = sb.bumper(&work, &["v2"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("(tried nothing: no credential source applies)"),
        "{}",
        run.stderr
    );
    assert_eq!(sb.snapshot(&work, &remote), before);

    let run = sb.bumper(
        &work,
        &["v2", "--token-env", "DEPLOY_TOKEN"],
        &[("DEPLOY_TOKEN", "right-token")],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        sb.git(&remote, &["rev-parse", "main"]),
        sb.git(&work, &["rev-parse", "HEAD"])
    );
    assert_eq!(
        sb.git(&remote, &["log", "-1", "--format=%s", "main"]),
        "chore(p3): bump echo-app v1 -> v2"
    );
}
