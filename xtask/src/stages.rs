//! The four stages, what each reads and writes, and whether it is up to date.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use hdr_common::RunOptions;

use crate::cache::{self, Cache};
use crate::config::PipelineConfig;
use crate::interrupt::Interruption;
use crate::lock::{LockFile, StageLock};
use crate::stage::Stage;

/// Everything a stage run needs from the command line and the config.
#[derive(Debug, Clone)]
pub struct Context {
    /// The effective configuration.
    pub config: PipelineConfig,
    /// Project root (the config file's directory).
    pub root: PathBuf,
    /// `<root>/artifacts`.
    pub artifacts: PathBuf,
    /// Silence progress output.
    pub quiet: bool,
    /// Silence the stages' own progress and the runner's line per stage, but
    /// not warnings (a sweep prints one line per run instead).
    pub terse: bool,
    /// Continue training from its checkpoint.
    pub resume: bool,
    /// The id this pipeline run will have in `runs.jsonl` (None outside `pipeline`).
    pub run_id: Option<u64>,
}

/// What running a stale stage came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// The stage ran.
    Ran,
    /// Its outputs came back from the run cache, first made by that run.
    Restored(Option<u64>),
}

impl Context {
    /// The lock file's path.
    pub fn lock_path(&self) -> PathBuf {
        self.artifacts.join("pipeline.lock")
    }

    /// A path as recorded in the lock file and shown to users: relative to the root when under it.
    pub fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// The stage's config section, as recorded in the lock file.
    fn params(&self, stage: Stage) -> serde_json::Value {
        let c = &self.config;
        let value = match stage {
            // Record the source as written relative to the root, so a moved
            // checkout is not stale just because its absolute path changed.
            Stage::Data => serde_json::to_value(hdr_data::Config {
                source: PathBuf::from(self.display(&c.data.source)),
                test_source: c
                    .data
                    .test_source
                    .as_ref()
                    .map(|p| PathBuf::from(self.display(p))),
                ..c.data.clone()
            }),
            // The `[model]` section shapes the train stage too: its keys are
            // recorded beside `[train]`'s as `model.<key>`.
            Stage::Train => serde_json::to_value(&c.train).map(|mut train| {
                let model = serde_json::to_value(c.model).expect("configs serialise to JSON");
                if let (Some(train), Some(model)) = (train.as_object_mut(), model.as_object()) {
                    for (key, value) in model {
                        train.insert(format!("model.{key}"), value.clone());
                    }
                }
                train
            }),
            Stage::Eval => serde_json::to_value(&c.eval),
            Stage::Report => serde_json::to_value(&c.report),
        };
        value.expect("configs serialise to JSON")
    }

    /// The files a stage reads, each with the stage that makes it (None for
    /// source data): what each stage crate's `Paths::inputs` says.
    pub fn deps(&self, stage: Stage) -> Vec<(PathBuf, Option<Stage>)> {
        let a = &self.artifacts;
        let owned = |inputs: &[(&Path, &'static str)]| -> Vec<(PathBuf, Option<Stage>)> {
            inputs
                .iter()
                .map(|(path, maker)| (path.to_path_buf(), Stage::named(maker)))
                .collect()
        };
        match stage {
            Stage::Data => std::iter::once(&self.config.data.source)
                .chain(&self.config.data.test_source)
                .map(|p| (p.clone(), None))
                .collect(),
            Stage::Train => owned(&hdr_train::Paths::under(a).inputs()),
            Stage::Eval => owned(&hdr_eval::Paths::under(a).inputs()),
            Stage::Report => owned(&hdr_report::Paths::under(a).inputs()),
        }
    }

    /// Runs one stage and returns the files it wrote.
    fn execute(&self, stage: Stage) -> Result<Vec<PathBuf>> {
        let a = &self.artifacts;
        let run = RunOptions {
            quiet: self.quiet || self.terse,
        };
        let c = &self.config;
        // A stage stopped by a signal becomes an `Interruption`, which the
        // runner reports apart from errors.
        let stopped = |epochs_done| anyhow::Error::new(Interruption::During { stage, epochs_done });
        let files = match stage {
            Stage::Data => match hdr_data::run(&c.data, &hdr_data::Paths::under(a), &run) {
                Err(hdr_data::Error::Interrupted(_)) => return Err(stopped(None)),
                result => result?.files,
            },
            Stage::Train => {
                let opts = hdr_train::TrainOptions {
                    run,
                    resume: self.resume,
                };
                match hdr_train::run(&c.train, &c.model, &hdr_train::Paths::under(a), &opts) {
                    Err(hdr_train::Error::Interrupted { epochs_done }) => {
                        return Err(stopped(Some(epochs_done)))
                    }
                    result => result?.files,
                }
            }
            Stage::Eval => match hdr_eval::run(&c.eval, &hdr_eval::Paths::under(a), &run) {
                Err(hdr_eval::Error::Interrupted(_)) => return Err(stopped(None)),
                result => result?.files,
            },
            Stage::Report => match hdr_report::run(&c.report, &hdr_report::Paths::under(a), &run) {
                Err(hdr_report::Error::Interrupted(_)) => return Err(stopped(None)),
                result => result?.files,
            },
        };
        Ok(files)
    }

    /// Why `stage` must run, or an empty list when it is up to date.
    /// `stale_upstream` names earlier stages that will run first.
    pub fn stale_reasons(
        &self,
        stage: Stage,
        lock: &LockFile,
        stale_upstream: &[Stage],
    ) -> Result<Vec<String>> {
        let Some(entry) = lock.stages.get(stage.name()) else {
            return Ok(vec!["never run".to_string()]);
        };
        let mut reasons = Vec::new();
        for up in stale_upstream {
            if self
                .deps(stage)
                .iter()
                .any(|(_, maker)| *maker == Some(*up))
            {
                reasons.push(format!("upstream stage `{}` will rerun", up.name()));
            }
        }
        if entry.code != stage.code_hash() {
            reasons.push("its code changed".to_string());
        }
        reasons.extend(param_changes(
            stage.name(),
            &entry.params,
            &self.params(stage),
        ));
        for (path, maker) in self.deps(stage) {
            let key = self.display(&path);
            if !path.exists() {
                let hint = match maker {
                    Some(m) => format!(" (made by `cargo xtask {}`)", m.name()),
                    None => String::new(),
                };
                reasons.push(format!("input {key} is missing{hint}"));
                continue;
            }
            let hash =
                hdr_common::sha256_file(&path).with_context(|| format!("cannot read {key}"))?;
            match entry.deps.get(&key) {
                Some(old) if *old == hash => {}
                Some(_) => reasons.push(format!("input {key} changed")),
                None => reasons.push(format!("input {key} is new")),
            }
        }
        for (key, old) in &entry.outs {
            let path = self.root.join(key);
            if !path.exists() {
                reasons.push(format!("output {key} is missing"));
            } else if hdr_common::sha256_file(&path)
                .with_context(|| format!("cannot read {key}"))?
                != *old
            {
                reasons.push(format!("output {key} was modified"));
            }
        }
        Ok(reasons)
    }

    /// Prints a warning unless quiet.
    pub fn warn(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("warning: {message}");
        }
    }

