//! The HTTP server: responses prepared once at start, one hyper HTTP/1 connection per task,
//! a bound on connections, and a drain that finishes every request already read.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, oneshot};

use crate::access_log::{AccessLog, Entry, PeerText};
use crate::flags::{Config, Mode};
use crate::metrics::Metrics;
use crate::routes::{Route, allows_body, playground_body, route};
use crate::sniff::detect_content_type;

static X_APP_NAME: HeaderName = HeaderName::from_static("x-app-name");
static X_APP_VERSION: HeaderName = HeaderName::from_static("x-app-version");

const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const METRICS_TYPE: HeaderValue =
    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");

/// Which `Content-Type` an answer carries.
#[derive(Debug, Clone, Copy)]
enum ContentKind {
    /// What Go's sniffing gives the echoed text.
    Echo,
    Text,
    Json,
    Metrics,
}

/// The headers of every answer, built once: cloning a ready map costs a fraction of inserting
/// the same headers one by one on every request.
struct HeaderTemplates {
    echo: HeaderMap,
    text: HeaderMap,
    json: HeaderMap,
    metrics: HeaderMap,
    /// 204/304/1xx: no Content-Type.
    bodiless: HeaderMap,
}

impl HeaderTemplates {
    fn new(app_name: HeaderValue, app_version: HeaderValue, echo_type: HeaderValue) -> Self {
        let base = |content_type: Option<HeaderValue>| {
            let mut map = HeaderMap::with_capacity(4);
            if let Some(ct) = content_type {
                map.insert(header::CONTENT_TYPE, ct);
            }
            map.insert(X_APP_NAME.clone(), app_name.clone());
            map.insert(X_APP_VERSION.clone(), app_version.clone());
            map
        };
        HeaderTemplates {
            echo: base(Some(echo_type)),
            text: base(Some(TEXT_PLAIN)),
            json: base(Some(JSON)),
            metrics: base(Some(METRICS_TYPE)),
            bodiless: base(None),
        }
    }

    fn get(&self, kind: ContentKind, body_allowed: bool) -> &HeaderMap {
        if !body_allowed {
            return &self.bodiless;
        }
        match kind {
            ContentKind::Echo => &self.echo,
            ContentKind::Text => &self.text,
            ContentKind::Json => &self.json,
            ContentKind::Metrics => &self.metrics,
        }
    }
}

/// Everything a request needs, built once.
pub struct App {
    mode: Mode,
    /// http-echo: the text plus "\n", its sniffed type and the configured status.
    echo_body: Bytes,
    echo_status: StatusCode,
    /// playground: the JSON answer of `GET /`.
    root_body: Bytes,
    headers: HeaderTemplates,
    ready: AtomicBool,
    /// Set once a shutdown signal arrives: responses then ask clients to close the connection.
    draining: AtomicBool,
    pub metrics: Metrics,
    access_log: Option<AccessLog>,
}

