//! Pushing over ssh with the key in ssh-agent, against a real OpenSSH server on 127.0.0.1.
//!
//! Needs Debian's `sshd` (package openssh-server, or its binary in `$SSHD`) and its
//! privilege-separation user; without them each test says `skipped: <reason>` and passes.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use support::{Sandbox, free_port, read};

/// An sshd that lets the current user in with one authorized key; stopped on drop.
struct Sshd {
    child: Child,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An ssh-agent on its own socket; stopped on drop.
struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sshd_binary() -> Result<PathBuf, String> {
    let path = std::env::var_os("SSHD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/sshd"));
    if !path.exists() {
        return Err(format!(
            "no sshd at {} (apt-get install openssh-server, or set SSHD)",
            path.display()
        ));
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    if !passwd.lines().any(|l| l.starts_with("sshd:")) {
        return Err("sshd's privilege-separation user `sshd` does not exist".to_owned());
    }
    Ok(path)
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", ""])
        .arg("-f")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn start_sshd(sb: &Sandbox, binary: &Path, authorized: &Path) -> Sshd {
    let dir = sb.path("sshd");
    std::fs::create_dir_all(&dir).unwrap();
    // sshd chroots its unprivileged child here.
    std::fs::create_dir_all("/run/sshd").unwrap();
    keygen(&dir.join("host_key"));
    let port = free_port();
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "ListenAddress 127.0.0.1:{port}\nHostKey {dir}/host_key\n\
             AuthorizedKeysFile {authorized}\nPubkeyAuthentication yes\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n\
             PidFile {dir}/sshd.pid\n",
            dir = dir.display(),
            authorized = authorized.display()
        ),
    )
    .unwrap();
    let child = Command::new(binary)
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "sshd did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The client trusts exactly this host key.
    let host_key = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
    let key: Vec<&str> = host_key.split_whitespace().take(2).collect();
    let ssh_dir = sb.home.join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    std::fs::write(
        ssh_dir.join("known_hosts"),
        format!("[127.0.0.1]:{port} {}\n", key.join(" ")),
    )
    .unwrap();
    Sshd { child, port }
}

fn start_agent(sb: &Sandbox, key: Option<&Path>) -> Agent {
    let socket = sb.path("agent.sock");
    let child = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "ssh-agent did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if let Some(key) = key {
        let status = Command::new("ssh-add")
            .arg("-q")
            .arg(key)
            .env("SSH_AUTH_SOCK", &socket)
            .status()
            .unwrap();
        assert!(status.success());
    }
    Agent { child, socket }
}

/// A clone whose origin is `ssh://<user>@127.0.0.1:<port>/…/remote.git`, and the sshd.
fn ssh_setup(binary: &Path) -> (Sandbox, PathBuf, PathBuf, Sshd, PathBuf, String) {
    let (sb, remote, work) = Sandbox::repo_with_remote();
    let user_key = sb.path("user_key");
    keygen(&user_key);
    let authorized = sb.path("authorized_keys");
    std::fs::copy(sb.path("user_key.pub"), &authorized).unwrap();
    let sshd = start_sshd(&sb, binary, &authorized);
    let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
    let url = format!("ssh://{user}@127.0.0.1:{}{}", sshd.port, remote.display());
    sb.git(&work, &["remote", "set-url", "origin", &url]);
    (sb, remote, work, sshd, user_key, url)
}

#[test]
fn the_key_in_ssh_agent_pushes() {
    let binary = match sshd_binary() {
        Ok(b) => b,
        Err(reason) => return println!("skipped: {reason}"),
    };
    let (sb, remote, work, _sshd, user_key, _url) = ssh_setup(&binary);
    let agent = start_agent(&sb, Some(&user_key));
    let sock = agent.socket.to_str().unwrap();
    let run = sb.bumper(&work, &["v2"], &[("SSH_AUTH_SOCK", sock)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        sb.git(&remote, &["rev-parse", "main"]),
        sb.git(&work, &["rev-parse", "HEAD"])
    );
    assert!(read(&work, "p3/confs/playground.yaml").contains("echo-app:v2"));
}

#[test]
fn an_agent_without_the_key_fails_once_and_commits_nothing() {
    let binary = match sshd_binary() {
        Ok(b) => b,
        Err(reason) => return println!("skipped: {reason}"),
    };
    let (sb, remote, work, _sshd, _user_key, url) = ssh_setup(&binary);
    let other_key = sb.path("other_key");
    keygen(&other_key);
    let before = sb.snapshot(&work, &remote);

    let agent = start_agent(&sb, Some(&other_key));
    let sock = agent.socket.to_str().unwrap();
    let run = sb.bumper(&work, &["v2"], &[("SSH_AUTH_SOCK", sock)]);
    assert_eq!(run.code, 1, "{run:?}");
    let shown = shown_url(&url);
    assert!(
        run.stderr.starts_with(&format!(
            "error: authentication to {shown} failed (tried ssh-agent); "
        )),
        "{}",
        run.stderr
    );
    drop(agent);

    let run = sb.bumper(&work, &["v2"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("authentication to"), "{}", run.stderr);
    assert_eq!(sb.snapshot(&work, &remote), before);
}

/// The URL as the bumper shows it: without the user name.
fn shown_url(url: &str) -> String {
    lab_gitops::git::redact_url(url)
}
