//! Speed: the data stage against pandas, the train and eval stages against
//! the same network in Keras, and `predict --csv`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use hdr_common::thousands;
use hdr_model::KernelPath;
use serde_json::Value;

use super::project::{table, Project};
use super::table::Row;
use super::Plan;
use super::{measure, prepare};

/// The pandas peer of the data stage.
fn pandas_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/pandas_read_csv.py")
}

/// The Keras peer of the train and eval stages.
pub fn keras_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/keras_peer.py")
}

/// Fashion-MNIST's training set, from Debian's `dataset-fashion-mnist`.
pub fn fashion_idx() -> (PathBuf, PathBuf) {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    (
        dir.join("train-images-idx3-ubyte.gz"),
        dir.join("train-labels-idx1-ubyte.gz"),
    )
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// A plain CSV of `rows` rows: the rows of `source` repeated, built once.
fn repeated_csv(plan: &Plan, source: &Path, rows: usize) -> Result<PathBuf> {
    let stem = source
        .file_name()
        .map(|n| n.to_string_lossy().replace(".csv", "").replace(".gz", ""))
        .unwrap_or_else(|| "source".into());
    let path = plan.work.join(format!("{stem}-{rows}.csv"));
    if !path.exists() {
        plan.log
            .note(format!("building {} ({rows} rows)...", path.display()));
    }
    prepare::rows(&plan.work, source, rows, &path)?;
    Ok(path)
}

/// The data stage (its own `seconds` in summary.json, and its peak memory)
/// against pandas' `read_csv` of the same file; then `import-idx`.
pub fn data(plan: &Plan, rows: &mut Vec<Row>) -> Result<()> {
    let csv = repeated_csv(plan, &plan.csv, plan.data_rows())?;
    let size = std::fs::metadata(&csv)?.len();
    let project = Project::create(
        &plan.work.join("data"),
        &csv,
        toml::Table::new(),
        toml::Table::new(),
        Vec::new(),
    )?;
    plan.log.note(format!(
        "data stage on {} ({:.0} MB), {} runs...",
        csv.display(),
        size as f64 / 1e6,
        plan.repeats
    ));
    let mut seconds = Vec::new();
    let mut peak = 0u64;
    for _ in 0..plan.repeats {
        let run = project.stage("data")?;
        seconds.push(project.data_summary()?.seconds);
        peak = peak.max(run.peak_bytes);
    }
    let mut pandas = Vec::new();
    if let Some(python) = &plan.python {
        plan.log.note("pandas read_csv of the same file...");
        for _ in 0..plan.repeats {
            match measure::python_json(python, &pandas_script(), &[&csv], &[]) {
                Ok((v, _)) => pandas.extend(v["seconds"].as_f64()),
                Err(e) => {
                    plan.log.note(format!("  pandas peer skipped: {e:#}"));
                    break;
                }
            }
        }
    }
    let rows_label = thousands(plan.data_rows() as u64);
    rows.push(Row::new(
        format!("data stage, {rows_label}-row CSV (load, validate, split, parquet)"),
        median(seconds),
        "s",
        median(pandas).map(|v| ("pandas read_csv alone".to_string(), v)),
        false,
    ));
    rows.push(Row::new(
        "data stage peak memory / CSV size",
        Some(peak as f64 / size as f64),
        "x",
        Some(("target".into(), 4.0)),
        false,
    ));
    let (images, _) = fashion_idx();
    if plan.smoke || !images.exists() {
        if !plan.smoke {
            plan.log.note(
                "IDX import skipped: `apt-get install dataset-fashion-mnist` provides its files",
            );
        }
        return Ok(());
    }
    plan.log
        .note("import-idx of Fashion-MNIST's 60,000 training images...");
    let run = import_fashion_csv(plan, &project)?;
    rows.push(Row::new(
        "import-idx, Fashion-MNIST 60,000 images to CSV (whole command)",
        Some(run.seconds),
        "s",
        Some(("target".into(), 1.0)),
        false,
    ));
    Ok(())
}

/// Runs `cargo xtask import-idx` on Fashion-MNIST's training set into `fashion-60k.csv`.
fn import_fashion_csv(plan: &Plan, project: &Project) -> Result<measure::Measured> {
    let (images, labels) = fashion_idx();
    let out = fashion_csv(plan);
    let command = project.command([
        "import-idx".into(),
        images.into_os_string(),
        labels.into_os_string(),
        "-o".into(),
        out.into_os_string(),
    ])?;
    measure::run(command).context("`cargo xtask import-idx`")
}

/// Fashion-MNIST's training set as a Kaggle-style CSV (for the Keras peer).
pub fn fashion_csv(plan: &Plan) -> PathBuf {
    plan.work.join("fashion-60k.csv")
}

/// Makes [`fashion_csv`] if it is missing.
pub fn ensure_fashion_csv(plan: &Plan, project: &Project) -> Result<PathBuf> {
    let path = fashion_csv(plan);
    if !path.exists() {
        import_fashion_csv(plan, project)?;
    }
    Ok(path)
}

/// The throughput project: the train stage configured as the Keras peer
/// trains (batch 128, Adam at 1e-3 constant, dropout 0.5, no augmentation,
/// no early stopping), the eval stage at batch 1000 as the peer predicts.
fn throughput_project(plan: &Plan) -> Result<Project> {
    use toml::Value::{Boolean, Float, Integer, String as Text};
    let train = table([
        ("epochs", Integer(plan.epochs as i64)),
        ("batch_size", Integer(128)),
        ("learning_rate", Float(0.001)),
        ("lr_schedule", Text("constant".into())),
        ("dropout", Float(0.5)),
        ("augment", Boolean(false)),
        ("patience", Integer(0)),
    ]);
    let eval = table([("batch_size", Integer(1000))]);
    Project::create(
        &plan
            .work
            .join(format!("train-{}", plan.architecture.name())),
        &plan.csv,
        train,
        eval,
        super::architecture_overrides(plan.architecture),
    )
}

/// hdr's figures from one data → train → eval run.
struct Throughput {
    train_samples_per_s: f64,
    infer_images_per_s: f64,
    test_accuracy: f64,
}

fn hdr_throughput(project: &Project) -> Result<Throughput> {
    project.stage("data")?;
    project.stage("train")?;
    project.stage("eval")?;
    let history = project.history()?;
    // Every epoch trains the same images, so the overall rate is the harmonic
    // mean of the epochs' rates (each measured by the stage, validation excluded).
    let inverse: f64 = history.iter().map(|r| 1.0 / r.samples_per_s).sum();
    let metrics = project.metrics()?;
    Ok(Throughput {
        train_samples_per_s: history.len() as f64 / inverse,
        // The test split is scored second, so like the peer's warm figure it
        // excludes first-call costs.
        infer_images_per_s: metrics.test.images_per_s,
        test_accuracy: metrics.test.accuracy,
    })
}

/// Training samples/s (from history.csv), inference images/s and test
/// accuracy (from metrics.json) on every kernel path this CPU can run, each
/// against the Keras peer on the same CSV, measured once in the same run.
pub fn train(plan: &Plan, rows: &mut Vec<Row>) -> Result<()> {
    let arch = plan.architecture.name();
    let project = throughput_project(plan)?;
    let mut failed = Vec::new();
    let mut ours = Vec::new();
    for path in KernelPath::available() {
        plan.log.note(format!(
            "{arch}, {path} kernels: data, train ({} at batch 128) and eval stages on {}...",
            epochs(plan.epochs),
            plan.csv.display()
        ));
        let measured = hdr_throughput(&project.on_kernels(path));
        if let Err(e) = &measured {
            plan.log.note(format!("  hdr failed: {e:#}"));
            failed.push(path.name());
        }
        ours.push((path, measured.ok()));
    }
    for (path, t) in &ours {
        let peer = keras(plan, &plan.csv, plan.epochs, peer_isa(*path));
        let peer_value = |key: &str| {
            let (value, _) = peer.as_ref()?;
            Some((framework(value), value[key].as_f64()?))
        };
        let t = t.as_ref();
        rows.push(Row::new(
            format!(
                "{arch}, {path} kernels: training samples/s, batch 128, {}",
                epochs(plan.epochs)
            ),
            t.map(|t| t.train_samples_per_s),
            "samples/s",
            peer_value("train_samples_per_s"),
            true,
        ));
        rows.push(Row::new(
            format!("{arch}, {path} kernels: inference images/s, batch 1000 (Keras warmed up)"),
            t.map(|t| t.infer_images_per_s),
            "images/s",
            peer_value("infer_warm_images_per_s"),
            true,
        ));
        rows.push(Row::new(
            format!(
                "{arch}, {path} kernels: test accuracy after {}",
                epochs(plan.epochs)
            ),
            t.map(|t| t.test_accuracy),
            "",
            peer_value("test_accuracy"),
            true,
        ));
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "hdr's side of the `{arch}` throughput comparison failed on the {} kernels (see above)",
            failed.join(", ")
        );
    }
    Ok(())
}

