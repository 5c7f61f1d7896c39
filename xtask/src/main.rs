//! `cargo xtask`: runs the hdr pipeline (data → train → eval → report),
//! skipping stages that are up to date, and the tools around it.

mod bench;
mod config;
mod lock;
mod predict;
mod serve;
mod stages;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};

use crate::lock::LockFile;
use crate::stages::{Context, Stage};

/// The hdr pipeline runner.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// The pipeline configuration; relative paths in it, and `artifacts/`, are under its directory.
    #[arg(long, global = true, default_value = "pipeline.toml")]
    config: PathBuf,
    /// Override a config value, e.g. `--set train.epochs=5` (repeatable).
    #[arg(long = "set", global = true, value_name = "SECTION.KEY=VALUE")]
    overrides: Vec<String>,
    /// No progress bars or per-epoch lines; errors still go to stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct StageArgs {
    /// Run even when up to date.
    #[arg(long)]
    force: bool,
    /// Print what would run and why, and run nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run data → train → eval → report, skipping stages that are up to date.
    Pipeline {
        #[command(flatten)]
        stage: StageArgs,
        /// Start at this stage (earlier ones are not run).
        #[arg(long, value_enum)]
        from: Option<Stage>,
    },
    /// Load, validate and split the source CSV into artifacts/data/.
    Data(StageArgs),
    /// Train the CNN into artifacts/train/.
    Train {
        #[command(flatten)]
        stage: StageArgs,
        /// Continue from the last epoch checkpoint.
        #[arg(long)]
        resume: bool,
    },
    /// Score the model on both splits into artifacts/eval/.
    Eval(StageArgs),
    /// Draw the charts and write artifacts/report/report.html.
    Report(StageArgs),
    /// Show every stage as up to date or stale, with the reason.
    Status,
    /// Remove everything under artifacts/.
    Clean,
    /// Convert MNIST IDX files (raw or .gz) to a Kaggle-style CSV (.csv or .csv.gz).
    ImportIdx {
        /// The images file (e.g. train-images-idx3-ubyte.gz).
        images: PathBuf,
        /// The labels file (e.g. train-labels-idx1-ubyte.gz).
        labels: PathBuf,
        /// The CSV to write; gzip-compressed when it ends in .gz.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Recognise digits in image files, or in a Kaggle test.csv.
    Predict(predict::PredictArgs),
    /// Measure speed and memory against pandas and TensorFlow (when available).
    Bench(bench::BenchArgs),
    /// Serve a page to draw digits on and an HTTP API on the trained model.
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let g = &cli.global;
    let explicit = std::env::args().any(|a| a == "--config" || a.starts_with("--config="));
    let loaded = config::load(&g.config, explicit, &g.overrides)?;
    let artifacts = loaded.root.join("artifacts");
    let mut ctx = Context {
        config: loaded.config,
        root: loaded.root,
        artifacts,
        quiet: g.quiet,
        resume: false,
    };
    match cli.command {
        Command::Pipeline { stage, from } => {
            let start = from.unwrap_or(Stage::Data);
            let stages: Vec<Stage> = Stage::ALL.into_iter().filter(|s| *s >= start).collect();
            run_stages(&ctx, &stages, &stage)?;
        }
        Command::Data(args) => run_stages(&ctx, &[Stage::Data], &args)?,
        Command::Train { stage, resume } => {
            ctx.resume = resume;
            // Resuming means running: the lock would otherwise call it up to date.
            let args = StageArgs {
                force: stage.force || resume,
                dry_run: stage.dry_run,
            };
            run_stages(&ctx, &[Stage::Train], &args)?;
        }
        Command::Eval(args) => run_stages(&ctx, &[Stage::Eval], &args)?,
        Command::Report(args) => run_stages(&ctx, &[Stage::Report], &args)?,
        Command::Status => status(&ctx)?,
        Command::Clean => clean(&ctx)?,
        Command::ImportIdx {
            images,
            labels,
            output,
        } => {
            let started = std::time::Instant::now();
            let data = hdr_data::read_idx(&images, &labels)?;
            hdr_data::write_kaggle_csv(&data, &output)?;
            if !ctx.quiet {
                eprintln!(
                    "wrote {} images to {} in {:.2} s",
                    data.len(),
                    output.display(),
                    started.elapsed().as_secs_f64()
                );
            }
        }
        Command::Predict(args) => return predict::run(&ctx, args),
        Command::Bench(args) => bench::run(&ctx, args)?,
        Command::Serve(args) => serve::run(&ctx, args)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `stages` in order, each only when stale (or forced).
fn run_stages(ctx: &Context, stages: &[Stage], args: &StageArgs) -> Result<()> {
    let lock_path = ctx.lock_path();
    let mut will_run: Vec<Stage> = Vec::new();
    for &stage in stages {
        let lock = LockFile::read(&lock_path)?;
        let upstream: Vec<Stage> = if args.dry_run {
            will_run.clone()
        } else {
            Vec::new()
        };
        let reasons = ctx.stale_reasons(stage, &lock, &upstream)?;
        let name = stage.name();
        if reasons.is_empty() && !args.force {
            eprintln!("{name:>7}: up to date");
            continue;
        }
        let why = if reasons.is_empty() {
            "forced".to_string()
        } else {
            reasons.join("; ")
        };
        if args.dry_run {
            eprintln!("{name:>7}: would run ({why})");
            will_run.push(stage);
            continue;
        }
        eprintln!("{name:>7}: running ({why})");
        let started = std::time::Instant::now();
        ctx.run_and_lock(stage)?;
        eprintln!(
            "{name:>7}: done in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Prints every stage as up to date or stale, with reasons.
fn status(ctx: &Context) -> Result<()> {
    let lock = LockFile::read(&ctx.lock_path())?;
    let mut stale: Vec<Stage> = Vec::new();
    for stage in Stage::ALL {
        let reasons = ctx.stale_reasons(stage, &lock, &stale)?;
        if reasons.is_empty() {
            println!("{:>7}: up to date", stage.name());
        } else {
            println!("{:>7}: stale", stage.name());
            for reason in reasons {
                println!("         - {reason}");
            }
            stale.push(stage);
        }
    }
    Ok(())
}

/// Removes the artifacts directory's contents.
fn clean(ctx: &Context) -> Result<()> {
    let dir = &ctx.artifacts;
    if !dir.exists() {
        eprintln!("nothing to clean: {} does not exist", ctx.display(dir));
        return Ok(());
    }
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.file_name().is_some_and(|n| n == ".gitkeep") {
            continue;
        }
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        result.with_context(|| format!("cannot remove {}", path.display()))?;
    }
    eprintln!("removed the contents of {}", ctx.display(dir));
    Ok(())
}
