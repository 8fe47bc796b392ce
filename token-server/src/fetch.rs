//! `token-server fetch`: asks `serve` until it hands over a token, then writes it.
//!
//! Plain HTTP/1.1 over one TCP connection per attempt, through hyper's low-level client: the
//! token travels on the lab's private host-only network, guarded by the address check and
//! the shared secret; TLS would need a certificate the agent can verify before it has joined
//! the cluster, which is the very problem being solved.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, LengthLimitError, Limited};
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use thiserror::Error;
use tokio::net::TcpSocket;
use tokio::time::Instant;

use crate::backoff::{Backoff, Jitter};
use crate::private_file;
use crate::secret::Secret;
use crate::token::{self, TokenError};

/// One attempt (connect, request, response) never takes longer than this.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a waiting fetch says it is still waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// A body longer than this is not a token.
const MAX_BODY: usize = token::MAX_LEN + 2;

/// Where to fetch from, parsed from `--url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    host: String,
    port: u16,
    path_and_query: String,
    host_header: String,
}

#[derive(Debug)]
pub struct FetchConfig {
    pub target: Target,
    pub secret: Option<Secret>,
    pub timeout: Duration,
    pub out: Option<PathBuf>,
    /// Local address to connect from.
    pub bind: Option<IpAddr>,
    pub backoff: Backoff,
}

#[derive(Debug, Error)]
pub enum FetchError {
    #[error("--url {url}: {why}")]
    BadUrl { url: String, why: &'static str },
    #[error("--out {0}")]
    BadOut(String),
    #[error("--bind {addr}: cannot use it as a local address ({source})")]
    BadBind {
        addr: IpAddr,
        source: std::io::Error,
    },
    #[error("no token from {url} after {waited} ({attempts} attempts); the last attempt: {last}")]
    TimedOut {
        url: String,
        waited: String,
        attempts: u32,
        last: String,
    },
    #[error("{url} answered {status}: {why}")]
    Refused {
        url: String,
        status: StatusCode,
        why: String,
    },
    #[error("{url} answered 200 but the body is not a K3s token: {why}; nothing was written")]
    Garbage { url: String, why: TokenError },
    #[error("cannot write the token to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl FetchError {
    /// Exit codes a provisioning script can tell apart: 3 timed out, 4 refused by the
    /// server, 5 not a token, 1 anything else (2 is clap's usage error).
    pub fn exit_code(&self) -> u8 {
        match self {
            FetchError::TimedOut { .. } => 3,
            FetchError::Refused { .. } => 4,
            FetchError::Garbage { .. } => 5,
            _ => 1,
        }
    }
}

/// Parses `--url`: `http://HOST[:PORT]/PATH`, nothing else.
pub fn parse_url(url: &str) -> Result<Target, FetchError> {
    let bad = |why| FetchError::BadUrl {
        url: url.to_owned(),
        why,
    };
    if !url.contains("://") {
        return Err(bad("the URL must start with http://"));
    }
    let uri: Uri = url
        .parse()
        .map_err(|_| bad("not a URL; expected e.g. http://192.168.56.110:8080/node-token"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(bad(
                "https is not supported: token-server speaks plain HTTP on the private network \
                 and guards the token with --allow and the shared secret",
            ));
        }
        _ => return Err(bad("the URL must start with http://")),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| bad("the URL names no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad(
            "credentials in the URL are not supported; use --secret-file or --secret-env",
        ));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("the URL names no host"));
    }
    let path_and_query = match uri.path_and_query().map(|pq| pq.as_str()) {
        None | Some("" | "/") => {
            return Err(bad("the URL names no file; the token is at /node-token"));
        }
        Some(pq) => pq.to_owned(),
    };
    Ok(Target {
        url: url.to_owned(),
        host: host.to_owned(),
        port: authority.port_u16().unwrap_or(80),
        path_and_query,
        host_header: authority.as_str().to_owned(),
    })
}

/// Waits for the token and writes it to `--out` (0600, atomically) or stdout.
pub fn run(cfg: FetchConfig) -> Result<(), FetchError> {
    if let Some(out) = &cfg.out {
        private_file::check_writable_target(out).map_err(FetchError::BadOut)?;
    }
    if let Some(addr) = cfg.bind {
        // A typo here would otherwise look like a server that never answers.
        std::net::TcpListener::bind((addr, 0))
            .map_err(|source| FetchError::BadBind { addr, source })?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(FetchError::Runtime)?;
    let token = runtime.block_on(fetch_token(&cfg))?;
    match &cfg.out {
        Some(path) => {
            private_file::write_atomically(path, &token).map_err(|source| FetchError::Write {
                path: path.clone(),
                source,
            })?;
            tracing::info!(out = %path.display(), "wrote the token (mode 0600)");
        }
        None => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&token)
                .and_then(|()| stdout.flush())
                .map_err(|source| FetchError::Write {
                    path: PathBuf::from("<stdout>"),
                    source,
                })?;
        }
    }
    Ok(())
}

