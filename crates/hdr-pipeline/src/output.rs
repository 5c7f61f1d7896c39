//! What the runner prints besides the stages' own progress.

/// What the runner prints: nothing but errors when `quiet`; in `terse`
/// mode (a sweep's runs) warnings but not the line per stage.
#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    /// Print nothing but errors.
    pub quiet: bool,
    /// Silence the stages' own progress and the runner's line per stage,
    /// but not warnings (a sweep prints one line per run instead).
    pub terse: bool,
}

impl Output {
    /// Only errors when `quiet`, else everything.
    pub fn quiet_if(quiet: bool) -> Self {
        Self {
            quiet,
            terse: false,
        }
    }

    /// A line per stage (`train: running (...)`), unless quiet or terse.
    pub fn stage_line(&self, line: impl std::fmt::Display) {
        if !self.quiet && !self.terse {
            eprintln!("{line}");
        }
    }

    /// A line on stderr unless quiet.
    pub fn note(&self, line: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    /// A warning, unless quiet.
    pub fn warn(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("warning: {message}");
        }
    }
}
