//! `hdr-export`: a trained weights file as an ONNX model.
//!
//! `cargo xtask export` builds this binary on first use and runs it with the
//! pipeline's own files (so `cargo xtask pipeline` never compiles the ONNX
//! types); it also stands alone:
//! `cargo run --release -p hdr-export -- --model model.safetensors -o model.onnx`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Parser;
use hdr_artifacts::{TrainFiles, CARD_FILE};
use hdr_export::TrainedCard;
use hdr_model::Classifier;

/// Write a trained network as an ONNX model, with its model card in the metadata.
#[derive(Debug, Parser)]
#[command(name = "hdr-export")]
struct Args {
    /// The weights file; the model card (`model.json`) beside it is read when present.
    #[arg(long)]
    model: PathBuf,
    /// Where to write the model; missing folders are created.
    #[arg(short, long)]
    output: PathBuf,
    /// The eval stage's `metrics.json` that scored these very weights, for
    /// the test accuracy on the card.
    #[arg(long, value_name = "PATH")]
    metrics: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

fn main() -> ExitCode {
    hdr_common::exit_status(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    hdr_artifacts::require_artifact(&args.model, TrainFiles::STAGE)?;
    let classifier = Classifier::load(&args.model)?;
    let card_path = args.model.with_file_name(CARD_FILE);
    let card = if card_path.exists() {
        Some(hdr_artifacts::read_card(&card_path)?)
    } else {
        None
    };
    let test_accuracy = match &args.metrics {
        Some(metrics) => Some(hdr_artifacts::read_metrics(metrics)?.test.accuracy),
        None => None,
    };
    let about = TrainedCard {
        weights_sha256: hdr_common::sha256_file(&args.model)
            .with_context(|| format!("cannot read {}", args.model.display()))?,
        card,
        test_accuracy,
    };
    let network = hdr_export::trained_network(classifier.network(), &about);
    hdr_export::write_onnx(&network, &args.output)?;
    if !args.quiet {
        eprintln!(
            "wrote {} ({} network, ONNX opset {}; input float [N,28,28,1] NHWC, pixels / 255)",
            hdr_common::shown(&args.output),
            classifier.architecture(),
            hdr_export::OPSET
        );
    }
    Ok(())
}
