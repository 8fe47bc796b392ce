//! Why pods are not running: one line per stuck pod with its phase, its conditions that are
//! not True, and every init container's and container's waiting or terminated reason, for the
//! error of a wait that gives up (the rules are pure; [`stuck_pods`] reads them).

use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Pod};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

/// The line for `pod`, or None when it is Running with every container ready (or Succeeded).
pub(crate) fn pod_line(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref();
    let phase = status
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".to_owned());
    let conditions = status.and_then(|s| s.conditions.as_ref());
    let ready =
        conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    if phase == "Succeeded" || (phase == "Running" && ready) {
        return None;
    }
    let mut parts = vec![phase];
    for c in conditions.into_iter().flatten() {
        if c.status == "True" {
            continue;
        }
        let mut text = format!("{}={}", c.type_, c.status);
        if let Some(reason) = &c.reason {
            text.push_str(&format!(" {reason}"));
        }
        if let Some(message) = c.message.as_deref().filter(|m| !m.is_empty()) {
            text.push_str(&format!(": {}", message.trim()));
        }
        parts.push(text);
    }
    let containers = |statuses: Option<&Vec<ContainerStatus>>, kind: &str| -> Vec<String> {
        statuses
            .into_iter()
            .flatten()
            .filter_map(|c| container_line(c, kind))
            .collect()
    };
    parts.extend(containers(
        status.and_then(|s| s.init_container_statuses.as_ref()),
        "init container",
    ));
    parts.extend(containers(
        status.and_then(|s| s.container_statuses.as_ref()),
        "container",
    ));
    Some(format!("pod {}: {}", pod.name_any(), parts.join("; ")))
}

/// A container that is waiting, or terminated other than cleanly, or not ready.
fn container_line(c: &ContainerStatus, kind: &str) -> Option<String> {
    let last_exit = c
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| {
            format!(
                "last exit code {}{}",
                t.exit_code,
                t.reason
                    .as_deref()
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default()
            )
        });
    let restarts = (c.restart_count > 0).then(|| format!("{} restarts", c.restart_count));
    let detail = |extra: Vec<Option<String>>| -> String {
        let extra: Vec<String> = extra.into_iter().flatten().collect();
        if extra.is_empty() {
            String::new()
        } else {
            format!(" ({})", extra.join(", "))
        }
    };
    match c.state.as_ref() {
        Some(ContainerState {
            waiting: Some(w), ..
        }) => {
            let reason = w.reason.clone().unwrap_or_else(|| "Waiting".to_owned());
            let image = reason
                .contains("Image")
                .then(|| format!("image {}", c.image));
            let message = w
                .message
                .as_deref()
                .filter(|m| !m.is_empty())
                .map(|m| format!(": {}", m.trim()))
                .unwrap_or_default();
            Some(format!(
                "{kind} {} waiting {reason}{}{message}",
                c.name,
                detail(vec![image, last_exit, restarts])
            ))
        }
        Some(ContainerState {
            terminated: Some(t),
            ..
        }) if t.exit_code != 0 => Some(format!(
            "{kind} {} terminated {} (exit code {}{})",
            c.name,
            t.reason.as_deref().unwrap_or("Error"),
            t.exit_code,
            restarts.map(|r| format!(", {r}")).unwrap_or_default()
        )),
        Some(ContainerState {
            running: Some(_), ..
        }) if !c.ready && kind == "container" => Some(format!(
            "{kind} {} running but not ready{}",
            c.name,
            detail(vec![restarts])
        )),
        _ => None,
    }
}

/// The lines of every stuck pod in `namespace` (empty when the list cannot be read: this only
/// adds to an error that is reported anyway).
pub(crate) async fn stuck_pods(client: &Client, namespace: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    match pods.list(&ListParams::default()).await {
        Ok(list) => list.items.iter().filter_map(pod_line).collect(),
        Err(_) => Vec::new(),
    }
}

/// `detail`, followed by the lines of the stuck pods of `namespace`.
pub(crate) async fn with_stuck_pods(detail: String, client: &Client, namespace: &str) -> String {
    let pods = stuck_pods(client, namespace).await;
    if pods.is_empty() {
        detail
    } else {
        format!("{detail}; {}", pods.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_running_ready_pod_and_a_finished_one_say_nothing() {
        let ready = pod(
            serde_json::json!({"metadata": {"name": "p"}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        assert_eq!(pod_line(&ready), None);
        let done =
            pod(serde_json::json!({"metadata": {"name": "p"}, "status": {"phase": "Succeeded"}}));
        assert_eq!(pod_line(&done), None);
    }

    #[test]
    fn unschedulable_pods_carry_the_schedulers_message() {
        let p = pod(
            serde_json::json!({"metadata": {"name": "web-1"}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."}]}}),
        );
        assert_eq!(
            pod_line(&p).unwrap(),
            "pod web-1: Pending; PodScheduled=False Unschedulable: 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
        );
    }

    #[test]
    fn image_pulls_name_the_image_and_crash_loops_the_exit_code() {
        let p = pod(
            serde_json::json!({"metadata": {"name": "argocd-repo-server-7d"}, "status": {
            "phase": "Pending",
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
            "initContainerStatuses": [{"name": "copyutil", "image": "quay.io/argoproj/argocd:v3.5.2",
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 128, "reason": "StartError"}}}],
            "containerStatuses": [{"name": "repo", "image": "quay.io/argoproj/argocd:v3.5.2",
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff",
                    "message": "Back-off pulling image \"quay.io/argoproj/argocd:v3.5.2\""}}}]}}),
        );
        assert_eq!(
            pod_line(&p).unwrap(),
            "pod argocd-repo-server-7d: Pending; Ready=False ContainersNotReady; \
             init container copyutil terminated StartError (exit code 128); \
             container repo waiting ImagePullBackOff (image quay.io/argoproj/argocd:v3.5.2): \
             Back-off pulling image \"quay.io/argoproj/argocd:v3.5.2\""
        );
        let crash = pod(
            serde_json::json!({"metadata": {"name": "app"}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [{"name": "echo", "image": "echo-app:v2", "imageID": "", "ready": false,
                "restartCount": 4,
                "lastState": {"terminated": {"exitCode": 2, "reason": "Error"}},
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container"}}}]}}),
        );
        assert_eq!(
            pod_line(&crash).unwrap(),
            "pod app: Running; Ready=False; container echo waiting CrashLoopBackOff \
             (last exit code 2 Error, 4 restarts): back-off 1m20s restarting failed container"
        );
    }

    #[test]
    fn a_running_container_that_is_not_ready_is_named() {
        let p = pod(
            serde_json::json!({"metadata": {"name": "app"}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                "message": "containers with unready status: [echo]"}],
            "containerStatuses": [{"name": "echo", "image": "echo-app:v2", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"running": {}}}]}}),
        );
        assert_eq!(
            pod_line(&p).unwrap(),
            "pod app: Running; Ready=False ContainersNotReady: containers with unready status: [echo]; \
             container echo running but not ready"
        );
    }
}
