//! One HTTPS GET with the system's CA roots (OpenSSL, which git2 links anyway): enough to fetch
//! a pinned manifest, whose sha256 the caller checks, so the transport needs no further trust.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::Uri;
use hyper_openssl::client::legacy::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

const MAX_BYTES: usize = 64 * 1024 * 1024;
const MAX_REDIRECTS: usize = 5;
const TIMEOUT: Duration = Duration::from_secs(120);

/// The body of `url` (https only), following redirects; the error is a sentence for the user.
pub(crate) async fn https_get(url: &str) -> Result<Vec<u8>, String> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(15)));
    let connector = HttpsConnector::with_connector(
        http,
        openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
            .map_err(|e| format!("cannot set up TLS: {e}"))?,
    )
    .map_err(|e| format!("cannot set up TLS: {e}"))?;
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let mut uri: Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    for _ in 0..=MAX_REDIRECTS {
        if uri.scheme_str() != Some("https") {
            return Err(format!("refusing to fetch {uri}: only https is used"));
        }
        let response = tokio::time::timeout(TIMEOUT, client.get(uri.clone()))
            .await
            .map_err(|_| format!("no answer within {}s", TIMEOUT.as_secs()))?
            .map_err(|e| lab_gitops::error_chain(&e))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| format!("{status} without a Location"))?;
            uri = location
                .parse()
                .map_err(|e| format!("bad redirect {location:?}: {e}"))?;
            continue;
        }
        if !status.is_success() {
            return Err(format!("the server answered {status}"));
        }
        let body = tokio::time::timeout(
            TIMEOUT,
            Limited::new(response.into_body(), MAX_BYTES).collect(),
        )
        .await
        .map_err(|_| format!("the download did not finish within {}s", TIMEOUT.as_secs()))?
        .map_err(|e| format!("the download broke off: {e}"))?;
        return Ok(body.to_bytes().to_vec());
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_http_and_unreachable_hosts_are_refused_with_a_reason() {
        let err = https_get("http://127.0.0.1:1/install.yaml")
            .await
            .unwrap_err();
        assert!(err.contains("only https is used"), "{err}");
        let err = https_get("https://127.0.0.1:1/install.yaml")
            .await
            .unwrap_err();
        assert!(err.contains("onnection refused"), "{err}");
    }
}
