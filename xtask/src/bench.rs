//! `cargo xtask bench`: speed and memory, side by side with the Python peers.
//!
//! Each measurement of ours runs in a child process of this binary, so its
//! peak memory is its own; the peers (pandas, the seed's Keras model) run in
//! the same invocation on the same files, and the table shows the ratios.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use clap::{Args, ValueEnum};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::{json, Value};

use crate::stages::Context;

/// Which benchmark to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// Data stage on a 42,000-row CSV vs pandas' read_csv; IDX import.
    Data,
    /// Training and inference throughput vs the seed's Keras model.
    Train,
    /// Peak memory training on Fashion-MNIST's 60,000 images vs Keras.
    Memory,
    /// Kaggle test.csv prediction throughput.
    Predict,
}

/// Arguments of `cargo xtask bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Run only these benchmarks (default: all).
    #[arg(long, value_enum)]
    only: Vec<Which>,
    /// Epochs for the throughput comparison (both sides).
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Python with pandas and TensorFlow (default: .venv-peers/bin/python, else python3).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Repetitions of the data-stage timing (the median is reported).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Internal: a measurement run in a child process.
    #[arg(long, hide = true, num_args = 1.., value_name = "KIND ARGS")]
    child: Vec<String>,
}

/// Runs the selected benchmarks and prints a table.
pub fn run(ctx: &Context, args: BenchArgs) -> Result<()> {
    if !args.child.is_empty() {
        let result = child(&args.child)?;
        println!("{result}");
        return Ok(());
    }
    let all = [Which::Data, Which::Train, Which::Memory, Which::Predict];
    let selected: Vec<Which> = if args.only.is_empty() {
        all.to_vec()
    } else {
        args.only.clone()
    };
    let work = ctx.root.join("target").join("hdr-bench");
    std::fs::create_dir_all(&work)?;
    let python = find_python(ctx, &args);
    let mut rows: Vec<Row> = Vec::new();
    for which in selected {
        match which {
            Which::Data => bench_data(ctx, &args, &work, python.as_deref(), &mut rows)?,
            Which::Train => bench_train(ctx, &args, &work, python.as_deref(), &mut rows)?,
            Which::Memory => bench_memory(ctx, &work, python.as_deref(), &mut rows)?,
            Which::Predict => bench_predict(ctx, &work, &mut rows)?,
        }
    }
    println!();
    println!("| measurement | hdr | compared with | its value | hdr advantage (>1: hdr better) |");
    println!("| --- | ---: | --- | ---: | ---: |");
    for row in &rows {
        println!("{}", row.markdown());
    }
    let json_rows: Vec<Value> = rows.iter().map(Row::json).collect();
    hdr_common::write_json_atomic(work.join("bench.json"), &json_rows)?;
    eprintln!(
        "\n(also written to {})",
        ctx.display(&work.join("bench.json"))
    );
    Ok(())
}

/// One line of the results table. `higher_is_better` decides which way the ratio is taken,
/// so that the advantage column always reads "> 1: hdr is better".
struct Row {
    name: String,
    ours: f64,
    unit: &'static str,
    peer: Option<(String, f64)>,
    higher_is_better: bool,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        let (_, peer) = self.peer.as_ref()?;
        Some(if self.higher_is_better {
            self.ours / peer
        } else {
            peer / self.ours
        })
    }

    fn markdown(&self) -> String {
        let (peer_name, peer_value) = match &self.peer {
            Some((name, value)) => (name.clone(), format!("{} {}", fmt(*value), self.unit)),
            None => ("(not measured)".into(), "-".into()),
        };
        let ratio = self.ratio().map_or("-".to_string(), |r| format!("{r:.2}x"));
        format!(
            "| {} | {} {} | {} | {} | {} |",
            self.name,
            fmt(self.ours),
            self.unit,
            peer_name,
            peer_value,
            ratio
        )
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name, "hdr": self.ours, "unit": self.unit,
            "peer": self.peer.as_ref().map(|(n, _)| n.clone()),
            "peer_value": self.peer.as_ref().map(|(_, v)| *v),
            "advantage": self.ratio(),
        })
    }
}

