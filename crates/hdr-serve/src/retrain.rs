//! The page's Retrain button (`POST /api/retrain`, `GET /api/retrain`): runs
//! the command the server was given (`cargo xtask serve` gives its own
//! `pipeline`, so the same runner, run lock and cache), one at a time,
//! keeping what it prints and the epoch it has reached for the page to
//! show, and when it succeeds, calls back so the server swaps in the new
//! model. A failed run leaves the old model serving, with the reason.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde::Serialize;

/// Most lines of the run's output kept for the page.
const KEPT_LINES: usize = 200;

/// The command the Retrain button runs, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrainCommand {
    /// The program, then its arguments.
    pub command: Vec<OsString>,
    /// The folder it runs in (the server's own when `None`).
    pub dir: Option<PathBuf>,
}

/// Where a retraining stands, as `GET /api/retrain` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Status {
    /// `idle`, `running`, `succeeded` or `failed`.
    pub state: &'static str,
    /// How many runs this server started.
    pub runs: u64,
    /// The last epoch finished, of how many, and its validation accuracy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<Epoch>,
    /// Seconds since the run started, or that it took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// Why it failed, or what the finished run changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The run's last lines of output.
    pub lines: Vec<String>,
}

/// One finished epoch, read from the train stage's line for it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub(crate) struct Epoch {
    pub done: usize,
    pub of: usize,
    pub val_accuracy: f64,
}

#[derive(Debug)]
struct State {
    state: &'static str,
    runs: u64,
    started: Option<Instant>,
    seconds: Option<f64>,
    epoch: Option<Epoch>,
    message: Option<String>,
    lines: VecDeque<String>,
}

/// Runs the retraining command, one run at a time.
#[derive(Debug)]
pub(crate) struct Retrainer {
    command: RetrainCommand,
    state: Mutex<State>,
}

