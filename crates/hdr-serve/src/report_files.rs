//! Files of the report folder, and nothing else: the requested path must be
//! plain names (no `..`, no root, no hidden files), and the file it resolves
//! to — symlinks followed — must be a regular file inside the folder.

use std::path::{Component, Path, PathBuf};

/// The report page inside the report folder.
pub(crate) const REPORT_PAGE: &str = "report.html";

/// Why a report file is not served (every case answers 404, so that a
/// client learns nothing about what exists outside the folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No report folder is configured, or it does not exist.
    NoReport,
    /// The path has `..`, a root, an empty or hidden component, or a NUL.
    BadPath,
    /// Nothing there, not a regular file, or it resolves outside the folder.
    NotInReport,
}

/// The file `request` (already percent-decoded, relative) names inside `dir`.
pub(crate) fn resolve(dir: Option<&Path>, request: &str) -> Result<PathBuf, Refused> {
    let dir = dir.ok_or(Refused::NoReport)?;
    let root = dir.canonicalize().map_err(|_| Refused::NoReport)?;
    if request.is_empty() || request.contains('\0') || request.contains('\\') {
        return Err(Refused::BadPath);
    }
    let relative = Path::new(request);
    for component in relative.components() {
        match component {
            Component::Normal(name) if !name.to_string_lossy().starts_with('.') => {}
            _ => return Err(Refused::BadPath),
        }
    }
    // `components()` skips `.` and repeated slashes; refuse them as written too.
    if request
        .split('/')
        .any(|part| part.is_empty() || part == ".")
    {
        return Err(Refused::BadPath);
    }
    let file = root
        .join(relative)
        .canonicalize()
        .map_err(|_| Refused::NotInReport)?;
    if !file.starts_with(&root) {
        return Err(Refused::NotInReport);
    }
    let metadata = std::fs::metadata(&file).map_err(|_| Refused::NotInReport)?;
    if !metadata.is_file() {
        return Err(Refused::NotInReport);
    }
    Ok(file)
}

/// The largest report file served; the report's own files are far smaller.
pub(crate) const MAX_REPORT_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A report file's bytes, unless it cannot be read or is over
/// [`MAX_REPORT_FILE_BYTES`] (read no further than that, whatever its
/// metadata said).
pub(crate) fn read(file: &Path) -> Option<Vec<u8>> {
    read_at_most(file, MAX_REPORT_FILE_BYTES)
}

/// A file's bytes if it holds at most `cap` of them; reads at most `cap + 1`.
fn read_at_most(file: &Path, cap: u64) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .ok()?
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() as u64 <= cap).then_some(bytes)
}

/// The `Content-Type` of a report file, from its extension.
pub(crate) fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("md" | "txt") => "text/plain; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        Some("json") => "application/json",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("artifacts").join("report");
        std::fs::create_dir_all(report.join("charts")).unwrap();
        std::fs::write(report.join(REPORT_PAGE), "<html>").unwrap();
        std::fs::write(report.join("charts").join("a.png"), "png").unwrap();
        std::fs::write(report.join(".report.html.tmp"), "half").unwrap();
        std::fs::write(dir.path().join("artifacts").join("secret.txt"), "no").unwrap();
        (dir, report)
    }

    #[test]
    fn files_inside_are_served() {
        let (_dir, report) = folder();
        let page = resolve(Some(&report), REPORT_PAGE).unwrap();
        assert!(page.ends_with("report/report.html"));
        assert!(resolve(Some(&report), "charts/a.png").is_ok());
        assert_eq!(content_type(&page), "text/html; charset=utf-8");
    }

    #[test]
    fn paths_that_leave_or_hide_are_refused() {
        let (_dir, report) = folder();
        for bad in [
            "../secret.txt",
            "charts/../../secret.txt",
            "/etc/passwd",
            "./report.html",
            "charts//a.png",
            "",
            ".report.html.tmp",
            "..\\secret.txt",
            "report.html\0",
        ] {
            assert_eq!(
                resolve(Some(&report), bad),
                Err(Refused::BadPath),
                "{bad:?}"
            );
        }
        assert_eq!(resolve(Some(&report), "charts"), Err(Refused::NotInReport));
        assert_eq!(
            resolve(Some(&report), "missing.html"),
            Err(Refused::NotInReport)
        );
        assert_eq!(resolve(None, REPORT_PAGE), Err(Refused::NoReport));
    }

    #[test]
    fn files_over_the_cap_are_not_read() {
        let (_dir, report) = folder();
        let file = report.join("charts").join("big.svg");
        std::fs::write(&file, vec![b'x'; 1000]).unwrap();
        assert_eq!(read_at_most(&file, 1000).map(|b| b.len()), Some(1000));
        assert_eq!(read_at_most(&file, 999), None);
        assert_eq!(read(&file).map(|b| b.len()), Some(1000));
        assert_eq!(read(&report.join("missing.svg")), None);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_folder_are_refused() {
        let (dir, report) = folder();
        let secret = dir.path().join("artifacts").join("secret.txt");
        std::os::unix::fs::symlink(&secret, report.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(dir.path(), report.join("up")).unwrap();
        assert_eq!(
            resolve(Some(&report), "link.txt"),
            Err(Refused::NotInReport)
        );
        assert_eq!(
            resolve(Some(&report), "up/artifacts/secret.txt"),
            Err(Refused::NotInReport)
        );
        // A link that stays inside is fine.
        std::os::unix::fs::symlink(report.join(REPORT_PAGE), report.join("index.html")).unwrap();
        assert!(resolve(Some(&report), "index.html").is_ok());
    }
}
