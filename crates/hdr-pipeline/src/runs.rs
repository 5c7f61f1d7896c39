//! `cargo xtask runs`: the run log as a table, one run in full, two runs
//! compared, a run's outputs checked out again; and `cargo xtask gc`.

use std::collections::BTreeSet;

use hdr_artifacts::{changed_params, RunLog, RunRecord};

use crate::output::Output;
use crate::pipeline_lock::LockFile;
use crate::project::Project;
use crate::run_cache::{self, human_bytes};
use crate::run_log::{cell, read_log, stage_summary, table};
use crate::runner::Options;
use crate::runner_lock;
use crate::stage::Stage;
use crate::Error;

type Result<T, E = Error> = std::result::Result<T, E>;

/// The run with id `id`, or an error naming the ids there are.
fn find(log: &RunLog, id: u64) -> Result<&RunRecord> {
    log.get(id).ok_or_else(|| Error::UnknownRun {
        id,
        recorded: log
            .runs
            .first()
            .zip(log.runs.last())
            .map(|(a, b)| (a.id, b.id)),
    })
}

/// `cargo xtask runs [--json]`.
pub fn list(project: &Project, output: Output, json: bool) -> Result<()> {
    let log = read_log(project, output)?;
    if json {
        println!("{}", to_json(&log.runs));
    } else {
        print!("{}", table(&log.runs));
    }
    Ok(())
}

/// `cargo xtask runs show ID`.
pub fn show(project: &Project, output: Output, id: u64, json: bool) -> Result<()> {
    let log = read_log(project, output)?;
    let run = find(&log, id)?;
    if json {
        println!("{}", to_json(run));
        return Ok(());
    }
    let status = if run.is_ok() { "ok" } else { "failed" };
    println!("run {}  {status}  {}", run.id, run.time);
    if let Some(error) = &run.error {
        println!("  error: {error}");
    }
    if let Some(m) = &run.metrics {
        for (name, value) in m.named() {
            println!("  {name:<15} {value:.4}");
        }
    }
    if let Some(seconds) = run.train_seconds {
        println!("  training        {seconds:.1} s");
    }
    println!("  stages          {}", stage_summary(&run.stages));
    if let Some(kernels) = &run.kernels {
        println!("  kernels         {kernels}");
    }
    if let Some(hash) = &run.data_sha256 {
        println!("  data sha256     {hash}");
    }
    if let Some(hash) = &run.test_sha256 {
        println!("  test sha256     {hash}");
    }
    println!("  config:");
    for (key, value) in run.params() {
        println!("    {key} = {value}");
    }
    Ok(())
}

/// `cargo xtask runs diff [A] [B]`: B's params and metrics against A's
/// (default: the last two runs).
pub fn diff(project: &Project, output: Output, ids: &[u64]) -> Result<()> {
    let log = read_log(project, output)?;
    let (a, b) = match ids {
        [] => match log.runs.as_slice() {
            [.., a, b] => (a, b),
            _ => {
                return Err(Error::TooFewRuns {
                    recorded: log.runs.len(),
                })
            }
        },
        [a] => {
            let a = find(&log, *a)?;
            // `a` was found, so the log has a last run.
            (a, log.runs.last().unwrap_or(a))
        }
        [a, b, ..] => (find(&log, *a)?, find(&log, *b)?),
    };
    println!("run {} -> run {}", a.id, b.id);
    let changes = changed_params(a, b);
    if changes.is_empty() {
        println!("params: the same");
    } else {
        println!("params:");
        let width = changes.iter().map(|c| c.key.len()).max().unwrap_or(0);
        for change in &changes {
            println!(
                "  {:<width$}  {} -> {}",
                change.key,
                cell(change.before.as_ref()),
                cell(change.after.as_ref())
            );
        }
    }
    match (&a.metrics, &b.metrics) {
        (Some(ma), Some(mb)) => {
            println!("metrics:");
            for ((name, va), (_, vb)) in ma.named().into_iter().zip(mb.named()) {
                println!("  {name:<15} {va:.4} -> {vb:.4}  ({:+.4})", vb - va);
            }
        }
        _ => println!("metrics: not in both runs"),
    }
    Ok(())
}

