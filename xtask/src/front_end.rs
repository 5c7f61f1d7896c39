//! `serve` and `export` run binaries of their own crates (`hdr-serve`,
//! `hdr-export`), built on first use by the cargo and profile that built this
//! runner. So `cargo xtask pipeline` compiles no web stack and no ONNX types,
//! and `cargo xtask serve` still just works: its first run builds the server.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

/// A folder holding `hdr-serve` and `hdr-export` already built: the runner
/// runs those instead of building its own (the integration tests point it at
/// the binaries `cargo test` built, since cargo cannot be run inside it).
pub const BIN_DIR_ENV: &str = "HDR_BIN_DIR";

/// The command that runs `package`'s binary of the same name, built first
/// when stale (cargo's own progress shows while it compiles).
pub fn command(package: &str, quiet: bool) -> Result<Command> {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        let exe = PathBuf::from(dir).join(package);
        if !exe.is_file() {
            bail!(
                "{BIN_DIR_ENV} names {}, which holds no {package} binary (build it with `cargo build -p {package}`)",
                exe.parent().unwrap_or(Path::new(".")).display()
            );
        }
        return Ok(Command::new(exe));
    }
    let runner = std::env::current_exe().context("cannot find the runner's own binary")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut build = Command::new(&cargo);
    build
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--package", package, "--bin", package]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    if quiet {
        build.arg("--quiet");
    }
    let status = build
        .status()
        .with_context(|| format!("cannot run {} to build {package}", cargo.to_string_lossy()))?;
    if !status.success() {
        bail!("building {package} failed ({status})");
    }
    // Same cargo, profile and target folder as this runner: its sibling.
    Ok(Command::new(runner.with_file_name(package)))
}

/// Runs `command` in place of this process, so that signals (Ctrl-C, SIGTERM)
/// reach it directly and its exit status is the runner's.
pub fn run_in_place(mut command: Command) -> Result<std::process::ExitCode> {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let err = command.exec();
        Err(err).with_context(|| format!("cannot run {}", command.get_program().to_string_lossy()))
    }
    #[cfg(not(unix))]
    {
        let status = command
            .status()
            .with_context(|| format!("cannot run {}", command.get_program().to_string_lossy()))?;
        Ok(std::process::ExitCode::from(
            status.code().unwrap_or(1) as u8
        ))
    }
}
