//! `cargo xtask runs`: the run log as a table, one run in full, two runs
//! compared, a run's outputs checked out again; and `cargo xtask gc`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context as _, Result};
use hdr_artifacts::{best_run, changed_params, RunLog, RunRecord};

use crate::cache::{self, human_bytes};
use crate::lock::LockFile;
use crate::run::{read_log, Outcome};
use crate::runner_lock;
use crate::stages::{Context, Stage};

/// `run 7 recorded: test accuracy 98.65% (restored: train; ran: eval, report)`.
pub fn headline(run: &RunRecord) -> String {
    let result = match (&run.metrics, run.is_ok()) {
        (_, false) => "failed".to_string(),
        (Some(m), true) => format!("test accuracy {:.2}%", 100.0 * m.test_accuracy),
        (None, true) => "no metrics".to_string(),
    };
    format!(
        "run {} recorded: {result} ({})",
        run.id,
        Outcome::summary(&run.stages)
    )
}

/// A config value as a table cell: strings without their quotes.
fn cell(value: Option<&serde_json::Value>) -> String {
    match value {
        None => "-".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// The config keys whose values are not the same in every run.
fn varying_keys(runs: &[RunRecord]) -> Vec<String> {
    let params: Vec<BTreeMap<String, serde_json::Value>> =
        runs.iter().map(RunRecord::params).collect();
    let keys: BTreeSet<&String> = params.iter().flat_map(|p| p.keys()).collect();
    keys.into_iter()
        .filter(|key| {
            let first = params.first().and_then(|p| p.get(*key));
            params.iter().any(|p| p.get(*key) != first)
        })
        .cloned()
        .collect()
}

/// The runs as a table: id (the best marked `*`), time, the config keys that
/// differ between them, the headline metrics, training seconds and what the
/// stages did.
pub fn table(runs: &[RunRecord]) -> String {
    if runs.is_empty() {
        return "no runs recorded yet: `cargo xtask pipeline` records one\n".to_string();
    }
    let keys = varying_keys(runs);
    let best = best_run(runs).map(|r| r.id);
    let mut header: Vec<String> = vec!["run".into(), "time (UTC)".into(), "status".into()];
    header.extend(keys.iter().cloned());
    header.extend(
        [
            "test acc",
            "macro F1",
            "log loss",
            "train acc",
            "train s",
            "stages",
        ]
        .map(String::from),
    );
    let mut rows = vec![header];
    for run in runs {
        let marker = if Some(run.id) == best { "*" } else { " " };
        let mut row = vec![
            format!("{marker}{}", run.id),
            run.time.replace('T', " ").trim_end_matches('Z').to_string(),
            if run.is_ok() { "ok" } else { "failed" }.to_string(),
        ];
        let params = run.params();
        row.extend(keys.iter().map(|k| cell(params.get(k))));
        match &run.metrics {
            Some(m) if run.is_ok() => row.extend([
                format!("{:.2}%", 100.0 * m.test_accuracy),
                format!("{:.4}", m.test_macro_f1),
                format!("{:.4}", m.test_log_loss),
                format!("{:.2}%", 100.0 * m.train_accuracy),
            ]),
            _ => row.extend(std::iter::repeat_n("-".to_string(), 4)),
        }
        row.push(
            run.train_seconds
                .filter(|_| run.is_ok())
                .map_or("-".to_string(), |s| format!("{s:.1}")),
        );
        row.push(Outcome::summary(&run.stages));
        rows.push(row);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (text, w))| {
                if c == columns - 1 {
                    text.clone()
                } else {
                    format!("{text:<w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if let Some(best) = best {
        out.push_str(&format!("* best test accuracy: run {best}\n"));
    }
    out
}

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
    println!("  stages          {}", Outcome::summary(&run.stages));
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

#[cfg(test)]
mod tests {
    use super::*;
    use hdr_artifacts::{HeadlineMetrics, RunStatus, StageOutcome};

    fn run(id: u64, dropout: f64, accuracy: Option<f64>) -> RunRecord {
        RunRecord {
            id,
            time: format!("2026-01-02T10:00:0{id}Z"),
            status: if accuracy.is_some() {
                RunStatus::Ok
            } else {
                RunStatus::Failed
            },
            error: None,
            config: serde_json::json!({"train": {"dropout": dropout, "seed": 42},
                                       "report": {"title": "t"}}),
            data_sha256: None,
            code: BTreeMap::new(),
            kernels: None,
            metrics: accuracy.map(|a| HeadlineMetrics {
                test_accuracy: a,
                test_macro_f1: a,
                test_log_loss: 0.05,
                train_accuracy: 0.99,
            }),
            train_seconds: Some(12.0),
            stages: BTreeMap::from([("train".to_string(), StageOutcome::Ran)]),
            fingerprints: BTreeMap::new(),
        }
    }

    #[test]
    fn the_table_shows_varying_keys_and_marks_the_best_run() {
        let text = table(&[
            run(1, 0.3, Some(0.97)),
            run(2, 0.5, Some(0.981)),
            run(3, 0.7, None),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("train.dropout"), "{text}");
        assert!(!lines[0].contains("train.seed"), "{text}");
        assert!(lines[2].starts_with("*2 "), "{text}");
        assert!(lines[2].contains("98.10%"), "{text}");
        assert!(lines[3].contains("failed"), "{text}");
        assert_eq!(lines[4], "* best test accuracy: run 2");
        assert!(table(&[]).contains("no runs"));
    }
}
