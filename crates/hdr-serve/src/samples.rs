//! The user's own digits, saved from the page (`/api/samples`): each one a
//! line appended to the user-samples CSV (`data/my-digits.csv`, the Kaggle
//! layout hdr-artifacts defines, read by the data stage) and its original
//! image kept beside it (`data/my-digits/<n>_<label>.<ext>`), so nothing is
//! lost if preprocessing changes.
//!
//! The CSV is the user's: it is created with its header, then only ever
//! appended to, one whole line per `write` under one lock (concurrent saves
//! never interleave) and flushed to disk before the answer. Only the last
//! lines this server appended may be taken back (`DELETE
//! /api/samples/last`), and only while the file still ends where that
//! append left it.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hdr_artifacts::{user_sample_labels, user_sample_line, user_samples_header, UserSamplesDamage};
use hdr_recognize::{IMAGE_PIXELS, NUM_CLASSES};

/// How many names `<n>_<label>-<k>` are tried for one image.
const MAX_NAME_ATTEMPTS: usize = 1000;

/// Why a sample could not be saved, counted or taken back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SampleError {
    /// The file is damaged; nothing is appended to it until the user fixes it.
    #[error("{file}: {damage}; fix or move the file, then save again")]
    Damaged {
        /// The CSV's file name.
        file: String,
        /// What is wrong.
        damage: UserSamplesDamage,
    },
    /// Reading or writing a file failed (a read-only folder, a full disk).
    #[error("cannot {action} {file}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file's name (no absolute path leaves the server).
        file: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Nothing this server saved is left to take back.
    #[error("no digit saved since the server started is left to take back")]
    NothingToUndo,
    /// The file changed after the last save (another program appended to it).
    #[error("{file} changed since the last digit was saved; it is left as it is")]
    Changed {
        /// The CSV's file name.
        file: String,
    },
}

/// How many digits the file holds, per label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub per_label: [usize; NUM_CLASSES],
}

impl Counts {
    /// All of them.
    pub(crate) fn total(&self) -> usize {
        self.per_label.iter().sum()
    }

    /// `{"saved": N, "per_label": {"0": n0, ...}}` with `extra` members first.
    pub(crate) fn json(&self, extra: serde_json::Map<String, serde_json::Value>) -> String {
        let mut object = extra;
        object.insert("saved".into(), self.total().into());
        let per_label: serde_json::Map<String, serde_json::Value> = self
            .per_label
            .iter()
            .enumerate()
            .map(|(digit, &n)| (digit.to_string(), n.into()))
            .collect();
        object.insert("per_label".into(), per_label.into());
        serde_json::Value::Object(object).to_string()
    }
}

/// One save this server may take back.
#[derive(Debug)]
struct Saved {
    label: u8,
    /// The file's length before the line was appended.
    before: u64,
    /// Its length after.
    after: u64,
    image: PathBuf,
}

#[derive(Debug, Default)]
struct State {
    counts: Counts,
    /// Whether `counts` was read from the file yet.
    counted: bool,
    saved: Vec<Saved>,
}

/// The user-samples CSV and its folder of original images.
#[derive(Debug)]
pub(crate) struct SampleStore {
    csv: PathBuf,
    images: PathBuf,
    state: Mutex<State>,
}

impl SampleStore {
    /// The store at `csv` (created on the first save); its images go to the
    /// folder of the same name without the extension.
    pub(crate) fn at(csv: PathBuf) -> Self {
        let images = csv.with_extension("");
        Self {
            csv,
            images,
            state: Mutex::new(State::default()),
        }
    }

    fn name(&self) -> String {
        self.csv
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }

