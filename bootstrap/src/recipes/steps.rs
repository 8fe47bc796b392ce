//! The step runner every recipe uses: each step is named, timed, shown while it runs (a
//! spinner or a byte bar on a terminal, one line per finished step otherwise) and listed in
//! a summary at the end. `bootstrap p3` reuses it for its own steps.
//!
//! It also carries the test hook that proves rollback: a run can be told to fail right after
//! a named step succeeds ([`Steps::fail_after`]).

use std::fmt::{self, Display, Write as _};
use std::future::Future;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How steps are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// Spinners and bars on stderr (a terminal).
    Live,
    /// One line per finished step on stderr (logs, CI, tests).
    Lines,
    /// Nothing; the records are still kept for the summary.
    Quiet,
}

/// The error a recipe returns when a test asked it to fail after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFailure {
    pub after_step: String,
}

impl Display for InjectedFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "failure injected after step {:?} (test hook)",
            self.after_step
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Done(Option<String>),
    Failed(String),
}

/// One finished step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub name: String,
    pub elapsed: Duration,
    pub(crate) outcome: Outcome,
}

#[derive(Debug)]
struct Inner {
    display: Show,
    multi: MultiProgress,
    records: Mutex<Vec<Record>>,
    fail_after: Option<String>,
    started: Instant,
}

/// The runner; cheap to clone and shared by concurrent steps.
#[derive(Debug, Clone)]
pub struct Steps {
    inner: Arc<Inner>,
}

impl Steps {
    pub fn new(display: Show) -> Self {
        let target = match display {
            Show::Live => ProgressDrawTarget::stderr(),
            _ => ProgressDrawTarget::hidden(),
        };
        Self {
            inner: Arc::new(Inner {
                display,
                multi: MultiProgress::with_draw_target(target),
                records: Mutex::new(Vec::new()),
                fail_after: None,
                started: Instant::now(),
            }),
        }
    }

    /// Live on a terminal, lines otherwise, nothing when `quiet`.
    pub(crate) fn for_stderr(quiet: bool) -> Self {
        if quiet {
            Self::new(Show::Quiet)
        } else if std::io::stderr().is_terminal() {
            Self::new(Show::Live)
        } else {
            Self::new(Show::Lines)
        }
    }

