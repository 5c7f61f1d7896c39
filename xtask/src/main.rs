//! `cargo xtask`: the command line of the hdr pipeline runner
//! (`hdr-pipeline`), the front end of `predict`, `serve` and `export`, and
//! the developer tasks (`bench`). Parses, wires and prints; the runner's
//! logic is in the library.

mod bench;
mod export;
mod front_end;
mod predict;
mod serve;
mod signals;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
use hdr_pipeline::{Loaded, Location, Options, Project, Stage, StageOptions};

const EXAMPLES: &str = "\
Examples:
  cargo xtask pipeline                        run every stale stage: data → train → eval → report
  cargo xtask status                          which stages are up to date, and why not
  cargo xtask pipeline --set train.epochs=5   one run with another value (counts as a config edit)
  cargo xtask config                          the configuration in force, and where each value comes from
  cargo xtask runs                            every recorded run, what differs between them, the best marked
  cargo xtask pipeline --sweep train.dropout=0.3,0.5   one run per value, then their table
  cargo xtask predict my-digit.png            recognise a digit with the trained model
  cargo xtask serve                           draw digits in the browser and watch the model read them
  cargo xtask export                          the trained network as an ONNX model
  cargo xtask --quiet status || echo stale    scripts: exit 1 when any stage is stale

Runs from any folder of the project: without --config it uses the pipeline.toml at
the project's root (the Cargo workspace), and artifacts/ beside it.";

/// The hdr pipeline runner.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, long_about = None, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// The pipeline configuration (default: pipeline.toml at the project root); relative paths in
    /// it, and `artifacts/`, are under its directory.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Override a config value, e.g. `--set train.epochs=5` (repeatable).
    #[arg(long = "set", global = true, value_name = "SECTION.KEY=VALUE")]
    overrides: Vec<String>,
    /// Print nothing but errors (`status` then answers with its exit code).
    #[arg(long, short, global = true)]
    quiet: bool,
    /// When another run holds the artifacts, fail at once instead of waiting for it.
    #[arg(long, global = true)]
    no_wait: bool,
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

