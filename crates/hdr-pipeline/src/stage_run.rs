//! Running one stage: from the run cache when its fingerprint was seen
//! before, else by calling its crate; then recording it in the lock file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hdr_common::RunOptions;

use crate::error::{one_line, StageError};
use crate::interrupt::Interruption;
use crate::output::Output;
use crate::pipeline_lock::{LockFile, StageLock};
use crate::project::Project;
use crate::run_cache::{self, Cache};
use crate::stage::Stage;
use crate::Error;

/// What running a stale stage came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// The stage ran.
    Ran,
    /// Its outputs came back from the run cache, first made by that run.
    Restored(Option<u64>),
}

/// Runs the stages of one project for one pipeline run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StageRunner<'a> {
    /// The project.
    pub project: &'a Project,
    /// What to print.
    pub output: Output,
    /// Continue training from its checkpoint.
    pub resume: bool,
    /// The id this pipeline run will have in `runs.jsonl` (None outside `pipeline`).
    pub run_id: Option<u64>,
}

impl StageRunner<'_> {
    /// Runs one stage and returns the files it wrote.
    fn execute(&self, stage: Stage) -> Result<Vec<PathBuf>, Error> {
        let a = &self.project.artifacts;
        let run = RunOptions {
            quiet: self.output.quiet || self.output.terse,
        };
        let c = &self.project.config;
        // A stage stopped by a signal becomes an `Interruption`, which the
        // runner reports apart from errors.
        let stopped = |epochs_done| Error::Interrupted(Interruption::During { stage, epochs_done });
        let failed = |source: StageError| Error::StageFailed { stage, source };
        let files = match stage {
            Stage::Data => match hdr_data::run(&c.data, &hdr_data::Paths::under(a), &run) {
                Err(hdr_data::Error::Interrupted(_)) => return Err(stopped(None)),
                result => result.map_err(|e| failed(e.into()))?.files,
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
                    result => result.map_err(|e| failed(e.into()))?.files,
                }
            }
            Stage::Eval => match hdr_eval::run(&c.eval, &hdr_eval::Paths::under(a), &run) {
                Err(hdr_eval::Error::Interrupted(_)) => return Err(stopped(None)),
                result => result.map_err(|e| failed(e.into()))?.files,
            },
            Stage::Report => match hdr_report::run(&c.report, &hdr_report::Paths::under(a), &run) {
                Err(hdr_report::Error::Interrupted(_)) => return Err(stopped(None)),
                result => result.map_err(|e| failed(e.into()))?.files,
            },
        };
        Ok(files)
    }

    /// The lock entry `stage` would get, less its outputs: what its fingerprint hashes.
    fn pending_lock(&self, stage: Stage) -> Result<StageLock, Error> {
        let project = self.project;
        let mut deps = BTreeMap::new();
        for (path, _) in project.deps(stage) {
            if path.exists() {
                let hash = hdr_common::sha256_input(&path).map_err(Error::io("read", &path))?;
                deps.insert(project.display(&path), hash);
            }
        }
        Ok(StageLock {
            code: stage.code_hash().to_string(),
            params: project.params(stage),
            deps,
            outs: BTreeMap::new(),
            kernels: stage
                .runs_kernels()
                .then(|| hdr_model::kernel_path().to_string()),
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
    ) -> Result<(Done, String), Error> {
        let pending = self.pending_lock(stage)?;
        let fingerprint = run_cache::fingerprint(stage.name(), &pending);
        let cache = self.project.cache();
        if use_cache {
            if let Some(run) = self.try_restore(stage, &cache, &fingerprint)? {
                return Ok((Done::Restored(run), fingerprint));
            }
        }
        announce();
        // A stage stopped by a signal returns an [`Interruption`] and records nothing.
        let files = self.execute(stage)?;
        let mut outs = BTreeMap::new();
        for file in files {
            let hash = match hdr_common::sha256_file(&file) {
                Ok(hash) => hash,
                Err(source) => {
                    return Err(Error::OutputUnreadable {
                        stage,
                        path: file,
                        source,
                    })
                }
            };
            outs.insert(self.project.display(&file), hash);
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
    ) -> Result<Option<Option<u64>>, Error> {
        let entry = match cache.lookup(fingerprint) {
            Ok(Some(entry)) => entry,
            Ok(None) => return Ok(None),
            Err(damage) => {
                self.output.warn(format!(
                    "{}: the cached outputs are damaged ({}); discarded, the stage reruns",
                    stage.name(),
                    damage.0
                ));
                cache.discard(fingerprint, None);
                return Ok(None);
            }
        };
        match cache.restore(&entry, &self.project.root) {
            Ok(set) => {
                set.commit()
                    .map_err(|source| Error::Restore { stage, source })?;
                let lock = LockFile::read(&self.project.lock_path())?;
                run_cache::remove_dropped_outputs(
                    &self.project.root,
                    lock.stages.get(stage.name()),
                    &entry.lock,
                )
                .map_err(|source| Error::Restore { stage, source })?;
                self.record(stage, entry.lock)?;
                Ok(Some(entry.run))
            }
            Err(damage) => {
                self.output.warn(format!(
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
    pub fn record(&self, stage: Stage, entry: StageLock) -> Result<(), Error> {
        let lock_path = self.project.lock_path();
        let mut lock = LockFile::read(&lock_path)?;
        lock.stages.insert(stage.name().to_string(), entry);
        lock.write(&lock_path)
    }

    /// Stores a finished stage's outputs in the cache; a failure (an
    /// unwritable folder, a full disk) is a warning, never a failed run.
    pub fn store_in_cache(&self, stage: Stage, lock: StageLock, run: Option<u64>) {
        let entry = run_cache::Entry {
            stage: stage.name().to_string(),
            run,
            lock,
        };
        if let Err(e) = self.project.cache().store(&entry, &self.project.root) {
            self.output.warn(format!(
                "could not store {}'s outputs in the run cache ({}); the run goes on",
                stage.name(),
                one_line(&e)
            ));
        }
    }

    /// The fingerprint of `stage` as the lock records it, making sure the
    /// cache holds its outputs (a stage that was up to date before the cache
    /// existed). None when the stage never ran.
    pub fn fingerprint_up_to_date(&self, stage: Stage, lock: &LockFile) -> Option<String> {
        let entry = lock.stages.get(stage.name())?;
        let fingerprint = run_cache::fingerprint(stage.name(), entry);
        if matches!(self.project.cache().lookup(&fingerprint), Ok(None)) {
            self.store_in_cache(stage, entry.clone(), None);
        }
        Some(fingerprint)
    }
}
