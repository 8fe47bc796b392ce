//! Findings as text (one block each) and as JSON (an array).

use super::finding::Finding;

/// One block per finding:
/// ```text
/// crash-loop: Deployment dev/web
///   container keeps exiting ...
///   restartCount = 6
///   fix: kubectl -n dev logs ...
/// ```
/// Multi-line values (log lines) continue under their field, indented.
pub fn render_text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for (i, f) in findings.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{}: {}\n", f.cause, f.object));
        out.push_str(&format!("  {}\n", f.summary));
        for e in &f.evidence {
            let mut lines = e.value.lines();
            out.push_str(&format!(
                "  {} = {}\n",
                e.field,
                lines.next().unwrap_or_default()
            ));
            for more in lines {
                out.push_str(&format!("      {more}\n"));
            }
        }
        if !f.related.is_empty() {
            let related: Vec<String> = f.related.iter().map(ToString::to_string).collect();
            out.push_str(&format!("  related: {}\n", related.join(", ")));
        }
        out.push_str(&format!("  fix: {}\n", f.fix));
    }
    out
}

/// A JSON array of findings (`[]` when there are none).
pub fn render_json(findings: &[Finding]) -> String {
    serde_json::to_string_pretty(findings).unwrap_or_else(|_| "[]".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::diagnose::finding::{Cause, ObjectRef};

    fn finding() -> Finding {
        Finding::new(
            Cause::CrashLoop,
            ObjectRef::namespaced("Deployment", "dev", "web"),
            "container app keeps exiting with code 1",
        )
        .evidence("restartCount", "6")
        .evidence("previous container log", "starting\npanic: no config")
        .fix("kubectl -n dev logs web-1 -c app --previous")
        .related(ObjectRef::namespaced("Pod", "dev", "web-1"))
    }

    #[test]
    fn text_is_one_block_per_finding() {
        let text = render_text(&[finding(), finding()]);
        let expected = "crash-loop: Deployment dev/web\n  container app keeps exiting with code 1\n  restartCount = 6\n  previous container log = starting\n      panic: no config\n  related: Pod dev/web-1\n  fix: kubectl -n dev logs web-1 -c app --previous\n";
        assert_eq!(text, format!("{expected}\n{expected}"));
        assert_eq!(render_text(&[]), "");
    }

    #[test]
    fn json_round_trips_and_is_an_array() {
        let json = render_json(&[finding()]);
        let back: Vec<Finding> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, vec![finding()]);
        assert_eq!(render_json(&[]), "[]");
    }
}
