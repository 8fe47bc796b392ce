//! echo-app: one small static binary that stands in for hashicorp/http-echo (when given a
//! text) and for wil42/playground (when not), with Prometheus metrics, probes and a drain on
//! SIGTERM that loses no request.

pub mod access_log;
pub mod client;
pub mod flags;
mod json_log;
pub mod metrics;
pub mod routes;
pub mod server;
pub mod sniff;

use flags::{Config, LogFormat, Mode};
use tracing_subscriber::filter::{LevelFilter, Targets};

/// `-version` output, in http-echo's two-line layout.
pub fn version_text() -> String {
    format!(
        "echo-app v{} ({})\nBuilt: {}",
        env!("CARGO_PKG_VERSION"),
        option_env!("ECHO_APP_COMMIT").unwrap_or("unknown"),
        option_env!("ECHO_APP_BUILT").unwrap_or("unknown"),
    )
}

/// Runs the server until a signal and returns the process exit code: 0 after a drained
/// shutdown in playground mode, 2 in http-echo mode (which exits 2 after an interrupt on
/// purpose), 1 when the address cannot be listened on or the drain timed out.
pub fn run(cfg: Config) -> i32 {
    init_logging(cfg.log_format);
    raise_open_file_limit();
    // One thread by default: it answers ~150k requests/s on one core, and one thread has no
    // cross-thread wake-ups, which kept the p99 under load at a third of two workers' (see
    // bench/echo-app.sh). std's count of CPUs follows the container's CPU quota.
    let mut builder = match cfg.threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if n > 0 {
                b.worker_threads(n);
            }
            b
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(serve_until_signal(cfg))
}

async fn serve_until_signal(cfg: Config) -> i32 {
    let (access_log, flusher) = if cfg.access_log {
        let (log, flusher) =
            access_log::AccessLog::start(cfg.log_format, Box::new(std::io::stdout()));
        (Some(log), Some(flusher))
    } else {
        (None, None)
    };
    let app = match server::App::new(cfg.mode.clone(), access_log) {
        // Lives as long as the process: every connection and response refers to it without
        // touching a shared reference count.
        Ok(app) => &*Box::leak(Box::new(app)),
        Err(e) => {
            tracing::error!("cannot set up metrics: {e}");
            return 1;
        }
    };
    // Signal handlers first, so a signal that arrives while binding is not lost.
    let signal = match shutdown_signal() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot install signal handlers: {e}");
            return 1;
        }
    };
    let listener = match server::bind(&cfg.listen) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("server exited with: {e}");
            return 1;
        }
    };
    let local = listener
        .local_addr()
        .map_or_else(|_| cfg.listen.clone(), |a| a.to_string());
    tracing::info!("server is listening on {local}");
    let drained = server::serve(app, listener, server::Limits::from_config(&cfg), signal).await;
    if let Some(flusher) = flusher {
        flusher.finish();
    }
    match (drained, &cfg.mode) {
        (server::Drained::TimedOut, _) => 1,
        (server::Drained::Clean, Mode::HttpEcho { .. }) => 2,
        (server::Drained::Clean, Mode::Playground { .. }) => 0,
    }
}

/// Completes on the first SIGTERM or SIGINT.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}

/// Operational logs go to stderr through tracing (`RUST_LOG` filters, default `info`); the
/// access log is a separate stream on stdout.
fn init_logging(format: LogFormat) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = match format {
        LogFormat::Text => builder.with_ansi(false).finish().with(filter).try_init(),
        LogFormat::Json => builder
            .event_format(json_log::JsonLines)
            .finish()
            .with(filter)
            .try_init(),
    };
    // Already initialised (only possible in tests): keep the existing subscriber.
    let _ = result;
}

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Like Go's runtime, lift the soft open-file limit to the hard one: every connection is a
/// file descriptor, and the soft default (often 1024) would cap idle keep-alive clients.
#[allow(unsafe_code)]
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass, which outlives them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
