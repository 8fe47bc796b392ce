//! The real `token-server` binary on loopback: `serve` on 127.0.0.110 (the server VM's
//! stand-in), clients from 127.0.0.111 (the agent) or 127.0.0.112 (a stranger).
#![allow(clippy::unwrap_used, dead_code)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_token-server");
pub const SERVER_IP: &str = "127.0.0.110";
pub const AGENT_IP: &str = "127.0.0.111";
pub const STRANGER_IP: &str = "127.0.0.112";
pub const SECRET: &str = "s3cret-0f-the-day-0123456789abcdef";
/// What K3s writes to server/node-token (the CA hash and password are made up).
pub const TOKEN: &str = "K10f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f00::server:9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a";
/// The sibling no request may ever reach.
pub const CA_KEY: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIDoNotLeakThisCaKey0123456789\n-----END EC PRIVATE KEY-----\n";

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A K3s server directory: `server/node-token` (optionally absent) and `server/tls/` keys.
pub struct ServerDir {
    pub dir: tempfile::TempDir,
}

impl ServerDir {
    pub fn new(with_token: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = dir.path().join("server");
        std::fs::create_dir_all(server.join("tls")).unwrap();
        std::fs::write(server.join("server-ca.key"), CA_KEY).unwrap();
        std::fs::write(server.join("tls/server-ca.key"), CA_KEY).unwrap();
        let this = Self { dir };
        if with_token {
            this.write_token();
        }
        this
    }

    pub fn token_path(&self) -> PathBuf {
        self.dir.path().join("server/node-token")
    }

    /// Writes the token the way K3s' file appears to a reader: all at once.
    pub fn write_token(&self) {
        let tmp = self.dir.path().join("server/.node-token.tmp");
        std::fs::write(&tmp, format!("{TOKEN}\n")).unwrap();
        std::fs::rename(tmp, self.token_path()).unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

/// Collects a child's stderr lines on a thread, so the pipe never fills up.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<String>>);

impl Log {
    fn collect(
        stderr: impl std::io::Read + Send + 'static,
        first_line: Option<mpsc::Sender<String>>,
    ) -> Self {
        let log = Log::default();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut first_line = first_line;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(tx) = &first_line
                    && line.contains("listening on")
                {
                    let _ = tx.send(line.clone());
                    first_line = None;
                }
                let mut text = sink.0.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        log
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    /// Waits until the log holds `needle` (the process logs on its own schedule).
    pub fn wait_for(&self, needle: &str, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if self.text().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The test's own guarantee: no secret material in any log line.
    pub fn assert_no_secrets(&self) {
        let text = self.text();
        for (name, secret) in [("token", TOKEN), ("shared secret", SECRET)] {
            assert!(!text.contains(secret), "the log holds the {name}:\n{text}");
        }
        // Even a part of the token's password or of the key must not show.
        assert!(
            !text.contains("9d8c7b6a5f4e3d2c"),
            "the log holds part of the token:\n{text}"
        );
        assert!(
            !text.contains("DoNotLeakThisCaKey"),
            "the log holds the CA key:\n{text}"
        );
    }
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub log: Log,
}

impl Server {
    /// Starts `serve --listen 127.0.0.110:0 <args>` with `TS_SECRET` set, and waits until it
    /// listens.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", &format!("{SERVER_IP}:0")])
            .args(args)
            .env("TS_SECRET", SECRET)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let log = Log::collect(child.stderr.take().unwrap(), Some(tx));
        let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) else {
            let _ = child.kill();
            panic!("serve did not start listening; its log:\n{}", log.text());
        };
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap();
        Self { child, addr, log }
    }

    pub fn url(&self) -> String {
        format!("http://{}/node-token", self.addr)
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let until = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < until,
                "serve still runs after {within:?}; its log:\n{}",
                self.log.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response as read off the socket.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
    /// Every byte received, for "never leaks" checks.
    pub bytes: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    pub fn assert_leaks_nothing(&self) {
        let all = String::from_utf8_lossy(&self.bytes);
        assert!(!all.contains(TOKEN), "response holds the token:\n{all}");
        assert!(
            !all.contains("9d8c7b6a5f4e3d2c"),
            "response holds part of the token:\n{all}"
        );
        assert!(
            !all.contains("DoNotLeakThisCaKey"),
            "response holds the CA key:\n{all}"
        );
    }
}

/// Sends `request` byte for byte from `from` to `to` and reads until the server closes.
pub fn raw(from: &str, to: SocketAddr, request: &[u8]) -> Raw {
    let stream = connect_from(ip(from), to);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut stream = stream;
    // The server may answer and close before reading everything (e.g. a huge head).
    let _ = stream.write_all(request);
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = match text.find("\r\n\r\n") {
        Some(i) => (text[..i].to_owned(), bytes[i + 4..].to_vec()),
        None => (text.clone(), Vec::new()),
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no HTTP status in the answer to {:?}: {text:?}",
                String::from_utf8_lossy(&request[..request.len().min(200)])
            )
        });
    Raw {
        status,
        head,
        body,
        bytes,
    }
}

/// A GET for `target`, with the given Authorization header (if any).
pub fn get(target: &str, authorization: Option<&str>) -> Vec<u8> {
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {SERVER_IP}\r\n");
    if let Some(a) = authorization {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    req.into_bytes()
}

pub fn bearer() -> String {
    format!("Bearer {SECRET}")
}

/// A TCP connection whose source address is `from` (std cannot bind before connecting).
pub fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(from, 0)).unwrap();
        socket.connect(to).await.unwrap()
    });
    let std = stream.into_std().unwrap();
    std.set_nonblocking(false).unwrap();
    std
}

/// What a `fetch` run came to.
pub struct Fetched {
    pub status: ExitStatus,
    pub stdout: String,
    pub log: Log,
}

/// Runs `token-server fetch <args>` to completion with `TS_SECRET` set to `secret`.
pub fn fetch(args: &[&str], secret: &str, within: Duration) -> Fetched {
    let mut child = Command::new(BIN)
        .arg("fetch")
        .args(args)
        .env("TS_SECRET", secret)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Log::collect(child.stderr.take().unwrap(), None);
    let until = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stdout = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut stdout)
                .unwrap();
            // Let the collector thread take the last lines.
            std::thread::sleep(Duration::from_millis(50));
            return Fetched {
                status,
                stdout,
                log,
            };
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!(
                "fetch still runs after {within:?}; its log:\n{}",
                log.text()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of one `token_server_*` sample in a /metrics answer.
pub fn metric(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{metrics}"))
}

pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}
