//! `cargo xtask bench`: speed and memory of the real stages, side by side with the Python peers.
//!
//! hdr's side is never a copy of a stage: every measurement runs this very
//! binary's stage commands (`data`, `train`, `eval`, `predict --csv`,
//! `import-idx`) in child processes, on small projects of the bench's own
//! under `target/hdr-bench/`, configured the way a user's `pipeline.toml` and
//! `--set` are. Figures come from the stages' own records (`summary.json`'s
//! seconds, `history.csv`'s samples/s, `metrics.json`'s images/s) or from the
//! command's wall time, and peak memory from the child's resource usage. The
//! peers (pandas, Keras; see `xtask/peers/`) run in the same invocation on the
//! same files, and the table shows the ratios.

mod measure;
mod memory;
mod prepare;
mod project;
mod speed;
mod table;

use std::fmt::Display;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use clap::{Args, ValueEnum};
use hdr_model::Architecture;
use hdr_pipeline::Project;
use serde_json::json;

use table::Row;

/// Which benchmark to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// The data stage on a 42,000-row CSV vs pandas' read_csv; IDX import.
    Data,
    /// The train and eval stages' throughput vs the same network in Keras.
    Train,
    /// Peak memory of train (1 epoch) and eval at 60,000 and 300,000 rows.
    Memory,
    /// `predict --csv` on the embedded sample.
    Predict,
}

impl Which {
    const ALL: [Which; 4] = [Which::Data, Which::Train, Which::Memory, Which::Predict];
}

/// The `--set` overrides that select `architecture` for the train, memory
/// and predict benchmarks, as a user would type them. The default network
/// needs none, so the seed's benchmarks do not depend on the `[model]`
/// section existing.
pub fn architecture_overrides(architecture: Architecture) -> Vec<String> {
    if architecture == Architecture::default() {
        Vec::new()
    } else {
        vec![format!("model.architecture={architecture}")]
    }
}

/// Said under a table with rows for several kernel paths.
const GEMM_NOTE: &str =
    "\nnote: HDR_KERNELS picks hdr's own kernels (the seed network's conv blocks; the Winograd \
transforms and, on avx512 and avx2, their products; the im2col loops). The gemm crate still \
does every dense layer, and the Winograd products on the portable path, with the best \
instruction set this CPU has: where it does the work, rows for a path below this CPU's best \
flatter hdr beside a TensorFlow held to that path.";

/// Arguments of `cargo xtask bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Run only these benchmarks (default: all).
    #[arg(long, value_enum)]
    only: Vec<Which>,
    /// The network to train, time and compare with its Keras twin.
    #[arg(
        long,
        default_value_t = Architecture::default(),
        value_parser = PossibleValuesParser::new(Architecture::NAMES)
            .try_map(|name| name.parse::<Architecture>()),
    )]
    architecture: Architecture,
    /// Epochs for the throughput comparison (both sides).
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// The labelled Kaggle-style CSV for the throughput and predict benchmarks
    /// (default: the embedded data/mnist-sample.csv.gz).
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Python with pandas and TensorFlow (default: .venv-peers/bin/python at the project root, else python3).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Measure hdr only; run no Python peer.
    #[arg(long)]
    no_peers: bool,
    /// Repetitions of the data-stage timing (the median is reported).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Where the bench's projects, generated files and bench.json go (default: target/hdr-bench).
    #[arg(long)]
    work: Option<PathBuf>,
    /// Tiny sizes, one epoch, one repetition, no peers: proves every benchmark still runs.
    #[arg(long)]
    smoke: bool,
    /// Internal: write ROWS rows of SOURCE to OUT (a child process; see `prepare`).
    #[arg(long, hide = true, num_args = 3, value_names = ["SOURCE", "ROWS", "OUT"])]
    prepare: Option<Vec<String>>,
}

/// Progress notes on stderr, silenced by `--quiet`.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    quiet: bool,
}

impl Log {
    /// Prints one progress line unless quiet.
    pub fn note(self, text: impl Display) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }
}

/// Everything the benchmarks need, resolved from the arguments.
#[derive(Debug)]
pub struct Plan {
    /// The bench's working directory.
    pub work: PathBuf,
    /// The labelled CSV for throughput and predict.
    pub csv: PathBuf,
    /// Epochs for the throughput comparison.
    pub epochs: usize,
    /// Data-stage repetitions.
    pub repeats: usize,
    /// The network under test.
    pub architecture: Architecture,
    /// Python for the peers, when they run.
    pub python: Option<PathBuf>,
    /// Tiny sizes instead of the real ones.
    pub smoke: bool,
    /// Progress output.
    pub log: Log,
}

impl Plan {
    /// Rows of the data stage's CSV.
    pub fn data_rows(&self) -> usize {
        if self.smoke {
            500
        } else {
            42_000
        }
    }
}

/// The workspace's embedded sample.
fn embedded_sample() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist-sample.csv.gz");
    path.canonicalize().unwrap_or(path)
}

/// Runs the selected benchmarks, prints a table and writes bench.json.
pub fn run(project: &Project, quiet: bool, args: BenchArgs) -> Result<()> {
    if let Some(prepare) = &args.prepare {
        return prepare::run_child(prepare);
    }
    if args.epochs == 0 || args.repeats == 0 {
        bail!("--epochs and --repeats must be at least 1");
    }
    let python = if args.smoke || args.no_peers {
        None
    } else {
        Some(args.python.clone().unwrap_or_else(|| {
            let venv = project.root.join(".venv-peers/bin/python");
            if venv.exists() {
                venv
            } else {
                PathBuf::from("python3")
            }
        }))
    };
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| project.root.join("target").join("hdr-bench"));
    let work = std::path::absolute(&work).unwrap_or(work);
    std::fs::create_dir_all(&work)?;
    let plan = Plan {
        work,
        csv: args.csv.clone().unwrap_or_else(embedded_sample),
        epochs: if args.smoke { 1 } else { args.epochs },
        repeats: if args.smoke { 1 } else { args.repeats },
        architecture: args.architecture,
        python,
        smoke: args.smoke,
        log: Log { quiet },
    };
    let selected = if args.only.is_empty() {
        Which::ALL.to_vec()
    } else {
        args.only.clone()
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for which in selected {
        let outcome = match which {
            Which::Data => speed::data(&plan, &mut rows),
            Which::Train => speed::train(&plan, &mut rows),
            Which::Memory => memory::run(&plan, &mut rows),
            Which::Predict => speed::predict(&plan, &mut rows),
        };
        if let Err(e) = outcome {
            let name = format!("{which:?}").to_lowercase();
            plan.log.note(format!("{name} benchmark failed: {e:#}"));
            failures.push(format!("{name}: {e:#}"));
        }
    }
    println!();
    println!("{}", table::markdown(&rows));
    if hdr_model::KernelPath::available().len() > 1
        && rows.iter().any(|r| r.name.contains(" kernels: "))
    {
        plan.log.note(GEMM_NOTE);
    }
    let report = json!({
        "architecture": plan.architecture.name(),
        "epochs": plan.epochs,
        "smoke": plan.smoke,
        "rows": rows.iter().map(Row::json).collect::<Vec<_>>(),
        "failures": failures,
    });
    let path = plan.work.join("bench.json");
    hdr_common::write_json_atomic(&path, &report)?;
    plan.log
        .note(format!("\n(also written to {})", project.display(&path)));
    if !failures.is_empty() {
        bail!(
            "{} benchmark(s) failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(())
}
