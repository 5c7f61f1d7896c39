//! The Ctrl-C and SIGTERM handlers of `cargo xtask`: they raise the flags
//! the runner polls (hdr-common's stop flag, hdr-pipeline's finish-run
//! flag), and a signal after that exits at once. Installed through
//! [`hdr_pipeline::Options`] once a command holds the runner lock; before
//! that (and in every other command) the signals keep their default action.

use std::sync::atomic::Ordering;

use hdr_pipeline::{CtrlC, EXIT_STATUS};

/// The handlers for `mode`: what [`hdr_pipeline::Options`] calls once the
/// runner lock is held.
pub fn install(mode: CtrlC, quiet: bool) -> std::io::Result<()> {
    match mode {
        CtrlC::StopStage => install_handler(),
        CtrlC::FinishRun => install_sweep_handler(quiet),
    }
}

/// Makes SIGINT and SIGTERM raise hdr-common's stop flag, which the stages
/// poll at safe points; once it is raised, another of them exits at once
/// with [`EXIT_STATUS`] (possibly leaving temporary files, which the next
/// run removes). The runner installs it once it holds the runner lock, before
/// the first stage; other commands (and a runner still waiting for the lock)
/// keep the signals' default action.
fn install_handler() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = hdr_common::stop_flag();
    for signal in [SIGINT, SIGTERM] {
        // The shutdown is registered first, so the first signal only arms it.
        signal_hook::flag::register_conditional_shutdown(signal, EXIT_STATUS.into(), flag)?;
        signal_hook::flag::register(signal, flag)?;
    }
    Ok(())
}

/// The sweep's handler: the first SIGINT raises hdr-pipeline's `finish_run_flag` (and,
/// unless `quiet`, says so at once), the second raises hdr-common's stop
/// flag so the current run stops at its next safe point, the third exits
/// with [`EXIT_STATUS`]. SIGTERM, which asks a process to go rather than
/// wait, acts as in [`install_handler`].
fn install_sweep_handler(quiet: bool) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = hdr_common::stop_flag();
    signal_hook::flag::register_conditional_shutdown(SIGTERM, EXIT_STATUS.into(), flag)?;
    signal_hook::flag::register(SIGTERM, flag)?;
    // SAFETY: the action only loads and stores atomics and calls `_exit`,
    // all async-signal-safe.
    unsafe {
        signal_hook::low_level::register(SIGINT, || {
            if hdr_common::stop_requested() {
                signal_hook::low_level::exit(EXIT_STATUS.into());
            } else if hdr_pipeline::finish_run_flag().swap(true, Ordering::SeqCst) {
                hdr_common::request_stop();
            }
        })?;
    }
    // Printing is not safe inside a signal handler: a thread says it.
    if !quiet {
        std::thread::spawn(|| {
            while !hdr_pipeline::finish_requested() {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            if !hdr_common::stop_requested() {
                eprintln!(
                    "sweep: Ctrl-C: the current run finishes, then the sweep stops (Ctrl-C again stops the run now)"
                );
            }
        });
    }
    Ok(())
}
