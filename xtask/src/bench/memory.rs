//! Memory per row: peak memory of the train stage (one epoch) and of the eval
//! stage on a dataset and on the same dataset five times over, and the bytes
//! per row above a fixed base that the two points imply.
//!
//! The real run uses Fashion-MNIST's 60,000 training images (Debian's
//! `dataset-fashion-mnist`), so 60,000 and 300,000 rows; `--smoke` uses 200
//! rows of the plan's CSV. The rows reach the data stage as raw IDX files.

use std::path::Path;

use anyhow::{Context as _, Result};
use hdr_common::thousands;

use super::project::{table, Project};
use super::speed::{ensure_fashion_csv, fashion_idx, keras};
use super::table::Row;
use super::{prepare, Plan};

/// How many times the base dataset is repeated for the second point.
const REPEATS: usize = 5;

/// Rows of Fashion-MNIST's training set.
const FASHION_ROWS: usize = 60_000;

/// Rows of the plan's CSV that make the base dataset in `--smoke`.
const SMOKE_ROWS: usize = 200;

/// The per-row cost the memory work aims at, above a fixed base.
const TARGET_BYTES_PER_ROW: f64 = 1_200.0;

/// One dataset size and what the stages used on it.
#[derive(Debug, Clone, Copy)]
struct Point {
    /// Rows of the source (the eval stage scores all of them).
    source_rows: usize,
    /// Rows of the train split (what the train stage reads).
    train_rows: usize,
    /// Peak resident memory of `cargo xtask train`, bytes.
    train_peak: u64,
    /// Peak resident memory of `cargo xtask eval`, bytes.
    eval_peak: u64,
}

/// A straight line through two (rows, bytes) points: bytes per row and the base at zero rows.
fn per_row(a: (usize, u64), b: (usize, u64)) -> Option<(f64, f64)> {
    if a.0 == b.0 {
        return None;
    }
    let slope = (b.1 as f64 - a.1 as f64) / (b.0 as f64 - a.0 as f64);
    Some((slope, a.1 as f64 - slope * a.0 as f64))
}

/// Runs data, train (one epoch, otherwise the default `[train]`) and eval on
/// the IDX images file `images` (labels beside it), in a project in its
/// directory, each stage in its own child process.
fn measure_point(plan: &Plan, images: &Path) -> Result<(Point, Project)> {
    let dir = images.parent().context("IDX files sit in a directory")?;
    let project = Project::create(
        dir,
        images,
        table([("epochs", toml::Value::Integer(1))]),
        toml::Table::new(),
        super::architecture_overrides(plan.architecture),
    )?;
    plan.log.note(format!(
        "{}: data, train (1 epoch) and eval stages on {}...",
        plan.architecture.name(),
        images.display()
    ));
    project.stage("data")?;
    let train = project.stage("train")?;
    let eval = project.stage("eval")?;
    let summary = project.data_summary()?;
    for (stage, run) in [("train", &train), ("eval", &eval)] {
        if run.peak_bytes <= run.parent_peak_bytes {
            plan.log.note(format!(
                "  note: {stage}'s peak is not above the bench's own ({:.0} MB), so it is a floor, \
                 not a measurement",
                run.parent_peak_bytes as f64 / 1e6
            ));
        }
    }
    let point = Point {
        source_rows: summary.source_rows,
        train_rows: summary.train.rows,
        train_peak: train.peak_bytes,
        eval_peak: eval.peak_bytes,
    };
    Ok((point, project))
}

/// The memory benchmark: two sizes, peaks, bytes per row; Keras' peak beside
/// the smaller training run.
pub fn run(plan: &Plan, rows: &mut Vec<Row>) -> Result<()> {
    let (source, base_rows) = if plan.smoke {
        (plan.csv.clone(), SMOKE_ROWS)
    } else {
        let (images, _) = fashion_idx();
        if !images.exists() {
            plan.log.note(
                "memory benchmark skipped: `apt-get install dataset-fashion-mnist` provides its data",
            );
            return Ok(());
        }
        (images, FASHION_ROWS)
    };
    let images = |rows: usize| {
        plan.work
            .join(format!("memory-{rows}"))
            .join("bench-images-idx3-ubyte")
    };
    let (small_images, large_images) = (images(base_rows), images(base_rows * REPEATS));
    prepare::rows(&plan.work, &source, base_rows, &small_images)?;
    prepare::rows(
        &plan.work,
        &small_images,
        base_rows * REPEATS,
        &large_images,
    )?;
    let arch = plan.architecture.name();
    let (small, project) = measure_point(plan, &small_images)?;
    let (large, _) = measure_point(plan, &large_images)?;
    let keras_peak = if plan.python.is_some() {
        let csv = ensure_fashion_csv(plan, &project)?;
        keras(plan, &csv, 1, None).map(|(_, m)| {
            (
                "TensorFlow, whole script (load + 1 epoch)".to_string(),
                m.peak_bytes as f64 / 1e6,
            )
        })
    } else {
        None
    };
    let mb = |bytes: u64| Some(bytes as f64 / 1e6);
    for (i, point) in [small, large].iter().enumerate() {
        rows.push(Row::new(
            format!(
                "{arch}: train peak memory, 1 epoch, {} train rows (of {})",
                thousands(point.train_rows as u64),
                thousands(point.source_rows as u64)
            ),
            mb(point.train_peak),
            "MB",
            if i == 0 { keras_peak.clone() } else { None },
            false,
        ));
    }
    for point in [small, large] {
        rows.push(Row::new(
            format!(
                "{arch}: eval peak memory, {} rows (both splits)",
                thousands(point.source_rows as u64)
            ),
            mb(point.eval_peak),
            "MB",
            None,
            false,
        ));
    }
    let target = Some(("target".to_string(), TARGET_BYTES_PER_ROW));
    let lines = [
        (
            "train",
            per_row(
                (small.train_rows, small.train_peak),
                (large.train_rows, large.train_peak),
            ),
        ),
        (
            "eval",
            per_row(
                (small.source_rows, small.eval_peak),
                (large.source_rows, large.eval_peak),
            ),
        ),
    ];
    for (stage, line) in lines {
        let (slope, base_bytes) = line.context("the two sizes have the same number of rows")?;
        rows.push(Row::new(
            format!(
                "{arch}: {stage} memory per row read, above a fixed base of {:.0} MB",
                base_bytes / 1e6
            ),
            Some(slope),
            "B/row",
            target.clone(),
            false,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_row_is_the_slope_and_base_of_the_line_through_both_points() {
        let (slope, base) = per_row((60_000, 432_000_000), (300_000, 1_840_000_000)).unwrap();
        assert!((slope - 5_866.666).abs() < 0.01, "{slope}");
        assert!((base - 80_000_000.0).abs() < 1.0, "{base}");
        assert!(per_row((5, 1), (5, 2)).is_none());
    }
}