fn fmt(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

fn find_python(ctx: &Context, args: &BenchArgs) -> Option<PathBuf> {
    if let Some(p) = &args.python {
        return Some(p.clone());
    }
    let venv = ctx.root.join(".venv-peers/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    Some(PathBuf::from("python3"))
}

/// Runs a Python snippet or script; None (with a note) when it fails, e.g. a module is missing.
fn python_json(python: Option<&Path>, script_args: &[&str]) -> Option<(Value, u64)> {
    let python = python?;
    let mut command = Command::new(python);
    command.args(script_args).env("TF_CPP_MIN_LOG_LEVEL", "3");
    match run_measured(command) {
        Ok((stdout, peak)) => match stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<Value>(l).ok())
        {
            Some(v) => Some((v, peak)),
            None => {
                eprintln!("  peer printed no JSON; skipped");
                None
            }
        },
        Err(e) => {
            eprintln!("  peer not available ({e:#}); skipped");
            None
        }
    }
}

/// Runs a child process to completion; returns its stdout and peak resident memory in bytes.
fn run_measured(mut command: Command) -> Result<(String, u64)> {
    use std::io::Read;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    let mut out_pipe = child.stdout.take().expect("piped");
    let mut err_pipe = child.stderr.take().expect("piped");
    let err_reader = std::thread::spawn(move || {
        let _ = err_pipe.read_to_string(&mut stderr);
        stderr
    });
    out_pipe.read_to_string(&mut stdout)?;
    let stderr = err_reader.join().unwrap_or_default();
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if waited != pid {
        bail!("wait4 failed for {:?}", command.get_program());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        bail!(
            "{:?} failed: {}",
            command.get_program(),
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    }
    // ru_maxrss is in kilobytes on Linux.
    Ok((stdout, usage.ru_maxrss as u64 * 1024))
}

/// Runs `cargo xtask bench --child KIND ARGS...` in a fresh process.
fn run_child(ctx: &Context, kind: &[String]) -> Result<(Value, u64)> {
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command
        .arg("--quiet")
        .arg("--config")
        .arg(ctx.root.join("pipeline.toml"))
        .arg("bench")
        .arg("--child")
        .args(kind);
    let (stdout, peak) = run_measured(command)?;
    let value =
        serde_json::from_str(stdout.trim()).with_context(|| format!("child printed {stdout:?}"))?;
    Ok((value, peak))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn sample_csv(ctx: &Context) -> PathBuf {
    ctx.root.join("data").join("mnist-sample.csv.gz")
}

/// The 42,000-row plain CSV (the sample's rows repeated), built once.
fn big_csv(ctx: &Context, work: &Path) -> Result<PathBuf> {
    let path = work.join("kaggle-42k.csv");
    if !path.exists() {
        eprintln!("building {} (42,000 rows)...", path.display());
        let images = hdr_data::load_csv(&sample_csv(ctx), hdr_data::LabelColumn::Required)?;
        let labels = images.labels.expect("label column required");
        let mut data = hdr_data::Dataset::default();
        while data.len() < 42_000 {
            let take = (42_000 - data.len()).min(labels.len());
            data.labels.extend_from_slice(&labels[..take]);
            data.pixels
                .extend_from_slice(&images.pixels[..take * hdr_data::IMAGE_PIXELS]);
        }
        hdr_data::write_kaggle_csv(&data, &path)?;
    }
    Ok(path)
}

fn bench_data(
    ctx: &Context,
    args: &BenchArgs,
    work: &Path,
    python: Option<&Path>,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let csv = big_csv(ctx, work)?;
    let size = std::fs::metadata(&csv)?.len();
    let csv_arg = csv.display().to_string();
    let mut ours = Vec::new();
    let mut peak = 0u64;
    eprintln!(
        "data stage on {} ({:.0} MB), {} runs...",
        csv.display(),
        size as f64 / 1e6,
        args.repeats
    );
    for _ in 0..args.repeats {
        let (v, p) = run_child(
            ctx,
            &[
                "data".into(),
                csv_arg.clone(),
                work.join("artifacts").display().to_string(),
            ],
        )?;
        ours.push(v["seconds"].as_f64().unwrap_or(f64::NAN));
        peak = peak.max(p);
    }
    let script =
        "import sys,time,json,pandas as pd\nt=time.perf_counter();pd.read_csv(sys.argv[1]);\
                  print(json.dumps({'seconds':time.perf_counter()-t}))";
    let mut pandas = Vec::new();
    for _ in 0..args.repeats {
        if let Some((v, _)) = python_json(python, &["-c", script, &csv_arg]) {
            pandas.push(v["seconds"].as_f64().unwrap_or(f64::NAN));
        }
    }
    rows.push(Row {
        name: "data stage, 42,000-row CSV (load+validate+split+parquet)".into(),
        ours: median(ours),
        unit: "s",
        peer: (!pandas.is_empty()).then(|| ("pandas read_csv alone".to_string(), median(pandas))),
        higher_is_better: false,
    });
    rows.push(Row {
        name: "data stage peak memory / CSV size".into(),
        ours: peak as f64 / size as f64,
        unit: "x",
        peer: Some(("target".into(), 4.0)),
        higher_is_better: false,
    });
    let (images, labels) = fashion_idx();
    if images.exists() {
        let (v, _) = run_child(
            ctx,
            &[
                "import-idx".into(),
                images.display().to_string(),
                labels.display().to_string(),
            ],
        )?;
        rows.push(Row {
            name: "IDX import, Fashion-MNIST 60,000 images".into(),
            ours: v["seconds"].as_f64().unwrap_or(f64::NAN),
            unit: "s",
            peer: Some(("target".into(), 1.0)),
            higher_is_better: false,
        });
    }
    Ok(())
}

fn fashion_idx() -> (PathBuf, PathBuf) {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    (
        dir.join("train-images-idx3-ubyte.gz"),
        dir.join("train-labels-idx1-ubyte.gz"),
    )
}

fn peer_script(ctx: &Context) -> PathBuf {
    ctx.root.join("../shared/peers/keras_seed.py")
}

fn bench_train(
    ctx: &Context,
    args: &BenchArgs,
    work: &Path,
    python: Option<&Path>,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let sample = sample_csv(ctx).display().to_string();
    let epochs = args.epochs.to_string();
    eprintln!(
        "training throughput, {} epochs at batch 128 (hdr)...",
        args.epochs
    );
    let (ours, _) = run_child(
        ctx,
        &[
            "throughput".into(),
            sample.clone(),
            work.join("artifacts-throughput").display().to_string(),
            epochs.clone(),
        ],
    )?;
    eprintln!(
        "training throughput, {} epochs at batch 128 (Keras peer)...",
        args.epochs
    );
    let script = peer_script(ctx).display().to_string();
    let peer =
        python_json(python, &[&script, "--train", &sample, "--epochs", &epochs]).map(|(v, _)| v);
    let peer_value = |key: &str| peer.as_ref().and_then(|v| v[key].as_f64());
    let tf = peer
        .as_ref()
        .and_then(|v| v["framework"].as_str())
        .unwrap_or("tensorflow")
        .to_string();
    rows.push(Row {
        name: format!("training samples/s, batch 128, {} epochs", args.epochs),
        ours: ours["train_samples_per_s"].as_f64().unwrap_or(f64::NAN),
        unit: "samples/s",
        peer: peer_value("train_samples_per_s").map(|v| (tf.clone(), v)),
        higher_is_better: true,
    });
    rows.push(Row {
        name: "inference images/s, batch 1000".into(),
        ours: ours["infer_images_per_s"].as_f64().unwrap_or(f64::NAN),
        unit: "images/s",
        peer: peer_value("infer_images_per_s").map(|v| (tf.clone(), v)),
        higher_is_better: true,
    });
    rows.push(Row {
        name: format!(
            "test accuracy after {} epochs (same split sizes)",
            args.epochs
        ),
        ours: ours["test_accuracy"].as_f64().unwrap_or(f64::NAN),
        unit: "",
        peer: peer_value("test_accuracy").map(|v| (tf, v)),
        higher_is_better: true,
    });
    let metrics = hdr_eval::Paths::under(&ctx.artifacts).metrics;
    if let Ok(m) = hdr_eval::read_metrics(&metrics) {
        eprintln!(
            "default pipeline run in artifacts/: train accuracy {:.2}%, test accuracy {:.2}%",
            m.train.accuracy * 100.0,
            m.test.accuracy * 100.0
        );
    }
    Ok(())
}

fn bench_memory(
    ctx: &Context,
    work: &Path,
    python: Option<&Path>,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let (images, labels) = fashion_idx();
    if !images.exists() {
        eprintln!("memory benchmark skipped: install Debian's dataset-fashion-mnist");
        return Ok(());
    }
    let csv = work.join("fashion-60k.csv");
    if !csv.exists() {
        let data = hdr_data::read_idx(&images, &labels)?;
        hdr_data::write_kaggle_csv(&data, &csv)?;
    }
    eprintln!("peak memory training 1 epoch on Fashion-MNIST (60,000 images)...");
    let exe = std::env::current_exe()?;
    let dir = work.join("fashion-project");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("pipeline.toml"),
        format!(
            "[data]\nsource = {:?}\n\n[train]\nepochs = 1\n",
            csv.display().to_string()
        ),
    )?;
    let mut peak = 0u64;
    for stage in ["data", "train"] {
        let mut command = Command::new(&exe);
        command
            .args(["--quiet", "--config"])
            .arg(dir.join("pipeline.toml"))
            .args([stage, "--force"]);
        let (_, p) = run_measured(command)?;
        peak = peak.max(p);
    }
    let script = peer_script(ctx).display().to_string();
    let csv_arg = csv.display().to_string();
    let peer = python_json(python, &[&script, "--train", &csv_arg, "--epochs", "1"]);
    rows.push(Row {
        name: "peak memory, train 1 epoch on Fashion-MNIST 60k (data + train stages)".into(),
        ours: peak as f64 / 1e6,
        unit: "MB",
        peer: peer.map(|(_, p)| ("tensorflow (whole script)".to_string(), p as f64 / 1e6)),
        higher_is_better: false,
    });
    Ok(())
}

fn bench_predict(ctx: &Context, work: &Path, rows: &mut Vec<Row>) -> Result<()> {
    let weights = hdr_train::Paths::under(&ctx.artifacts).weights;
    let model = if weights.exists() {
        weights
    } else {
        let path = work.join("random-model.safetensors");
        std::fs::write(&path, hdr_model::Cnn::new(1).to_safetensors())?;
        path
    };
    let classifier = hdr_predict::load_model(&model)?;
    let outcome =
        hdr_predict::predict_csv(&classifier, &sample_csv(ctx), &work.join("submission.csv"))?;
    rows.push(Row {
        name: "predict --csv, 10,000 rows (after model load)".into(),
        ours: outcome.seconds,
        unit: "s",
        peer: Some(("target".into(), 1.0)),
        higher_is_better: false,
    });
    Ok(())
}

/// A measurement inside a child process; prints one JSON object.
fn child(args: &[String]) -> Result<Value> {
    let kind = args[0].as_str();
    let rest = &args[1..];
    let arg = |i: usize| -> Result<&String> {
        rest.get(i)
            .with_context(|| format!("bench child {kind}: missing argument {i}"))
    };
    match kind {
        "data" => {
            let artifacts = PathBuf::from(arg(1)?);
            let config = hdr_data::Config {
                source: PathBuf::from(arg(0)?),
                ..Default::default()
            };
            let started = Instant::now();
            hdr_data::run(
                &config,
                &hdr_data::Paths::under(&artifacts),
                &hdr_common::RunOptions { quiet: true },
            )?;
            Ok(json!({"seconds": started.elapsed().as_secs_f64()}))
        }
        "import-idx" => {
            let out = std::env::temp_dir().join(format!("hdr-import-{}.csv", std::process::id()));
            let started = Instant::now();
            let data = hdr_data::read_idx(Path::new(arg(0)?), Path::new(arg(1)?))?;
            hdr_data::write_kaggle_csv(&data, &out)?;
            let seconds = started.elapsed().as_secs_f64();
            let _ = std::fs::remove_file(&out);
            Ok(json!({"seconds": seconds, "images": data.len()}))
        }
        "throughput" => throughput(Path::new(arg(0)?), Path::new(arg(1)?), arg(2)?.parse()?),
        other => bail!("unknown bench child {other}"),
    }
}

/// Trains the model exactly as the Keras peer's `fit` does (batch 128, shuffled,
/// no validation, no augmentation) and times it; then inference at batch 1000.
fn throughput(sample: &Path, artifacts: &Path, epochs: usize) -> Result<Value> {
    let config = hdr_data::Config {
        source: sample.to_path_buf(),
        ..Default::default()
    };
    let paths = hdr_data::Paths::under(artifacts);
    hdr_data::run(&config, &paths, &hdr_common::RunOptions { quiet: true })?;
    let train = hdr_data::read_split(&paths.train)?;
    let test = hdr_data::read_split(&paths.test)?;
    let mut learner = hdr_model::Learner::new(hdr_model::Cnn::new(42), 1e-3, 0.5);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let batch = 128;
    let mut images = vec![0f32; batch * hdr_data::IMAGE_PIXELS];
    let mut labels = vec![0u8; batch];
    let started = Instant::now();
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        for (step, chunk) in order.chunks(batch).enumerate() {
            let n = chunk.len();
            for (row, &i) in chunk.iter().enumerate() {
                labels[row] = train.labels[i];
                let dst =
                    &mut images[row * hdr_data::IMAGE_PIXELS..(row + 1) * hdr_data::IMAGE_PIXELS];
                for (d, s) in dst.iter_mut().zip(train.image(i)) {
                    *d = *s as f32 / 255.0;
                }
            }
            let seed = (epoch * 1_000_003 + step) as u64;
            learner.train_step(&images[..n * hdr_data::IMAGE_PIXELS], &labels[..n], seed);
        }
    }
    let train_s = started.elapsed().as_secs_f64();
    let classifier = hdr_model::Classifier::new(learner.network().clone());
    let started = Instant::now();
    let predictions: Vec<hdr_model::Prediction> = test
        .pixels
        .chunks(1000 * hdr_data::IMAGE_PIXELS)
        .flat_map(|c| classifier.predict(c))
        .collect();
    let infer_s = started.elapsed().as_secs_f64();
    let correct = predictions
        .iter()
        .zip(&test.labels)
        .filter(|(p, l)| p.digit == **l)
        .count();
    Ok(json!({
        "train_samples_per_s": (train.len() * epochs) as f64 / train_s,
        "infer_images_per_s": test.len() as f64 / infer_s,
        "test_accuracy": correct as f64 / test.len() as f64,
    }))
}