    /// The run cache of this project's artifacts.
    pub fn cache(&self) -> Cache {
        Cache::under(&self.artifacts)
    }

    /// The lock entry `stage` would get, less its outputs: what its fingerprint hashes.
    fn pending_lock(&self, stage: Stage) -> Result<StageLock> {
        let mut deps = BTreeMap::new();
        for (path, _) in self.deps(stage) {
            if path.exists() {
                deps.insert(self.display(&path), hdr_common::sha256_file(&path)?);
            }
        }
        Ok(StageLock {
            code: stage.code_hash().to_string(),
            params: self.params(stage),
            deps,
            outs: BTreeMap::new(),
        })
    }

    /// Brings `stage` up to date and records it in the lock file: from the
    /// run cache when its fingerprint was seen before (and `use_cache`), else
    /// by running it, then storing its outputs in the cache. Returns what
    /// happened and the stage's fingerprint.
    /// `announce` is called just before the stage itself runs.
    pub fn run_and_lock(
        &self,
        stage: Stage,
        use_cache: bool,
        announce: &dyn Fn(),
    ) -> Result<(Done, String)> {
        let pending = self.pending_lock(stage)?;
        let fingerprint = cache::fingerprint(stage.name(), &pending);
        let cache = self.cache();
        if use_cache {
            if let Some(run) = self.try_restore(stage, &cache, &fingerprint)? {
                return Ok((Done::Restored(run), fingerprint));
            }
        }
        announce();
        let files = match self.execute(stage) {
            Ok(files) => files,
            // A stage stopped by a signal returns an [`Interruption`] and records nothing.
            Err(e) if e.is::<Interruption>() => return Err(e),
            Err(e) => return Err(e.context(format!("stage `{}` failed", stage.name()))),
        };
        let mut outs = BTreeMap::new();
        for file in files {
            let hash = hdr_common::sha256_file(&file).with_context(|| {
                format!(
                    "stage `{}` reported {} but it cannot be read",
                    stage.name(),
                    file.display()
                )
            })?;
            outs.insert(self.display(&file), hash);
        }
        let entry = StageLock { outs, ..pending };
        self.record(stage, entry.clone())?;
        self.store_in_cache(stage, entry, self.run_id);
        Ok((Done::Ran, fingerprint))
    }

