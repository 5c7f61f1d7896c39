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
use hdr_serve::{CardSources, Limits, RetrainCommand, ServeConfig, Server};

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
    /// The CSV of the user's own digits that the page's "Right" / "Wrong"
    /// buttons append to (created on the first save); without it the
    /// server keeps no digits.
    #[arg(long, value_name = "CSV")]
    samples: Option<PathBuf>,
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
    /// Test-time augmentation: read each digit as the mean of itself and
    /// four copies moved one pixel (better on other writers' digits, about
    /// four times the model's time).
    #[arg(long)]
    tta: bool,
    #[command(flatten)]
    limits: LimitArgs,
    /// The command the page's Retrain button runs (after `--`), e.g.
    /// `-- cargo xtask pipeline`; on success the server loads the weights
    /// and card again. Without it the page cannot retrain.
    #[arg(last = true, value_name = "RETRAIN_COMMAND")]
    retrain: Vec<std::ffi::OsString>,
}

/// The limits a flag may change; each defaults to [`Limits::default`]'s.
#[derive(Debug, clap::Args)]
struct LimitArgs {
    /// How long a client has to send a request's head, from connecting or
    /// from the previous answer (so also how long an idle keep-alive
    /// connection stays open).
    #[arg(long, value_name = "DURATION", default_value_t = Limits::default().header_timeout.into())]
    header_timeout: humantime::Duration,
    /// How long a client has to send a request's body once its head has
    /// arrived (slower: 408, and the connection is closed).
    #[arg(long, value_name = "DURATION", default_value_t = Limits::default().body_timeout.into())]
    body_timeout: humantime::Duration,
    /// Open connections at once; more are answered 503 and closed.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Most pixels the images of one batch request may declare in all (413 beyond).
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_batch_pixels)]
    max_batch_pixels: u64,
    /// Bytes of images decoded at once across the server, each weighed by
    /// its declared size (503 beyond; 413 for a request over it alone).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_decoding_bytes)]
    max_decoding_bytes: u64,
    /// How long Ctrl-C or SIGTERM waits for the requests in progress (a
    /// second one stops at once).
    #[arg(long, value_name = "DURATION", default_value_t = Limits::default().shutdown_grace.into())]
    shutdown_grace: humantime::Duration,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            header_timeout: self.header_timeout.into(),
            body_timeout: self.body_timeout.into(),
            max_connections: self.max_connections,
            max_batch_pixels: self.max_batch_pixels,
            max_decoding_bytes: self.max_decoding_bytes,
            shutdown_grace: self.shutdown_grace.into(),
            ..Limits::default()
        }
    }
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
        limits: args.limits.limits(),
        samples: args.samples,
        test_time_augmentation: args.tta,
        retrain: (!args.retrain.is_empty()).then_some(RetrainCommand {
            command: args.retrain,
            dir: None,
        }),
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
        eprintln!("press Ctrl-C to stop (twice to stop at once)");
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
