//! The page in a real browser: headless Chromium, driven over the DevTools
//! protocol, draws held-out digits of the sample as mouse strokes on the
//! canvas and reads the digit the page shows; then picks and drops image
//! files and reads their rows. Screenshots go to
//! `target/hdr-serve-screenshots/` for people to look at.
//!
//! Without a browser the test prints why it skipped, unless
//! `HDR_REQUIRE_BROWSER=1` (CI) makes that a failure; `HDR_CHROMIUM` may name
//! the browser binary (see [`hdr_testkit::find_browser`]).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{held_out, photo, start, trained_model};
use hdr_serve::{RunningServer, ServeConfig};
use hdr_testkit::{browser_or_skip, HEADLESS_FLAGS};
use headless_chrome::protocol::cdp::Input::{
    DispatchMouseEvent, DispatchMouseEventTypeOption, MouseButton,
};
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use image::ImageFormat;
use serde_json::Value;

/// Canvas pixels per MNIST pixel: the 28x28 digit becomes 280x280.
const SCALE: f64 = 10.0;
/// Grey level from which an MNIST pixel counts as ink to trace.
const INK: u8 = 96;
/// Stroke width chosen on the page for tracing (a little over one MNIST pixel).
const STROKE: u32 = 13;
/// How long the page may take to show a prediction or load a page: generous,
/// as a debug-built server on a CI machine busy with other tests is slow.
const PATIENCE: Duration = Duration::from_secs(90);

fn screenshots() -> PathBuf {
    // target/tmp → target/hdr-serve-screenshots
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target folder")
        .join("hdr-serve-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn launch(browser: &Path, profile: &Path) -> Browser {
    let args: Vec<&OsStr> = HEADLESS_FLAGS.iter().map(OsStr::new).collect();
    let options = LaunchOptions::default_builder()
        .path(Some(browser.to_path_buf()))
        .headless(true)
        .sandbox(false)
        .user_data_dir(Some(profile.to_path_buf()))
        .window_size(Some((1280, 1100)))
        .idle_browser_timeout(Duration::from_secs(120))
        .args(args)
        .build()
        .unwrap();
    Browser::new(options).unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()))
}

/// A browser (kept alive by the caller) with a tab on the server's page.
fn open_page(browser: &Path, profile: &Path, server: &RunningServer) -> (Browser, Arc<Tab>) {
    let chromium = launch(browser, profile);
    let tab = chromium.new_tab().unwrap();
    tab.set_default_timeout(PATIENCE);
    tab.navigate_to(&format!("{}/", server.url()))
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    (chromium, tab)
}

/// Where the pad's drawing area starts on the page, in CSS pixels.
fn pad_origin(tab: &Tab) -> (f64, f64) {
    let origin = eval(
        tab,
        "(() => { const p = document.getElementById('pad'); const b = p.getBoundingClientRect(); \
          return [b.left + p.clientLeft, b.top + p.clientTop]; })()",
    );
    (origin[0].as_f64().unwrap(), origin[1].as_f64().unwrap())
}

/// The value of a JavaScript expression (passed through JSON, so arrays and
/// objects come back whole).
fn eval(tab: &Tab, expression: &str) -> Value {
    let json = tab
        .evaluate(&format!("JSON.stringify({expression})"), false)
        .unwrap_or_else(|e| panic!("{expression}: {e}"))
        .value;
    match json {
        Some(Value::String(text)) => serde_json::from_str(&text).unwrap(),
        _ => Value::Null,
    }
}

