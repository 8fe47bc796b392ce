//! Talking to the cluster's Kubernetes API: a client for a cluster bootstrap made, server-side
//! apply ([`apply`]), a cluster bootstrap did not make ([`existing`]), and the one poll kube's
//! watchers cannot replace. Why a wait gave up is `lab_gitops::diagnose::explain_wait`.

pub mod apply;
pub(crate) mod existing;

use std::future::Future;
use std::time::Duration;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig as KubeKubeconfig};

use crate::spec::kubeconfig::Kubeconfig;

/// A client for the cluster described by `kubeconfig` (as bootstrap wrote it: one cluster,
/// one user, one context).
pub(crate) async fn client(kubeconfig: &Kubeconfig) -> Result<Client, String> {
    let yaml = kubeconfig.to_yaml().map_err(|e| e.to_string())?;
    let parsed = KubeKubeconfig::from_yaml(&yaml).map_err(|e| e.to_string())?;
    let config = kube::Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    Client::try_from(config).map_err(|e| e.to_string())
}

/// What a poll saw: done with a value, or not yet with a sentence saying why.
pub(crate) enum Poll<T> {
    Ready(T),
    Waiting(String),
}

/// Calls `probe` every `interval` until it is ready or `timeout` passes; on timeout the error
/// carries the last reason it gave. Only for what no watch can see (API discovery); objects
/// are waited for with `lab_gitops::wait` and kube's `await_condition`. API errors while waiting count as "not yet" (the API
/// server may be restarting), and are reported if they are the last word.
pub(crate) async fn poll_until<T, F, Fut>(
    timeout: Duration,
    interval: Duration,
    mut probe: F,
) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, kube::Error>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let why = match probe().await {
            Ok(Poll::Ready(value)) => return Ok(value),
            Ok(Poll::Waiting(why)) => why,
            Err(e) => format!("API error: {e}"),
        };
        if tokio::time::Instant::now() + interval > deadline {
            return Err(why);
        }
        tokio::time::sleep(interval).await;
    }
}
