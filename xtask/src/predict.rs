//! `cargo xtask predict`: digits in image files, or a Kaggle submission from test.csv.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;
use hdr_pipeline::Project;

/// Arguments of `cargo xtask predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// PNG, JPEG or BMP files of handwritten digits.
    images: Vec<PathBuf>,
    /// A Kaggle-style CSV (test.csv, with or without a label column) to predict instead.
    #[arg(long, conflicts_with = "images")]
    csv: Option<PathBuf>,
    /// Where to write the `ImageId,Label` submission (with --csv).
    #[arg(short, long, requires = "csv")]
    output: Option<PathBuf>,
    /// The weights file (default: artifacts/train/model.safetensors).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Print one JSON object per image and line.
    #[arg(long)]
    json: bool,
    /// Write the 28x28 images the model saw into this directory.
    #[arg(long, value_name = "DIR")]
    save_preprocessed: Option<PathBuf>,
    /// Test-time augmentation: read each digit as the average of itself and
    /// four copies moved one pixel (about a point better on other writers'
    /// digits, about four times the model's time).
    #[arg(long)]
    tta: bool,
}

/// Runs the predict command; the exit code is non-zero if any file failed.
pub fn run(project: &Project, quiet: bool, args: PredictArgs) -> Result<ExitCode> {
    let model_path = args
        .model
        .clone()
        .unwrap_or_else(|| hdr_train::Paths::under(&project.artifacts).weights);
    if let Some(csv) = &args.csv {
        let Some(output) = &args.output else {
            bail!("--csv needs -o/--output for the submission file, e.g. -o submission.csv");
        };
        let classifier =
            hdr_predict::load_model(&model_path)?.with_test_time_augmentation(args.tta);
        let outcome = hdr_predict::predict_csv(&classifier, csv, output)?;
        if !quiet {
            eprintln!(
                "wrote {} predictions to {} ({:.0} images/s)",
                outcome.rows,
                output.display(),
                outcome.rows as f64 / outcome.seconds.max(1e-9)
            );
        }
        if let Some(accuracy) = outcome.accuracy {
            println!(
                "accuracy: {:.2}% ({} labelled rows)",
                accuracy * 100.0,
                outcome.rows
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.images.is_empty() {
        bail!("give image files to predict, or --csv test.csv -o submission.csv");
    }
    let classifier = hdr_predict::load_model(&model_path)?.with_test_time_augmentation(args.tta);
    let outcomes =
        hdr_predict::predict_files(&classifier, &args.images, args.save_preprocessed.as_deref());
    let mut failed = 0;
    for outcome in &outcomes {
        let line = if args.json {
            hdr_predict::format_json(outcome)
        } else {
            hdr_predict::format_text(outcome)
        };
        if outcome.result.is_err() {
            failed += 1;
            if args.json {
                println!("{line}");
            } else {
                eprintln!("{line}");
            }
        } else {
            println!("{line}");
        }
    }
    if failed > 0 {
        eprintln!(
            "{failed} of {} files could not be predicted",
            outcomes.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
