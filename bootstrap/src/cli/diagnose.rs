//! `bootstrap diagnose`: connects as `status --context` does, reads the cluster through
//! `lab_gitops::diagnose` and prints its findings; the exit code says whether there were any.

use std::time::Duration;

use lab_gitops::diagnose::{self, Scope};

use super::args::{DiagnoseArgs, DiagnoseOutput};
use crate::Error;
use crate::k8s::existing;

/// A whole gather is a few list calls; an API server that does not answer in this time is
/// reported rather than waited for.
const GATHER_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the diagnosis and prints it: exit 0 when nothing is found, 1 when something is;
/// a cluster that cannot be read is [`Error::ClusterUnreadable`].
pub(super) async fn diagnose(a: DiagnoseArgs) -> Result<u8, Error> {
    let (findings, scope, unreadable) = diagnose_cluster(&a)
        .await
        .map_err(Error::ClusterUnreadable)?;
    for what in unreadable {
        eprintln!("warning: not allowed to read {what}; the diagnosis says nothing about them");
    }
    match a.output {
        DiagnoseOutput::Json => println!("{}", diagnose::render_json(&findings)),
        DiagnoseOutput::Text if findings.is_empty() => {
            println!("no problem found in {scope} (nodes and cluster DNS included)")
        }
        DiagnoseOutput::Text => print!("{}", diagnose::render_text(&findings)),
    }
    Ok(u8::from(!findings.is_empty()))
}

async fn diagnose_cluster(
    req: &DiagnoseArgs,
) -> Result<(Vec<diagnose::Finding>, Scope, Vec<String>), String> {
    let conn = existing::connect(req.kubeconfig.as_deref(), req.context.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let scope = if req.all_namespaces {
        Scope::All
    } else if req.namespace.is_empty() {
        Scope::namespaces([conn.client.default_namespace()])
    } else {
        Scope::namespaces(req.namespace.iter().cloned())
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
