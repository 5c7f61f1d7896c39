//! One runner at a time per project: commands that run stages or remove
//! artifacts hold an exclusive OS advisory lock on `artifacts/.lock`.
//!
//! The operating system releases the lock when the process exits, however it
//! exits (a crash or `kill -9` included), so a leftover file never blocks
//! anyone; the file only says who holds the lock (pid, command, start time),
//! written after taking it. Read-only commands (`status`, `predict`, `config`)
//! never take it: every artifact and `pipeline.lock` is replaced by an atomic
//! rename, so they see the old file or the new one, never half of one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::Error;

/// The lock file's name inside the artifacts folder.
pub const FILE_NAME: &str = ".lock";

/// Held while a runner works on the artifacts; released on drop or exit.
#[derive(Debug)]
pub struct RunnerLock {
    _file: File,
}

/// Who holds the lock, as written into the lock file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// The command line, e.g. `cargo xtask pipeline --set train.epochs=5`.
    pub command: String,
    /// When it took the lock, in seconds since the Unix epoch.
    pub since_unix: u64,
}

impl Holder {
    /// This process.
    pub fn current() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Self {
            pid: std::process::id(),
            command: format!("cargo xtask {}", args.join(" "))
                .trim_end()
                .to_string(),
            since_unix: now_unix(),
        }
    }

    /// "pid 1234 (`cargo xtask pipeline`), running since 2025-01-02 03:04:05 UTC (12 s ago)".
    pub fn describe(&self) -> String {
        let ago = now_unix().saturating_sub(self.since_unix);
        format!(
            "pid {} (`{}`), running since {} ({})",
            self.pid,
            self.command,
            utc(self.since_unix),
            duration(ago)
        )
    }
}

/// Takes the lock on `<artifacts>/.lock`, creating the folder if needed.
/// When another process holds it: with `wait`, says so (unless `quiet`) and
/// waits for it; without, fails at once naming the holder.
pub fn acquire(artifacts: &Path, wait: bool, quiet: bool) -> Result<RunnerLock, Error> {
    std::fs::create_dir_all(artifacts).map_err(Error::io("create", artifacts))?;
    let path = artifacts.join(FILE_NAME);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(Error::io("open the lock file", &path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = read_holder(&path);
            let who = holder.map_or_else(
                || "another run (it has not said who yet)".to_string(),
                |h| h.describe(),
            );
            let folder = shown_folder(artifacts);
            if !wait {
                return Err(Error::InUse {
                    folder,
                    holder: who,
                });
            }
            if !quiet {
                eprintln!("waiting for {folder}: it is in use by {who} (Ctrl-C stops waiting; --no-wait fails at once)");
            }
            file.lock().map_err(Error::io("lock", &path))?;
        }
        Err(TryLockError::Error(e)) => return Err(Error::io("lock", &path)(e)),
    }
    write_holder(&mut file, &Holder::current()).map_err(Error::io("write", &path))?;
    Ok(RunnerLock { _file: file })
}

/// The holder recorded in the lock file, if it can be read.
pub fn read_holder(path: &Path) -> Option<Holder> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_holder(file: &mut File, holder: &Holder) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(holder).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&bytes)?;
    file.flush()
}

/// `artifacts/` as the user knows it.
fn shown_folder(artifacts: &Path) -> String {
    let name = artifacts
        .file_name()
        .map_or_else(|| PathBuf::from(artifacts), PathBuf::from);
    format!("{}/ ({})", name.display(), artifacts.display())
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn duration(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds} s ago"),
        120..=7199 => format!("{} min ago", seconds / 60),
        _ => format!("{} h ago", seconds / 3600),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for seconds since the Unix epoch.
fn utc(unix: u64) -> String {
    let stamp = rfc3339(unix);
    format!("{} UTC", stamp.trim_end_matches('Z').replacen('T', " ", 1))
}

/// RFC 3339 in UTC (`2026-01-02T10:00:00Z`) for seconds since the Unix
/// epoch; times past the year 9999 (a corrupt lock file) print as its last second.
pub fn rfc3339(unix: u64) -> String {
    const LAST_SECOND_OF_9999: u64 = 253_402_300_799;
    let time = UNIX_EPOCH + Duration::from_secs(unix.min(LAST_SECOND_OF_9999));
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Now, as [`rfc3339`].
pub fn rfc3339_now() -> String {
    rfc3339(now_unix())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_civil() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_764_233_445), "2025-11-27 08:50:45 UTC");
        assert_eq!(rfc3339(1_764_233_445), "2025-11-27T08:50:45Z");
        assert_eq!(rfc3339(u64::MAX), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn a_second_lock_fails_without_waiting_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let artifacts = dir.path().join("artifacts");
        let first = acquire(&artifacts, false, true).unwrap();
        let holder = read_holder(&artifacts.join(FILE_NAME)).unwrap();
        assert_eq!(holder.pid, std::process::id());
        // A second open file description conflicts even within one process.
        let err = acquire(&artifacts, false, true).unwrap_err();
        let Error::InUse { holder, .. } = &err else {
            panic!("{err:?}");
        };
        assert!(
            holder.contains(&format!("pid {}", std::process::id())),
            "{holder}"
        );
        let err = err.to_string();
        assert!(err.contains("--no-wait"), "{err}");
        drop(first);
        let again = acquire(&artifacts, false, true);
        assert!(again.is_ok(), "released on drop");
    }
}
