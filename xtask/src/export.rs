//! `cargo xtask export`: the trained network as an ONNX model.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use clap::Args;
use hdr_export::{Layer, Network};
use hdr_model::dfdx::prelude::AsVec;
use hdr_model::{Cnn, ModelCard, IMAGE_SIDE};

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
    let default_weights = hdr_train::Paths::under(&ctx.artifacts).weights;
    let weights = args.model.unwrap_or(default_weights.clone());
    if !weights.exists() {
        bail!(
            "no trained model at {}: run `cargo xtask train` (or `cargo xtask pipeline`) first",
            ctx.display(&weights)
        );
    }
    let cnn = Cnn::load(&weights)?;
    let mut metadata = model_card(&weights)?;
    // Test accuracy only describes the weights the eval stage scored.
    if weights == default_weights {
        if let Some(accuracy) = test_accuracy(&hdr_eval::Paths::under(&ctx.artifacts).metrics)? {
            metadata.push(("test_accuracy".into(), accuracy));
        }
    }
    let network = Network {
        input_side: IMAGE_SIDE,
        input_channels: 1,
        layers: seed_layers(&cnn),
        metadata,
    };
    let output = args
        .output
        .unwrap_or_else(|| ctx.artifacts.join("export").join("model.onnx"));
    hdr_export::write_onnx(&network, &output)?;
    if !ctx.quiet {
        eprintln!(
            "wrote {} (ONNX opset {}; input float [N,28,28,1] NHWC, pixels / 255)",
            ctx.display(&output),
            hdr_export::OPSET
        );
    }
    Ok(())
}

/// Today's seed network as the exporter's layer list.
///
/// Once hdr-model describes its networks itself (the seed and `deep`), this
/// mapping is replaced by that description.
fn seed_layers(cnn: &Cnn) -> Vec<Layer> {
    vec![
        Layer::Conv2d {
            kernel: 3,
            in_channels: 1,
            out_channels: 32,
            weight_hwio: cnn.conv1.weight.as_vec(),
            bias: cnn.conv1.bias.as_vec(),
        },
        Layer::Relu,
        Layer::MaxPool { size: 2 },
        Layer::Conv2d {
            kernel: 3,
            in_channels: 32,
            out_channels: 64,
            weight_hwio: cnn.conv2.weight.as_vec(),
            bias: cnn.conv2.bias.as_vec(),
        },
        Layer::Relu,
        Layer::MaxPool { size: 2 },
        Layer::Flatten,
        Layer::Dropout,
        Layer::Dense {
            inputs: hdr_model::network::FEATURES,
            outputs: hdr_model::NUM_CLASSES,
            weight_out_in: cnn.dense.weight.as_vec(),
            bias: cnn.dense.bias.as_vec(),
        },
        Layer::Softmax,
    ]
}

/// The model card entries: the architecture, hdr's version, the weights'
/// hash and, when `model.json` sits beside the weights, the training data's
/// hash and the kept epoch.
fn model_card(weights: &Path) -> Result<Vec<(String, String)>> {
    let mut card = vec![
        ("architecture".to_string(), Cnn::architecture().join("\n")),
        (
            "hdr_version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (
            "weights_sha256".to_string(),
            hdr_common::sha256_file(weights)
                .with_context(|| format!("cannot read {}", weights.display()))?,
        ),
    ];
    let card_path = weights.with_file_name(hdr_model::CARD_FILE);
    if card_path.exists() {
        let text = std::fs::read_to_string(&card_path)
            .with_context(|| format!("cannot read {}", card_path.display()))?;
        let model: ModelCard = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a model card", card_path.display()))?;
        card.push(("data_sha256".into(), model.data_sha256));
        card.push(("best_epoch".into(), model.best_epoch.to_string()));
    }
    Ok(card)
}

/// The test split's accuracy from `metrics.json`, if the eval stage has run.
fn test_accuracy(metrics: &Path) -> Result<Option<String>> {
    if !metrics.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(metrics)
        .with_context(|| format!("cannot read {}", metrics.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", metrics.display()))?;
    match value["test"]["accuracy"].as_f64() {
        Some(accuracy) => Ok(Some(format!("{accuracy:.6}"))),
        None => bail!("{} has no number at test.accuracy", metrics.display()),
    }
}
