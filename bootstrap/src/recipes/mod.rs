//! The user-visible actions, each a short sequence of named steps (see [`steps`]).

pub mod cluster;
pub mod doctor;
pub mod images;
pub mod import;
pub mod p3;
pub mod steps;

/// One cancellation for the whole run: Ctrl-C or SIGTERM, listened for from the start of the
/// command to its end (a handler installed for one step would take the signals' default action
/// away from every later one). The command races its work against [`Shutdown::signalled`];
/// sections that must finish what they started (a rollback) are [`Shutdown::shield`]ed.
#[derive(Clone, Debug)]
pub struct Shutdown {
    signal: tokio::sync::watch::Receiver<Option<&'static str>>,
    shielded: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Shutdown {
    /// Listens for Ctrl-C and SIGTERM from now on.
    pub fn install() -> Shutdown {
        use tokio::signal::unix::{SignalKind, signal};
        let (tx, rx) = tokio::sync::watch::channel(None);
        if let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            tokio::spawn(async move {
                let name = tokio::select! {
                    _ = int.recv() => "Ctrl-C",
                    _ = term.recv() => "SIGTERM",
                };
                let _ = tx.send(Some(name));
                // The receivers hold the value; keep the sender so they never see it closed.
                std::future::pending::<()>().await;
            });
        }
        Shutdown {
            signal: rx,
            shielded: std::sync::Arc::default(),
        }
    }

    /// A cancellation that never comes (for callers with no signals to honour, e.g. tests).
    pub fn never() -> Shutdown {
        let (_, rx) = tokio::sync::watch::channel(None);
        Shutdown {
            signal: rx,
            shielded: std::sync::Arc::default(),
        }
    }

    /// Resolves with the signal's name once one has come (at once if one already has).
    pub(crate) async fn signalled(&self) -> &'static str {
        let mut rx = self.signal.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(name) => name.unwrap_or("a signal"),
            // No handler could be installed: nothing will ever come.
            Err(_) => std::future::pending().await,
        }
    }

    /// Resolves when a signal has come and no shielded section is running: the moment the
    /// whole command may be dropped.
    pub(crate) async fn cancel_now(&self) -> &'static str {
        let name = self.signalled().await;
        self.unshielded().await;
        name
    }

    /// Resolves once no shielded section runs (at once when none does).
    pub(crate) async fn unshielded(&self) {
        while self.shielded.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Runs `work` to its end even when a signal comes meanwhile (it races
    /// [`Shutdown::signalled`] itself and cleans up).
    pub(crate) async fn shield<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        struct Section<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Section<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        self.shielded
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _section = Section(&self.shielded);
        work.await
    }
}