impl App {
    pub fn new(mode: Mode, access_log: Option<AccessLog>) -> Result<Self, prometheus::Error> {
        let (echo_text, echo_status, app_name, app_version) = match &mode {
            Mode::HttpEcho { text, status } => (
                text.clone(),
                *status,
                "http-echo",
                env!("CARGO_PKG_VERSION").to_owned(),
            ),
            Mode::Playground { version } => (String::new(), 200, "playground", version.clone()),
        };
        let echo_body = Bytes::from(format!("{echo_text}\n"));
        let root_body = match &mode {
            Mode::Playground { version } => Bytes::from(playground_body(version)),
            Mode::HttpEcho { .. } => Bytes::new(),
        };
        let (mode_label, version_label) = match &mode {
            Mode::HttpEcho { .. } => ("http-echo", env!("CARGO_PKG_VERSION")),
            Mode::Playground { version } => ("playground", version.as_str()),
        };
        let metrics = Metrics::new(mode_label, version_label, echo_status)?;
        let headers = HeaderTemplates::new(
            HeaderValue::from_static(app_name),
            HeaderValue::from_str(&app_version)
                .unwrap_or_else(|_| HeaderValue::from_static("invalid")),
            HeaderValue::from_static(detect_content_type(&echo_body)),
        );
        Ok(Self {
            // The status was range-checked by the flag parser.
            echo_status: StatusCode::from_u16(echo_status).unwrap_or(StatusCode::OK),
            echo_body,
            root_body,
            headers,
            ready: AtomicBool::new(true),
            draining: AtomicBool::new(false),
            metrics,
            access_log,
            mode,
        })
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The first step of a shutdown: readiness fails and connections are asked to close.
    pub fn begin_drain(&self) {
        self.ready.store(false, Ordering::Relaxed);
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Status, content type and body of a route's answer.
    fn answer(&self, route: Route) -> (StatusCode, ContentKind, Bytes) {
        use ContentKind::{Json, Text};
        match route {
            Route::Echo => (self.echo_status, ContentKind::Echo, self.echo_body.clone()),
            // Go sniffs this body as text, so http-echo sends it as text/plain too.
            Route::Health => (
                StatusCode::OK,
                Text,
                Bytes::from_static(b"{\"status\":\"ok\"}\n"),
            ),
            Route::Healthz => (StatusCode::OK, Text, Bytes::from_static(b"ok\n")),
            Route::Readyz if self.is_ready() => (StatusCode::OK, Text, Bytes::from_static(b"ok\n")),
            Route::Readyz => (
                StatusCode::SERVICE_UNAVAILABLE,
                Text,
                Bytes::from_static(b"shutting down\n"),
            ),
            Route::Metrics => {
                let dropped = self.access_log.as_ref().map_or(0, AccessLog::dropped);
                (
                    StatusCode::OK,
                    ContentKind::Metrics,
                    Bytes::from(self.metrics.render(dropped)),
                )
            }
            Route::Root => (StatusCode::OK, Json, self.root_body.clone()),
            Route::NotFound => (
                StatusCode::NOT_FOUND,
                Json,
                Bytes::from_static(b"{\"status\":\"error\", \"message\": \"not found\"}"),
            ),
            Route::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                Json,
                Bytes::from_static(b"{\"status\":\"error\", \"message\": \"method not allowed\"}"),
            ),
        }
    }

    /// Answers one request whose head arrived at `start`. `remote` is the peer, for the
    /// access log.
    pub fn handle<B>(
        &'static self,
        req: &Request<B>,
        remote: &PeerText,
        start: Instant,
    ) -> Response<MeteredBody> {
        self.metrics.begin();
        let route = route(&self.mode, req.method(), req.uri().path());
        let (status, content_kind, body) = self.answer(route);
        let body_allowed = allows_body(status.as_u16());
        if route.is_logged()
            && let Some(log) = &self.access_log
        {
            log.record(
                &Entry {
                    host: host_of(req),
                    remote: remote.as_bytes(),
                    method: req.method().as_str(),
                    path: req.uri().path(),
                    proto: proto_name(req.version()),
                    status: status.as_u16(),
                    // http-echo logs the size of what its handler wrote, sent or not.
                    length: body.len(),
                    user_agent: req
                        .headers()
                        .get(header::USER_AGENT)
                        .map_or(b"", |v| v.as_bytes()),
                    duration: start.elapsed(),
                },
                SystemTime::now(),
            );
        }
        let body = if body_allowed { body } else { Bytes::new() };
        let mut response = Response::new(MeteredBody {
            inner: Full::new(body),
            record: Some(Record {
                app: self,
                route,
                status: status.as_u16(),
                start,
            }),
        });
        *response.status_mut() = status;
        *response.headers_mut() = self.headers.get(content_kind, body_allowed).clone();
        if self.draining.load(Ordering::Relaxed) {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

fn host_of<B>(req: &Request<B>) -> &[u8] {
    match req.headers().get(header::HOST) {
        Some(h) => h.as_bytes(),
        None => req.uri().authority().map_or(b"", |a| a.as_str().as_bytes()),
    }
}

fn proto_name(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    }
}

/// Counts a request in the metrics when hyper is done with its body, so the latency covers
/// the hand-off to the connection and the in-flight gauge means something.
struct Record {
    app: &'static App,
    route: Route,
    status: u16,
    start: Instant,
}

impl Drop for Record {
    fn drop(&mut self) {
        self.app
            .metrics
            .finish(self.route, self.status, self.start.elapsed());
    }
}

pub struct MeteredBody {
    inner: Full<Bytes>,
    record: Option<Record>,
}

impl Body for MeteredBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.record.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The hyper service of one connection.
#[derive(Clone)]
struct ConnService {
    app: &'static App,
    remote: PeerText,
    /// When this connection last delivered a request head, for its [`idle_watchdog`].
    activity: Arc<Activity>,
}

impl Service<Request<Incoming>> for ConnService {
    type Response = Response<MeteredBody>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let now = Instant::now();
        self.activity.touch(now);
        ready(Ok(self.app.handle(&req, &self.remote, now)))
    }
}

/// The last time a connection delivered a complete request head, as nanoseconds since the
/// server started (one relaxed store per request).
struct Activity {
    epoch: Instant,
    last: AtomicU64,
}

impl Activity {
    fn new(epoch: Instant) -> Self {
        let activity = Activity {
            epoch,
            last: AtomicU64::new(0),
        };
        activity.touch(Instant::now());
        activity
    }

    fn touch(&self, now: Instant) {
        let since_epoch = now.saturating_duration_since(self.epoch);
        self.last
            .store(since_epoch.as_nanos() as u64, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.epoch + Duration::from_nanos(self.last.load(Ordering::Relaxed))
    }
}

/// Completes once the connection has gone `timeout` without a complete request head: the
/// header-read timeout (against slow and stuck clients) and the keep-alive idle bound in one.
///
/// hyper's own header-read timeout registers and drops a timer for every request, which cost a
/// tenth of the server's work under load; this one sleeps once per `timeout` per connection and
/// re-arms itself from the last activity.
async fn idle_watchdog(activity: &Activity, timeout: Duration) {
    if timeout.is_zero() {
        return std::future::pending().await;
    }
    loop {
        let deadline = activity.last() + timeout;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline.into()).await;
    }
}

/// Server knobs that come from flags.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub shutdown_delay: Duration,
    pub drain_timeout: Duration,
}

impl Limits {
    pub fn from_config(cfg: &Config) -> Self {
        Self {
            max_connections: cfg.max_connections,
            header_read_timeout: cfg.header_read_timeout,
            shutdown_delay: cfg.shutdown_delay,
            drain_timeout: cfg.drain_timeout,
        }
    }
}

/// How serving ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// Every connection finished within the drain timeout.
    Clean,
    /// The drain timeout passed with connections still open (their count is logged).
    TimedOut,
}