impl From<StageArgs> for StageOptions {
    fn from(args: StageArgs) -> Self {
        Self {
            force: args.force,
            dry_run: args.dry_run,
            resume: false,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run data → train → eval → report, skipping stages that are up to date.
    #[command(after_help = "\
Examples:
  cargo xtask pipeline                       run every stale stage, skip the rest
  cargo xtask pipeline --dry-run             say what would run, and why
  cargo xtask pipeline --from train          rerun from training on (data is left as it is)
  cargo xtask pipeline --set train.epochs=5  a shorter training, for this run only
  cargo xtask pipeline --no-wait             fail at once if another run is working here
  cargo xtask pipeline --sweep train.dropout=0.3,0.5 --sweep train.learning_rate=0.002,0.004
                                             four runs (the grid), one after another, then their table

A stage whose fingerprint (code, config section, input hashes) was seen before is restored
from the run cache (artifacts/.cache) instead of recomputed. Each run that changes
something is recorded in artifacts/runs.jsonl (see `cargo xtask runs`).")]
    Pipeline {
        #[command(flatten)]
        stage: StageArgs,
        /// Start at this stage (earlier ones are not run).
        #[arg(long, value_enum)]
        from: Option<Stage>,
        /// Run once per value, like `--set`; repeated, the grid of every combination.
        #[arg(long = "sweep", value_name = "SECTION.KEY=V1,V2,...")]
        sweep: Vec<String>,
    },
    /// Load, validate and split the source CSV into artifacts/data/.
    #[command(after_help = "\
Examples:
  cargo xtask data                                   split data/mnist-sample.csv.gz (the default source)
  cargo xtask data --set data.source=data/train.csv  another Kaggle-style CSV, for this run
  cargo xtask data --force                           rerun even though it is up to date")]
    Data(StageArgs),
    /// Train the CNN into artifacts/train/.
    #[command(after_help = "\
Examples:
  cargo xtask train                            train when the data or [train] changed
  cargo xtask train --resume                   continue an interrupted training from its last epoch
  cargo xtask train --set train.augment=false  one run without augmentation")]
    Train {
        #[command(flatten)]
        stage: StageArgs,
        /// Continue from the last epoch checkpoint.
        #[arg(long)]
        resume: bool,
    },
    /// Score the model on both splits into artifacts/eval/.
    #[command(after_help = "\
Examples:
  cargo xtask eval                             score the model when it or the data changed
  cargo xtask eval --force --set eval.batch_size=200")]
    Eval(StageArgs),
    /// Draw the charts and write artifacts/report/report.html.
    #[command(after_help = "\
Examples:
  cargo xtask report                               write artifacts/report/report.html
  cargo xtask report --set 'report.title=\"My run\"'  another heading, for this run")]
    Report(StageArgs),
    /// Show every stage as up to date or stale, with the reason.
    #[command(after_help = "\
Exit status: 0, whatever the stages' state; with --quiet it prints nothing and
exits 1 when any stage is stale, 0 when all are up to date (like `dvc status -q`).

Examples:
  cargo xtask status                          every stage, with what changed
  cargo xtask status --set data.seed=7        what that change would rerun
  cargo xtask --quiet status || cargo xtask pipeline")]
    Status,
    /// Remove the stages' outputs and the lock file (the run log and the run cache stay).
    #[command(after_help = "\
Examples:
  cargo xtask clean              remove the artifacts (waits for a run working on them)
  cargo xtask clean --all        also the run log (runs.jsonl) and the run cache (.cache/)
  cargo xtask clean --no-wait    fail at once instead if a run is working on them")]
    Clean {
        /// Also remove the run log and the run cache.
        #[arg(long)]
        all: bool,
    },
    /// List the recorded runs; compare, show or check out one.
    #[command(after_help = "\
Every `cargo xtask pipeline` that runs or restores a stage adds a line to artifacts/runs.jsonl.
The table has a column for each config key that differs between runs; `*` marks the best
test accuracy.

Examples:
  cargo xtask runs                  every run: differing keys, metrics, what the stages did
  cargo xtask runs --json           the run records, as a JSON array
  cargo xtask runs diff             the last two runs: changed params and metric deltas
  cargo xtask runs diff 3 7         run 7 against run 3
  cargo xtask runs show 7           one run in full: config, metrics, hashes
  cargo xtask runs checkout 7       put run 7's outputs back in artifacts/ (from the cache)")]
    Runs {
        #[command(subcommand)]
        action: Option<RunsAction>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Bound the run cache: keep what the lock file and the last N runs need.
    #[command(after_help = "\
Examples:
  cargo xtask gc                    keep the current outputs and the last 10 runs' outputs
  cargo xtask gc --keep 0           keep only what the lock file names")]
    Gc {
        /// How many of the latest runs keep their cached outputs.
        #[arg(long, default_value_t = 10, value_name = "N")]
        keep: usize,
    },
    /// Print the configuration in force as TOML, saying where each value comes from.
    #[command(after_help = "\
Each key is followed by where its value comes from: `default`, `file` (pipeline.toml)
or `--set`, and by its default when the value differs from it.

Examples:
  cargo xtask config                            the configuration the next run would use
  cargo xtask config --set train.epochs=5       the same, with an override
  cargo xtask config --json                     as JSON: {\"file\", \"root\", \"sections\": {section: {key: {value, default, from}}}}
  cargo xtask --config other.toml config        another config file")]
    Config {
        /// Print JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
    /// Convert MNIST IDX files (raw or .gz) to a Kaggle-style CSV (.csv or .csv.gz).
    #[command(after_help = "\
Examples:
  cargo xtask import-idx train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz -o data/mnist.csv.gz
  cargo xtask import-idx /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz \\
      /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz -o data/fashion-test.csv")]
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
    #[command(after_help = "\
Examples:
  cargo xtask predict photo.jpg scan.png                      digit, confidence and top 3 per file
  cargo xtask predict --json *.png                            one JSON object per line
  cargo xtask predict --save-preprocessed seen/ x.jpg         also write the 28x28 image the model saw
  cargo xtask predict --csv data/test.csv -o submission.csv   Kaggle submission: ImageId,Label")]
    Predict(predict::PredictArgs),
    /// Measure speed and memory against pandas and TensorFlow (when available).
    #[command(after_help = "\
Examples:
  cargo xtask bench                 everything, side by side with the Python peers when installed
  cargo xtask bench --only train    training and inference throughput only")]
    Bench(bench::BenchArgs),
    /// Write the trained network as an ONNX model (artifacts/export/model.onnx).
    #[command(after_help = "\
Examples:
  cargo xtask export                                   artifacts/export/model.onnx from the trained model
  cargo xtask export -o digits.onnx                    elsewhere (missing folders are created)
  cargo xtask export --model other.safetensors -o other.onnx   other weights (no test accuracy on the card)")]
    Export(export::ExportArgs),
    /// Serve a page to draw digits on and an HTTP API on the trained model.
    #[command(after_help = "\
Examples:
  cargo xtask serve                                  http://127.0.0.1:8080/ on artifacts/train/model.safetensors
  cargo xtask serve --port 0 --open                  a free port, and open the page in the desktop's browser
  cargo xtask serve --model other.safetensors        other weights (no test accuracy or data on the card)
  cargo xtask serve --host 0.0.0.0 --port 8000       reachable from other machines (it warns: no password)

API: POST /api/predict (an image), POST /api/predict/batch (multipart), GET /api/model,
GET /healthz; see the README.")]
    Serve(serve::ServeArgs),
}

impl Command {
    /// Whether the command may run the network, so `HDR_KERNELS` must be
    /// followable (status, runs and the like only read files).
    fn runs_kernels(&self) -> bool {
        matches!(
            self,
            Command::Pipeline { .. }
                | Command::Train { .. }
                | Command::Eval(_)
                | Command::Predict(_)
                | Command::Bench(_)
                | Command::Serve(_)
        )
    }
}

#[derive(Debug, Subcommand)]
enum RunsAction {
    /// Changed params and metric deltas between two runs (default: the last two).
    Diff {
        /// Run ids: none for the last two, one for it against the last, two for A against B.
        #[arg(value_name = "ID", num_args = 0..=2)]
        ids: Vec<u64>,
    },
    /// One run in full.
    Show {
        /// The run's id.
        id: u64,
        /// Print the run's record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore a run's outputs from the cache into artifacts/ and update pipeline.lock.
    Checkout {
        /// The run's id.
        id: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let resume = resume_command(&cli.global);
    let pipeline = matches!(cli.command, Command::Pipeline { .. })
        .then(|| same_globals(&cli.global, &["pipeline"]));
    match run(cli) {
        Ok(code) => code,
        Err(err) => match err.downcast_ref::<hdr_pipeline::Error>() {
            Some(hdr_pipeline::Error::Interrupted(stopped)) => {
                for line in stopped.explain(&resume, pipeline.as_deref()) {
                    eprintln!("{line}");
                }
                ExitCode::from(hdr_pipeline::EXIT_STATUS)
            }
            Some(stopped @ hdr_pipeline::Error::SweepStopped(_)) => {
                eprintln!("{stopped}");
                ExitCode::from(hdr_pipeline::EXIT_STATUS)
            }
            _ => failure(&err),
        },
    }
}

/// Prints `err` with its causes and returns the failure status.
fn failure(err: &anyhow::Error) -> ExitCode {
    for line in hdr_common::error_lines(err.as_ref()) {
        eprintln!("{line}");
    }
    ExitCode::FAILURE
}

/// `cargo xtask` with the global options that shape the configuration
/// (`--config`, every `--set`) as given, then `command`, quoted for a shell.
fn same_globals(global: &GlobalArgs, command: &[&str]) -> String {
    let mut words = vec!["cargo".to_string(), "xtask".to_string()];
    if let Some(config) = &global.config {
        words.push("--config".to_string());
        words.push(config.display().to_string());
    }
    for assignment in &global.overrides {
        words.push("--set".to_string());
        words.push(assignment.clone());
    }
    words.extend(command.iter().map(|w| w.to_string()));
    hdr_pipeline::shell_line(&words)
}

/// The command that continues an interrupted training with the same
/// configuration (the checkpoint only resumes the run it was made by).
fn resume_command(global: &GlobalArgs) -> String {
    same_globals(global, &["train", "--resume"])
}

fn run(cli: Cli) -> Result<ExitCode> {
    let g = &cli.global;
    if cli.command.runs_kernels() {
        // A kernel path that cannot be followed stops here, before any work.
        hdr_model::kernels_from_env()?;
    }
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let location = Location::resolve(g.config.clone(), &cwd);
    let loaded = hdr_pipeline::load(&location, &g.overrides)?;
    if !g.quiet && matches!(location, Location::Found(_)) && loaded.root != cwd {
        let shown = relative(location.path(), &cwd);
        match &loaded.file {
            Some(_) => eprintln!("using {shown}"),
            None => eprintln!("using the defaults ({shown} does not exist)"),
        }
    }
    let project = Project::of(&loaded);
    let quiet = g.quiet;
    let options = Options {
        quiet,
        wait: !g.no_wait,
        on_locked: Some(signals::install),
    };
    let output = hdr_pipeline::Output::quiet_if(quiet);
    let stages_from =
        |stage: Stage| -> Vec<Stage> { Stage::ALL.into_iter().filter(|s| *s >= stage).collect() };
    match cli.command {
        Command::Pipeline { stage, from, sweep } => {
            let stages = stages_from(from.unwrap_or(Stage::Data));
            if sweep.is_empty() {
                hdr_pipeline::pipeline(&project, &stages, stage.into(), options)?;
            } else {
                let axes = sweep
                    .iter()
                    .map(|item| hdr_pipeline::SweepAxis::parse(item))
                    .collect::<Result<Vec<_>, _>>()?;
                hdr_pipeline::sweep(
                    &project,
                    &location,
                    &g.overrides,
                    &axes,
                    &stages,
                    stage.into(),
                    options,
                )?;
            }
        }
        Command::Data(args) => {
            hdr_pipeline::run_stages(&project, &[Stage::Data], args.into(), options)?
        }
        Command::Train { stage, resume } => {
            // Resuming means running: the lock would otherwise call it up to date.
            let args = StageOptions {
                force: stage.force || resume,
                dry_run: stage.dry_run,
                resume,
            };
            hdr_pipeline::run_stages(&project, &[Stage::Train], args, options)?;
        }
        Command::Eval(args) => {
            hdr_pipeline::run_stages(&project, &[Stage::Eval], args.into(), options)?
        }
        Command::Report(args) => {
            hdr_pipeline::run_stages(&project, &[Stage::Report], args.into(), options)?
        }
        Command::Status => {
            let stale = hdr_pipeline::status(&project, quiet)?;
            // Quiet, the exit status is the answer (like `dvc status -q`).
            if quiet && !stale.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Clean { all } => hdr_pipeline::clean(&project, all, options)?,
        Command::Runs { action, json } => match action {
            None => hdr_pipeline::runs::list(&project, output, json)?,
            Some(RunsAction::Diff { ids }) => hdr_pipeline::runs::diff(&project, output, &ids)?,
            Some(RunsAction::Show { id, json }) => {
                hdr_pipeline::runs::show(&project, output, id, json)?
            }
            Some(RunsAction::Checkout { id }) => {
                hdr_pipeline::runs::checkout(&project, id, options)?
            }
        },
        Command::Gc { keep } => hdr_pipeline::runs::gc(&project, keep, options)?,
        Command::Config { json } => show_config(&loaded, json)?,
        Command::ImportIdx {
            images,
            labels,
            output,
        } => {
            let started = std::time::Instant::now();
            let data = hdr_data::read_idx(&images, &labels)?;
            hdr_data::write_kaggle_csv(&data, &output)?;
            if !quiet {
                eprintln!(
                    "wrote {} images to {} in {:.2} s",
                    data.len(),
                    output.display(),
                    started.elapsed().as_secs_f64()
                );
            }
        }
        Command::Predict(args) => return predict::run(&project, quiet, args),
        Command::Bench(args) => bench::run(&project, quiet, args)?,
        Command::Export(args) => return export::run(&project, quiet, args),
        Command::Serve(args) => {
            let retrain = serve::retrain_command(loaded.file.as_deref(), &g.overrides)?;
            return serve::run(&project, quiet, args, retrain);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `path` as seen from `cwd` (`../../pipeline.toml`), or as is when not above it.
fn relative(path: &Path, cwd: &Path) -> String {
    let Some(dir) = path.parent() else {
        return path.display().to_string();
    };
    match cwd.strip_prefix(dir) {
        Ok(below) => {
            let ups = "../".repeat(below.components().count());
            format!(
                "{ups}{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            )
        }
        Err(_) => path.display().to_string(),
    }
}

/// `cargo xtask config`: the effective configuration with each value's origin.
fn show_config(loaded: &Loaded, json: bool) -> Result<()> {
    let rows = loaded.provenance()?;
    if json {
        let mut sections = serde_json::Map::new();
        for row in &rows {
            let section = sections
                .entry(row.section)
                .or_insert_with(|| serde_json::json!({}));
            section[row.key.as_str()] = serde_json::json!({
                "value": row.value,
                "default": row.default,
                "from": row.origin,
            });
        }
        let out = serde_json::json!({
            "file": loaded.file,
            "root": loaded.root,
            "sections": sections,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    match &loaded.file {
        Some(file) => println!("# The configuration in force: {}", file.display()),
        None => println!(
            "# The configuration in force: defaults (no {} in {})",
            hdr_pipeline::FILE_NAME,
            loaded.root.display()
        ),
    }
    println!("# After each key: where its value comes from (default, file or --set).");
    let width = rows
        .iter()
        .map(|r| r.key.len() + r.value.to_string().len())
        .max()
        .unwrap_or(0);
    let mut section = "";
    for row in &rows {
        if row.section != section {
            section = row.section;
            println!("\n[{section}]");
        }
        let assignment = format!("{} = {}", row.key, row.value);
        let mut origin = row.origin.label().to_string();
        if let Some(default) = row.default.as_ref().filter(|d| **d != row.value) {
            origin.push_str(&format!(" (default {default})"));
        }
        println!("{assignment:<w$}  # {origin}", w = width + 3);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_config_paths_climb_to_the_root() {
        let root = Path::new("/p");
        let file = root.join("pipeline.toml");
        assert_eq!(
            relative(&file, &root.join("crates/a/src")),
            "../../../pipeline.toml"
        );
        assert_eq!(relative(&file, Path::new("/elsewhere")), "/p/pipeline.toml");
    }

    /// Splits a command line as a POSIX shell would, for the examples' quoting.
    fn shell_words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word: Option<String> = None;
        let mut quote: Option<char> = None;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.get_or_insert_with(String::new).push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    word.get_or_insert_with(String::new);
                }
                (None, c) if c.is_whitespace() => words.extend(word.take()),
                (None, c) => word.get_or_insert_with(String::new).push(c),
            }
        }
        words.extend(word);
        words
    }

    #[test]
    fn every_example_in_the_help_parses() {
        use clap::CommandFactory;
        let cli = Cli::command();
        let pages = std::iter::once(&cli)
            .chain(cli.get_subcommands())
            .filter_map(|c| c.get_after_help().map(|h| h.to_string()));
        let mut checked = 0;
        for page in pages {
            let mut lines = page.lines();
            while let Some(line) = lines.next() {
                let Some(rest) = line.strip_prefix("  cargo xtask ") else {
                    continue;
                };
                // The command ends at two spaces (then its comment) or at `||`.
                let cut = |text: &str| {
                    text.split("  ")
                        .next()
                        .unwrap_or("")
                        .split(" ||")
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_string()
                };
                let mut command = cut(rest);
                while let Some(head) = command.strip_suffix('\\') {
                    command = format!("{head} {}", cut(lines.next().unwrap().trim_start()));
                }
                let args = std::iter::once("cargo xtask".to_string()).chain(shell_words(&command));
                if let Err(e) = Cli::try_parse_from(args) {
                    panic!("the example `cargo xtask {command}` does not parse: {e}");
                }
                checked += 1;
            }
        }
        assert!(checked >= 30, "only {checked} examples found");
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
