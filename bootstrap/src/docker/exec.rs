//! Commands in running containers, with stdin when needed (`ctr image import -`).

use std::pin::Pin;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

use super::{DockerError, Engine};
use crate::spec::logs::TAIL_LINES;

/// A finished command: its exit code and its last output lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    pub(crate) exit_code: i64,
    pub(crate) output: String,
}

/// A running command whose stdin is ours to write. Its output is drained in the background
/// (a command blocked on a full stdout would stop reading stdin).
pub struct ExecSession {
    container: String,
    exec_id: String,
    input: Pin<Box<dyn AsyncWrite + Send>>,
    output: JoinHandle<Result<String, DockerError>>,
}

impl std::fmt::Debug for ExecSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecSession")
            .field("container", &self.container)
            .field("exec_id", &self.exec_id)
            .finish_non_exhaustive()
    }
}

impl ExecSession {
    pub(crate) fn container(&self) -> &str {
        &self.container
    }

    pub(crate) async fn write(&mut self, data: &[u8]) -> Result<(), DockerError> {
        self.input.write_all(data).await.map_err(|e| {
            DockerError::Other(format!(
                "writing to the command in {} failed: {e}",
                self.container
            ))
        })
    }

    /// Closes stdin (half-close, so the command sees end of input), waits for the command to
    /// finish, and returns its exit code and last output lines.
    pub(crate) async fn finish(mut self, engine: &Engine) -> Result<ExecOutcome, DockerError> {
        self.input.shutdown().await.map_err(|e| {
            DockerError::Other(format!(
                "closing the input of the command in {} failed: {e}",
                self.container
            ))
        })?;
        let output = self
            .output
            .await
            .map_err(|e| DockerError::Other(format!("output reader failed: {e}")))??;
        let exit_code = exit_code(engine, &self.exec_id).await?;
        Ok(ExecOutcome { exit_code, output })
    }
}

impl Engine {
    /// Runs `cmd` (no shell, no entrypoint) in `container` and waits for it.
    pub(crate) async fn exec(
        &self,
        container: &str,
        cmd: &[&str],
    ) -> Result<ExecOutcome, DockerError> {
        let session = self.exec_with_stdin(container, cmd).await?;
        session.finish(self).await
    }

    /// Starts `cmd` in `container` with stdin attached.
    pub(crate) async fn exec_with_stdin(
        &self,
        container: &str,
        cmd: &[&str],
    ) -> Result<ExecSession, DockerError> {
        let action = || format!("run {} in {container}", cmd.join(" "));
        let created = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(cmd.iter().map(|s| (*s).to_owned()).collect()),
                    ..Default::default()
                },
            )
            .await
            .map_err(DockerError::api(action()))?;
        let started = self
            .docker
            .start_exec(&created.id, None)
            .await
            .map_err(DockerError::api(action()))?;
        let StartExecResults::Attached { mut output, input } = started else {
            return Err(DockerError::Other(format!(
                "{}: Docker detached the command",
                action()
            )));
        };
        let what = action();
        let reader = tokio::spawn(async move {
            let mut text = String::new();
            while let Some(item) = output.next().await {
                match item {
                    Ok(
                        LogOutput::StdOut { message }
                        | LogOutput::StdErr { message }
                        | LogOutput::Console { message },
                    ) => {
                        text.push_str(&String::from_utf8_lossy(&message));
                        // keep memory bounded for chatty commands
                        if text.len() > 64 * 1024 {
                            let cut = text.len() - 32 * 1024;
                            let cut = (cut..text.len())
                                .find(|i| text.is_char_boundary(*i))
                                .unwrap_or(0);
                            text.drain(..cut);
                        }
                    }
                    Ok(LogOutput::StdIn { .. }) => {}
                    Err(e) => return Err(DockerError::api(what.clone())(e)),
                }
            }
            let lines: Vec<&str> = text.lines().collect();
            Ok(lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n"))
        });
        Ok(ExecSession {
            container: container.to_owned(),
            exec_id: created.id,
            input,
            output: reader,
        })
    }
}

/// The exit code once Docker has recorded it (it can lag the end of the output stream).
async fn exit_code(engine: &Engine, exec_id: &str) -> Result<i64, DockerError> {
    for _ in 0..50 {
        let info = engine
            .docker
            .inspect_exec(exec_id)
            .await
            .map_err(DockerError::api("inspect a finished command"))?;
        if info.running != Some(true)
            && let Some(code) = info.exit_code
        {
            return Ok(code);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Err(DockerError::Other(format!(
        "command {exec_id} did not report an exit code"
    )))
}
