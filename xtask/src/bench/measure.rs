//! Child processes: run one to completion, with its wall time and peak memory;
//! run a Python peer and read the JSON line it prints.

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

/// What a finished child process did.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Its peak resident memory (`ru_maxrss`), in bytes.
    pub peak_bytes: u64,
    /// Wall time from spawn to exit.
    pub seconds: f64,
    /// This process's own peak when the child started: Linux counts the
    /// parent's memory until the child's `exec`, so `peak_bytes` is never
    /// below it, and a peak at this floor measures nothing.
    pub parent_peak_bytes: u64,
}

/// Peak resident memory of this process so far, in bytes.
fn own_peak_bytes() -> u64 {
    // SAFETY: rusage is plain data that getrusage fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    // ru_maxrss is in kilobytes on Linux.
    (usage.ru_maxrss as u64).saturating_mul(1024)
}

/// Runs `command` to completion; fails with the tail of its stderr when it
/// exits non-zero.
pub fn run(mut command: Command) -> Result<Measured> {
    let program = command.get_program().to_string_lossy().into_owned();
    let parent_peak_bytes = own_peak_bytes();
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {program}"))?;
    let mut out_pipe = child.stdout.take().context("stdout is piped")?;
    let mut err_pipe = child.stderr.take().context("stderr is piped")?;
    // Drain stderr on the side so that neither pipe can fill up and block the child.
    let err_reader = std::thread::spawn(move || {
        let mut stderr = String::new();
        let _ = err_pipe.read_to_string(&mut stderr);
        stderr
    });
    let mut stdout = String::new();
    out_pipe
        .read_to_string(&mut stdout)
        .with_context(|| format!("reading the output of {program}"))?;
    let stderr = err_reader.join().unwrap_or_default();
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data that wait4 fills in; `pid` is our own
    // child, not yet waited for (std's `Child` only waits when asked to).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    if waited != pid {
        bail!(
            "waiting for {program} failed: {}",
            std::io::Error::last_os_error()
        );
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let tail: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(6)
            .collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{program} failed: {}", tail.join(" | "));
    }
    Ok(Measured {
        stdout,
        // ru_maxrss is in kilobytes on Linux.
        peak_bytes: (usage.ru_maxrss as u64).saturating_mul(1024),
        seconds,
        parent_peak_bytes,
    })
}

/// Runs a Python peer script and returns the last JSON line it printed, with
/// its measurements.
pub fn python_json<S: AsRef<OsStr>>(
    python: &Path,
    script: &Path,
    args: &[S],
    env: &[(&str, &str)],
) -> Result<(Value, Measured)> {
    if !script.exists() {
        bail!("peer script {} is missing", script.display());
    }
    let mut command = Command::new(python);
    command
        .arg(script)
        .args(args)
        .env("TF_CPP_MIN_LOG_LEVEL", "3")
        .envs(env.iter().copied());
    let measured = run(command)?;
    let value = measured
        .stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .with_context(|| format!("{} printed no JSON line", script.display()))?;
    Ok((value, measured))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_reports_its_output_time_and_peak_memory() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo done"]);
        let measured = run(command).unwrap();
        assert_eq!(measured.stdout.trim(), "done");
        assert!(measured.seconds > 0.0);
        // Any process maps at least its libc: more than 100 KB resident.
        assert!(measured.peak_bytes > 100_000, "{}", measured.peak_bytes);
        assert!(measured.parent_peak_bytes > 100_000);
    }

    #[test]
    fn a_failing_child_is_an_error_with_its_stderr() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo first >&2; echo 'the reason' >&2; exit 3"]);
        let message = format!("{:#}", run(command).unwrap_err());
        assert!(message.contains("first | the reason"), "{message}");
    }

    #[test]
    fn a_missing_peer_script_is_named() {
        let message = python_json(
            Path::new("python3"),
            Path::new("/nonexistent/peer.py"),
            &["--x"],
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(message.contains("/nonexistent/peer.py"), "{message}");
    }
}
