//! `token-server serve`: one address, one file, a bounded number of fetches for a bounded
//! time. The rules live in [`crate::policy`]; this is the socket and file plumbing around them.

use std::convert::Infallible;
use std::io::{self, Read as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use thiserror::Error;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::allow::AllowList;
use crate::metrics::Metrics;
use crate::policy::{self, Budget, Refusal, Route};
use crate::secret::{Check, Secret};
use crate::token::{self, TokenError};

/// Default of `--file`: where K3s writes the join token for agents.
pub const DEFAULT_TOKEN_FILE: &str = "/var/lib/rancher/k3s/server/node-token";
/// Open connections from `--allow`ed peers; clients are few (one agent). Beyond it, new
/// connections are closed at once.
const MAX_CONNECTIONS: usize = 32;
/// Open connections from other peers (each only ever gets a 403): a separate, smaller pool,
/// so that strangers holding connections open cannot crowd out the agent.
const MAX_STRANGER_CONNECTIONS: usize = 4;
/// A client that has not sent its request head by then is dropped (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// hyper's smallest read buffer; a larger request head is answered 431.
const MAX_HEAD_BYTES: usize = 8192;
/// How long in-flight answers get once serving ends.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of a request target a log line quotes.
const LOGGED_TARGET_LEN: usize = 96;

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const METRICS_TYPE: HeaderValue =
    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");

#[derive(Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub file: PathBuf,
    pub secret: Option<Secret>,
    pub ttl: Duration,
    pub max_fetches: Option<u64>,
    pub allow: AllowList,
    /// After the budget or TTL is spent, keep answering 410 this long before exiting.
    pub linger: Duration,
}

#[derive(Debug, Error)]
pub enum ServeError {
    #[error(
        "--listen {0} would listen on every interface; give the one address the agent \
         reaches, e.g. --listen 192.168.56.110:8080"
    )]
    ListenEverywhere(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error(
        "cannot read the token file {path}: {source}; run serve as a user that may read it, or \
         hand the file over as a systemd credential (see token-server/README.md)"
    )]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Why serving ended (all of them exit 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `--max-fetches` tokens were served.
    Spent,
    /// `--ttl` ran out.
    Expired,
    /// SIGTERM or SIGINT.
    Signal,
}

/// Checks the configuration, binds, and serves until the budget, the TTL or a signal ends it.
pub fn run(cfg: ServeConfig) -> Result<Ending, ServeError> {
    if cfg.listen.ip().is_unspecified() {
        return Err(ServeError::ListenEverywhere(cfg.listen));
    }
    check_token_file(&cfg.file)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async move {
        let listener = bind(cfg.listen)?;
        let app = Arc::new(App::new(cfg)?);
        let local = listener.local_addr().unwrap_or(app.listen);
        tracing::info!(
            file = %app.file.display(),
            allow = %app.allow,
            ttl = %humantime::format_duration(app.ttl),
            max_fetches = %app.max_fetches_text(),
            secret = app.secret.is_some(),
            "token-server is listening on {local}"
        );
        app.warn_about_weak_settings(local);
        Ok(serve(app, listener).await)
    })
}

/// A file that exists but cannot be read is a deployment mistake worth failing on at once;
/// a missing file is K3s still starting, which `serve` waits out.
fn check_token_file(path: &Path) -> Result<(), ServeError> {
    let unreadable = |source| ServeError::Unreadable {
        path: path.to_owned(),
        source,
    };
    match std::fs::File::open(path) {
        Ok(f) => match f.metadata() {
            Ok(m) if m.is_dir() => Err(unreadable(io::Error::other("it is a directory"))),
            Ok(_) => Ok(()),
            Err(e) => Err(unreadable(e)),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(unreadable(e)),
    }
}

fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    let bind_err = |source| ServeError::Bind { addr, source };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(bind_err)?;
    socket.set_reuseaddr(true).map_err(bind_err)?;
    socket.bind(addr).map_err(bind_err)?;
    socket.listen(128).map_err(bind_err)
}

/// What a read of the token file found.
enum FileState {
    Ready(Bytes),
    Missing,
    Incomplete(TokenError),
    Unreadable(io::Error),
}

fn read_token_file(path: &Path) -> FileState {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return FileState::Missing,
        Err(e) => return FileState::Unreadable(e),
    };
    // One byte more than a token and its CRLF may hold, so an oversized file is detected
    // without reading all of it.
    let limit = (token::MAX_LEN + 3) as u64;
    let mut bytes = Vec::with_capacity(128);
    if let Err(e) = file.take(limit).read_to_end(&mut bytes) {
        return FileState::Unreadable(e);
    }
    match token::parse(&bytes) {
        Ok(_) => FileState::Ready(Bytes::from(bytes)),
        Err(e) => FileState::Incomplete(e),
    }
}

