//! Asking the app itself: poll a plain-HTTP URL until its body says the new version.
//!
//! Argo CD reporting Healthy means the pods are ready; the probe proves that what answers on
//! the published port is the new build (`{"status":"ok", "message": "v2"}`).

use std::time::Duration;

use crate::error_chain;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;

/// Between two attempts.
const INTERVAL: Duration = Duration::from_millis(500);
/// One attempt (connect + response) may take this long.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bodies are read up to this size; the version is in the first bytes anyway.
const MAX_BODY: usize = 64 * 1024;

/// A probe that saw the expected answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// Requests made, the successful one included.
    pub attempts: u32,
    /// From the call to the expected answer.
    pub elapsed: Duration,
    /// The body that matched.
    pub body: String,
}

/// Why a probe did not confirm the version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// Not a URL.
    #[error("`{0}` is not a URL; give it as http://host:port/path")]
    BadUrl(String),
    /// https and other schemes are not probed.
    #[error("`{0}` is not a plain http:// URL; the probe speaks plain HTTP only")]
    NotHttp(String),
    /// The deadline passed first.
    #[error("{url} did not answer with `{expected}` within {}s (last: {last})", .waited.as_secs())]
    Timeout {
        /// The URL.
        url: String,
        /// The text looked for.
        expected: String,
        /// How long it tried.
        waited: Duration,
        /// The last answer or error.
        last: String,
    },
}

/// Checks that `url` can be probed (for argument parsing, before anything is pushed).
pub fn check_url(url: &str) -> Result<Uri, ProbeError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| ProbeError::BadUrl(url.to_owned()))?;
    match uri.scheme_str() {
        Some("http") if uri.host().is_some() => Ok(uri),
        Some("http") | None => Err(ProbeError::BadUrl(url.to_owned())),
        Some(_) => Err(ProbeError::NotHttp(url.to_owned())),
    }
}

/// GETs `url` every half second until a 2xx response's body contains `expected`, or `timeout`
/// passes.
#[tracing::instrument]
pub async fn probe_until(
    url: &str,
    expected: &str,
    timeout: Duration,
) -> Result<ProbeReport, ProbeError> {
    probe_matching(url, expected, |body| body.contains(expected), timeout).await
}

/// As [`probe_until`], but the body must be `expected` itself (a final newline aside): what
/// `bootstrap p3` promises of the playground's answer.
#[tracing::instrument]
pub async fn probe_until_exactly(
    url: &str,
    expected: &str,
    timeout: Duration,
) -> Result<ProbeReport, ProbeError> {
    probe_matching(
        url,
        expected,
        |body| body.strip_suffix('\n').unwrap_or(body) == expected,
        timeout,
    )
    .await
}

async fn probe_matching(
    url: &str,
    expected: &str,
    matches: impl Fn(&str) -> bool,
    timeout: Duration,
) -> Result<ProbeReport, ProbeError> {
    let uri = check_url(url)?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let started = Instant::now();
    let deadline = started + timeout;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let last = match tokio::time::timeout(ATTEMPT_TIMEOUT, get(&client, uri.clone())).await {
            Ok(Ok((status, body))) if status.is_success() && matches(&body) => {
                return Ok(ProbeReport {
                    attempts,
                    elapsed: started.elapsed(),
                    body,
                });
            }
            Ok(Ok((status, body))) => format!("{status} {}", snippet(&body)),
            Ok(Err(e)) => e,
            Err(_) => format!("no answer within {}s", ATTEMPT_TIMEOUT.as_secs()),
        };
        if Instant::now() + INTERVAL >= deadline {
            return Err(ProbeError::Timeout {
                url: url.to_owned(),
                expected: expected.to_owned(),
                waited: started.elapsed(),
                last,
            });
        }
        tokio::time::sleep(INTERVAL).await;
    }
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

async fn get(client: &HttpClient, uri: Uri) -> Result<(hyper::StatusCode, String), String> {
    let response = client.get(uri).await.map_err(|e| error_chain(&e))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("reading the body: {e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn snippet(body: &str) -> String {
    let line = body.trim();
    match line.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_with_a_host_are_probed() {
        assert!(check_url("http://127.0.0.1:8888/").is_ok());
        assert_eq!(
            check_url("https://127.0.0.1:8888/"),
            Err(ProbeError::NotHttp("https://127.0.0.1:8888/".to_owned()))
        );
        assert!(check_url("127.0.0.1:8888").is_err());
        assert!(matches!(check_url("not a url"), Err(ProbeError::BadUrl(_))));
        assert!(matches!(check_url("/path"), Err(ProbeError::BadUrl(_))));
    }

    #[test]
    fn snippets_are_short() {
        assert_eq!(snippet(" ok \n"), "ok");
        assert_eq!(snippet(&"é".repeat(200)).chars().count(), 121);
    }
}
