//! Waits built on kube's runtime: a watcher (list, then watch; re-list when the version is
//! gone; the watcher's own backoff between failed requests) instead of polling, so a wait ends
//! the moment the API server says so and costs one open request meanwhile.

use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::error_chain;

/// What was still not ready when the time was up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    /// One reason per object, in the order the objects were named.
    pub pending: Vec<String>,
    /// The watcher's last failed request, if any (the API server may have been restarting).
    pub last_error: Option<String>,
}

impl NotReady {
    /// `2 not ready; first: deployment argocd-server: 0/1 available`.
    pub fn summary(&self) -> String {
        let mut text = match self.pending.first() {
            Some(first) => format!("{} not ready; first: {first}", self.pending.len()),
            None => "not ready".to_owned(),
        };
        if let Some(e) = &self.last_error {
            text.push_str(&format!("; last API error: {e}"));
        }
        text
    }
}

/// Waits until every object of `api` named in `names` is ready by `unready` (None: ready;
/// Some: why not), or `timeout` passes. An object that does not exist is not ready; `kind`
/// names it in that reason (`deployment argocd-server does not exist`).
pub async fn until_all_ready<K>(
    api: Api<K>,
    kind: &str,
    names: &[String],
    unready: impl Fn(&K) -> Option<String>,
    timeout: Duration,
) -> Result<(), NotReady>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + 'static,
{
    let missing = |name: &str| Some(format!("{kind} {name} does not exist"));
    let fresh = || -> Vec<(String, Option<String>)> {
        names.iter().map(|n| (n.clone(), missing(n))).collect()
    };
    let mut state = fresh();
    let mut last_error = None;
    let watched = tokio::time::timeout(timeout, async {
        let record =
            |state: &mut Vec<(String, Option<String>)>, object: &K, why: Option<String>| {
                let name = object.name_any();
                if let Some(entry) = state.iter_mut().find(|(n, _)| *n == name) {
                    entry.1 = why;
                }
            };
        let mut events = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
        // A re-list replaces what is known only once it is complete.
        let mut relisting: Option<Vec<(String, Option<String>)>> = None;
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::Init) => relisting = Some(fresh()),
                Ok(Event::InitApply(object)) => {
                    if let Some(listed) = relisting.as_mut() {
                        record(listed, &object, unready(&object));
                    }
                }
                Ok(Event::InitDone) => {
                    if let Some(listed) = relisting.take() {
                        state = listed;
                    }
                }
                Ok(Event::Apply(object)) => record(&mut state, &object, unready(&object)),
                Ok(Event::Delete(object)) => {
                    let why = missing(&object.name_any());
                    record(&mut state, &object, why);
                }
                Err(e) => last_error = Some(error_chain(&e)),
            }
            if relisting.is_none() && state.iter().all(|(_, why)| why.is_none()) {
                return;
            }
        }
    })
    .await;
    match watched {
        Ok(()) => Ok(()),
        Err(_) => Err(NotReady {
            pending: state.into_iter().filter_map(|(_, why)| why).collect(),
            last_error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::NotReady;

    #[test]
    fn the_summary_names_the_count_the_first_reason_and_the_last_api_error() {
        let not_ready = NotReady {
            pending: vec![
                "deployment a: 0/1 available".to_owned(),
                "statefulset b does not exist".to_owned(),
            ],
            last_error: Some("connection refused".to_owned()),
        };
        assert_eq!(
            not_ready.summary(),
            "2 not ready; first: deployment a: 0/1 available; last API error: connection refused"
        );
    }
}
