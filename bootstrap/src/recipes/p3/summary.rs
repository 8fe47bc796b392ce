//! What `bootstrap p3` prints once part 3 is up.

use crate::gitops::application;

/// What `bootstrap p3` prints at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub(crate) cluster: String,
    pub(crate) context: String,
    /// The kubeconfig file (or `$KUBECONFIG` list) holding the context.
    pub kubeconfig: String,
    pub(crate) app_url: String,
    pub(crate) served: String,
    pub(crate) argocd_url: String,
    pub admin_password: Option<String>,
    pub(crate) source_url: String,
    pub revision: String,
    /// The `lab` remote, for the embedded Git server: (remote, host URL, branch).
    pub(crate) lab: Option<(String, String, String)>,
    pub(crate) notes: Vec<String>,
}

impl Summary {
    /// The next command to run.
    pub(crate) fn next_command(&self) -> String {
        let probe = format!("--probe {}", self.app_url);
        match &self.lab {
            Some((remote, _, _)) => format!("gitops-bumper v2 --remote {remote} --wait {probe}"),
            None => format!(
                "gitops-bumper v2 --wait {probe}   (in your clone of {})",
                self.source_url
            ),
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: &str| out.push_str(&format!("  {k:<14}{v}\n"));
        line("app", &format!("{} → {}", self.app_url, self.served));
        line(
            "Argo CD",
            &format!("{} (its own self-signed TLS; user admin)", self.argocd_url),
        );
        match &self.admin_password {
            Some(p) => line("password", p),
            None => line(
                "password",
                "(argocd-initial-admin-secret was deleted; use yours)",
            ),
        }
        line(
            "Application",
            &format!(
                "argocd/{} ← {} @ {}",
                application::NAME,
                self.source_url,
                self.revision
            ),
        );
        if let Some((remote, url, branch)) = &self.lab {
            line(
                "Git server",
                &format!("{url} (remote {remote}, branch {branch})"),
            );
        }
        line(
            "kubeconfig",
            &format!("context {} in {}", self.context, self.kubeconfig),
        );
        let mut text = format!("part 3 is up on cluster {}:\n{out}", self.cluster);
        for note in &self.notes {
            text.push_str(&format!("  note: {note}\n"));
        }
        text.push_str(&format!(
            "\nnext: {}\n      (then `bootstrap status`; `bootstrap down` removes it all)\n",
            self.next_command()
        ));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gitops::gitserver;
    use crate::recipes::p3::playground_answer;

    fn summary() -> Summary {
        Summary {
            cluster: "iot".into(),
            context: "k3d-iot".into(),
            kubeconfig: "/home/wil/.kube/config".into(),
            app_url: "http://localhost:8888/".into(),
            served: playground_answer("v1"),
            argocd_url: "https://localhost:8443".into(),
            admin_password: Some("Pa55word".into()),
            source_url: gitserver::cluster_url("wil", "iot-wil"),
            revision: "main".into(),
            lab: Some((
                "lab".into(),
                gitserver::host_url(3000, "wil", "iot-wil"),
                "main".into(),
            )),
            notes: vec![],
        }
    }

    #[test]
    fn the_summary_says_where_everything_is_and_what_to_run_next() {
        let text = summary().render();
        for wanted in [
            "part 3 is up on cluster iot:",
            "http://localhost:8888/ → {\"status\":\"ok\", \"message\": \"v1\"}",
            "https://localhost:8443 (its own self-signed TLS; user admin)",
            "password      Pa55word",
            "argocd/playground ← http://gitea-http.gitea.svc.cluster.local:3000/wil/iot-wil.git @ main",
            "http://localhost:3000/wil/iot-wil.git (remote lab, branch main)",
            "context k3d-iot in /home/wil/.kube/config",
            "next: gitops-bumper v2 --remote lab --wait --probe http://localhost:8888/",
            "`bootstrap down` removes it all",
        ] {
            assert!(text.contains(wanted), "missing {wanted:?} in:\n{text}");
        }
        assert_eq!(
            text.matches("Pa55word").count(),
            1,
            "the password is printed once"
        );
        let mut remote = summary();
        remote.lab = None;
        remote.source_url = "https://github.com/wil/iot-wil.git".into();
        assert!(remote.render().contains("next: gitops-bumper v2 --wait --probe http://localhost:8888/   (in your clone of https://github.com/wil/iot-wil.git)"));
    }
}