/// Serves until `shutdown` completes, then: readiness fails, connections are still accepted
/// for `shutdown_delay` (so load balancers stop sending before the port closes), the listener
/// closes, every connection is told to finish the request it is on and close, and they get
/// `drain_timeout` to do so.
pub async fn serve(
    app: &'static App,
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> Drained {
    let mut http = http1::Builder::new();
    // The header-read timeout is the connection watchdog's job (see idle_watchdog).
    http.keep_alive(true).header_read_timeout(None);
    let connections = Arc::new(Connections::default());
    // One permit per connection slot: all of them free again means every connection is gone.
    let slots = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let permits = Arc::new(Semaphore::new(slots as usize));
    let acceptor = Acceptor {
        app,
        listener: &listener,
        http,
        connections: connections.clone(),
        permits: permits.clone(),
        idle_timeout: limits.header_read_timeout,
        epoch: Instant::now(),
    };

    tokio::pin!(shutdown);
    acceptor.run_until(&mut shutdown).await;
    app.begin_drain();
    tracing::info!("received interrupt, shutting down...");
    if !limits.shutdown_delay.is_zero() {
        let delay = tokio::time::sleep(limits.shutdown_delay);
        tokio::pin!(delay);
        acceptor.run_until(&mut delay).await;
    }
    drop(acceptor);
    drop(listener);

    connections.drain_all();
    match tokio::time::timeout(limits.drain_timeout, permits.acquire_many(slots)).await {
        Ok(_) => Drained::Clean,
        Err(_) => {
            let open = connections.len();
            tracing::warn!(open, "drain timeout passed with connections still open");
            Drained::TimedOut
        }
    }
}

/// The open connections, each with a one-shot "finish and close" line. Touched at accept and
/// at close only: hyper-util's GracefulShutdown has every connection poll one shared watch
/// channel on every wake-up, whose lock showed in the p99 under load.
#[derive(Default)]
struct Connections {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, oneshot::Sender<()>>>,
}

impl Connections {
    fn register(&self) -> (u64, oneshot::Receiver<()>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, tx);
        }
        (id, rx)
    }

    fn forget(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
        }
    }

    /// Tells every open connection to finish its request and close.
    fn drain_all(&self) {
        let senders: Vec<oneshot::Sender<()>> = match self.open.lock() {
            Ok(mut open) => open.drain().map(|(_, tx)| tx).collect(),
            Err(_) => Vec::new(),
        };
        for tx in senders {
            let _ = tx.send(());
        }
    }

    fn len(&self) -> usize {
        self.open.lock().map(|open| open.len()).unwrap_or(0)
    }
}