/// Polls `expression` until it is true.
fn wait_for(tab: &Tab, expression: &str, what: &str) {
    let started = Instant::now();
    while eval(tab, expression) != Value::Bool(true) {
        assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Waits until the result panel shows the answer to the current drawing,
/// and returns its digit (`None` when it shows no digit).
fn shown_digit(tab: &Tab) -> Option<u8> {
    wait_for(
        tab,
        "(() => { const r = document.getElementById('result'); \
          return r.dataset.busy === '0' && r.dataset.version === document.getElementById('pad').dataset.version; })()",
        "the prediction of the drawing",
    );
    eval(
        tab,
        "document.getElementById('result').dataset.digit ?? null",
    )
    .as_str()
    .map(|d| d.parse().unwrap())
}

fn mouse(tab: &Tab, kind: DispatchMouseEventTypeOption, x: f64, y: f64, pressed: bool) {
    let button = if pressed || matches!(kind, DispatchMouseEventTypeOption::MouseReleased) {
        MouseButton::Left
    } else {
        MouseButton::None
    };
    tab.call_method(DispatchMouseEvent {
        Type: kind,
        x,
        y,
        modifiers: None,
        timestamp: None,
        button: Some(button),
        buttons: Some(u32::from(pressed)),
        click_count: Some(1),
        force: None,
        tangential_pressure: None,
        tilt_x: None,
        tilt_y: None,
        twist: None,
        delta_x: None,
        delta_y: None,
        pointer_Type: None,
    })
    .unwrap();
}

/// One stroke through canvas points, given in page coordinates.
fn stroke(tab: &Tab, points: &[(f64, f64)]) {
    let (x, y) = points[0];
    mouse(tab, DispatchMouseEventTypeOption::MouseMoved, x, y, false);
    mouse(tab, DispatchMouseEventTypeOption::MousePressed, x, y, true);
    for &(x, y) in &points[1..] {
        mouse(tab, DispatchMouseEventTypeOption::MouseMoved, x, y, true);
    }
    let (x, y) = points[points.len() - 1];
    mouse(
        tab,
        DispatchMouseEventTypeOption::MouseReleased,
        x,
        y,
        false,
    );
}

/// Traces a 28x28 digit's ink as strokes: one stroke along each horizontal
/// run of ink in each row, scaled up to the canvas at `origin`.
fn trace(tab: &Tab, origin: (f64, f64), digit: &[u8]) -> usize {
    let at = |column: usize, row: usize| {
        (
            origin.0 + (column as f64 + 0.5) * SCALE,
            origin.1 + (row as f64 + 0.5) * SCALE,
        )
    };
    let mut strokes = 0;
    for row in 0..28 {
        let mut column = 0;
        while column < 28 {
            if digit[row * 28 + column] < INK {
                column += 1;
                continue;
            }
            let start = column;
            while column < 28 && digit[row * 28 + column] >= INK {
                column += 1;
            }
            let points: Vec<(f64, f64)> = (start..column).map(|c| at(c, row)).collect();
            stroke(tab, &points);
            strokes += 1;
        }
    }
    strokes
}

fn click(tab: &Tab, selector: &str) {
    tab.wait_for_element(selector).unwrap().click().unwrap();
}

fn screenshot(tab: &Tab, name: &str) -> PathBuf {
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    let path = screenshots().join(name);
    std::fs::write(&path, png).unwrap();
    path
}

/// Held-out digits, one per label in `labels`, that the model reads right
/// and confidently from the sample's own 28x28 pixels.
fn confident_digits(labels: &[u8]) -> Vec<usize> {
    let recognizer = hdr_recognize::Recognizer::load(trained_model()).unwrap();
    let sample = held_out();
    let predictions = recognizer.classifier().predict(&sample.pixels);
    labels
        .iter()
        .map(|&label| {
            (0..sample.len())
                .find(|&i| {
                    sample.labels[i] == label
                        && predictions[i].digit == label
                        && predictions[i].confidence() > 0.97
                })
                .unwrap_or_else(|| panic!("no confidently read {label} among the held-out digits"))
        })
        .collect()
}

#[test]
fn the_page_reads_digits_drawn_with_the_mouse_and_files_picked_or_dropped() {
    let Some(browser) =
        browser_or_skip("the_page_reads_digits_drawn_with_the_mouse_and_files_picked_or_dropped")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    std::fs::create_dir_all(&report).unwrap();
    std::fs::write(
        report.join("report.html"),
        "<html><h1>run report</h1></html>",
    )
    .unwrap();
    // The weights first: eval's metrics count only when newer than them.
    let model = trained_model();
    let card = dir.path().join("model.json");
    crate::common::write_model_card(&card);
    let metrics = dir.path().join("metrics.json");
    crate::common::write_metrics(&metrics, 0.9512);
    let server = start(&ServeConfig {
        report_dir: Some(report),
        card: hdr_serve::CardSources {
            model_card: Some(card),
            metrics: Some(metrics),
            data_summary: None,
        },
        ..ServeConfig::new(model)
    });

    let (_chromium, tab) = open_page(&browser, &dir.path().join("profile"), &server);
    tab.wait_for_element("#pad").unwrap();
    wait_for(
        &tab,
        "!document.getElementById('report-link').hidden",
        "the model card and its report link",
    );
    let card = eval(&tab, "document.getElementById('card').textContent");
    for shown in ["95.1%", "34,826", "seed", "conv1: Conv2D"] {
        assert!(
            card.as_str().unwrap().contains(shown),
            "the card lacks {shown}: {card}"
        );
    }

    // The stroke width control, set the way a person would: the slider's value.
    eval(
        &tab,
        &format!(
            "(() => {{ const w = document.getElementById('width'); w.value = '{STROKE}'; \
             w.dispatchEvent(new Event('input')); return w.value; }})()"
        ),
    );
    assert_eq!(
        eval(&tab, "document.getElementById('width-value').textContent"),
        format!("{STROKE} px")
    );
    let origin = pad_origin(&tab);

    // Draw digits of several classes and read what the page shows.
    let labels = [0u8, 2, 3, 4, 7];
    let sample = held_out();
    for (&label, index) in labels.iter().zip(confident_digits(&labels)) {
        click(&tab, "#clear");
        assert_eq!(shown_digit(&tab), None, "a cleared pad shows no digit");
        let strokes = trace(&tab, origin, sample.image(index));
        let shown = shown_digit(&tab);
        let shot = screenshot(&tab, &format!("drawn-{label}.png"));
        eprintln!(
            "drew held-out digit #{} (a {label}) in {strokes} strokes; the page shows {shown:?} ({})",
            crate::common::HELD_OUT.start + index,
            shot.display()
        );
        assert_eq!(shown, Some(label), "drawn {label}: see {}", shot.display());
        let seen_ink = eval(
            &tab,
            "(() => { const d = document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28).data; \
              let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 128) n++; return n; })()",
        );
        assert!(
            seen_ink.as_u64().unwrap() > 20,
            "the 28x28 the model saw is shown"
        );
        let bars = eval(&tab, "document.querySelectorAll('#bars li').length");
        assert_eq!(bars, 10);
    }

    // Undo: a stray stroke across the last digit, then undone.
    let last = *labels.last().unwrap();
    stroke(
        &tab,
        &[
            (origin.0 + 10.0, origin.1 + 270.0),
            (origin.0 + 140.0, origin.1 + 275.0),
            (origin.0 + 270.0, origin.1 + 270.0),
        ],
    );
    shown_digit(&tab);
    click(&tab, "#undo");
    assert_eq!(shown_digit(&tab), Some(last), "undo restores the digit");

    // Pick files: two photos of digits and a text file named .png.
    let files = confident_digits(&[1, 8]);
    let mut picked: Vec<PathBuf> = Vec::new();
    for (&index, name) in files.iter().zip(["one.png", "eight.jpg"]) {
        let format = ImageFormat::from_path(name).unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, photo(sample.image(index), format)).unwrap();
        picked.push(path);
    }
    let text = dir.path().join("notes.png");
    std::fs::write(&text, "not a digit").unwrap();
    picked.push(text);
    let picked_paths: Vec<&str> = picked.iter().map(|p| p.to_str().unwrap()).collect();
    tab.wait_for_element("#files")
        .unwrap()
        .set_input_files(&picked_paths)
        .unwrap();
    wait_for(
        &tab,
        "document.getElementById('file-results').dataset.count === '3'",
        "three picked files in the table",
    );
    let row_digit = |name: &str| {
        eval(
            &tab,
            &format!("document.querySelector('#file-results tr[data-file=\"{name}\"]').dataset.digit ?? null"),
        )
    };
    assert_eq!(row_digit("one.png"), "1");
    assert_eq!(row_digit("eight.jpg"), "8");
    assert_eq!(row_digit("notes.png"), Value::Null);
    let error = eval(
        &tab,
        "document.querySelector('#file-results tr[data-file=\"notes.png\"] td.error').textContent",
    );
    assert!(error.as_str().unwrap().contains("not"), "{error}");

    // Drop a file on the drop zone (a BMP of a 6, dropped as a browser does).
    let six = confident_digits(&[6])[0];
    let bmp = photo(sample.image(six), ImageFormat::Bmp);
    let bytes: Vec<String> = bmp.iter().map(u8::to_string).collect();
    eval(
        &tab,
        &format!(
            "(() => {{ const file = new File([new Uint8Array([{}])], 'six.bmp', {{ type: 'image/bmp' }}); \
              const data = new DataTransfer(); data.items.add(file); \
              const zone = document.getElementById('drop'); \
              for (const type of ['dragenter', 'dragover', 'drop']) \
                zone.dispatchEvent(new DragEvent(type, {{ dataTransfer: data, bubbles: true, cancelable: true }})); \
              return true; }})()",
            bytes.join(",")
        ),
    );
    wait_for(
        &tab,
        "document.getElementById('file-results').dataset.count === '4'",
        "the dropped file in the table",
    );
    assert_eq!(row_digit("six.bmp"), "6");
    let shot = screenshot(&tab, "page.png");
    eprintln!("the whole page: {}", shot.display());

    // The report link leads to the report, served by the same server.
    let href = eval(&tab, "document.getElementById('report-link').href");
    assert_eq!(href, format!("{}/report/report.html", server.url()));
    tab.navigate_to(href.as_str().unwrap())
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    assert_eq!(
        eval(&tab, "document.querySelector('h1').textContent"),
        "run report"
    );
    server.shutdown().unwrap();
}

#[test]
fn a_person_teaches_the_page_their_digits_and_retrains_from_it() {
    let Some(browser) =
        browser_or_skip("a_person_teaches_the_page_their_digits_and_retrains_from_it")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("model.safetensors");
    std::fs::copy(trained_model(), &weights).unwrap();
    let card = dir.path().join("model.json");
    crate::common::write_model_card(&card);
    let csv = dir.path().join("data").join("my-digits.csv");
    // The "pipeline" the Retrain button runs: it reports an epoch and
    // rewrites the card as a run that learned from the two digits would.
    let pipeline = "echo 'epoch 1/1  loss 1 acc 50.0%  val_loss 1 val_acc 97.00%' >&2; sleep 0.5; \
                    sed -i 's/\"user_samples\": 0/\"user_samples\": 2/' model.json";
    let server = start(&ServeConfig {
        card: hdr_serve::CardSources {
            model_card: Some(card),
            ..hdr_serve::CardSources::default()
        },
        samples: Some(csv.clone()),
        retrain: Some(hdr_serve::RetrainCommand {
            command: vec!["sh".into(), "-c".into(), pipeline.into()],
            dir: Some(dir.path().to_path_buf()),
        }),
        ..ServeConfig::new(&weights)
    });
    let (_chromium, tab) = open_page(&browser, &dir.path().join("profile"), &server);
    wait_for(
        &tab,
        "!document.getElementById('teach').hidden && !document.getElementById('retrain-box').hidden",
        "the teaching buttons and the Retrain button",
    );
    let origin = pad_origin(&tab);
    let saved = |n: u32| format!("document.getElementById('taught').dataset.saved === '{n}'");

    // A digit read right: "Right" keeps it as read.
    let sample = held_out();
    let [three, five] = confident_digits(&[3, 5])[..] else {
        panic!("two digits")
    };
    trace(&tab, origin, sample.image(three));
    assert_eq!(shown_digit(&tab), Some(3));
    wait_for(
        &tab,
        "!document.getElementById('right').disabled",
        "Right enabled",
    );
    click(&tab, "#right");
    wait_for(&tab, &saved(1), "the first digit kept");

    // Another one "read wrong": the person picks the digit it is.
    click(&tab, "#clear");
    trace(&tab, origin, sample.image(five));
    assert_eq!(shown_digit(&tab), Some(5));
    wait_for(
        &tab,
        "!document.getElementById('correct').disabled",
        "the list enabled",
    );
    eval(
        &tab,
        "(() => { const s = document.getElementById('correct'); s.value = '6'; \
          s.dispatchEvent(new Event('change')); return true; })()",
    );
    wait_for(&tab, &saved(2), "the corrected digit kept");
    let said = eval(&tab, "document.getElementById('taught').textContent");
    assert!(said.as_str().unwrap().contains("(3: 1, 6: 1)"), "{said}");
    let labels =
        hdr_artifacts::user_sample_labels(&std::fs::read(&csv).unwrap()).expect("a whole file");
    assert_eq!(labels, [3, 6]);
    let originals = std::fs::read_dir(csv.with_extension("")).unwrap().count();
    assert_eq!(originals, 2, "the drawings are kept beside the file");

    // Retrain from the page: progress, then the new card without a reload.
    click(&tab, "#retrain");
    wait_for(
        &tab,
        "document.getElementById('retrain-status').dataset.state === 'succeeded'",
        "the retraining to finish",
    );
    wait_for(
        &tab,
        "document.getElementById('card').textContent.includes('learned from 2')",
        "the new model card",
    );
    let status = eval(
        &tab,
        "document.getElementById('retrain-status').textContent",
    );
    assert!(status.as_str().unwrap().starts_with("Done in"), "{status}");
    let shot = screenshot(&tab, "taught.png");
    eprintln!("after teaching and retraining: {}", shot.display());
    server.shutdown().unwrap();
}
