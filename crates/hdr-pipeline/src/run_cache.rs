//! The run cache, `artifacts/.cache/`: every successful stage's outputs,
//! stored by content so that a configuration seen before is restored instead
//! of recomputed.
//!
//! - `objects/ab/cdef…`: one file per distinct content, named by its sha256
//!   (identical outputs of different runs are stored once); gzip-compressed
//!   as `cdef….gz` when that saves a tenth or more (the report's HTML and SVG,
//!   the CSVs), as is otherwise (PNG, parquet);
//! - `stages/<fingerprint>.json`: one [`Entry`] per stage fingerprint — the
//!   lock entry the stage produced, whose `outs` map each output to its hash.
//!
//! A stage's fingerprint hashes what the lock file already compares: the
//! stage's name, its code version, its config section and the hashes of the
//! files it read. Restoring goes through an [`OutputSet`], so the outputs
//! appear together or not at all, and every byte is checked against its hash
//! on the way.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use hdr_common::OutputSet;
use serde::{Deserialize, Serialize};

use crate::pipeline_lock::StageLock;
use crate::Error;

type Result<T, E = Error> = std::result::Result<T, E>;

/// One cached stage run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The stage's name.
    pub stage: String,
    /// The run (as numbered in `runs.jsonl`) that first produced it, when a pipeline run did.
    pub run: Option<u64>,
    /// The lock entry the stage wrote; `outs` lists its outputs and their hashes.
    pub lock: StageLock,
}

/// Why a cache entry could not be restored.
#[derive(Debug)]
pub struct Damage(pub String);

/// The cache folder of one artifacts directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// The fingerprint of a stage run: sha256 of its name, code version, config
/// section and input hashes (the lock entry less its outputs).
pub fn fingerprint(stage: &str, lock: &StageLock) -> String {
    let mut key = serde_json::json!({
        "stage": stage,
        "code": lock.code,
        "params": lock.params,
        "deps": lock.deps,
    });
    // Kernel paths of one arithmetic give the same bytes, so a model trained
    // on AVX-512 is restored for AVX2, but not for the portable build.
    if let Some(arithmetic) = lock.kernels.as_deref().map(arithmetic) {
        key["arithmetic"] = arithmetic.into();
    }
    hdr_common::sha256_bytes(key.to_string().as_bytes())
}

/// The arithmetic of the kernel path called `name` (an unknown name, from a
/// newer hdr, is its own arithmetic).
pub(crate) fn arithmetic(name: &str) -> &str {
    hdr_model::KernelPath::named(name).map_or(name, |p| p.arithmetic())
}