/// Accepts connections and gives each a task.
struct Acceptor<'a> {
    app: &'static App,
    listener: &'a TcpListener,
    http: http1::Builder,
    connections: Arc<Connections>,
    permits: Arc<Semaphore>,
    idle_timeout: Duration,
    epoch: Instant,
}

impl Acceptor<'_> {
    async fn run_until<F: Future<Output = ()>>(&self, stop: &mut Pin<&mut F>) {
        loop {
            // Wait for a free slot before accepting: over the limit, clients queue in the backlog.
            let permit = tokio::select! {
                biased;
                () = stop.as_mut() => return,
                permit = self.permits.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let accepted = tokio::select! {
                biased;
                () = stop.as_mut() => return,
                accepted = self.listener.accept() => accepted,
            };
            let (stream, remote) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    if is_resource_exhaustion(&e) {
                        // Out of file descriptors or memory: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed; retrying in 50ms");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let app = self.app;
            app.metrics.connections_accepted.inc();
            app.metrics.connections_open.inc();
            let activity = Arc::new(Activity::new(self.epoch));
            let service = ConnService {
                app,
                remote: PeerText::new(remote),
                activity: activity.clone(),
            };
            let conn = self.http.serve_connection(TokioIo::new(stream), service);
            let (id, mut drain) = self.connections.register();
            let connections = self.connections.clone();
            let idle_timeout = self.idle_timeout;
            tokio::spawn(async move {
                tokio::pin!(conn);
                let watchdog = idle_watchdog(&activity, idle_timeout);
                tokio::pin!(watchdog);
                let mut draining = false;
                loop {
                    tokio::select! {
                        result = conn.as_mut() => {
                            if let Err(e) = result {
                                tracing::debug!(error = %e, %remote, "connection ended with an error");
                            }
                            break;
                        }
                        // Finish the request in progress (if any), then close.
                        _ = &mut drain, if !draining => {
                            draining = true;
                            conn.as_mut().graceful_shutdown();
                        }
                        () = &mut watchdog => {
                            tracing::debug!(%remote, "closing a connection idle for {idle_timeout:?}");
                            break;
                        }
                    }
                }
                connections.forget(id);
                app.metrics.connections_open.dec();
                drop(permit);
            });
        }
    }
}

fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Why a `-listen` address could not be used, worded as Go's `net.Listen` errors are
/// (`listen tcp :5678: bind: address already in use`).
#[derive(Debug)]
pub struct ListenError(pub String);

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Resolves Go's `host:port` syntax: an empty host means every interface (IPv6 and IPv4),
/// `localhost` is the loopback address, a literal is itself, and other names are looked up in
/// `/etc/hosts` (where Kubernetes writes the pod's own name). glibc's resolver is not used: in
/// a static binary in an empty image it has no modules to load, and it would double the binary.
pub fn resolve_listen(addr: &str) -> Result<Vec<SocketAddr>, ListenError> {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    resolve_listen_with(addr, &hosts)
}

fn resolve_listen_with(addr: &str, etc_hosts: &str) -> Result<Vec<SocketAddr>, ListenError> {
    let fail = |reason: String| ListenError(format!("listen tcp {addr}: {reason}"));
    let (host, port) = split_host_port(addr)
        .map_err(|why| ListenError(format!("listen tcp: address {addr}: {why}")))?;
    let port: u16 = port
        .parse()
        .map_err(|_| fail(format!("unknown port {port:?}")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Ok(vec![
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        ]);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)]);
    }
    let found: Vec<SocketAddr> = hosts_lookup(etc_hosts, host)
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    if found.is_empty() {
        return Err(fail(format!(
            "lookup {host}: no such host (names are looked up in /etc/hosts only; use an IP address)"
        )));
    }
    Ok(found)
}

