//! `hdr-serve`: the drawing page and the prediction API on one weights file.
//!
//! `cargo xtask serve` builds this binary on first use and runs it with the
//! pipeline's own files (so `cargo xtask pipeline` never compiles the web
//! stack); it also stands alone:
//! `cargo run --release -p hdr-serve -- --model model.safetensors`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, Result};
use clap::Parser;
use hdr_serve::{CardSources, Limits, ServeConfig, Server};

/// Serve a page to draw digits on and an HTTP API on a trained model.
#[derive(Debug, Parser)]
#[command(name = "hdr-serve")]
struct Args {
    /// The weights file.
    #[arg(long)]
    model: PathBuf,
    /// The model card (`model.json`) to show on the page.
    #[arg(long, value_name = "PATH")]
    model_card: Option<PathBuf>,
    /// The eval stage's `metrics.json`, for the test accuracy.
    #[arg(long, value_name = "PATH")]
    metrics: Option<PathBuf>,
    /// The data stage's `summary.json`, for the data's source and split sizes.
    #[arg(long, value_name = "PATH")]
    data_summary: Option<PathBuf>,
    /// The report folder to serve under `/report/`.
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// Port to listen on; 0 picks a free one (the URL printed names it).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to listen on. Anything but a loopback address lets other
    /// machines use the page and the API.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Open the page in the desktop's browser (with xdg-open).
    #[arg(long)]
    open: bool,
    /// Print nothing but the URL and errors.
    #[arg(short, long)]
    quiet: bool,
}

fn main() -> ExitCode {
    hdr_common::exit_status(run(Args::parse()))
}

/// Serves until Ctrl-C or SIGTERM.
fn run(args: Args) -> Result<()> {
    let config = ServeConfig {
        card: CardSources {
            model_card: args.model_card,
            metrics: args.metrics,
            data_summary: args.data_summary,
        },
        model: args.model,
        report_dir: args.report_dir,
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
        .with_context(|| format!("cannot serve {}", hdr_common::shown(&config.model)))?;
    let addr = server.local_addr();
    let reachable = if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    };
    let url = format!("http://{reachable}/");
    println!("serving {} at {url}", hdr_common::shown(&config.model));
    if !args.quiet {
        eprintln!("press Ctrl-C to stop");
    }
    if args.open {
        open_browser(&url);
    }
    server.run_until_signal()?;
    if !args.quiet {
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
