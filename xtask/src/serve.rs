//! `cargo xtask serve`: the drawing page and the prediction API on the trained
//! model, served by the `hdr-serve` binary.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;

use hdr_pipeline::Project;

use crate::front_end;

/// Arguments of `cargo xtask serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on; 0 picks a free one (the URL printed names it).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to listen on. Anything but a loopback address lets other
    /// machines use the page and the API.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// The weights file (default: artifacts/train/model.safetensors).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Open the page in the desktop's browser (with xdg-open).
    #[arg(long)]
    open: bool,
    /// Test-time augmentation: read each digit as the mean of itself and
    /// four copies moved one pixel (better on other writers' digits, about
    /// four times the model's time).
    #[arg(long)]
    tta: bool,
    /// How long a client has to send a request's head, from connecting or
    /// from the previous answer, so also the idle keep-alive timeout
    /// (default 10s).
    #[arg(long, value_name = "DURATION")]
    header_timeout: Option<String>,
    /// How long a client has to send a request's body once its head has
    /// arrived (default 30s; slower: 408 and closed).
    #[arg(long, value_name = "DURATION")]
    body_timeout: Option<String>,
    /// Open connections at once; more get 503 and are closed (default 512).
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Most pixels the images of one batch may declare in all (default
    /// 250000000; more: 413).
    #[arg(long, value_name = "N")]
    max_batch_pixels: Option<u64>,
    /// Bytes of images decoded at once, each weighed by its declared size
    /// (default 1000000000; more: 503).
    #[arg(long, value_name = "BYTES")]
    max_decoding_bytes: Option<u64>,
    /// How long Ctrl-C waits for the requests in progress; a second Ctrl-C
    /// stops at once (default 10s).
    #[arg(long, value_name = "DURATION")]
    shutdown_grace: Option<String>,
}

/// Runs `hdr-serve` (built on first use) on the pipeline's model, card,
/// metrics, data summary and report; it serves until Ctrl-C or SIGTERM.
/// What the page's Retrain button runs: this runner's `pipeline` on the same
/// configuration file and `--set` overrides, failing at once (saying so)
/// when another run holds the artifacts.
pub fn retrain_command(config: Option<&Path>, overrides: &[String]) -> Result<Vec<OsString>> {
    let runner = std::env::current_exe().context("cannot find the runner's own binary")?;
    let mut command = vec![runner.into_os_string()];
    if let Some(config) = config {
        command.push("--config".into());
        command.push(config.as_os_str().to_owned());
    }
    for assignment in overrides {
        command.push("--set".into());
        command.push(assignment.into());
    }
    command.extend(["--no-wait".into(), "pipeline".into()]);
    Ok(command)
}

pub fn run(
    project: &Project,
    quiet: bool,
    args: ServeArgs,
    retrain: Vec<OsString>,
) -> Result<ExitCode> {
    let artifacts = hdr_artifacts::Artifacts::under(&project.artifacts);
    let mut server = front_end::command("hdr-serve", quiet)?;
    let own_weights = args.model.is_none();
    let model = args.model.unwrap_or(artifacts.train.weights);
    server
        .arg("--model")
        .arg(&model)
        .arg("--model-card")
        .arg(model.with_file_name(hdr_artifacts::CARD_FILE));
    // The pipeline's eval and data facts describe its own weights only.
    if own_weights {
        server
            .arg("--metrics")
            .arg(&artifacts.eval.metrics)
            .arg("--data-summary")
            .arg(&artifacts.data.summary);
    }
    server
        .arg("--report-dir")
        .arg(&artifacts.report.dir)
        .arg("--host")
        .arg(args.host.to_string())
        .arg("--port")
        .arg(args.port.to_string());
    // The page's "Right" / "Wrong" buttons save to the file the data stage
    // reads (`data.user_samples`), so the next pipeline run learns from them.
    let samples = &project.config.data.user_samples;
    if !samples.as_os_str().is_empty() {
        server.arg("--samples").arg(samples);
    }
    if args.open {
        server.arg("--open");
    }
    if args.tta {
        server.arg("--tta");
    }
    // hdr-serve checks the values and holds the defaults.
    let limits = [
        ("--header-timeout", args.header_timeout),
        ("--body-timeout", args.body_timeout),
        (
            "--max-connections",
            args.max_connections.map(|n| n.to_string()),
        ),
        (
            "--max-batch-pixels",
            args.max_batch_pixels.map(|n| n.to_string()),
        ),
        (
            "--max-decoding-bytes",
            args.max_decoding_bytes.map(|n| n.to_string()),
        ),
        ("--shutdown-grace", args.shutdown_grace),
    ];
    for (flag, value) in limits {
        if let Some(value) = value {
            server.arg(flag).arg(value);
        }
    }
    if quiet {
        server.arg("--quiet");
    }
    // Retraining makes the pipeline's own weights; other weights stay as given.
    if own_weights {
        server.arg("--").args(retrain);
    }
    front_end::run_in_place(server)
}