    /// Restores `stage` from the cache entry `fingerprint` when there is a
    /// sound one; a damaged one is discarded with a warning. Returns the run
    /// that made the entry when it restored.
    fn try_restore(
        &self,
        stage: Stage,
        cache: &Cache,
        fingerprint: &str,
    ) -> Result<Option<Option<u64>>> {
        let entry = match cache.lookup(fingerprint) {
            Ok(Some(entry)) => entry,
            Ok(None) => return Ok(None),
            Err(damage) => {
                self.warn(format!(
                    "{}: the cached outputs are damaged ({}); discarded, the stage reruns",
                    stage.name(),
                    damage.0
                ));
                cache.discard(fingerprint, None);
                return Ok(None);
            }
        };
        match cache.restore(&entry, &self.root) {
            Ok(set) => {
                set.commit().with_context(|| {
                    format!("cannot restore {}'s outputs from the cache", stage.name())
                })?;
                self.record(stage, entry.lock)?;
                Ok(Some(entry.run))
            }
            Err(damage) => {
                self.warn(format!(
                    "{}: the cached outputs are damaged ({}); discarded, the stage reruns",
                    stage.name(),
                    damage.0
                ));
                cache.discard(fingerprint, Some(&entry));
                Ok(None)
            }
        }
    }

    /// Writes `entry` as `stage`'s lock entry.
    pub fn record(&self, stage: Stage, entry: StageLock) -> Result<()> {
        let lock_path = self.lock_path();
        let mut lock = LockFile::read(&lock_path)?;
        lock.stages.insert(stage.name().to_string(), entry);
        lock.write(&lock_path)
    }

    /// Stores a finished stage's outputs in the cache; a failure (an
    /// unwritable folder, a full disk) is a warning, never a failed run.
    pub fn store_in_cache(&self, stage: Stage, lock: StageLock, run: Option<u64>) {
        let entry = cache::Entry {
            stage: stage.name().to_string(),
            run,
            lock,
        };
        if let Err(e) = self.cache().store(&entry, &self.root) {
            let causes: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            self.warn(format!(
                "could not store {}'s outputs in the run cache ({}); the run goes on",
                stage.name(),
                causes.join(": ")
            ));
        }
    }

    /// The fingerprint of `stage` as the lock records it, making sure the
    /// cache holds its outputs (a stage that was up to date before the cache
    /// existed). None when the stage never ran.
    pub fn fingerprint_up_to_date(&self, stage: Stage, lock: &LockFile) -> Option<String> {
        let entry = lock.stages.get(stage.name())?;
        let fingerprint = cache::fingerprint(stage.name(), entry);
        if matches!(self.cache().lookup(&fingerprint), Ok(None)) {
            self.store_in_cache(stage, entry.clone(), None);
        }
        Some(fingerprint)
    }
}

/// One line per config key whose value differs from the recorded one.
fn param_changes(section: &str, old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return if old == new {
            vec![]
        } else {
            vec![format!("[{section}] config changed")]
        };
    };
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let (a, b) = (old.get(key), new.get(key));
            (a != b).then(|| {
                let show = |v: Option<&serde_json::Value>| {
                    v.map_or("(unset)".to_string(), |v| v.to_string())
                };
                // Keys from another section arrive qualified (`model.architecture`).
                let name = if key.contains('.') {
                    key.to_string()
                } else {
                    format!("{section}.{key}")
                };
                format!("`{name}` changed: {} -> {}", show(a), show(b))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_changes_name_each_changed_key() {
        let old = serde_json::json!({"seed": 42, "test_fraction": 0.2});
        let new = serde_json::json!({"seed": 7, "test_fraction": 0.2});
        assert_eq!(
            param_changes("data", &old, &new),
            vec!["`data.seed` changed: 42 -> 7".to_string()]
        );
        assert!(param_changes("data", &old, &old).is_empty());
        let old = serde_json::json!({"epochs": 20, "model.architecture": "seed"});
        let new = serde_json::json!({"epochs": 20, "model.architecture": "deep"});
        assert_eq!(
            param_changes("train", &old, &new),
            vec!["`model.architecture` changed: \"seed\" -> \"deep\"".to_string()]
        );
    }

    #[test]
    fn every_input_names_the_stage_that_makes_it() {
        let context = Context {
            config: PipelineConfig::default(),
            root: PathBuf::from("/p"),
            artifacts: PathBuf::from("/p/artifacts"),
            quiet: true,
            terse: false,
            resume: false,
            run_id: None,
        };
        let makers = |stage| -> Vec<Option<Stage>> {
            context.deps(stage).into_iter().map(|(_, m)| m).collect()
        };
        assert_eq!(makers(Stage::Data), [None]);
        assert_eq!(makers(Stage::Train), [Some(Stage::Data)]);
        assert_eq!(
            makers(Stage::Eval),
            [Some(Stage::Data), Some(Stage::Data), Some(Stage::Train)]
        );
        assert_eq!(makers(Stage::Report).len(), 6);
        for stage in Stage::ALL {
            for (path, maker) in context.deps(stage) {
                if let Some(maker) = maker {
                    assert!(maker < stage, "{} reads {}", stage.name(), path.display());
                    assert!(path.starts_with(context.artifacts.join(maker.name())));
                }
            }
        }
    }

    #[test]
    fn every_stage_has_a_code_hash() {
        for stage in Stage::ALL {
            assert_eq!(stage.code_hash().len(), 64);
        }
    }
}
