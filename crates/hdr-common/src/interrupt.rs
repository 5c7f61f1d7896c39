//! Stopping a stage at a safe point when the user asks (Ctrl-C, SIGTERM).
//!
//! The runner's signal handler sets one process-wide flag ([`stop_flag`]);
//! stages poll it with [`check_stop`] where stopping loses nothing but the
//! work in progress (between chunks, batches or epochs, and before they
//! commit their files) and return [`Interrupted`]. Their [`crate::OutputSet`]
//! is then dropped, which removes its temporary files, so the previous
//! artifacts stay as they were. Library code never installs a handler: a
//! process that sets none never sees the flag raised.

use std::sync::atomic::{AtomicBool, Ordering};

/// Raised once a stop was requested; never lowered.
static STOP: AtomicBool = AtomicBool::new(false);

/// The flag a signal handler sets to ask the running stage to stop (setting
/// an atomic is async-signal-safe, e.g. `signal_hook::flag::register`).
pub fn stop_flag() -> &'static AtomicBool {
    &STOP
}

/// Asks the running stage to stop at its next safe point.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether a stop was requested.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// `Err(Interrupted)` once a stop was requested: call it at safe points and
/// return the error, so that nothing half-done is kept.
pub fn check_stop() -> Result<(), Interrupted> {
    if stop_requested() {
        Err(Interrupted)
    } else {
        Ok(())
    }
}

/// A stage stopped at a safe point because a stop was requested; it wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted; nothing was written")]
pub struct Interrupted;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_stops_every_later_check() {
        // The only test that raises the process-wide flag in this crate.
        assert_eq!(check_stop(), Ok(()));
        assert!(!stop_requested());
        stop_flag().store(true, Ordering::SeqCst);
        assert!(stop_requested());
        assert_eq!(check_stop(), Err(Interrupted));
        request_stop();
        assert_eq!(check_stop(), Err(Interrupted), "never lowered");
    }
}