/// What one attempt came to.
enum Attempt {
    Token(Vec<u8>),
    /// Worth asking again: not ready, not listening yet, network trouble.
    Retry(String),
    Fatal(FetchError),
}

/// Asks until a token arrives, the server refuses for good, or `--timeout` passes.
async fn fetch_token(cfg: &FetchConfig) -> Result<Vec<u8>, FetchError> {
    let started = Instant::now();
    let deadline = started + cfg.timeout;
    let mut jitter = Jitter::default();
    let mut attempts = 0u32;
    let mut last_reason = String::new();
    let mut last_progress = started;
    tracing::info!(url = %cfg.target.url, timeout = %humantime::format_duration(cfg.timeout), "fetching the token");
    loop {
        let now = Instant::now();
        let budget = deadline.saturating_duration_since(now).min(ATTEMPT_TIMEOUT);
        attempts += 1;
        let outcome = match tokio::time::timeout(budget, attempt(cfg)).await {
            Ok(outcome) => outcome,
            Err(_) => Attempt::Retry(format!(
                "no answer within {}",
                humantime::format_duration(budget)
            )),
        };
        let reason = match outcome {
            Attempt::Token(token) => {
                tracing::info!(
                    attempts,
                    waited_ms = started.elapsed().as_millis() as u64,
                    "got the token"
                );
                return Ok(token);
            }
            Attempt::Fatal(e) => return Err(e),
            Attempt::Retry(reason) => reason,
        };
        let now = Instant::now();
        if reason != last_reason {
            tracing::info!(attempt = attempts, "not yet: {reason}; retrying");
            last_progress = now;
        } else if now.duration_since(last_progress) >= PROGRESS_EVERY {
            tracing::info!(
                attempt = attempts,
                waited = %humantime::format_duration(Duration::from_secs(now.duration_since(started).as_secs())),
                "still waiting: {reason}"
            );
            last_progress = now;
        }
        last_reason = reason;
        let pause = cfg.backoff.delay(attempts - 1, jitter.next_unit());
        if now + pause >= deadline {
            return Err(FetchError::TimedOut {
                url: cfg.target.url.clone(),
                waited: humantime::format_duration(cfg.timeout).to_string(),
                attempts,
                last: last_reason,
            });
        }
        tokio::time::sleep(pause).await;
    }
}

async fn attempt(cfg: &FetchConfig) -> Attempt {
    let target = &cfg.target;
    let addrs = match resolve(target).await {
        Ok(a) => a,
        Err(why) => return Attempt::Retry(why),
    };
    let mut last = String::from("no address to connect to");
    for addr in addrs {
        match exchange(cfg, addr).await {
            Ok((status, body)) => return classify(target, status, body.as_deref()),
            Err(why) => last = why,
        }
    }
    Attempt::Retry(last)
}

async fn resolve(target: &Target) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    match tokio::net::lookup_host((target.host.as_str(), target.port)).await {
        Ok(addrs) => Ok(addrs.collect()),
        Err(e) => Err(format!("cannot resolve {}: {e}", target.host)),
    }
}

/// One request on a fresh connection: the status and the body, `None` when it is longer
/// than [`MAX_BODY`] (and so no token).
async fn exchange(
    cfg: &FetchConfig,
    addr: SocketAddr,
) -> Result<(StatusCode, Option<Bytes>), String> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| format!("cannot open a socket: {e}"))?;
    if let Some(local) = cfg.bind {
        socket
            .bind(SocketAddr::new(local, 0))
            .map_err(|e| format!("cannot connect from {local}: {e}"))?;
    }
    let stream = socket
        .connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {addr} failed: {e}"))?;
    let driver = tokio::spawn(connection);
    let request = build_request(cfg).map_err(|e| format!("cannot build the request: {e}"))?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{addr} closed the connection: {e}"))?;
        let status = response.status();
        match Limited::new(response.into_body(), MAX_BODY).collect().await {
            Ok(body) => Ok((status, Some(body.to_bytes()))),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Ok((status, None)),
            Err(e) => Err(format!("reading the answer from {addr} failed: {e}")),
        }
    }
    .await;
    driver.abort();
    result
}