impl Cache {
    /// The cache of the artifacts directory `artifacts`.
    pub fn under(artifacts: &Path) -> Self {
        Self {
            dir: artifacts.join(hdr_artifacts::CACHE_DIR),
        }
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn objects(&self) -> PathBuf {
        self.dir.join("objects")
    }

    fn entries(&self) -> PathBuf {
        self.dir.join("stages")
    }

    fn object_path(&self, hash: &str) -> PathBuf {
        let (head, tail) = hash.split_at(2.min(hash.len()));
        self.objects().join(head).join(tail)
    }

    fn entry_path(&self, fingerprint: &str) -> PathBuf {
        self.entries().join(format!("{fingerprint}.json"))
    }

    /// Stores the outputs of a stage that just succeeded (`lock.outs`, paths
    /// relative to `root`) under its fingerprint.
    pub fn store(&self, entry: &Entry, root: &Path) -> Result<()> {
        self.store_with(entry, root, |file, bytes| {
            file.write_all(bytes).and_then(|_| file.sync_all())
        })
    }

    /// [`store`](Self::store), writing each object's bytes into its
    /// temporary file with `write` (the tests make it fail as a full disk
    /// does). An object is renamed into place only once written whole, and
    /// the entry only once every object is, so a failure leaves no entry.
    fn store_with(
        &self,
        entry: &Entry,
        root: &Path,
        write: impl Fn(&mut std::fs::File, &[u8]) -> io::Result<()>,
    ) -> Result<()> {
        for (rel, hash) in &entry.lock.outs {
            let object = self.object_path(hash);
            if object.exists() || gz_path(&object).exists() {
                continue;
            }
            let dir = object
                .parent()
                .expect("objects live in a folder")
                .to_path_buf();
            std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
            let bytes = std::fs::read(root.join(rel)).map_err(Error::io("read", rel))?;
            let compressed = gzip(&bytes).map_err(Error::io("compress", rel))?;
            let (target, content) = if compressed.len() * 10 <= bytes.len() * 9 {
                (gz_path(&object), compressed)
            } else {
                (object, bytes)
            };
            let mut tmp = tempfile::Builder::new()
                .prefix(".object.")
                .tempfile_in(&dir)
                .map_err(Error::io("write in", &dir))?;
            write(tmp.as_file_mut(), &content).map_err(|source| Error::CacheCopy {
                file: rel.clone(),
                folder: dir.clone(),
                source,
            })?;
            tmp.persist(&target)
                .map_err(|e| Error::io("write", &target)(e.error))?;
        }
        let path = self.entry_path(&fingerprint(&entry.stage, &entry.lock));
        hdr_common::write_json_atomic(&path, entry).map_err(Error::io("write", &path))
    }

    /// The entry stored under `fingerprint`, if any. An entry that cannot be
    /// read is damaged.
    pub fn lookup(&self, fingerprint: &str) -> Result<Option<Entry>, Damage> {
        let path = self.entry_path(fingerprint);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Damage(format!("cannot read {}: {e}", path.display()))),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Damage(format!("{} is corrupt: {e}", path.display())))
    }

    /// Copies an entry's outputs from the cache to their places under
    /// `root`, into temporary files checked against their hashes; the caller
    /// commits the set. Nothing under `root` changes until then.
    pub fn restore(&self, entry: &Entry, root: &Path) -> Result<OutputSet, Damage> {
        let mut set = OutputSet::new();
        for (rel, hash) in &entry.lock.outs {
            let mut object = self.object_path(hash);
            let compressed = !object.exists() && gz_path(&object).exists();
            if compressed {
                object = gz_path(&object);
            }
            let file = std::fs::File::open(&object).map_err(|e| {
                Damage(format!(
                    "{rel}'s copy {} cannot be read: {e}",
                    object.display()
                ))
            })?;
            let mut source: Box<dyn Read> = if compressed {
                Box::new(flate2::read::GzDecoder::new(io::BufReader::new(file)))
            } else {
                Box::new(file)
            };
            let target = set
                .create(root.join(rel))
                .map_err(|e| Damage(format!("cannot write {rel}: {e}")))?;
            let actual = hdr_common::copy_hashing(&mut source, target).map_err(|e| {
                Damage(format!(
                    "{rel}'s copy {} cannot be read: {e}",
                    object.display()
                ))
            })?;
            if actual != *hash {
                return Err(Damage(format!(
                    "{rel}'s copy {} no longer matches its hash",
                    object.display()
                )));
            }
        }
        Ok(set)
    }

    /// Removes a damaged entry and any of its objects that do not match their hash.
    pub fn discard(&self, fingerprint: &str, entry: Option<&Entry>) {
        let _ = std::fs::remove_file(self.entry_path(fingerprint));
        for hash in entry.iter().flat_map(|e| e.lock.outs.values()) {
            let object = self.object_path(hash);
            if hdr_common::sha256_file(&object).is_ok_and(|h| h != *hash) {
                let _ = std::fs::remove_file(object);
                continue;
            }
            let gz = gz_path(&object);
            let sound = std::fs::File::open(&gz).and_then(|f| {
                hdr_common::copy_hashing(&mut flate2::read::GzDecoder::new(f), &mut io::sink())
            });
            if gz.exists() && !sound.is_ok_and(|h| h == *hash) {
                let _ = std::fs::remove_file(gz);
            }
        }
    }

    /// Number of entries and total bytes of the cache's files.
    pub fn size(&self) -> (usize, u64) {
        let entries = std::fs::read_dir(self.entries()).map_or(0, |d| d.count());
        (entries, dir_bytes(&self.dir))
    }

    /// Removes every entry whose fingerprint is not in `keep`, then every
    /// object no kept entry refers to. Returns (entries removed, bytes freed).
    pub fn collect(&self, keep: &BTreeSet<String>) -> Result<(usize, u64)> {
        let before = dir_bytes(&self.dir);
        let mut removed = 0;
        let mut live: BTreeSet<PathBuf> = BTreeSet::new();
        if let Ok(dir) = std::fs::read_dir(self.entries()) {
            for item in dir.flatten() {
                let path = item.path();
                let name = item.file_name().to_string_lossy().into_owned();
                let fingerprint = name.strip_suffix(".json").unwrap_or(&name);
                let kept = keep
                    .contains(fingerprint)
                    .then(|| self.lookup(fingerprint).ok().flatten())
                    .flatten();
                match kept {
                    Some(entry) => {
                        for hash in entry.lock.outs.values() {
                            let object = self.object_path(hash);
                            live.insert(gz_path(&object));
                            live.insert(object);
                        }
                    }
                    None => {
                        std::fs::remove_file(&path).map_err(Error::io("remove", &path))?;
                        removed += 1;
                    }
                }
            }
        }
        if let Ok(dir) = std::fs::read_dir(self.objects()) {
            for sub in dir.flatten() {
                let Ok(files) = std::fs::read_dir(sub.path()) else {
                    continue;
                };
                for file in files.flatten() {
                    let path = file.path();
                    if !live.contains(&path) {
                        std::fs::remove_file(&path).map_err(Error::io("remove", &path))?;
                    }
                }
                let _ = std::fs::remove_dir(sub.path()); // only when empty
            }
        }
        Ok((removed, before.saturating_sub(dir_bytes(&self.dir))))
    }
}

