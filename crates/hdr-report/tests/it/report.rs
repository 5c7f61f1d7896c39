//! The report stage end to end on synthetic inputs.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::common::{test_split, write_inputs, Model};
use hdr_common::RunOptions;
use hdr_report::{run, Config, Error, Paths, CHARTS};

const QUIET: RunOptions = RunOptions { quiet: true };

/// Decodes a PNG and returns (width, height, variance of the grey level).
fn png_stats(bytes: &[u8]) -> (u32, u32, f64) {
    let image = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
        .unwrap()
        .to_luma8();
    let n = image.pixels().len() as f64;
    let mean = image.pixels().map(|p| p.0[0] as f64).sum::<f64>() / n;
    let variance = image
        .pixels()
        .map(|p| (p.0[0] as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    (image.width(), image.height(), variance)
}

#[test]
fn writes_every_chart_the_page_and_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_inputs(dir.path(), Model::Good);
    let config = Config {
        title: "Digits <b>&</b> \"run\"".into(),
        ..Config::default()
    };
    let outputs = run(&config, &paths, &QUIET).unwrap();

    let written: BTreeSet<PathBuf> = outputs.files.iter().cloned().collect();
    let expected: BTreeSet<PathBuf> = paths.outputs().into_iter().collect();
    assert_eq!(written, expected);
    assert_eq!(
        crate::common::report_files(&paths).len(),
        expected.len(),
        "no temporary files left behind"
    );

    for stem in CHARTS {
        let png = std::fs::read(paths.chart(stem, "png")).unwrap();
        let (w, h, variance) = png_stats(&png);
        assert!(w >= 600 && h >= 200, "{stem}.png is {w}x{h}");
        assert!(
            variance > 100.0,
            "{stem}.png looks blank (variance {variance})"
        );
        let svg = std::fs::read_to_string(paths.chart(stem, "svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{stem}.svg");
        assert!(svg.contains("<text"), "{stem}.svg has text");
        assert!(
            svg.contains("font-family=\"sans-serif\""),
            "{stem}.svg names a generic family"
        );
    }
    let mistakes_svg = std::fs::read_to_string(paths.chart("mistakes_test", "svg")).unwrap();
    assert!(
        mistakes_svg.contains("<image"),
        "digit images are embedded bitmaps in the SVG"
    );
    let confusion_svg = std::fs::read_to_string(paths.chart("confusion_test", "svg")).unwrap();
    for axis in ["\nPredicted\n</text>", "\nTrue\n</text>"] {
        assert!(confusion_svg.contains(axis), "confusion axis label {axis}");
    }

    let html = std::fs::read_to_string(&paths.html).unwrap();
    assert!(
        html.contains("Digits &lt;b&gt;&amp;&lt;/b&gt; &quot;run&quot;"),
        "title is escaped"
    );
    assert!(!html.contains("<b>&</b>"));
    assert_eq!(
        html.matches("<img src=\"data:image/png;base64,").count(),
        CHARTS.len()
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing to fetch"
    );
    assert!(!html.contains("<script src"), "no external scripts");
    let summary_json = hdr_artifacts::read_summary(&paths.data_summary).unwrap();
    let (train_rows, test_rows) = (summary_json.train.rows, summary_json.test.rows);
    for needle in [
        &summary_json.source_sha256,
        &paths
            .data_summary
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("digits.csv")
            .display()
            .to_string(),
        "<h3>Images per digit</h3>",
        "train.batch_size",
        "conv1: Conv2D 1-&gt;32 3x3 valid -&gt; 32x26x26",
        "34,826",
        "weighted avg",
        "macro avg",
        "log loss",
        &format!("Train split ({train_rows} images)"),
        &format!("Test split ({test_rows} images)"),
    ] {
        assert!(html.contains(needle), "report.html lacks {needle:?}");
    }

    let metrics: hdr_artifacts::Metrics =
        serde_json::from_str(&std::fs::read_to_string(&paths.metrics).unwrap()).unwrap();
    let summary = std::fs::read_to_string(&paths.summary_md).unwrap();
    assert!(summary.starts_with("# Digits <b>&</b> \"run\"\n"));
    assert!(summary.contains("| metric | train | test |"));
    assert!(
        summary.contains(&format!(
            "| accuracy | {:.4} | {:.4} |",
            metrics.train.accuracy, metrics.test.accuracy
        )),
        "{summary}"
    );
    assert!(summary.contains(&format!(
        "| macro F1 | {:.4} | {:.4} |",
        metrics.train.macro_avg.f1, metrics.test.macro_avg.f1
    )));
    assert!(
        summary.contains(&format!("| images | {train_rows} | {test_rows} |")),
        "{summary}"
    );
}

#[test]
fn same_inputs_give_identical_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_inputs(dir.path(), Model::Good);
    let config = Config {
        mistakes: 8,
        ..Config::default()
    };
    run(&config, &paths, &QUIET).unwrap();
    let first: Vec<Vec<u8>> = paths
        .outputs()
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    run(&config, &paths, &QUIET).unwrap();
    for (file, before) in paths.outputs().iter().zip(first) {
        assert!(
            std::fs::read(file).unwrap() == before,
            "{} differs between runs",
            file.display()
        );
    }
}

#[test]
fn missing_inputs_name_the_file_and_the_stage_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_inputs(dir.path(), Model::Good);
    for (file, stage) in [
        (&paths.data_summary, "data"),
        (&paths.test_split, "data"),
        (&paths.model_card, "train"),
        (&paths.history, "train"),
        (&paths.metrics, "eval"),
        (&paths.predictions_test, "eval"),
    ] {
        let hidden = file.with_extension("hidden");
        std::fs::rename(file, &hidden).unwrap();
        let err = run(&Config::default(), &paths, &QUIET).unwrap_err();
        match &err {
            Error::Missing(missing) => {
                assert_eq!(&missing.path, file);
                assert_eq!(missing.stage, stage);
            }
            other => panic!("expected a missing artifact, got {other}"),
        }
        let message = err.to_string();
        assert!(message.contains(&file.display().to_string()), "{message}");
        assert!(
            message.contains(&format!("cargo xtask {stage}")),
            "{message}"
        );
        std::fs::rename(&hidden, file).unwrap();
        assert!(!paths.dir.exists(), "nothing written on error");
    }
}