    /// Test hook: the first step whose name starts with `step` fails right after it succeeds.
    pub fn fail_after(self, step: &str) -> Self {
        let inner = Inner {
            display: self.inner.display,
            multi: self.inner.multi.clone(),
            records: Mutex::new(Vec::new()),
            fail_after: Some(step.to_owned()),
            started: self.inner.started,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Runs one step: shows it, times it, records it.
    pub(crate) async fn run<T, E, F>(&self, name: impl Into<String>, work: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: Display + From<InjectedFailure>,
    {
        let step = self.begin(name);
        let result = work.await;
        match result {
            Ok(v) => step.done(None).map(|()| v).map_err(E::from),
            Err(e) => {
                step.failed(&e);
                Err(e)
            }
        }
    }

    /// Starts a step whose progress the caller reports (bytes, messages).
    pub(crate) fn begin(&self, name: impl Into<String>) -> Step {
        let name = name.into();
        let bar = match self.inner.display {
            Show::Live => {
                let bar = self.inner.multi.add(ProgressBar::new_spinner());
                bar.set_style(spinner_style());
                bar.set_prefix(name.clone());
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            }
            _ => ProgressBar::hidden(),
        };
        tracing::info!(step = %name, "step started");
        Step {
            steps: self.clone(),
            name,
            bar,
            started: Instant::now(),
            ended: false,
        }
    }

    /// A line between the steps (e.g. a warning) that does not break the live display.
    pub(crate) fn note(&self, line: &str) {
        match self.inner.display {
            Show::Live => {
                let _ = self.inner.multi.println(line);
            }
            Show::Lines => eprintln!("{line}"),
            Show::Quiet => {}
        }
    }

    pub(crate) fn records(&self) -> Vec<Record> {
        self.inner
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The table printed at the end: every step with its time, and the total.
    pub fn summary(&self) -> String {
        let records = self.records();
        let width = records
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .max(5);
        let mut out = String::new();
        let _ = writeln!(out, "{:<width$}  {:>8}  result", "step", "time");
        for r in &records {
            let result = match &r.outcome {
                Outcome::Done(None) => "ok".to_owned(),
                Outcome::Done(Some(detail)) => format!("ok, {detail}"),
                Outcome::Failed(e) => format!("FAILED: {}", e.lines().next().unwrap_or_default()),
            };
            let _ = writeln!(
                out,
                "{:<width$}  {:>8}  {result}",
                r.name,
                seconds(r.elapsed)
            );
        }
        let _ = writeln!(
            out,
            "{:<width$}  {:>8}",
            "total",
            seconds(self.inner.started.elapsed())
        );
        out
    }

    /// Prints the summary on stderr unless the runner is quiet.
    pub(crate) fn print_summary(&self) {
        if self.inner.display != Show::Quiet && !self.records().is_empty() {
            eprint!("\n{}", self.summary());
        }
    }

    fn record(&self, record: Record) {
        self.inner
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
    }
}

/// A step in progress.
#[derive(Debug)]
pub(crate) struct Step {
    steps: Steps,
    name: String,
    bar: ProgressBar,
    started: Instant,
    /// Set by `done`/`failed`; a step dropped before either (its work was cancelled, e.g.
    /// by Ctrl-C) is recorded as interrupted.
    ended: bool,
}

impl Step {
    /// Turns the spinner into a byte bar of `total` bytes.
    pub(crate) fn set_total_bytes(&self, total: u64) {
        self.bar.set_length(total);
        self.bar.set_style(bytes_style());
    }

    pub(crate) fn set_bytes(&self, done: u64) {
        self.bar.set_position(done);
    }

    pub(crate) fn set_message(&self, message: &str) {
        self.bar.set_message(message.to_owned());
    }

    /// Ends the step successfully, with an optional detail for the summary; fails instead
    /// if a test asked for a failure after this step.
    pub(crate) fn done(mut self, detail: Option<String>) -> Result<(), InjectedFailure> {
        self.ended = true;
        let elapsed = self.started.elapsed();
        let line = format!(
            "  ✓ {}{} ({})",
            self.name,
            detail
                .as_ref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default(),
            seconds(elapsed)
        );
        self.finish_display(&line);
        tracing::info!(step = %self.name, elapsed_ms = elapsed.as_millis() as u64, "step done");
        self.steps.record(Record {
            name: self.name.clone(),
            elapsed,
            outcome: Outcome::Done(detail),
        });
        match &self.steps.inner.fail_after {
            Some(target) if self.name.starts_with(target.as_str()) => Err(InjectedFailure {
                after_step: self.name.clone(),
            }),
            _ => Ok(()),
        }
    }

    pub(crate) fn failed(mut self, error: &dyn Display) {
        self.ended = true;
        self.end_failed(error.to_string());
    }

    fn end_failed(&self, message: String) {
        let elapsed = self.started.elapsed();
        let line = format!(
            "  ✗ {} ({}): {}",
            self.name,
            seconds(elapsed),
            message.lines().next().unwrap_or_default()
        );
        self.finish_display(&line);
        tracing::debug!(step = %self.name, error = %message, "step failed");
        self.steps.record(Record {
            name: self.name.clone(),
            elapsed,
            outcome: Outcome::Failed(message),
        });
    }

    fn finish_display(&self, line: &str) {
        match self.steps.inner.display {
            Show::Live => {
                self.bar.finish_and_clear();
                self.steps.inner.multi.remove(&self.bar);
                let _ = self.steps.inner.multi.println(line);
            }
            Show::Lines => eprintln!("{line}"),
            Show::Quiet => {}
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.ended {
            self.end_failed("interrupted".to_owned());
        }
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("  {spinner} {prefix} {elapsed} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bytes_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "  {spinner} {prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {wide_msg}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum E {
        Work(&'static str),
        Injected(String),
    }

    impl Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{self:?}")
        }
    }

    impl From<InjectedFailure> for E {
        fn from(i: InjectedFailure) -> Self {
            E::Injected(i.after_step)
        }
    }

    #[tokio::test]
    async fn records_times_and_outcomes_in_order() {
        let steps = Steps::new(Show::Quiet);
        let a: Result<u32, E> = steps.run("first", async { Ok(1) }).await;
        assert_eq!(a, Ok(1));
        let b: Result<u32, E> = steps
            .run("second", async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                Err(E::Work("boom"))
            })
            .await;
        assert_eq!(b, Err(E::Work("boom")));
        let r = steps.records();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].outcome, Outcome::Done(None));
        assert_eq!(r[1].outcome, Outcome::Failed("Work(\"boom\")".into()));
        assert!(r[1].elapsed >= Duration::from_millis(30));
        let s = steps.summary();
        assert!(
            s.contains("first") && s.contains("FAILED: Work(\"boom\")") && s.contains("total"),
            "{s}"
        );
    }

    #[tokio::test]
    async fn injected_failure_fires_after_the_named_step_only() {
        let steps = Steps::new(Show::Quiet).fail_after("start k3d-x-agent");
        let ok: Result<(), E> = steps.run("start k3d-x-server-0", async { Ok(()) }).await;
        assert_eq!(ok, Ok(()));
        let hit: Result<(), E> = steps.run("start k3d-x-agent-0", async { Ok(()) }).await;
        assert_eq!(hit, Err(E::Injected("start k3d-x-agent-0".into())));
        // the step itself succeeded and is recorded as such
        assert_eq!(steps.records()[1].outcome, Outcome::Done(None));
    }

    #[tokio::test]
    async fn a_cancelled_step_is_recorded_as_interrupted() {
        let steps = Steps::new(Show::Quiet);
        let work: std::pin::Pin<Box<dyn Future<Output = Result<(), E>>>> =
            Box::pin(steps.run("slow", std::future::pending()));
        let cut = tokio::time::timeout(Duration::from_millis(20), work).await;
        assert!(cut.is_err(), "the step was still running");
        let r = steps.records();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].outcome, Outcome::Failed("interrupted".into()));
    }

    #[test]
    fn byte_progress_and_details() {
        let steps = Steps::new(Show::Quiet);
        let s = steps.begin("import");
        s.set_total_bytes(100);
        s.set_bytes(60);
        s.set_bytes(100);
        s.done(Some("100 B".into())).unwrap();
        assert!(steps.summary().contains("ok, 100 B"));
    }
}