/// `cargo xtask runs checkout ID`: the run's outputs back into artifacts/
/// from the cache, and the lock file made to match them.
pub fn checkout(project: &Project, id: u64, options: Options) -> Result<()> {
    let output = Output::quiet_if(options.quiet);
    let log = read_log(project, output)?;
    let run = find(&log, id)?;
    if !run.is_ok() {
        return Err(Error::RunFailed { id });
    }
    let _held = runner_lock::acquire(&project.artifacts, options.wait, options.quiet)?;
    let cache = project.cache();
    let mut restored = Vec::new();
    for stage in Stage::ALL {
        let name = stage.name();
        let Some(fingerprint) = run.fingerprints.get(name) else {
            continue;
        };
        let gone = |damage: Option<run_cache::Damage>| Error::NotCached {
            id,
            stage: name.to_string(),
            damage: damage.map(|d| d.0),
        };
        let entry = match cache.lookup(fingerprint) {
            Ok(Some(entry)) => entry,
            Ok(None) => return Err(gone(None)),
            Err(damage) => {
                cache.discard(fingerprint, None);
                return Err(gone(Some(damage)));
            }
        };
        match cache.restore(&entry, &project.root) {
            Ok(set) => restored.push((stage, entry, set)),
            Err(damage) => {
                cache.discard(fingerprint, Some(&entry));
                return Err(gone(Some(damage)));
            }
        }
    }
    // Every stage's outputs were read back and verified: only now replace the artifacts.
    let lock_path = project.lock_path();
    let mut lock = LockFile::read(&lock_path)?;
    for (stage, entry, set) in restored {
        set.commit()
            .map_err(|source| Error::Restore { stage, source })?;
        run_cache::remove_dropped_outputs(
            &project.root,
            lock.stages.get(stage.name()),
            &entry.lock,
        )
        .map_err(|source| Error::Restore { stage, source })?;
        lock.stages.insert(stage.name().to_string(), entry.lock);
    }
    lock.write(&lock_path)?;
    if !options.quiet {
        eprintln!(
            "artifacts/ now hold run {id}'s outputs{}; `cargo xtask status` compares them with the \
             configuration in force",
            run.metrics.map_or(String::new(), |m| format!(
                " (test accuracy {:.2}%)",
                100.0 * m.test_accuracy
            ))
        );
    }
    Ok(())
}

/// `cargo xtask gc --keep N`: drops the cache entries neither the lock file
/// nor the last `keep` runs need.
pub fn gc(project: &Project, keep: usize, options: Options) -> Result<()> {
    let _held = runner_lock::acquire(&project.artifacts, options.wait, options.quiet)?;
    let log = read_log(project, Output::quiet_if(options.quiet))?;
    let lock = LockFile::read(&project.lock_path())?;
    let mut needed: BTreeSet<String> = lock
        .stages
        .iter()
        .map(|(name, entry)| run_cache::fingerprint(name, entry))
        .collect();
    let recent = log.runs.len().saturating_sub(keep);
    for run in &log.runs[recent..] {
        needed.extend(run.fingerprints.values().cloned());
    }
    let cache = project.cache();
    let (removed, freed) = cache.collect(&needed)?;
    let (entries, bytes) = cache.size();
    if !options.quiet {
        eprintln!(
            "gc: removed {removed} cache entries ({}); kept {entries} ({}) for the lock file and the last {keep} runs",
            human_bytes(freed),
            human_bytes(bytes)
        );
    }
    Ok(())
}

/// `cache: 12 entries, 8.3 MB in artifacts/.cache`, for `status`.
pub fn cache_line(project: &Project) -> String {
    let cache = project.cache();
    let (entries, bytes) = cache.size();
    format!(
        "  cache: {entries} entries, {} in {} (`cargo xtask gc` bounds it)",
        human_bytes(bytes),
        project.display(cache.dir())
    )
}

/// Run records as pretty JSON (they hold only strings, numbers and maps).
fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("run records serialise to JSON")
}
