//! Finding the headless Chromium that browser tests drive.

use std::path::PathBuf;

/// Flags every headless run needs on a machine with no network and no GPU:
/// without the background-networking ones Chromium keeps trying to reach
/// Google's servers.
pub const HEADLESS_FLAGS: [&str; 7] = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

/// `HDR_CHROMIUM` if set; otherwise `chromium` (Debian), `chromium-browser`,
/// `google-chrome` or `google-chrome-stable` on the `PATH`.
pub fn find_browser() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("HDR_CHROMIUM") {
        return Some(PathBuf::from(explicit));
    }
    let path = std::env::var_os("PATH")?;
    let names = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// The browser for `test`, or `None` after saying why the test skips.
///
/// # Panics
/// With no browser when `HDR_REQUIRE_BROWSER=1` (as in CI), where a skipped
/// browser test would pass without checking anything.
pub fn browser_or_skip(test: &str) -> Option<PathBuf> {
    let browser = find_browser();
    if browser.is_none() {
        let required = std::env::var("HDR_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "HDR_REQUIRE_BROWSER=1 but no chromium found (install Debian's `chromium` or set HDR_CHROMIUM)"
        );
        eprintln!(
            "SKIPPED {test}: no chromium on PATH \
             (install Debian's `chromium` or set HDR_CHROMIUM; HDR_REQUIRE_BROWSER=1 makes this a failure)"
        );
    }
    browser
}
