//! Opens report.html in headless Chromium: the page must render (a screenshot
//! that is not blank) and every embedded chart must decode.
//!
//! Without a browser the test prints why it skipped, unless
//! `HDR_REQUIRE_BROWSER=1` (CI) makes that a failure; `HDR_CHROMIUM` may name
//! the browser binary (see [`hdr_testkit::find_browser`]).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{write_inputs, Model};
use hdr_common::RunOptions;
use hdr_report::{run, Config, CHARTS};
use hdr_testkit::{browser_or_skip, HEADLESS_FLAGS};

/// Runs the browser headless on `page` with `extra` arguments, killing it after a minute.
fn chromium(browser: &Path, profile: &Path, page: &Path, extra: &[String]) -> Output {
    let url = format!("file://{}", page.display());
    let mut child = Command::new(browser)
        .args(["--headless", "--no-sandbox"])
        .args(HEADLESS_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    // Read the pipes on threads so a chatty browser cannot block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buf).ok();
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut buf).ok();
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().ok();
            let status = child.wait().unwrap();
            panic!(
                "{} did not finish within 60 s ({status})",
                browser.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

#[test]
fn report_renders_in_headless_chromium_with_every_chart_loaded() {
    let Some(browser) =
        browser_or_skip("report_renders_in_headless_chromium_with_every_chart_loaded")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let paths = write_inputs(&dir.path().join("artifacts"), Model::Good);
    run(&Config::default(), &paths, &RunOptions { quiet: true }).unwrap();

    // Screenshot: the page must be drawn, not blank.
    let shot = dir.path().join("screenshot.png");
    let output = chromium(
        &browser,
        &dir.path().join("profile-shot"),
        &paths.html,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000".into(),
        ],
    );
    assert!(
        output.status.success() && shot.is_file(),
        "screenshot failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let image = image::open(&shot).unwrap().to_luma8();
    assert_eq!((image.width(), image.height()), (1280, 2000));
    let n = image.pixels().len() as f64;
    let mean = image.pixels().map(|p| p.0[0] as f64).sum::<f64>() / n;
    let variance = image
        .pixels()
        .map(|p| (p.0[0] as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    assert!(
        variance > 200.0,
        "screenshot looks blank: mean {mean:.1}, variance {variance:.1}"
    );
    let ink_rows = (0..image.height())
        .filter(|&y| (0..image.width()).any(|x| image.get_pixel(x, y).0[0] < 128))
        .count();
    assert!(
        ink_rows > 500,
        "only {ink_rows} of 2000 rows have anything dark on them"
    );
    if let Ok(keep) = std::env::var("HDR_REPORT_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }

    // DOM after load: the page's own script counts the images that decoded.
    let output = chromium(
        &browser,
        &dir.path().join("profile-dom"),
        &paths.html,
        &["--dump-dom".into(), "--virtual-time-budget=5000".into()],
    );
    assert!(
        output.status.success(),
        "dump-dom failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dom = String::from_utf8_lossy(&output.stdout);
    let expected = format!("data-images=\"{n}/{n}\"", n = CHARTS.len());
    assert!(
        dom.contains(&expected),
        "expected {expected} on <body>; got {:?}",
        dom.find("<body").map(|i| &dom[i..(i + 120).min(dom.len())])
    );
}