/// "tensorflow 2.21.0", as the peer names itself.
fn framework(value: &Value) -> String {
    value["framework"]
        .as_str()
        .unwrap_or("tensorflow")
        .to_string()
}

/// The instruction set TensorFlow's oneDNN is held to beside each of hdr's
/// kernel paths, so that each row compares what one kind of CPU would run:
/// everything on an AVX-512 machine, AVX2 on one without AVX-512, AVX on one
/// without AVX2 (the wheel's own kernels need AVX).
pub fn peer_isa(path: KernelPath) -> Option<&'static str> {
    match path {
        KernelPath::Avx512 => None,
        KernelPath::Avx2 => Some("AVX2"),
        KernelPath::Portable => Some("AVX"),
    }
}

/// Runs the Keras peer (when peers run) for the plan's architecture, its
/// oneDNN held to `isa` when given (`ONEDNN_MAX_CPU_ISA`); a missing or
/// failing peer is a note, not an error.
pub fn keras(
    plan: &Plan,
    csv: &Path,
    count: usize,
    isa: Option<&str>,
) -> Option<(Value, measure::Measured)> {
    let python = plan.python.as_ref()?;
    let arch = plan.architecture.name();
    plan.log.note(format!(
        "{arch}: the Keras peer{}, {} on {}...",
        isa.map_or(String::new(), |isa| format!(" (oneDNN up to {isa})")),
        epochs(count),
        csv.display()
    ));
    let args: Vec<std::ffi::OsString> = vec![
        "--train".into(),
        csv.into(),
        "--epochs".into(),
        count.to_string().into(),
        "--architecture".into(),
        arch.into(),
    ];
    let env: Vec<(&str, &str)> = isa
        .map(|isa| ("ONEDNN_MAX_CPU_ISA", isa))
        .into_iter()
        .collect();
    match measure::python_json(python, &keras_script(), &args, &env) {
        Ok((mut value, measured)) => {
            if let (Some(isa), Some(name)) = (isa, value["framework"].as_str()) {
                value["framework"] = format!("{name} (oneDNN up to {isa})").into();
            }
            Some((value, measured))
        }
        Err(e) => {
            plan.log.note(format!("  Keras peer skipped: {e:#}"));
            None
        }
    }
}