    /// Maps an I/O error on `path`, naming it from the project's root (the
    /// folder above the CSV's), so no absolute path leaves the server.
    fn io(&self, action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SampleError {
        let file = path
            .strip_prefix(
                self.csv
                    .parent()
                    .and_then(Path::parent)
                    .unwrap_or(Path::new("")),
            )
            .unwrap_or(path)
            .display()
            .to_string();
        move |source| SampleError::Io {
            action,
            file,
            source,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves nothing half-done in memory
        // that the file does not also say; carry on with what is there.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counts, read from the file the first time.
    fn counted<'a>(&self, state: &'a mut State) -> Result<&'a mut State, SampleError> {
        if !state.counted {
            let mut per_label = [0; NUM_CLASSES];
            for label in self.labels()? {
                per_label[usize::from(label)] += 1;
            }
            state.counts = Counts { per_label };
            state.counted = true;
        }
        Ok(state)
    }

    /// The labels of the file's lines (none when it does not exist yet).
    fn labels(&self) -> Result<Vec<u8>, SampleError> {
        let bytes = match std::fs::read(&self.csv) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io("read", &self.csv)(e)),
        };
        user_sample_labels(&bytes).map_err(|damage| SampleError::Damaged {
            file: self.name(),
            damage,
        })
    }

    /// How many digits are saved, per label.
    pub(crate) fn counts(&self) -> Result<Counts, SampleError> {
        let mut state = self.lock();
        Ok(self.counted(&mut state)?.counts)
    }

    /// Appends one digit: `pixels` as the model saw them, `original` (an
    /// encoded image with extension `extension`) kept beside the CSV.
    pub(crate) fn save(
        &self,
        label: u8,
        pixels: &[u8; IMAGE_PIXELS],
        original: &[u8],
        extension: &str,
    ) -> Result<Counts, SampleError> {
        let mut guard = self.lock();
        let state = self.counted(&mut guard)?;
        if let Some(folder) = self.csv.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(self.io("create", folder))?;
        }
        std::fs::create_dir_all(&self.images).map_err(self.io("create", &self.images))?;
        if !self.csv.exists() {
            self.create_with_header()?;
        }
        let image = self.keep_original(state.counts.total() + 1, label, original, extension)?;
        let appended = self.append(&user_sample_line(label, pixels));
        let (before, after) = match appended {
            Ok(span) => span,
            Err(e) => {
                let _ = std::fs::remove_file(&image);
                return Err(e);
            }
        };
        state.counts.per_label[usize::from(label)] += 1;
        state.saved.push(Saved {
            label,
            before,
            after,
            image,
        });
        Ok(state.counts)
    }

    /// Takes back the last digit this server saved; returns its label and
    /// the counts after.
    pub(crate) fn undo_last(&self) -> Result<(u8, Counts), SampleError> {
        let mut guard = self.lock();
        let state = self.counted(&mut guard)?;
        let Some(last) = state.saved.last() else {
            return Err(SampleError::NothingToUndo);
        };
        let file = OpenOptions::new()
            .write(true)
            .open(&self.csv)
            .map_err(self.io("open", &self.csv))?;
        let length = file.metadata().map_err(self.io("read", &self.csv))?.len();
        if length != last.after {
            return Err(SampleError::Changed { file: self.name() });
        }
        file.set_len(last.before)
            .and_then(|()| file.sync_data())
            .map_err(self.io("shorten", &self.csv))?;
        let _ = std::fs::remove_file(&last.image);
        let label = last.label;
        state.saved.pop();
        state.counts.per_label[usize::from(label)] -= 1;
        Ok((label, state.counts))
    }

    /// Creates the CSV holding just its header, all at once (a temporary
    /// file renamed into place), never over an existing one.
    fn create_with_header(&self) -> Result<(), SampleError> {
        let temporary = self.csv.with_extension("csv.tmp");
        let written = File::create(&temporary)
            .and_then(|mut f| {
                f.write_all(user_samples_header().as_bytes())?;
                f.sync_all()
            })
            .and_then(|()| {
                std::fs::hard_link(&temporary, &self.csv).or_else(|e| {
                    // Someone created it meanwhile: theirs stays.
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
            });
        let _ = std::fs::remove_file(&temporary);
        written.map_err(self.io("create", &self.csv))
    }

    /// Appends `line` in one write after checking that the file ends with a
    /// whole line; returns the file's length before and after.
    fn append(&self, line: &str) -> Result<(u64, u64), SampleError> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.csv)
            .map_err(self.io("open", &self.csv))?;
        let before = file.metadata().map_err(self.io("read", &self.csv))?.len();
        if before > 0 {
            let mut last = [0u8];
            file.seek(SeekFrom::Start(before - 1))
                .and_then(|_| file.read_exact(&mut last))
                .map_err(self.io("read", &self.csv))?;
            if last[0] != b'\n' {
                // Name the line: counting them costs a read, only here.
                let line = std::fs::read(&self.csv)
                    .map(|b| b.iter().filter(|&&c| c == b'\n').count() + 1)
                    .unwrap_or(0);
                return Err(SampleError::Damaged {
                    file: self.name(),
                    damage: UserSamplesDamage::TornLastLine { line },
                });
            }
        }
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(self.io("append to", &self.csv))?;
        Ok((before, before + line.len() as u64))
    }

    /// Writes the original image as `<n>_<label>.<ext>` (or `<n>_<label>-2`
    /// and so on when that name is taken: an image is never overwritten).
    fn keep_original(
        &self,
        n: usize,
        label: u8,
        bytes: &[u8],
        extension: &str,
    ) -> Result<PathBuf, SampleError> {
        for attempt in 1..=MAX_NAME_ATTEMPTS {
            let suffix = if attempt == 1 {
                String::new()
            } else {
                format!("-{attempt}")
            };
            let path = self
                .images
                .join(format!("{n:05}_{label}{suffix}.{extension}"));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    return match file.write_all(bytes).and_then(|()| file.sync_data()) {
                        Ok(()) => Ok(path),
                        Err(e) => {
                            let _ = std::fs::remove_file(&path);
                            Err(self.io("write", &path)(e))
                        }
                    };
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(self.io("write", &path)(e)),
            }
        }
        Err(self.io("write", &self.images)(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{MAX_NAME_ATTEMPTS} images are already named {n:05}_{label}"),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SampleStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SampleStore::at(dir.path().join("data").join("my-digits.csv"));
        (dir, store)
    }

    fn pixels(value: u8) -> [u8; IMAGE_PIXELS] {
        [value; IMAGE_PIXELS]
    }

    #[test]
    fn saves_append_lines_and_keep_the_originals() {
        let (dir, store) = store();
        assert_eq!(store.counts().unwrap().total(), 0);
        store.save(7, &pixels(1), b"png-bytes", "png").unwrap();
        let counts = store.save(3, &pixels(2), b"jpeg-bytes", "jpg").unwrap();
        assert_eq!(counts.total(), 2);
        assert_eq!(counts.per_label[7], 1);
        assert_eq!(counts.per_label[3], 1);
        let text = std::fs::read(dir.path().join("data/my-digits.csv")).unwrap();
        assert_eq!(user_sample_labels(&text), Ok(vec![7, 3]));
        let images = dir.path().join("data/my-digits");
        assert_eq!(
            std::fs::read(images.join("00001_7.png")).unwrap(),
            b"png-bytes"
        );
        assert_eq!(
            std::fs::read(images.join("00002_3.jpg")).unwrap(),
            b"jpeg-bytes"
        );
        // A second store on the same file counts what is there.
        let again = SampleStore::at(dir.path().join("data/my-digits.csv"));
        assert_eq!(again.counts().unwrap(), counts);
    }

    #[test]
    fn the_last_saves_are_taken_back_and_nothing_else() {
        let (dir, store) = store();
        let csv = dir.path().join("data/my-digits.csv");
        store.save(1, &pixels(0), b"a", "png").unwrap();
        let after_one = std::fs::read(&csv).unwrap();
        store.save(2, &pixels(0), b"b", "png").unwrap();
        let (label, counts) = store.undo_last().unwrap();
        assert_eq!((label, counts.total()), (2, 1));
        assert_eq!(std::fs::read(&csv).unwrap(), after_one);
        assert!(!dir.path().join("data/my-digits/00002_2.png").exists());
        store.undo_last().unwrap();
        assert!(matches!(store.undo_last(), Err(SampleError::NothingToUndo)));
        // The header stays: the file is never removed.
        assert_eq!(
            std::fs::read(&csv).unwrap(),
            user_samples_header().as_bytes()
        );

        // A file that grew behind the server's back is left alone.
        store.save(4, &pixels(0), b"c", "png").unwrap();
        let mut file = OpenOptions::new().append(true).open(&csv).unwrap();
        file.write_all(user_sample_line(5, &pixels(0)).as_bytes())
            .unwrap();
        assert!(matches!(
            store.undo_last(),
            Err(SampleError::Changed { .. })
        ));
    }

    #[test]
    fn a_torn_last_line_is_named_and_never_appended_to() {
        let (dir, store) = store();
        let csv = dir.path().join("data/my-digits.csv");
        std::fs::create_dir_all(csv.parent().unwrap()).unwrap();
        let mut text = user_samples_header() + &user_sample_line(3, &pixels(9));
        text.truncate(text.len() - 20);
        std::fs::write(&csv, &text).unwrap();
        let err = store.save(1, &pixels(0), b"a", "png").unwrap_err();
        assert!(err.to_string().contains("line 2 is incomplete"), "{err}");
        assert_eq!(std::fs::read_to_string(&csv).unwrap(), text);
        assert!(matches!(store.counts(), Err(SampleError::Damaged { .. })));
    }

    #[test]
    fn a_folder_that_cannot_be_written_is_named() {
        // A file where the images' folder should be fails as a read-only
        // folder does, even for root.
        let (dir, store) = store();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("my-digits"), "in the way").unwrap();
        let text = store
            .save(1, &pixels(0), b"a", "png")
            .unwrap_err()
            .to_string();
        assert!(text.starts_with("cannot create data/my-digits: "), "{text}");
        assert!(!text.contains(&dir.path().display().to_string()), "{text}");
        assert!(!data.join("my-digits.csv").exists());
    }
}
