//! What a wait that gave up adds to its error: the diagnosis of the namespaces it waited on,
//! so the user reads the cause and its fix instead of a timeout.

use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject};

use super::{Scope, render_text, run};
use crate::rollout::{AppRef, application_resource};

/// The diagnosis is a handful of list calls; a cluster too slow for them does not hold the
/// error back for long.
const DIAGNOSIS_TIMEOUT: Duration = Duration::from_secs(15);

/// `detail`, then the findings in `namespaces` under a line naming the command that repeats
/// them. A diagnosis that cannot be made is said in one clause and never hides `detail`.
pub async fn explain_wait(detail: String, client: &Client, namespaces: &[String]) -> String {
    let scope = Scope::namespaces(namespaces.iter().cloned());
    let findings = match tokio::time::timeout(DIAGNOSIS_TIMEOUT, run(client, &scope)).await {
        Ok(Ok(findings)) => findings,
        Ok(Err(e)) => return format!("{detail} (no diagnosis: {e})"),
        Err(_) => {
            return format!(
                "{detail} (no diagnosis: the API did not answer within {} s)",
                DIAGNOSIS_TIMEOUT.as_secs()
            );
        }
    };
    if findings.is_empty() {
        return detail;
    }
    let again: Vec<String> = namespaces.iter().map(|n| format!("-n {n}")).collect();
    format!(
        "{detail}\n\nwhat the cluster shows (again: bootstrap diagnose {}):\n{}",
        again.join(" "),
        render_text(&findings).trim_end()
    )
}

/// The namespaces a rollout of `app` involves: the Application's own and the one it deploys
/// into (when it can be read).
pub async fn application_namespaces(client: &Client, app: &AppRef) -> Vec<String> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &app.namespace, &application_resource());
    let destination = api.get_opt(&app.name).await.ok().flatten().and_then(|a| {
        a.data["spec"]["destination"]["namespace"]
            .as_str()
            .map(str::to_owned)
    });
    let mut namespaces = vec![app.namespace.clone()];
    namespaces.extend(destination.filter(|d| *d != app.namespace));
    namespaces
}