struct App {
    listen: SocketAddr,
    file: PathBuf,
    secret: Option<Secret>,
    ttl: Duration,
    max_fetches: Option<u64>,
    allow: AllowList,
    linger: Duration,
    budget: Budget,
    metrics: Metrics,
    /// Signalled by the fetch that spends the budget.
    spent: Notify,
    /// Whether the last read found a token, to log the transitions only.
    token_seen: AtomicBool,
    waiting_logged: AtomicBool,
}

impl App {
    fn new(cfg: ServeConfig) -> Result<Self, ServeError> {
        Ok(Self {
            budget: Budget::new(Instant::now(), cfg.ttl, cfg.max_fetches),
            metrics: Metrics::new()?,
            spent: Notify::new(),
            token_seen: AtomicBool::new(false),
            waiting_logged: AtomicBool::new(false),
            listen: cfg.listen,
            file: cfg.file,
            secret: cfg.secret,
            ttl: cfg.ttl,
            max_fetches: cfg.max_fetches,
            allow: cfg.allow,
            linger: cfg.linger,
        })
    }

    fn max_fetches_text(&self) -> String {
        self.max_fetches
            .map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
    }

    fn warn_about_weak_settings(&self, local: SocketAddr) {
        if self.allow.is_empty() {
            tracing::warn!("no --allow: any address that reaches {local} may fetch");
        }
        if self.secret.is_none() {
            tracing::warn!("no shared secret: the address check is the only protection");
        }
        if self.max_fetches.is_none() {
            tracing::warn!("no --max-fetches: the token is served until the TTL runs out");
        }
    }

    fn handle(&self, req: &Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        if !self.allow.permits(peer.ip()) {
            return self.refuse(Refusal::NotAllowed, req, peer);
        }
        match policy::route(req.method(), req.uri()) {
            Err(refusal) => self.refuse(refusal, req, peer),
            Ok(Route::Healthz) => respond(StatusCode::OK, TEXT, Bytes::from_static(b"ok\n")),
            Ok(Route::Metrics) => respond(
                StatusCode::OK,
                METRICS_TYPE,
                Bytes::from(self.metrics.render()),
            ),
            Ok(Route::Token) => self.token(req, peer),
        }
    }

    fn token(&self, req: &Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        if let Some(secret) = &self.secret {
            let presented = req
                .headers()
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes);
            match secret.check(presented) {
                Check::Accepted => {}
                Check::Missing => return self.refuse(Refusal::MissingSecret, req, peer),
                Check::Wrong => return self.refuse(Refusal::WrongSecret, req, peer),
            }
        }
        if let Some(refusal) = self.budget.state(Instant::now()).refusal() {
            return self.refuse(refusal, req, peer);
        }
        let body = match read_token_file(&self.file) {
            FileState::Ready(body) => body,
            FileState::Missing => return self.not_ready(peer, "the token file does not exist yet"),
            FileState::Incomplete(why) => {
                return self.not_ready(peer, &format!("the token file holds no token yet: {why}"));
            }
            FileState::Unreadable(e) => {
                self.metrics.token_present.set(0);
                tracing::error!(%peer, file = %self.file.display(), "cannot read the token file: {e}");
                return respond(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    TEXT,
                    Bytes::from_static(b"internal error: the token file cannot be read\n"),
                );
            }
        };
        if !self.token_seen.swap(true, Ordering::Relaxed) {
            tracing::info!(file = %self.file.display(), "the token file now holds a token");
        }
        self.metrics.token_present.set(1);
        match self.budget.take(Instant::now()) {
            Err(refusal) => self.refuse(refusal, req, peer),
            Ok(granted) => {
                self.metrics.fetches.inc();
                let left = granted
                    .left
                    .map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
                tracing::info!(%peer, status = 200, fetches_left = %left, "served the token");
                if granted.spent() {
                    self.spent.notify_one();
                }
                let mut response = respond(StatusCode::OK, TEXT, body);
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
        }
    }