#[test]
fn a_model_that_predicts_one_class_still_gets_a_full_report() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_inputs(dir.path(), Model::OneClass(3));
    let metrics: hdr_artifacts::Metrics =
        serde_json::from_str(&std::fs::read_to_string(&paths.metrics).unwrap()).unwrap();
    // The fixture is what such a model's evaluation looks like: one full column.
    for (t, row) in metrics.test.confusion_matrix.iter().enumerate() {
        for (p, &count) in row.iter().enumerate() {
            assert_eq!(count > 0, p == 3 && metrics.test.per_class[t].support > 0);
        }
    }
    assert_eq!(metrics.test.per_class[0].f1, 0.0);

    let config = Config {
        mistakes: 40,
        ..Config::default()
    };
    let outputs = run(&config, &paths, &QUIET).unwrap();
    assert_eq!(outputs.files.len(), paths.outputs().len());
    for stem in CHARTS {
        let (_, _, variance) = png_stats(&std::fs::read(paths.chart(stem, "png")).unwrap());
        assert!(variance > 100.0, "{stem}.png drawn");
    }
    let html = std::fs::read_to_string(&paths.html).unwrap();
    assert!(
        html.contains("<td class=\"num\">0.0000</td>"),
        "zero scores are shown as such"
    );
    let summary = std::fs::read_to_string(&paths.summary_md).unwrap();
    let test_images = metrics.test.support as usize;
    let mistakes = test_images - metrics.test.per_class[3].support as usize;
    assert!(
        summary.contains(&format!(
            "Test mistakes: {mistakes} of {test_images} images."
        )),
        "{summary}"
    );
    let inputs = hdr_report::load_inputs(&config, &paths).unwrap();
    assert_eq!(inputs.mistakes.len(), 40);
    assert!(inputs
        .mistakes
        .iter()
        .all(|m| m.predicted == 3 && m.label != 3 && m.confidence == 1.0));
    // Equal confidence: the earlier test rows come first.
    assert!(inputs.mistakes.windows(2).all(|w| w[0].index < w[1].index));
}