/// The addresses `/etc/hosts` gives `name` (case-insensitive), in file order.
fn hosts_lookup(etc_hosts: &str, name: &str) -> Vec<IpAddr> {
    etc_hosts
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let ip = fields.next()?.parse::<IpAddr>().ok()?;
            fields
                .any(|alias| alias.eq_ignore_ascii_case(name))
                .then_some(ip)
        })
        .collect()
}

fn split_host_port(addr: &str) -> Result<(&str, &str), &'static str> {
    let colon = addr.rfind(':').ok_or("missing port in address")?;
    let (host, port) = (&addr[..colon], &addr[colon + 1..]);
    if host.starts_with('[') != host.ends_with(']')
        || (!host.starts_with('[') && host.contains(':'))
    {
        return Err("too many colons in address");
    }
    Ok((host, port))
}

/// Binds the first address that works (an unspecified host tries IPv6 dual-stack, then IPv4
/// for kernels without IPv6), with a listen queue deep enough for connection bursts.
pub fn bind(addr: &str) -> Result<TcpListener, ListenError> {
    let candidates = resolve_listen(addr)?;
    let mut last = None;
    for candidate in candidates {
        match bind_one(candidate) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    let reason = match last {
        Some(e) if e.kind() == io::ErrorKind::AddrInUse => {
            "bind: address already in use".to_owned()
        }
        Some(e) if e.kind() == io::ErrorKind::AddrNotAvailable => {
            "bind: cannot assign requested address".to_owned()
        }
        Some(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            "bind: permission denied".to_owned()
        }
        Some(e) => format!("bind: {e}"),
        None => "no address to listen on".to_owned(),
    };
    Err(ListenError(format!("listen tcp {addr}: {reason}")))
}

fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv6() {
        TcpSocket::new_v6()?
    } else {
        TcpSocket::new_v4()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_listen_syntax() {
        let all = resolve_listen(":5678").unwrap();
        assert_eq!(all[0], "[::]:5678".parse().unwrap());
        assert_eq!(all[1], "0.0.0.0:5678".parse().unwrap());
        assert_eq!(
            resolve_listen("127.0.0.1:8080").unwrap(),
            ["127.0.0.1:8080".parse().unwrap()]
        );
        assert_eq!(
            resolve_listen("[::1]:8080").unwrap(),
            ["[::1]:8080".parse().unwrap()]
        );
        assert_eq!(
            resolve_listen("localhost:80").unwrap(),
            ["127.0.0.1:80".parse().unwrap()]
        );
    }

    #[test]
    fn names_come_from_etc_hosts() {
        let hosts = "127.0.0.1 localhost\n# 10.9.9.9 pod-a\n10.42.0.7\tpod-a pod-a.dev # k8s\nfe80::1 Pod-A\n";
        assert_eq!(
            resolve_listen_with("pod-a:5678", hosts).unwrap(),
            [
                "10.42.0.7:5678".parse().unwrap(),
                "[fe80::1]:5678".parse().unwrap()
            ]
        );
        let err = resolve_listen_with("elsewhere:1", hosts)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("listen tcp elsewhere:1: lookup elsewhere: no such host"),
            "{err}"
        );
    }

    #[test]
    fn bad_listen_addresses_are_explained() {
        assert_eq!(
            resolve_listen("5678").unwrap_err().to_string(),
            "listen tcp: address 5678: missing port in address"
        );
        assert_eq!(
            resolve_listen("::1:80").unwrap_err().to_string(),
            "listen tcp: address ::1:80: too many colons in address"
        );
        assert_eq!(
            resolve_listen(":http-alt").unwrap_err().to_string(),
            "listen tcp :http-alt: unknown port \"http-alt\""
        );
        assert_eq!(
            resolve_listen(":70000").unwrap_err().to_string(),
            "listen tcp :70000: unknown port \"70000\""
        );
    }
}
