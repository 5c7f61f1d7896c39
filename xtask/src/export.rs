//! `cargo xtask export`: the trained network as an ONNX model, written by the
//! `hdr-export` binary.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use hdr_artifacts::{EvalFiles, TrainFiles};

use hdr_pipeline::Project;

use crate::front_end;

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

/// Runs `hdr-export` (built on first use) on the trained weights; the test
/// accuracy goes on the card only for the weights the eval stage scored.
pub fn run(project: &Project, quiet: bool, args: ExportArgs) -> Result<ExitCode> {
    let train = TrainFiles::under(&project.artifacts);
    let weights = args.model.unwrap_or(train.weights.clone());
    let output = args
        .output
        .unwrap_or_else(|| project.artifacts.join("export").join("model.onnx"));
    let mut export = front_end::command("hdr-export", quiet)?;
    export
        .arg("--model")
        .arg(&weights)
        .arg("--output")
        .arg(&output);
    let metrics = EvalFiles::under(&project.artifacts).metrics;
    if weights == train.weights && metrics.exists() {
        export.arg("--metrics").arg(&metrics);
    }
    if quiet {
        export.arg("--quiet");
    }
    front_end::run_in_place(export)
}