#[test]
fn mistakes_are_the_most_confident_wrong_predictions_with_their_images() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_inputs(dir.path(), Model::Good);
    let config = Config {
        mistakes: 5,
        ..Config::default()
    };
    let inputs = hdr_report::load_inputs(&config, &paths).unwrap();
    assert_eq!(inputs.mistakes.len(), 5);
    assert!(inputs.total_mistakes > 5);
    assert!(inputs
        .mistakes
        .windows(2)
        .all(|w| w[0].confidence >= w[1].confidence));
    let split = test_split(&paths);
    for m in &inputs.mistakes {
        assert_ne!(m.label, m.predicted);
        assert_eq!(m.label, split.labels[m.index]);
        assert_eq!(m.pixels, split.image(m.index));
    }
    // No mistake left out is more confident than the least confident one shown.
    let text = std::fs::read_to_string(&paths.predictions_test).unwrap();
    let shown_min = inputs.mistakes.last().unwrap().confidence;
    let more_confident = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[1] != c[2] && c[3].parse::<f64>().unwrap() > shown_min)
        .count();
    assert!(more_confident < 5);
}

#[test]
fn stale_predictions_are_caught_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_inputs(dir.path(), Model::Good);
    let text = std::fs::read_to_string(&paths.predictions_test).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    // Line 4 of the file is test row 2: give it a wrong true label.
    let mut cells: Vec<String> = lines[3].split(',').map(String::from).collect();
    let label: u8 = cells[1].parse().unwrap();
    cells[1] = ((label + 1) % 10).to_string();
    lines[3] = cells.join(",");
    std::fs::write(&paths.predictions_test, lines.join("\n") + "\n").unwrap();
    let message = run(&Config::default(), &paths, &QUIET)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("predictions_test.csv: line 4:"),
        "{message}"
    );
    assert!(message.contains("re-run `cargo xtask eval`"), "{message}");

    let beyond = test_split(&paths).len() + 5;
    lines[3] = format!("{beyond}") + &lines[3][lines[3].find(',').unwrap()..];
    std::fs::write(&paths.predictions_test, lines.join("\n") + "\n").unwrap();
    let message = run(&Config::default(), &paths, &QUIET)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&format!("line 4: index {beyond}")),
        "{message}"
    );

    std::fs::write(
        &paths.predictions_test,
        "index,label,predicted,confidence\n0,3,x,0.5\n",
    )
    .unwrap();
    let message = run(&Config::default(), &paths, &QUIET)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("line 2: `predicted` is \"x\", expected a digit 0-9"),
        "{message}"
    );
}

#[test]
fn malformed_metrics_and_history_name_the_file_and_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_inputs(dir.path(), Model::Good);
    let good = std::fs::read_to_string(&paths.metrics).unwrap();
    let mut metrics: serde_json::Value = serde_json::from_str(&good).unwrap();
    metrics["test"]["confusion_matrix"]
        .as_array_mut()
        .unwrap()
        .pop();
    std::fs::write(&paths.metrics, serde_json::to_string(&metrics).unwrap()).unwrap();
    let message = run(&Config::default(), &paths, &QUIET)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("metrics.json: test") && message.contains("confusion_matrix"),
        "{message}"
    );

    std::fs::write(&paths.metrics, "{\n  \"train\": 3\n}").unwrap();
    let message = run(&Config::default(), &paths, &QUIET)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("metrics.json: ") && message.contains("line 2"),
        "{message}"
    );
    std::fs::write(&paths.metrics, good).unwrap();

    let history = std::fs::read_to_string(&paths.history).unwrap();
    let broken = history.replacen("\n3,", "\n4,", 1);
    std::fs::write(&paths.history, broken).unwrap();
    let message = run(&Config::default(), &paths, &QUIET)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("history.csv: line 4: epoch 4 out of order, expected 3"),
        "{message}"
    );
    let broken = history.replacen("\n2,", "\n2,abc", 1);
    std::fs::write(&paths.history, broken).unwrap();
    let message = run(&Config::default(), &paths, &QUIET)
        .unwrap_err()
        .to_string();
    assert!(message.contains("history.csv: line 3"), "{message}");
}

