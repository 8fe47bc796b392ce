//! The user-visible actions, each a short sequence of named steps (see [`steps`]).

pub mod cluster;
pub mod doctor;
pub mod images;
pub mod import;
pub mod p3;
pub mod steps;

/// Resolves on Ctrl-C or SIGTERM with the signal's name; recipes that create things race
/// their work against it and roll back when it wins.
pub async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers there is nothing to wait for; never resolve.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "Ctrl-C",
        _ = term.recv() => "SIGTERM",
    }
}