    /// 503 with Retry-After while K3s has not written the token yet. Logged once at info
    /// (a waiting agent asks five times a second), every time at debug.
    fn not_ready(&self, peer: SocketAddr, why: &str) -> Response<Full<Bytes>> {
        self.metrics.not_ready.inc();
        self.metrics.token_present.set(0);
        self.token_seen.store(false, Ordering::Relaxed);
        if !self.waiting_logged.swap(true, Ordering::Relaxed) {
            tracing::info!(%peer, status = 503, "{why}; answering 503 until it does");
        } else {
            tracing::debug!(%peer, status = 503, "{why}");
        }
        let mut response = respond(
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            Bytes::from_static(b"not ready: the token does not exist yet; retry shortly\n"),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        response
    }

    fn refuse(
        &self,
        refusal: Refusal,
        req: &Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Full<Bytes>> {
        self.metrics.refused(refusal);
        tracing::warn!(
            %peer,
            status = refusal.status().as_u16(),
            reason = %refusal.label(),
            method = %req.method(),
            target = ?loggable_target(req),
            "refused"
        );
        let mut response = respond(
            refusal.status(),
            TEXT,
            Bytes::from_static(refusal.message().as_bytes()),
        );
        let headers = response.headers_mut();
        match refusal {
            Refusal::MissingSecret | Refusal::WrongSecret => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"token-server\""),
                );
            }
            Refusal::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
            }
            _ => {}
        }
        response
    }

    /// A connection that ended in an error hyper answered itself (bad bytes, head too large,
    /// head too slow): logged and counted like the other refusals.
    fn connection_failed(&self, peer: SocketAddr, error: &hyper::Error) {
        if error.is_parse() || error.is_parse_too_large() || error.is_timeout() {
            self.metrics.refused(Refusal::Malformed);
            tracing::warn!(%peer, reason = %Refusal::Malformed.label(), "refused: {error}");
        } else {
            tracing::debug!(%peer, "connection ended early: {error}");
        }
    }
}

/// The request target as a log line may show it: cut short, and quoted by the caller's `?`
/// formatting so that no byte of it can start a new log line.
fn loggable_target<B>(req: &Request<B>) -> String {
    let uri = req.uri().to_string();
    match uri.char_indices().nth(LOGGED_TARGET_LEN) {
        Some((cut, _)) => format!("{}… ({} bytes)", &uri[..cut], uri.len()),
        None => uri,
    }
}

fn respond(status: StatusCode, content_type: HeaderValue, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Accepts until a signal, the TTL or the spent budget; then lingers (answering 410) and
/// drains the connections still open.
async fn serve(app: Arc<App>, listener: TcpListener) -> Ending {
    let mut connections = JoinSet::new();
    let slots = Slots {
        allowed: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        strangers: Arc::new(Semaphore::new(MAX_STRANGER_CONNECTIONS)),
    };
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(false);

    let signal = shutdown_signal();
    tokio::pin!(signal);
    let deadline = tokio::time::Instant::from_std(app.budget.deadline());
    let ending = {
        let ended = async {
            tokio::select! {
                () = &mut signal => Ending::Signal,
                () = tokio::time::sleep_until(deadline) => Ending::Expired,
                () = app.spent.notified() => Ending::Spent,
            }
        };
        accept_until(&app, &listener, &http, &slots, &mut connections, ended).await
    };
    match ending {
        Ending::Signal => tracing::info!("received a signal; exiting"),
        Ending::Expired => tracing::info!(
            "the TTL of {} ran out; exiting",
            humantime::format_duration(app.ttl)
        ),
        Ending::Spent => tracing::info!(
            "the fetch budget ({}) is spent; exiting",
            app.max_fetches_text()
        ),
    }
    if ending != Ending::Signal && !app.linger.is_zero() {
        tracing::info!(
            "answering 410 Gone for {} before closing",
            humantime::format_duration(app.linger)
        );
        let lingered = async {
            tokio::select! {
                () = &mut signal => Ending::Signal,
                () = tokio::time::sleep(app.linger) => ending,
            }
        };
        accept_until(&app, &listener, &http, &slots, &mut connections, lingered).await;
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after {}; closing them",
            humantime::format_duration(DRAIN_TIMEOUT)
        );
        connections.abort_all();
    }
    ending
}

/// Connection slots, one pool for `--allow`ed peers and one for everybody else.
struct Slots {
    allowed: Arc<Semaphore>,
    strangers: Arc<Semaphore>,
}

async fn accept_until(
    app: &Arc<App>,
    listener: &TcpListener,
    http: &http1::Builder,
    slots: &Slots,
    connections: &mut JoinSet<()>,
    stop: impl Future<Output = Ending>,
) -> Ending {
    tokio::pin!(stop);
    loop {
        // Reap finished connections so the set does not grow with every request.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            biased;
            ending = &mut stop => return ending,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!("accept failed: {e}; retrying in 100ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let pool = if app.allow.permits(peer.ip()) {
            &slots.allowed
        } else {
            &slots.strangers
        };
        let Ok(permit) = pool.clone().try_acquire_owned() else {
            app.metrics.connections_dropped.inc();
            tracing::debug!(%peer, "too many open connections; closed this one unanswered");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn_app = app.clone();
        let service = service_fn(move |req: Request<Incoming>| {
            let response = conn_app.handle(&req, peer);
            async move { Ok::<_, Infallible>(response) }
        });
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let app = app.clone();
        connections.spawn(async move {
            if let Err(e) = conn.await {
                app.connection_failed(peer, &e);
            }
            drop(permit);
        });
    }
}

/// Completes on the first SIGTERM or SIGINT. If the handlers cannot be installed, it never
/// completes and the TTL still ends the process.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; only the TTL will stop serve");
            std::future::pending::<()>().await;
        }
    }
}
