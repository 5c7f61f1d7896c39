//! `cargo xtask serve`: the drawing page and the prediction API on the trained model.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result};
use clap::Args;
use hdr_serve::{CardSources, Limits, ServeConfig, Server};

use crate::stages::Context;

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
}

/// Serves until Ctrl-C or SIGTERM.
pub fn run(ctx: &Context, args: ServeArgs) -> Result<()> {
    let artifacts = hdr_artifacts::Artifacts::under(&ctx.artifacts);
    // The pipeline's eval and data facts describe its own weights only.
    let own_weights = args.model.is_none();
    let model = args.model.unwrap_or(artifacts.train.weights);
    let config = ServeConfig {
        card: CardSources {
            model_card: Some(model.with_file_name(hdr_artifacts::CARD_FILE)),
            metrics: own_weights.then_some(artifacts.eval.metrics),
            data_summary: own_weights.then_some(artifacts.data.summary),
        },
        model,
        report_dir: Some(artifacts.report.dir),
        limits: Limits::default(),
    };
    if !args.host.is_loopback() {
        eprintln!(
            "WARNING: listening on {} rather than 127.0.0.1: every machine that can reach \
             this one can use the page and the API, unencrypted and without a password",
            args.host
        );
    }
    let server = Server::bind(&config, SocketAddr::new(args.host, args.port))
        .with_context(|| format!("cannot serve {}", ctx.display(&config.model)))?;
    let addr = server.local_addr();
    let shown = if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    };
    let url = format!("http://{shown}/");
    println!("serving {} at {url}", ctx.display(&config.model));
    if !ctx.quiet {
        eprintln!("press Ctrl-C to stop");
    }
    if args.open {
        open_browser(&url);
    }
    server.run_until_signal()?;
    if !ctx.quiet {
        eprintln!("stopped");
    }
    Ok(())
}

/// Asks the desktop to open `url`; says so when no opener is found.
fn open_browser(url: &str) {
    let opened = Command::new("xdg-open")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if opened.is_err() {
        eprintln!("--open: no browser opener found (xdg-open); open {url} yourself");
    }
}
