//! How hdr shows things to people, the same everywhere: an error with its
//! causes, a path as the user sees it, a count with thousands separators.

use std::error::Error;
use std::path::Path;
use std::process::ExitCode;

/// `error: <err>` then `  caused by: <source>` for each source whose text is
/// not already contained in a line above (context layers often repeat it).
pub fn error_lines(err: &(dyn Error + 'static)) -> Vec<String> {
    let mut shown: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    let mut cause = Some(err);
    while let Some(current) = cause {
        let text = current.to_string();
        if !shown.iter().any(|s| s.contains(text.as_str())) {
            lines.push(if lines.is_empty() {
                format!("error: {text}")
            } else {
                format!("  caused by: {text}")
            });
            shown.push(text);
        }
        cause = current.source();
    }
    lines
}

/// A binary's exit status for `result`, its error printed as [`error_lines`].
pub fn exit_status<E: AsRef<dyn Error + 'static>>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            for line in error_lines(err.as_ref()) {
                eprintln!("{line}");
            }
            ExitCode::FAILURE
        }
    }
}

/// `path` relative to the current folder when it lies below it, else as given.
pub fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(11_950), "11,950");
        assert_eq!(thousands(300_000), "300,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn a_cause_already_in_its_parents_message_is_not_repeated() {
        let err = anyhow::anyhow!("cannot read x.csv: permission denied")
            .context("cannot read x.csv: permission denied")
            .context("stage `data` failed");
        assert_eq!(
            error_lines(err.as_ref()),
            [
                "error: stage `data` failed",
                "  caused by: cannot read x.csv: permission denied"
            ]
        );
        let io = std::io::Error::other("disk full");
        let err = anyhow::Error::new(io).context("cannot write model.json: disk full");
        assert_eq!(
            error_lines(err.as_ref()),
            ["error: cannot write model.json: disk full"]
        );
    }
}
