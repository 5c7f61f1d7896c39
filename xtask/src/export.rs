//! `cargo xtask export`: the trained network as an ONNX model.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;
use hdr_artifacts::{EvalFiles, TrainFiles};
use hdr_export::TrainedCard;
use hdr_model::Classifier;

use crate::stages::Context;

/// Arguments of `cargo xtask export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where to write the model (default: artifacts/export/model.onnx); missing folders are created.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The weights file (default: artifacts/train/model.safetensors).
    #[arg(long)]
    model: Option<PathBuf>,
}

/// Writes the ONNX model of the trained weights, with the model card in its metadata.
pub fn run(ctx: &Context, args: ExportArgs) -> Result<()> {
    let train = TrainFiles::under(&ctx.artifacts);
    let weights = args.model.unwrap_or(train.weights.clone());
    hdr_artifacts::require_artifact(&weights, TrainFiles::STAGE)?;
    let classifier = Classifier::load(&weights)?;
    let card_path = weights.with_file_name(
        train
            .card
            .file_name()
            .context("the model card path has a file name")?,
    );
    let card = if card_path.exists() {
        Some(hdr_artifacts::read_card(&card_path)?)
    } else {
        None
    };
    // The test accuracy describes only the weights the eval stage scored.
    let metrics = EvalFiles::under(&ctx.artifacts).metrics;
    let test_accuracy = if weights == train.weights && metrics.exists() {
        Some(hdr_artifacts::read_metrics(&metrics)?.test.accuracy)
    } else {
        None
    };
    let about = TrainedCard {
        weights_sha256: hdr_common::sha256_file(&weights)
            .with_context(|| format!("cannot read {}", ctx.display(&weights)))?,
        card,
        test_accuracy,
    };
    let network = hdr_export::trained_network(classifier.network(), &about);
    let output = args
        .output
        .unwrap_or_else(|| ctx.artifacts.join("export").join("model.onnx"));
    hdr_export::write_onnx(&network, &output)?;
    if !ctx.quiet {
        eprintln!(
            "wrote {} ({} network, ONNX opset {}; input float [N,28,28,1] NHWC, pixels / 255)",
            ctx.display(&output),
            classifier.architecture(),
            hdr_export::OPSET
        );
    }
    Ok(())
}
