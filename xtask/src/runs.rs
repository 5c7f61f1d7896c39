//! `cargo xtask runs`: the run log as a table, one run in full, two runs
//! compared, a run's outputs checked out again; and `cargo xtask gc`.

use std::collections::BTreeSet;

use anyhow::{bail, Context as _, Result};
use hdr_artifacts::{changed_params, RunLog, RunRecord};

use crate::cache::{self, human_bytes};
use crate::lock::LockFile;
use crate::run_log::{cell, read_log, stage_summary, table};
use crate::runner_lock;
use crate::stage::Stage;
use crate::stages::Context;

/// The run with id `id`, or an error listing the ids there are.
fn find(log: &RunLog, id: u64) -> Result<&RunRecord> {
    log.get(id)
        .with_context(|| match (log.runs.first(), log.runs.last()) {
            (Some(first), Some(last)) => format!(
                "no run {id} in the run log (runs {}..{} are recorded; see `cargo xtask runs`)",
                first.id, last.id
            ),
            _ => format!("no run {id}: no runs are recorded yet"),
        })
}

/// `cargo xtask runs [--json]`.
pub fn list(ctx: &Context, json: bool) -> Result<()> {
    let log = read_log(ctx)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&log.runs)?);
    } else {
        print!("{}", table(&log.runs));
    }
    Ok(())
}

/// `cargo xtask runs show ID`.
pub fn show(ctx: &Context, id: u64, json: bool) -> Result<()> {
    let log = read_log(ctx)?;
    let run = find(&log, id)?;
    if json {
        println!("{}", serde_json::to_string_pretty(run)?);
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
    println!("  config:");
    for (key, value) in run.params() {
        println!("    {key} = {value}");
    }
    Ok(())
}

/// `cargo xtask runs diff [A] [B]`: B's params and metrics against A's
/// (default: the last two runs).
pub fn diff(ctx: &Context, ids: &[u64]) -> Result<()> {
    let log = read_log(ctx)?;
    let (a, b) = match ids {
        [] => match log.runs.as_slice() {
            [.., a, b] => (a, b),
            _ => bail!(
                "runs diff needs two runs; the run log holds {}",
                log.runs.len()
            ),
        },
        [a] => {
            let last = log.runs.last().context("no runs are recorded yet")?;
            (find(&log, *a)?, last)
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
pub fn checkout(ctx: &Context, id: u64, wait: bool) -> Result<()> {
    let log = read_log(ctx)?;
    let run = find(&log, id)?;
    if !run.is_ok() {
        bail!("run {id} failed, so it has no outputs to check out");
    }
    let _held = runner_lock::acquire(&ctx.artifacts, wait, ctx.quiet)?;
    let cache = ctx.cache();
    let mut restored = Vec::new();
    for stage in Stage::ALL {
        let name = stage.name();
        let Some(fingerprint) = run.fingerprints.get(name) else {
            continue;
        };
        let gone = || {
            format!(
                "run {id}'s `{name}` outputs are no longer in the cache (removed by `cargo xtask gc`, \
                 or `clean --all`); rerun its configuration instead (see `cargo xtask runs show {id}`)"
            )
        };
        let entry = match cache.lookup(fingerprint) {
            Ok(Some(entry)) => entry,
            Ok(None) => bail!(gone()),
            Err(damage) => {
                cache.discard(fingerprint, None);
                bail!("{}: {}", gone(), damage.0);
            }
        };
        match cache.restore(&entry, &ctx.root) {
            Ok(set) => restored.push((stage, entry, set)),
            Err(damage) => {
                cache.discard(fingerprint, Some(&entry));
                bail!("{}: {}", gone(), damage.0);
            }
        }
    }
    // Every stage's outputs were read back and verified: only now replace the artifacts.
    let lock_path = ctx.lock_path();
    let mut lock = LockFile::read(&lock_path)?;
    for (stage, entry, set) in restored {
        set.commit()
            .with_context(|| format!("cannot restore {}'s outputs", stage.name()))?;
        lock.stages.insert(stage.name().to_string(), entry.lock);
    }
    lock.write(&lock_path)?;
    if !ctx.quiet {
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
pub fn gc(ctx: &Context, keep: usize, wait: bool) -> Result<()> {
    let _held = runner_lock::acquire(&ctx.artifacts, wait, ctx.quiet)?;
    let log = read_log(ctx)?;
    let lock = LockFile::read(&ctx.lock_path())?;
    let mut needed: BTreeSet<String> = lock
        .stages
        .iter()
        .map(|(name, entry)| cache::fingerprint(name, entry))
        .collect();
    let recent = log.runs.len().saturating_sub(keep);
    for run in &log.runs[recent..] {
        needed.extend(run.fingerprints.values().cloned());
    }
    let cache = ctx.cache();
    let (removed, freed) = cache.collect(&needed)?;
    let (entries, bytes) = cache.size();
    if !ctx.quiet {
        eprintln!(
            "gc: removed {removed} cache entries ({}); kept {entries} ({}) for the lock file and the last {keep} runs",
            human_bytes(freed),
            human_bytes(bytes)
        );
    }
    Ok(())
}

/// `cache: 12 entries, 8.3 MB in artifacts/.cache`, for `status`.
pub fn cache_line(ctx: &Context) -> String {
    let cache = ctx.cache();
    let (entries, bytes) = cache.size();
    format!(
        "  cache: {entries} entries, {} in {} (`cargo xtask gc` bounds it)",
        human_bytes(bytes),
        ctx.display(cache.dir())
    )
}