/// `cargo xtask predict --csv` on the plan's CSV, whole command (model load
/// included), with the throughput project's weights (trained first if
/// missing), on every kernel path this CPU can run.
pub fn predict(plan: &Plan, rows: &mut Vec<Row>) -> Result<()> {
    let project = throughput_project(plan)?;
    let weights = project.weights();
    if !weights.exists() {
        plan.log
            .note("predict: training a model first (data and train stages)...");
        project.stage("data")?;
        project.stage("train")?;
    }
    let submission = plan.work.join("submission.csv");
    for path in KernelPath::available() {
        plan.log.note(format!(
            "predict --csv {}, {path} kernels...",
            plan.csv.display()
        ));
        let command = project.on_kernels(path).command([
            "predict".into(),
            "--csv".into(),
            plan.csv.clone().into_os_string(),
            "-o".into(),
            submission.clone().into_os_string(),
            "--model".into(),
            weights.clone().into_os_string(),
        ])?;
        let run = measure::run(command).context("`cargo xtask predict --csv`")?;
        let predicted = std::fs::read_to_string(&submission)
            .with_context(|| format!("cannot read {}", submission.display()))?
            .lines()
            .count()
            .saturating_sub(1);
        rows.push(Row::new(
            format!(
                "{}, {path} kernels: predict --csv, {} rows (whole command)",
                plan.architecture.name(),
                thousands(predicted as u64)
            ),
            Some(run.seconds),
            "s",
            Some(("target".into(), 1.0)),
            false,
        ));
    }
    Ok(())
}

/// "1 epoch", "5 epochs".
fn epochs(count: usize) -> String {
    if count == 1 {
        "1 epoch".into()
    } else {
        format!("{count} epochs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle_and_none_of_nothing() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![]), None);
    }
}