#[test]
fn a_failed_run_leaves_the_previous_report_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_inputs(dir.path(), Model::Good);
    run(&Config::default(), &paths, &QUIET).unwrap();
    let before: Vec<Vec<u8>> = paths
        .outputs()
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    std::fs::write(&paths.model_card, "{ not json").unwrap();
    let err = run(
        &Config {
            mistakes: 4,
            ..Config::default()
        },
        &paths,
        &QUIET,
    )
    .unwrap_err();
    assert!(err.to_string().contains("model.json: line 1"), "{err}");
    let after: Vec<Vec<u8>> = paths
        .outputs()
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert!(before == after);
    assert_eq!(
        crate::common::report_files(&paths).len(),
        paths.outputs().len()
    );
}

#[test]
fn a_bad_config_is_rejected_before_reading_anything() {
    let paths = Paths::under(std::path::Path::new("/nonexistent/artifacts"));
    let err = run(
        &Config {
            mistakes: 0,
            ..Config::default()
        },
        &paths,
        &QUIET,
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Config(ref c) if c.key == "report.mistakes"),
        "{err}"
    );
}

#[test]
fn a_run_without_epochs_or_mistakes_still_draws() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_inputs(dir.path(), Model::Good);
    let header = std::fs::read_to_string(&paths.history)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(&paths.history, header + "\n").unwrap();
    // A perfect model: predictions equal to labels.
    let text = std::fs::read_to_string(&paths.predictions_test).unwrap();
    let fixed: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                return l.to_string();
            }
            let mut c: Vec<&str> = l.split(',').collect();
            c[2] = c[1];
            c.join(",")
        })
        .collect();
    std::fs::write(&paths.predictions_test, fixed.join("\n") + "\n").unwrap();
    run(&Config::default(), &paths, &QUIET).unwrap();
    let html = std::fs::read_to_string(&paths.html).unwrap();
    assert!(html.contains("no misclassified images"));
    assert!(html.contains("no epochs recorded"));
}

/// Writes a sample report for eyeballing: `HDR_REPORT_SAMPLE=/some/dir cargo test -p hdr-report
/// --test it -- report::sample --ignored`.
#[test]
#[ignore = "writes a sample report to $HDR_REPORT_SAMPLE for manual inspection"]
fn sample_report_for_inspection() {
    let dir = PathBuf::from(
        std::env::var("HDR_REPORT_SAMPLE").expect("set HDR_REPORT_SAMPLE to a directory"),
    );
    for (name, model, mistakes) in [
        ("good", Model::Good, 32),
        ("one-class", Model::OneClass(3), 32),
    ] {
        let paths = write_inputs(&dir.join(name), model);
        let started = std::time::Instant::now();
        run(
            &Config {
                mistakes,
                ..Config::default()
            },
            &paths,
            &QUIET,
        )
        .unwrap();
        eprintln!(
            "{name}: report in {:?} at {}",
            started.elapsed(),
            paths.dir.display()
        );
    }
}

/// A run-log line as the runner writes it, with its test accuracy and dropout.
fn run_line(id: u64, dropout: f64, test_accuracy: f64) -> String {
    serde_json::json!({
        "id": id, "time": "2026-01-02T10:00:00Z", "status": "ok",
        "config": {"train": {"dropout": dropout, "seed": 42}, "data": {"seed": 42}},
        "data_sha256": null, "code": {}, "kernels": "portable",
        "metrics": {"test_accuracy": test_accuracy, "test_macro_f1": 0.9,
                    "test_log_loss": 0.2, "train_accuracy": 0.99},
        "train_seconds": 3.0, "stages": {"train": "ran"}, "fingerprints": {}
    })
    .to_string()
}

