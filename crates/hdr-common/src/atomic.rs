//! All-or-nothing artifact writes.
//!
//! A stage writes each of its outputs to a hidden temporary file beside the
//! final path (`.NAME.XXXXXX.tmp`) and renames them all into place only once
//! every one is complete. Until [`OutputSet::commit`] nothing at the final
//! paths changes.
//!
//! The temporaries are removed when the set is dropped without a commit: when
//! the stage returns an error, when a panic unwinds through it, and when the
//! stage stops at a safe point after Ctrl-C or SIGTERM (see
//! [`crate::check_stop`]; the runner's signal handler makes those signals
//! stop the stage instead of killing the process). A process killed outright
//! (SIGKILL, a second Ctrl-C, a crash or an abort) runs no destructor and can
//! leave temporaries behind; the previous artifacts are still untouched, and
//! [`remove_stale_temporaries`] removes the leftovers.
//!
//! The renames in [`OutputSet::commit`] are atomic one by one, not as a set: a
//! process killed between two of them leaves some new files beside old ones,
//! which the runner's lock file (hashes of every output) reports as modified.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A set of output files that appear together, or not at all.
#[derive(Debug, Default)]
pub struct OutputSet {
    pending: Vec<(NamedTempFile, PathBuf)>,
}

impl OutputSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a temporary file that will become `path` on [`OutputSet::commit`].
    /// The parent directory is created if needed.
    pub fn create(&mut self, path: impl AsRef<Path>) -> io::Result<&mut File> {
        let path = path.as_ref().to_path_buf();
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{file_name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)?;
        self.pending.push((tmp, path));
        Ok(self
            .pending
            .last_mut()
            .expect("just pushed")
            .0
            .as_file_mut())
    }

    /// Writes `bytes` as the future content of `path`.
    pub fn write(&mut self, path: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
        let file = self.create(path)?;
        file.write_all(bytes)
    }

    /// Lets `fill` write the future content of `path` through a buffered writer.
    pub fn write_with<F>(&mut self, path: impl AsRef<Path>, fill: F) -> io::Result<()>
    where
        F: FnOnce(&mut BufWriter<&mut File>) -> io::Result<()>,
    {
        let file = self.create(path)?;
        let mut writer = BufWriter::new(file);
        fill(&mut writer)?;
        writer.flush()
    }

    /// The final paths this set will produce, in creation order.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.pending.iter().map(|(_, p)| p.clone()).collect()
    }

    /// Flushes every temporary file to disk and renames each into place.
    /// Returns the final paths, in creation order. On an error the files not
    /// yet renamed are removed.
    pub fn commit(self) -> io::Result<Vec<PathBuf>> {
        for (tmp, _) in &self.pending {
            // tempfile creates files readable by their owner only; artifacts are
            // meant to be read and shared like any file the user writes.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                tmp.as_file()
                    .set_permissions(std::fs::Permissions::from_mode(0o644))?;
            }
            tmp.as_file().sync_all()?;
        }
        let mut done = Vec::with_capacity(self.pending.len());
        for (tmp, path) in self.pending {
            tmp.persist(&path).map_err(|e| e.error)?;
            done.push(path);
        }
        Ok(done)
    }
}

/// Whether `name` is one of [`OutputSet`]'s temporary files: `.NAME.XXXXXX.tmp`.
fn is_temporary_name(name: &str) -> bool {
    name.len() > ".x..tmp".len()
        && name.starts_with('.')
        && name.ends_with(".tmp")
        && name[1..name.len() - ".tmp".len()].contains('.')
}

/// Removes the file at `path` if there is one: an output a run did not write
/// this time, left by an earlier run (absent already is fine).
pub fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes the files in `dir` (not below it) whose names start with
/// `prefix` and that are not in `written`: the outputs an earlier run wrote
/// one per item of a list (one per extra test set, say) for items no longer
/// listed. A missing `dir` has none.
pub fn remove_others_with_prefix(dir: &Path, prefix: &str, written: &[PathBuf]) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        entries => entries?,
    };
    for entry in entries {
        let path = entry?.path();
        let ours = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with(prefix));
        if ours && path.is_file() && !written.contains(&path) {
            remove_if_present(&path)?;
        }
    }
    Ok(())
}

/// Removes [`OutputSet`] temporaries left under `dir` (recursively) by a
/// process that was killed before it could clean up; returns how many.
///
/// Only call it while no other process writes under `dir` (the runner does so
/// holding its lock): a live writer's temporaries would be removed too.
pub fn remove_stale_temporaries(dir: &Path) -> io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            removed += remove_stale_temporaries(&entry.path())?;
        } else if kind.is_file() && entry.file_name().to_str().is_some_and(is_temporary_name) {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Writes one JSON file atomically (pretty-printed, trailing newline).
pub fn write_json_atomic<T: serde::Serialize>(path: impl AsRef<Path>, value: &T) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    let mut set = OutputSet::new();
    set.write(path, &bytes)?;
    set.commit().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unwritten_files_with_the_prefix_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str| dir.path().join(name);
        for name in ["extra_a.csv", "extra_b.csv", "other.csv"] {
            std::fs::write(file(name), "x").unwrap();
        }
        remove_others_with_prefix(dir.path(), "extra_", &[file("extra_a.csv")]).unwrap();
        assert!(file("extra_a.csv").exists() && file("other.csv").exists());
        assert!(!file("extra_b.csv").exists());
        remove_others_with_prefix(&file("missing"), "extra_", &[]).unwrap();
    }

    #[test]
    fn commit_renames_every_file_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("sub/a.txt");
        let b = dir.path().join("b.txt");
        let mut set = OutputSet::new();
        set.write(&a, b"alpha").unwrap();
        set.write_with(&b, |w| w.write_all(b"beta")).unwrap();
        assert!(!a.exists() && !b.exists(), "nothing visible before commit");
        set.commit().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"alpha");
        assert_eq!(std::fs::read(&b).unwrap(), b"beta");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&a).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o777,
                0o644,
                "artifacts are world-readable like ordinary files"
            );
        }
    }

    #[test]
    fn dropping_without_commit_keeps_previous_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        std::fs::write(&a, b"old").unwrap();
        {
            let mut set = OutputSet::new();
            set.write(&a, b"new").unwrap();
        }
        assert_eq!(std::fs::read(&a).unwrap(), b"old");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file removed");
    }

    #[test]
    fn stale_temporaries_are_found_by_their_name_alone() {
        let dir = tempfile::tempdir().unwrap();
        let train = dir.path().join("train");
        std::fs::create_dir_all(&train).unwrap();
        // What a killed process leaves: the set's temporaries, never dropped.
        let mut set = OutputSet::new();
        set.write(train.join("model.json"), b"{}").unwrap();
        set.write(dir.path().join("pipeline.lock"), b"{}").unwrap();
        std::mem::forget(set);
        for keep in [".lock", ".gitkeep", "model.tmp", "a.tmp.json", ".tmp"] {
            std::fs::write(train.join(keep), b"kept").unwrap();
        }
        assert_eq!(remove_stale_temporaries(dir.path()).unwrap(), 2);
        let mut left: Vec<String> = std::fs::read_dir(&train)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [".gitkeep", ".lock", ".tmp", "a.tmp.json", "model.tmp"]
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only train/ is left at the top"
        );
        assert_eq!(
            remove_stale_temporaries(&dir.path().join("none")).unwrap(),
            0
        );
    }
}