/// Where the gzip-compressed copy of `object` lives.
fn gz_path(object: &Path) -> PathBuf {
    let mut name = object.as_os_str().to_owned();
    name.push(".gz");
    PathBuf::from(name)
}

/// `bytes` gzip-compressed, at the fastest level: the cache is written after
/// every stage, and restores must stay quick.
fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// Total size of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(items) = std::fs::read_dir(dir) else {
        return 0;
    };
    items
        .flatten()
        .map(|item| match item.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&item.path()),
            _ => item.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// `12.3 MB`, `456 kB`, `789 B`.
pub fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..=9_999 => format!("{bytes} B"),
        10_000..=999_999 => format!("{:.0} kB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// Removes the outputs the lock recorded for a stage (`before`) that the
/// entry just restored for it (`after`) does not have: a stage writes some
/// files only sometimes (the eval stage's confusion matrix of the user's
/// digits, say), and the restored run did not write them.
pub(crate) fn remove_dropped_outputs(
    root: &Path,
    before: Option<&StageLock>,
    after: &StageLock,
) -> io::Result<()> {
    let Some(before) = before else { return Ok(()) };
    before
        .outs
        .keys()
        .filter(|rel| !after.outs.contains_key(*rel))
        .try_for_each(|rel| hdr_common::remove_if_present(&root.join(rel)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn outputs_the_restored_run_did_not_write_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.csv", "b.csv", "mine.txt"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let before = lock(&[("a.csv", "1"), ("b.csv", "2")]);
        let after = lock(&[("a.csv", "3")]);
        remove_dropped_outputs(dir.path(), Some(&before), &after).unwrap();
        assert!(dir.path().join("a.csv").exists());
        assert!(!dir.path().join("b.csv").exists(), "dropped");
        assert!(
            dir.path().join("mine.txt").exists(),
            "never recorded, left alone"
        );
        remove_dropped_outputs(dir.path(), Some(&before), &after).unwrap();
        remove_dropped_outputs(dir.path(), None, &after).unwrap();
    }

    fn lock(outs: &[(&str, &str)]) -> StageLock {
        StageLock {
            code: "c".repeat(64),
            params: serde_json::json!({"seed": 42}),
            deps: BTreeMap::from([("in.csv".to_string(), "d".repeat(64))]),
            outs: outs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            kernels: None,
        }
    }

    #[test]
    fn fingerprints_ignore_outputs_and_follow_everything_else() {
        let a = lock(&[("x", "1")]);
        let b = lock(&[("y", "2")]);
        assert_eq!(fingerprint("train", &a), fingerprint("train", &b));
        assert_ne!(fingerprint("train", &a), fingerprint("eval", &a));
        let mut c = a.clone();
        c.params = serde_json::json!({"seed": 7});
        assert_ne!(fingerprint("train", &a), fingerprint("train", &c));
    }

    #[test]
    fn fingerprints_follow_the_kernel_arithmetic_not_the_path() {
        let on = |path: &str| {
            let mut l = lock(&[]);
            l.kernels = Some(path.into());
            fingerprint("train", &l)
        };
        assert_eq!(on("avx512"), on("avx2"));
        assert_ne!(on("avx512"), on("portable"));
        assert_ne!(on("portable"), fingerprint("train", &lock(&[])));
    }

    #[test]
    fn stored_outputs_restore_and_a_tampered_object_is_damage() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        std::fs::create_dir_all(root.join("artifacts/train")).unwrap();
        let files = [
            ("artifacts/train/a.bin", "alpha"),
            ("artifacts/train/b.bin", "alpha"),
        ];
        let mut outs = BTreeMap::new();
        for (rel, text) in files {
            std::fs::write(root.join(rel), text).unwrap();
            outs.insert(rel.to_string(), hdr_common::sha256_bytes(text.as_bytes()));
        }
        let cache = Cache::under(&root.join("artifacts"));
        let entry = Entry {
            stage: "train".into(),
            run: Some(3),
            lock: StageLock { outs, ..lock(&[]) },
        };
        cache.store(&entry, root).unwrap();
        let (entries, bytes) = cache.size();
        assert_eq!(entries, 1);
        // Identical files are stored once: one 5-byte object plus the entry.
        assert!(bytes > 5 && bytes < 2000, "{bytes}");
        let fp = fingerprint("train", &entry.lock);
        let found = cache.lookup(&fp).ok().flatten().unwrap();
        assert_eq!(found, entry);

        for (rel, _) in files {
            std::fs::write(root.join(rel), "changed").unwrap();
        }
        cache.restore(&found, root).unwrap().commit().unwrap();
        for (rel, text) in files {
            assert_eq!(std::fs::read_to_string(root.join(rel)).unwrap(), text);
        }

        // "alpha" is too short to gain from compression: stored as is.
        let object = cache.object_path(&hdr_common::sha256_bytes(b"alpha"));
        std::fs::write(&object, "alphA").unwrap();
        std::fs::write(root.join(files[0].0), "kept").unwrap();
        let damage = cache.restore(&found, root).unwrap_err();
        assert!(
            damage.0.contains("no longer matches its hash"),
            "{}",
            damage.0
        );
        // Nothing was half-restored.
        assert_eq!(
            std::fs::read_to_string(root.join(files[0].0)).unwrap(),
            "kept"
        );
        cache.discard(&fp, Some(&found));
        assert!(cache.lookup(&fp).unwrap().is_none());
        assert!(!object.exists());
    }

    /// Every file under `dir`, at any depth.
    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(folder) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    found.push(path);
                }
            }
        }
        found
    }

    #[test]
    fn a_disk_full_while_storing_leaves_no_entry_and_no_partial_object() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        std::fs::create_dir_all(root.join("artifacts/train")).unwrap();
        let mut outs = BTreeMap::new();
        for (rel, text) in [
            ("artifacts/train/a.bin", "first"),
            ("artifacts/train/b.bin", "second"),
        ] {
            std::fs::write(root.join(rel), text).unwrap();
            outs.insert(rel.to_string(), hdr_common::sha256_bytes(text.as_bytes()));
        }
        let cache = Cache::under(&root.join("artifacts"));
        let entry = Entry {
            stage: "train".into(),
            run: Some(1),
            lock: StageLock { outs, ..lock(&[]) },
        };
        // The disk fills up halfway through the second object.
        let written = std::cell::Cell::new(0);
        let error = cache
            .store_with(&entry, root, |file, bytes| {
                written.set(written.get() + 1);
                if written.get() == 1 {
                    return file.write_all(bytes);
                }
                file.write_all(&bytes[..bytes.len() / 2])?;
                Err(io::Error::from(io::ErrorKind::StorageFull))
            })
            .unwrap_err();
        assert!(
            matches!(&error, Error::CacheCopy { file, source, .. }
                if file == "artifacts/train/b.bin" && source.kind() == io::ErrorKind::StorageFull),
            "{error:?}"
        );
        assert!(error
            .to_string()
            .starts_with("cannot copy artifacts/train/b.bin into"));
        let fp = fingerprint("train", &entry.lock);
        assert!(cache.lookup(&fp).unwrap().is_none(), "no entry");
        // Only the first object, whole; no temporary file is left.
        let stored = files_under(cache.dir());
        assert_eq!(
            stored,
            [cache.object_path(&hdr_common::sha256_bytes(b"first"))]
        );
        // With room again, the same store completes and restores.
        cache.store(&entry, root).unwrap();
        assert!(cache.lookup(&fp).unwrap().is_some());
    }

    #[test]
    fn compressible_outputs_are_stored_compressed_and_checked_on_restore() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        let text = "0,0,0,0,0,0,0,0\n".repeat(1000);
        std::fs::write(root.join("big.csv"), &text).unwrap();
        let hash = hdr_common::sha256_bytes(text.as_bytes());
        let cache = Cache::under(&root.join("artifacts"));
        let entry = Entry {
            stage: "eval".into(),
            run: None,
            lock: lock(&[("big.csv", &hash)]),
        };
        cache.store(&entry, root).unwrap();
        let gz = gz_path(&cache.object_path(&hash));
        assert!(gz.exists() && !cache.object_path(&hash).exists());
        assert!(std::fs::metadata(&gz).unwrap().len() < text.len() as u64 / 10);
        std::fs::write(root.join("big.csv"), "changed").unwrap();
        cache.restore(&entry, root).unwrap().commit().unwrap();
        assert_eq!(std::fs::read_to_string(root.join("big.csv")).unwrap(), text);

        // A compressed copy of other content is damage, and discarding removes it.
        std::fs::write(&gz, gzip(b"other").unwrap()).unwrap();
        let damage = cache.restore(&entry, root).unwrap_err();
        assert!(
            damage.0.contains("no longer matches its hash"),
            "{}",
            damage.0
        );
        std::fs::write(&gz, b"not gzip").unwrap();
        let damage = cache.restore(&entry, root).unwrap_err();
        assert!(damage.0.contains("cannot be read"), "{}", damage.0);
        cache.discard(&fingerprint("eval", &entry.lock), Some(&entry));
        assert!(!gz.exists());
    }

    #[test]
    fn collecting_keeps_what_is_named_and_the_objects_it_needs() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        let cache = Cache::under(&root.join("artifacts"));
        let mut fingerprints = Vec::new();
        for seed in [1, 2] {
            std::fs::write(root.join("out"), format!("seed {seed}")).unwrap();
            let mut l = lock(&[(
                "out",
                &hdr_common::sha256_bytes(format!("seed {seed}").as_bytes()),
            )]);
            l.params = serde_json::json!({ "seed": seed });
            fingerprints.push(fingerprint("train", &l));
            cache
                .store(
                    &Entry {
                        stage: "train".into(),
                        run: None,
                        lock: l,
                    },
                    root,
                )
                .unwrap();
        }
        let (removed, freed) = cache
            .collect(&BTreeSet::from([fingerprints[1].clone()]))
            .unwrap();
        assert_eq!(removed, 1);
        assert!(freed > 0);
        assert_eq!(cache.size().0, 1);
        assert!(cache
            .object_path(&hdr_common::sha256_bytes(b"seed 2"))
            .exists());
        assert!(!cache
            .object_path(&hdr_common::sha256_bytes(b"seed 1"))
            .exists());
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(456_000), "456 kB");
        assert_eq!(human_bytes(4_982_000), "5.0 MB");
        assert_eq!(human_bytes(12_345_678), "12.3 MB");
    }
}