#[test]
fn the_page_compares_this_run_with_the_previous_and_the_best_one() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_inputs(dir.path(), Model::Good);
    // Without a run log: the section says there is nothing to compare with.
    run(&Config::default(), &paths, &QUIET).unwrap();
    let html = std::fs::read_to_string(&paths.html).unwrap();
    assert!(html.contains("<h2>Compared with earlier runs</h2>"));
    assert!(html.contains("No earlier run in <code>artifacts/runs.jsonl</code>"));

    let log = [
        run_line(1, 0.3, 0.999),
        "{\"id\": 2, cut short".to_string(),
        run_line(3, 0.2, 0.5),
    ];
    std::fs::write(&paths.runs, log.join("\n") + "\n").unwrap();
    run(&Config::default(), &paths, &QUIET).unwrap();
    let html = std::fs::read_to_string(&paths.html).unwrap();
    assert!(html.contains(">previous (run 3)</th>"), "previous run");
    assert!(html.contains(">best (run 1)</th>"), "best run");
    // The settings compared are those the artifacts record (the card says dropout 0.5).
    assert!(html.contains("settings vs previous (run 3)</th><td>train.dropout 0.2 → 0.5</td>"));
    assert!(html.contains("settings vs best (run 1)</th><td>train.dropout 0.3 → 0.5</td>"));
    assert!(html.contains("id=\"runs_test_accuracy\""));
    let png = std::fs::read(paths.chart(hdr_report::CHART_RUNS, "png")).unwrap();
    assert!(png_stats(&png).2 > 100.0, "the runs chart looks blank");
}

#[test]
fn extra_test_sets_get_a_row_and_a_confusion_matrix_each_and_leave_none_behind() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_inputs(dir.path(), Model::Good);
    // Score the test split again as an extra set named "other-writers".
    let mut metrics = hdr_artifacts::read_metrics(&paths.metrics).unwrap();
    let mut other = metrics.test.clone();
    other.confusion_matrix[9][3] += 7;
    other.confusion_matrix[9][9] -= 7;
    metrics.extra_tests.push(hdr_artifacts::NamedMetrics {
        name: "other-writers".into(),
        metrics: other,
    });
    let write_metrics = |m: &hdr_artifacts::Metrics| {
        std::fs::write(&paths.metrics, serde_json::to_string_pretty(m).unwrap()).unwrap()
    };
    write_metrics(&metrics);
    let mut summary = hdr_artifacts::read_summary(&paths.data_summary).unwrap();
    summary.extra_tests.push(hdr_artifacts::ExtraTestSummary {
        name: "other-writers".into(),
        path: "data/<scans>".into(),
        sha256: "00".repeat(32),
        test: summary.test.clone(),
    });
    std::fs::write(
        &paths.data_summary,
        serde_json::to_string_pretty(&summary).unwrap(),
    )
    .unwrap();

    let outputs = run(&Config::default(), &paths, &QUIET).unwrap();
    let chart = hdr_report::extra_confusion_chart("other-writers");
    let png = paths.chart(&chart, "png");
    assert!(outputs.files.contains(&png) && png.is_file());
    assert!(outputs.files.contains(&paths.chart(&chart, "svg")));
    let (_, _, variance) = png_stats(&std::fs::read(&png).unwrap());
    assert!(variance > 100.0, "a drawn heatmap, not a blank image");
    let html = std::fs::read_to_string(&paths.html).unwrap();
    assert!(html.contains("<h2 id=\"extra-tests\">Extra test sets</h2>"));
    assert!(html.contains("<td>other-writers</td><td><code>data/&lt;scans&gt;</code></td>"));
    assert!(html.contains(&format!("id=\"{chart}\"")));
    let md = std::fs::read_to_string(&paths.summary_md).unwrap();
    assert!(
        md.contains("Extra test set other-writers (data/<scans>): accuracy"),
        "{md}"
    );

    // Scored no more: its chart goes.
    metrics.extra_tests.clear();
    write_metrics(&metrics);
    run(&Config::default(), &paths, &QUIET).unwrap();
    assert!(!png.exists());
    assert!(!std::fs::read_to_string(&paths.html)
        .unwrap()
        .contains("extra-tests"));
}
