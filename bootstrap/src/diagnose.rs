//! `bootstrap diagnose`: connects as `status --context` does, reads the cluster through
//! `lab_gitops::diagnose` and prints its findings; the exit code says whether there were any.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use lab_gitops::diagnose::{self, Scope};

use crate::Error;
use crate::k8s::existing;

/// Nothing found.
pub const EXIT_CLEAN: u8 = 0;
/// At least one finding.
pub const EXIT_FOUND: u8 = 1;
/// The cluster could not be read (no kubeconfig, no such context, the API does not answer).
/// Usage errors are clap's 2.
pub const EXIT_UNREADABLE: u8 = 3;

/// A whole gather is a few list calls; an API server that does not answer in this time is
/// reported rather than waited for.
const GATHER_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// What to diagnose and how to print it.
#[derive(Debug, Clone)]
pub struct Request {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Empty: the context's namespace (else `default`), as kubectl does.
    pub namespaces: Vec<String>,
    pub all_namespaces: bool,
    pub format: Format,
}

/// Runs the diagnosis and prints it; the exit code is [`EXIT_CLEAN`], [`EXIT_FOUND`] or
/// [`EXIT_UNREADABLE`] (after printing the one-sentence reason on stderr).
pub async fn run(req: Request) -> Result<u8, Error> {
    match diagnose_cluster(&req).await {
        Ok((findings, scope, unreadable)) => {
            for what in unreadable {
                eprintln!(
                    "warning: not allowed to read {what}; the diagnosis says nothing about them"
                );
            }
            match req.format {
                Format::Json => println!("{}", diagnose::render_json(&findings)),
                Format::Text if findings.is_empty() => {
                    println!("no problem found in {scope} (nodes and cluster DNS included)")
                }
                Format::Text => print!("{}", diagnose::render_text(&findings)),
            }
            Ok(if findings.is_empty() {
                EXIT_CLEAN
            } else {
                EXIT_FOUND
            })
        }
        Err(reason) => {
            eprintln!("error: {reason}");
            Ok(EXIT_UNREADABLE)
        }
    }
}

async fn diagnose_cluster(
    req: &Request,
) -> Result<(Vec<diagnose::Finding>, Scope, Vec<String>), String> {
    let conn = existing::connect(req.kubeconfig.as_deref(), req.context.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let scope = if req.all_namespaces {
        Scope::All
    } else if req.namespaces.is_empty() {
        Scope::namespaces([conn.client.default_namespace()])
    } else {
        Scope::namespaces(req.namespaces.iter().cloned())
    };
    let snapshot = tokio::time::timeout(GATHER_TIMEOUT, diagnose::gather(&conn.client, &scope))
        .await
        .map_err(|_| {
            format!(
                "the API server of context {} ({}) did not answer within {} s",
                conn.context,
                conn.server,
                GATHER_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("{e} (context {}, {})", conn.context, conn.server))?;
    Ok((
        diagnose::diagnose(&snapshot),
        scope,
        snapshot.unreadable().to_vec(),
    ))
}