impl Retrainer {
    pub(crate) fn new(command: RetrainCommand) -> Self {
        Self {
            command,
            state: Mutex::new(State {
                state: "idle",
                runs: 0,
                started: None,
                seconds: None,
                epoch: None,
                message: None,
                lines: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one is still sound.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where it stands.
    pub(crate) fn status(&self) -> Status {
        let state = self.lock();
        Status {
            state: state.state,
            runs: state.runs,
            epoch: state.epoch,
            seconds: match (state.state, state.started) {
                ("running", Some(started)) => Some(started.elapsed().as_secs_f64()),
                _ => state.seconds,
            },
            message: state.message.clone(),
            lines: state.lines.iter().cloned().collect(),
        }
    }

    /// Starts a run unless one is running; when it succeeds, `finished`
    /// (swapping in the new model) says what changed, or why it could not.
    /// `Err` holds the status of the run in progress.
    pub(crate) fn start(
        self: &Arc<Self>,
        finished: impl FnOnce() -> Result<String, String> + Send + 'static,
    ) -> Result<Status, Status> {
        {
            let mut state = self.lock();
            if state.state == "running" {
                drop(state);
                return Err(self.status());
            }
            state.state = "running";
            state.runs += 1;
            state.started = Some(Instant::now());
            state.seconds = None;
            state.epoch = None;
            state.message = None;
            state.lines.clear();
        }
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("hdr-serve-retrain".into())
            .spawn(move || {
                let outcome = me.run().and_then(|()| finished());
                let mut state = me.lock();
                state.seconds = state.started.map(|s| s.elapsed().as_secs_f64());
                match outcome {
                    Ok(message) => {
                        state.state = "succeeded";
                        state.message = Some(message);
                    }
                    Err(message) => {
                        state.state = "failed";
                        state.message = Some(message);
                    }
                }
            });
        if let Err(e) = spawned {
            let mut state = self.lock();
            state.state = "failed";
            state.message = Some(format!("cannot start a thread to retrain: {e}"));
        }
        Ok(self.status())
    }

    /// Runs the command to its end, keeping its output; `Err` says why it failed.
    fn run(&self) -> Result<(), String> {
        let Some((program, args)) = self.command.command.split_first() else {
            return Err("no retraining command".into());
        };
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &self.command.dir {
            command.current_dir(dir);
        }
        let mut child = command.spawn().map_err(|e| {
            format!(
                "cannot run {}: {e}",
                PathBuf::from(program)
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
            )
        })?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        std::thread::scope(|scope| {
            if let Some(out) = stdout {
                scope.spawn(|| self.keep_lines(out));
            }
            if let Some(err) = stderr {
                self.keep_lines(err);
            }
        });
        let status = child
            .wait()
            .map_err(|e| format!("the retraining run could not be waited for: {e}"))?;
        if status.success() {
            return Ok(());
        }
        let state = self.lock();
        let reason = state
            .lines
            .iter()
            .rev()
            .find(|line| line.starts_with("error"))
            .or(state.lines.back())
            .cloned()
            .unwrap_or_else(|| format!("the run ended with {status}"));
        Err(reason)
    }

    /// Keeps each line of `output` (the last [`KEPT_LINES`]) and the epochs it reports.
    fn keep_lines(&self, output: impl Read) {
        for line in BufReader::new(output).split(b'\n') {
            let Ok(line) = line else { return };
            // Progress bars redraw with carriage returns; keep the last draw.
            let text = String::from_utf8_lossy(&line);
            let text = text.rsplit('\r').next().unwrap_or_default().trim_end();
            if text.is_empty() {
                continue;
            }
            let mut state = self.lock();
            if let Some(epoch) = epoch_of(text) {
                state.epoch = Some(epoch);
            }
            if state.lines.len() == KEPT_LINES {
                state.lines.pop_front();
            }
            state.lines.push_back(text.to_string());
        }
    }
}

/// The epoch a train stage line reports: `epoch 3/30  loss … val_acc 98.75% …`.
fn epoch_of(line: &str) -> Option<Epoch> {
    let mut words = line.split_whitespace();
    if words.next() != Some("epoch") {
        return None;
    }
    let (done, of) = words.next()?.split_once('/')?;
    let mut words = words.skip_while(|w| *w != "val_acc");
    words.next()?;
    let accuracy = words.next()?.strip_suffix('%')?.parse::<f64>().ok()?;
    Some(Epoch {
        done: done.parse().ok()?,
        of: of.parse().ok()?,
        val_accuracy: accuracy / 100.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_read_from_the_train_stage_lines() {
        let line = "epoch 3/30  loss 0.1234 acc 96.1%  val_loss 0.0456 val_acc 98.75%  \
                    lr 0.00400  1.2s  25,810 samples/s  *best";
        assert_eq!(
            epoch_of(line),
            Some(Epoch {
                done: 3,
                of: 30,
                val_accuracy: 0.9875
            })
        );
        assert_eq!(epoch_of("data: 10,000 rows"), None);
        assert_eq!(epoch_of("epoch 3/30 without numbers"), None);
    }

    fn shell(script: &str) -> Arc<Retrainer> {
        Arc::new(Retrainer::new(RetrainCommand {
            command: vec!["sh".into(), "-c".into(), script.into()],
            dir: None,
        }))
    }

    fn wait(retrainer: &Retrainer) -> Status {
        for _ in 0..500 {
            let status = retrainer.status();
            if status.state != "running" {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the run did not end");
    }

    #[cfg(unix)]
    #[test]
    fn a_run_is_followed_to_its_end_and_one_runs_at_a_time() {
        let retrainer = shell(
            "echo 'epoch 1/2  loss 1 acc 50.0%  val_loss 1 val_acc 90.00%' >&2; sleep 0.3; \
             echo 'epoch 2/2  loss 1 acc 50.0%  val_loss 1 val_acc 95.50%' >&2; echo done",
        );
        let started = retrainer.start(|| Ok("swapped".into())).unwrap();
        assert_eq!(started.state, "running");
        assert!(
            retrainer.start(|| Ok(String::new())).is_err(),
            "one at a time"
        );
        let status = wait(&retrainer);
        assert_eq!(status.state, "succeeded", "{status:?}");
        assert_eq!(status.message.as_deref(), Some("swapped"));
        assert_eq!(status.runs, 1);
        let epoch = status.epoch.unwrap();
        assert_eq!((epoch.done, epoch.of), (2, 2));
        assert!((epoch.val_accuracy - 0.955).abs() < 1e-12);
        assert!(status.lines.contains(&"done".to_string()));
    }

    #[cfg(unix)]
    #[test]
    fn a_failed_run_says_why_and_swaps_nothing() {
        let retrainer =
            shell("echo working >&2; echo 'error: another run holds the artifacts' >&2; exit 2");
        retrainer
            .start(|| panic!("a failed run swaps nothing"))
            .unwrap();
        let status = wait(&retrainer);
        assert_eq!(status.state, "failed");
        assert_eq!(
            status.message.as_deref(),
            Some("error: another run holds the artifacts")
        );
        let missing = Arc::new(Retrainer::new(RetrainCommand {
            command: vec!["/no/such/program".into()],
            dir: None,
        }));
        missing.start(|| Ok(String::new())).unwrap();
        let status = wait(&missing);
        assert_eq!(status.state, "failed");
        assert!(status.message.unwrap().starts_with("cannot run program"));
    }
}