fn build_request(cfg: &FetchConfig) -> Result<Request<Empty<Bytes>>, hyper::http::Error> {
    let mut builder = Request::get(cfg.target.path_and_query.as_str())
        .header(header::HOST, cfg.target.host_header.as_str())
        .header(
            header::USER_AGENT,
            concat!("token-server-fetch/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(secret) = &cfg.secret {
        let mut value = HeaderValue::from_bytes(&secret.bearer_header())?;
        value.set_sensitive(true);
        builder = builder.header(header::AUTHORIZATION, value);
    }
    builder.body(Empty::new())
}

/// Turns an answer into the next step. Statuses that cannot get better by waiting (the
/// address, the secret, the URL, the budget) end the fetch at once with what to do.
fn classify(target: &Target, status: StatusCode, body: Option<&[u8]>) -> Attempt {
    let refused = |why: &str| {
        Attempt::Fatal(FetchError::Refused {
            url: target.url.clone(),
            status,
            why: why.to_owned(),
        })
    };
    match status.as_u16() {
        200 => match body.map_or(Err(TokenError::TooLong), token::parse) {
            Ok(token) => {
                if token.kind == token::Kind::Short {
                    tracing::warn!(
                        "the token is a short token: the agent cannot check the server's CA"
                    );
                }
                let mut line = token.text.as_bytes().to_vec();
                line.push(b'\n');
                Attempt::Token(line)
            }
            Err(why) => Attempt::Fatal(FetchError::Garbage {
                url: target.url.clone(),
                why,
            }),
        },
        401 => refused(
            "the shared secret is missing or wrong; pass the server's secret with --secret-env \
             or --secret-file (in p1, provision both VMs in one `vagrant up` or `vagrant \
             provision`, which share one secret)",
        ),
        403 => refused("this machine's address is not in the server's --allow list"),
        404 => refused("no such file on the server; the token is served at /node-token"),
        405 => refused("the server accepts GET only"),
        410 => refused(
            "the token was already fetched as often as allowed (--max-fetches) or its time \
             (--ttl) ran out; restart `token-server serve` on the server",
        ),
        408 | 425 | 429 | 500 | 502 | 503 | 504 => {
            Attempt::Retry(format!("the server answered {status}"))
        }
        _ => refused("unexpected answer"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        parse_url("http://127.0.0.110:8080/node-token").unwrap()
    }

    #[test]
    fn urls_name_an_http_host_and_a_path() {
        let t = target();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.110", 8080));
        assert_eq!(t.path_and_query, "/node-token");
        assert_eq!(t.host_header, "127.0.0.110:8080");
        let v6 = parse_url("http://[::1]/node-token").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 80));
    }

    #[test]
    fn unusable_urls_are_explained() {
        for (url, hint) in [
            (
                "https://192.168.56.110/node-token",
                "https is not supported",
            ),
            ("ftp://192.168.56.110/node-token", "must start with http://"),
            ("192.168.56.110:8080/node-token", "must start with http://"),
            ("http://192.168.56.110:8080", "names no file"),
            ("http://192.168.56.110:8080/", "names no file"),
            (
                "http://u:p@192.168.56.110/node-token",
                "credentials in the URL",
            ),
            ("http://[bad/node-token", "not a URL"),
        ] {
            let err = parse_url(url).unwrap_err().to_string();
            assert!(err.contains(hint), "{url}: {err}");
        }
    }

    #[test]
    fn a_token_answer_is_normalised_to_one_line() {
        let body = b"abcdef.0123456789abcdef\r\n";
        match classify(&target(), StatusCode::OK, Some(body)) {
            Attempt::Token(t) => assert_eq!(t, b"abcdef.0123456789abcdef\n"),
            _ => panic!("expected a token"),
        }
    }

    #[test]
    fn garbage_and_refusals_end_the_fetch_with_their_exit_code() {
        let t = target();
        let code = |a: Attempt| match a {
            Attempt::Fatal(e) => e.exit_code(),
            Attempt::Token(_) => 0,
            Attempt::Retry(_) => 255,
        };
        let page = b"<html>Welcome</html>".as_slice();
        assert_eq!(code(classify(&t, StatusCode::OK, Some(page))), 5);
        assert_eq!(code(classify(&t, StatusCode::OK, Some(b""))), 5);
        assert_eq!(code(classify(&t, StatusCode::OK, None)), 5);
        for status in [401, 403, 404, 405, 410, 418, 301] {
            let s = StatusCode::from_u16(status).unwrap();
            assert_eq!(code(classify(&t, s, Some(b""))), 4, "{status}");
        }
        for status in [503, 502, 500, 429] {
            let s = StatusCode::from_u16(status).unwrap();
            assert_eq!(code(classify(&t, s, None)), 255, "{status}");
        }
    }
}
