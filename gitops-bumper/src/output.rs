//! What the binary prints: progress on stdout, errors on stderr.

use std::time::Duration;

use gitops_bumper::bump::BumpEvent;
use gitops_bumper::plan::Plan;
use lab_gitops::git;
use lab_gitops::image::ImageMatcher;
use lab_gitops::rollout::Milestone;

/// Prints bump progress as it happens.
pub(crate) struct Printer<'a> {
    image: &'a ImageMatcher,
    remote: &'a str,
}

impl<'a> Printer<'a> {
    pub(crate) fn new(image: &'a ImageMatcher, remote: &'a str) -> Printer<'a> {
        Printer { image, remote }
    }

    pub fn event(&mut self, event: &BumpEvent<'_>) {
        match event {
            BumpEvent::Found { branch, plan } => {
                self.found(branch, plan);
                print!("{}", plan.diff());
            }
            BumpEvent::Committed { commit, message } => {
                let subject = message.lines().next().unwrap_or_default();
                println!("committed {} {subject}", git::short(*commit));
            }
            BumpEvent::Pushing { attempt } if *attempt > 1 => {
                println!("pushing again (attempt {attempt})");
            }
            BumpEvent::Pushing { .. } => {}
            BumpEvent::Rejected { attempt, reason } => {
                println!("push rejected (attempt {attempt}): {reason}");
            }
            BumpEvent::Rebased { onto, plan } => {
                println!(
                    "{} moved to {}: re-applied the edit on top ({} -> {})",
                    self.remote,
                    git::short(*onto),
                    plan.old_tags().join(", "),
                    plan.tag
                );
            }
        }
    }

    fn found(&self, branch: &str, plan: &Plan) {
        let targets: usize = plan.files.iter().map(|f| f.targets.len()).sum();
        println!(
            "found {targets} tag(s) of {} in {} of {} YAML file(s) on {branch}:",
            self.image,
            plan.files.len(),
            plan.files_searched
        );
        let rows: Vec<(String, String)> = plan
            .files
            .iter()
            .flat_map(|f| {
                f.targets.iter().map(|t| {
                    let mut what = t.summary();
                    if t.is_at(&plan.tag) {
                        what.push_str(&format!("  (already {})", plan.tag));
                    } else if t.quotes(&plan.tag) {
                        what.push_str("  (will be quoted so YAML keeps it a string)");
                    }
                    (format!("{}:{}:{}", f.path, t.line, t.column), what)
                })
            })
            .collect();
        let width = rows.iter().map(|(at, _)| at.len()).max().unwrap_or(0);
        for (at, what) in rows {
            println!("  {at:<width$}  {what}");
        }
    }
}

/// `+2.3s`
pub(crate) fn seconds(d: Duration) -> String {
    format!("+{:.1}s", d.as_secs_f64())
}

/// A milestone, timed from the push (`offset` is the time from the push to the wait's start).
pub(crate) fn milestone(m: &Milestone, offset: Duration) -> String {
    match m {
        Milestone::Observed { elapsed, state } => format!("{} {state}", seconds(offset + *elapsed)),
        Milestone::Reached { elapsed, goal } => format!("{} {goal}", seconds(offset + *elapsed)),
    }
}

/// `error: …` on stderr.
pub(crate) fn error(e: &dyn std::error::Error) {
    eprintln!("error: {e}");
}
