//! Every kind of bad input fails with its own error variant and a message
//! naming the file and the line/column (or config key), and leaves earlier
//! artifacts untouched.

use std::path::Path;

use crate::common::*;
use hdr_common::RunOptions;
use hdr_data::{load_csv, run, CellError, CellKind, Config, Error, LabelColumn};

const QUIET: RunOptions = RunOptions { quiet: true };

/// Runs the stage once on good data, then on `bad` (written as `name`);
/// returns the error after checking that the artifacts did not change and
/// that its message names the file.
fn fails_keeping_artifacts(name: &str, bad: impl AsRef<[u8]>) -> Error {
    let scratch = Scratch::new();
    let good = scratch.write("good.csv", csv_text(&rows(20)));
    let paths = scratch.paths();
    run(&scratch.config(&good, 0.5), &paths, &QUIET).expect("good data runs");
    let before = snapshot(&paths);
    let source = scratch.write(name, bad);
    let err = run(&scratch.config(&source, 0.5), &paths, &QUIET).expect_err("bad data must fail");
    assert_eq!(
        snapshot(&paths),
        before,
        "artifacts changed or temp files left after: {err}"
    );
    assert!(
        err.to_string().contains(&source.display().to_string()),
        "message must name the file: {err}"
    );
    eprintln!("{name}: {err}");
    err
}

fn assert_mentions(err: &impl std::fmt::Display, parts: &[&str]) {
    let err = err.to_string();
    for part in parts {
        assert!(err.contains(part), "expected {part:?} in: {err}");
    }
}

/// Whether `path` is the scratch file called `name`.
fn is_file(path: &Path, name: &str) -> bool {
    path.file_name().is_some_and(|n| n == name)
}

#[test]
fn empty_file() {
    let err = fails_keeping_artifacts("empty.csv", "");
    assert!(
        matches!(&err, Error::EmptyFile { path } if is_file(path, "empty.csv")),
        "{err:?}"
    );
    assert_mentions(&err, &["empty", "label,pixel0"]);
}

#[test]
fn header_only() {
    let text = header(0).join(",") + "\n";
    let err = fails_keeping_artifacts("header.csv", text);
    assert!(matches!(err, Error::NoDataRows { .. }), "{err:?}");
    assert_mentions(&err, &["no data rows", "line 1"]);
}

#[test]
fn too_few_pixel_columns() {
    let text: String = csv_text(&rows(20))
        .lines()
        .map(|line| line.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    let err = fails_keeping_artifacts("783.csv", text);
    assert!(
        matches!(
            err,
            Error::PixelColumns {
                found: 783,
                outside: None,
                missing: Some(783),
                base: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(
        &err,
        &["line 1", "found 783 pixel columns", "`pixel783` is missing"],
    );
}

#[test]
fn too_many_pixel_columns() {
    let text: String = csv_text(&rows(20))
        .lines()
        .enumerate()
        .map(|(i, line)| {
            if i == 0 {
                format!("{line},pixel784,pixel785\n")
            } else {
                format!("{line},0,0\n")
            }
        })
        .collect();
    let err = fails_keeping_artifacts("786.csv", text);
    assert!(
        matches!(
            err,
            Error::PixelColumns {
                found: 786,
                outside: Some((786, 784)),
                missing: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(
        &err,
        &[
            "line 1",
            "found 786 pixel columns",
            "column 786 (`pixel784`)",
        ],
    );
}

#[test]
fn duplicated_column_name() {
    let text = csv_text(&rows(20)).replacen(",pixel5,", ",pixel4,", 1);
    let err = fails_keeping_artifacts("dup.csv", text);
    assert!(
        matches!(&err, Error::DuplicateColumn { column: 7, first: 6, name, .. } if name == "pixel4"),
        "{err:?}"
    );
    assert_mentions(
        &err,
        &["line 1", "column 7 (`pixel4`)", "duplicate", "column 6"],
    );
}

#[test]
fn non_numeric_cell() {
    let text = with_cell(&csv_text(&rows(20)), 2, 11, "abc");
    let err = fails_keeping_artifacts("text.csv", text);
    assert!(
        matches!(
            &err,
            Error::BadPixel { line: 4, column, problem: CellError::NotANumber { text, .. }, .. }
                if column == "pixel10" && text == "abc"
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["line 4, column `pixel10`", "`abc` is not a number"]);
}

#[test]
fn fractional_pixel() {
    let text = with_cell(&csv_text(&rows(20)), 5, 1, "12.5");
    let err = fails_keeping_artifacts("frac.csv", text);
    assert!(
        matches!(
            &err,
            Error::BadPixel { line: 7, column, problem: CellError::NotWhole { .. }, .. }
                if column == "pixel0"
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["line 7, column `pixel0`", "not a whole number"]);
}

#[test]
fn pixel_above_255() {
    let text = with_cell(&csv_text(&rows(20)), 19, 784, "256");
    let err = fails_keeping_artifacts("256.csv", text);
    assert!(
        matches!(
            &err,
            Error::BadPixel {
                line: 21,
                problem: CellError::OutOfRange {
                    kind: CellKind::Pixel,
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(
        &err,
        &["line 21, column `pixel783`", "256 is outside 0..=255"],
    );
}

#[test]
fn negative_pixel() {
    let text = with_cell(&csv_text(&rows(20)), 0, 300, "-1");
    let err = fails_keeping_artifacts("neg.csv", text);
    assert!(
        matches!(
            &err,
            Error::BadPixel { line: 2, column, problem: CellError::Negative { .. }, .. }
                if column == "pixel299"
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["line 2, column `pixel299`", "-1 is negative"]);
}

#[test]
fn label_ten() {
    let text = with_cell(&csv_text(&rows(20)), 3, 0, "10");
    let err = fails_keeping_artifacts("label.csv", text);
    assert!(
        matches!(
            &err,
            Error::BadLabel {
                line: 5,
                problem: CellError::OutOfRange {
                    kind: CellKind::Label,
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(
        &err,
        &["line 5, column `label`", "label 10 is outside 0..=9"],
    );
}

#[test]
fn empty_cell() {
    let text = with_cell(&csv_text(&rows(20)), 8, 100, "");
    let err = fails_keeping_artifacts("hole.csv", text);
    assert!(
        matches!(
            &err,
            Error::BadPixel { line: 10, column, problem: CellError::Empty { .. }, .. }
                if column == "pixel99"
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["line 10, column `pixel99`", "empty cell"]);
}

#[test]
fn truncated_last_line() {
    let text = csv_text(&rows(20));
    let cut = text.len() - 1000; // well inside the last row, not at a comma boundary
    let err = fails_keeping_artifacts("cut.csv", &text[..cut]);
    assert!(
        matches!(
            err,
            Error::TruncatedRow {
                line: 21,
                width: 785,
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["line 21", "truncated"]);
}

#[test]
fn random_binary_bytes() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..8192)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    assert_ne!(&bytes[..2], &[0x1f, 0x8b]);
    let err = fails_keeping_artifacts("noise.csv", bytes);
    assert!(matches!(err, Error::HeaderNotText { .. }), "{err:?}");
    assert_mentions(&err, &["line 1", "is this a CSV file?"]);
}

#[test]
fn corrupt_gzip() {
    let mut gz = gzip(csv_text(&rows(20)).as_bytes());
    let middle = gz.len() / 2;
    for byte in &mut gz[middle..middle + 16] {
        *byte ^= 0x5a;
    }
    let err = fails_keeping_artifacts("bad.csv.gz", gz);
    assert!(
        matches!(&err, Error::CorruptGzip { path, .. } if is_file(path, "bad.csv.gz")),
        "{err:?}"
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "keeps the io::Error"
    );
    assert_mentions(&err, &["corrupt gzip"]);
}

#[test]
fn truncated_gzip() {
    let gz = gzip(csv_text(&rows(20)).as_bytes());
    let err = fails_keeping_artifacts("short.csv.gz", &gz[..gz.len() / 2]);
    assert!(matches!(err, Error::CorruptGzip { .. }), "{err:?}");
    assert_mentions(&err, &["corrupt gzip"]);
}

#[test]
fn missing_label_column() {
    let text: String = csv_text(&rows(20))
        .lines()
        .map(|line| line.split_once(',').unwrap().1.to_string() + "\n")
        .collect();
    let err = fails_keeping_artifacts("nolabel.csv", text);
    assert!(matches!(err, Error::NoLabelColumn { .. }), "{err:?}");
    assert_mentions(&err, &["line 1", "no `label` column"]);
}

#[test]
fn unexpected_column() {
    let text = csv_text(&rows(20)).replacen(",pixel3,", ",colour,", 1);
    let err = fails_keeping_artifacts("colour.csv", text);
    assert!(
        matches!(&err, Error::UnexpectedColumn { column: 5, name, .. } if name == "colour"),
        "{err:?}"
    );
    assert_mentions(&err, &["line 1, column 5 (`colour`)", "unexpected column"]);
}

#[test]
fn source_that_does_not_exist() {
    let scratch = Scratch::new();
    let good = scratch.write("good.csv", csv_text(&rows(20)));
    let paths = scratch.paths();
    run(&scratch.config(&good, 0.5), &paths, &QUIET).unwrap();
    let before = snapshot(&paths);
    let missing = scratch.path("nowhere/train.csv");
    let err = run(&scratch.config(&missing, 0.5), &paths, &QUIET).unwrap_err();
    match &err {
        Error::Read { path, source } => {
            assert_eq!(path, &missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Error::Read, got {other:?}"),
    }
    assert_mentions(&err, &[&missing.display().to_string(), "cannot read"]);
    assert_eq!(snapshot(&paths), before);
}

#[test]
fn test_fraction_outside_zero_one_names_the_key() {
    let scratch = Scratch::new();
    let good = scratch.write("good.csv", csv_text(&rows(20)));
    let paths = scratch.paths();
    run(&scratch.config(&good, 0.5), &paths, &QUIET).unwrap();
    let before = snapshot(&paths);
    for bad in [0.0, 1.0, 1.5, -0.2] {
        let err = run(&scratch.config(&good, bad), &paths, &QUIET).unwrap_err();
        assert!(
            matches!(&err, Error::Config(e) if e.key == "data.test_fraction"),
            "{err:?}"
        );
        assert_mentions(&err, &["data.test_fraction"]);
    }
    assert_eq!(snapshot(&paths), before);
}

#[test]
fn a_split_that_would_be_empty_is_refused() {
    // One row per class and a small fraction: every class rounds to 0 test rows.
    let scratch = Scratch::new();
    let source = scratch.write("tiny.csv", csv_text(&rows(10)));
    let config = Config {
        source: source.clone(),
        test_source: None,
        user_samples: std::path::PathBuf::new(),
        extra_test_sources: Vec::new(),
        test_fraction: 0.2,
        seed: 1,
    };
    let err = run(&config, &scratch.paths(), &QUIET).unwrap_err();
    assert!(
        matches!(&err, Error::EmptySplit { path, split: "test", rows: 10, .. } if path == &source),
        "{err:?}"
    );
    assert_mentions(
        &err,
        &[
            "tiny.csv",
            "test split would be empty",
            "data.test_fraction",
        ],
    );
    assert!(!scratch.paths().train.exists());
}

#[test]
fn load_csv_reports_the_same_positions() {
    let scratch = Scratch::new();
    let source = scratch.write("t.csv", with_cell(&csv_text(&rows(5)), 1, 0, "x"));
    let err = load_csv(&source, LabelColumn::Optional).unwrap_err();
    assert!(
        matches!(&err, Error::BadLabel { path, line: 3, .. } if path == &source),
        "{err:?}"
    );
    assert_mentions(
        &err,
        &["t.csv", "line 3, column `label`", "`x` is not a number"],
    );
}

#[test]
fn a_bad_test_source_is_named_as_such() {
    let scratch = Scratch::new();
    let good = scratch.write("good.csv", csv_text(&rows(20)));
    let unlabelled: String = csv_text(&rows(20))
        .lines()
        .map(|line| line.split_once(',').unwrap().1.to_string() + "\n")
        .collect();
    let test = scratch.write("test.csv", unlabelled);
    let config = Config {
        test_source: Some(test.clone()),
        ..scratch.config(&good, 0.5)
    };
    let err = run(&config, &scratch.paths(), &QUIET).unwrap_err();
    match &err {
        Error::TestSource { source } => assert!(
            matches!(&**source, Error::NoLabelColumn { path } if path == &test),
            "{source:?}"
        ),
        other => panic!("expected Error::TestSource, got {other:?}"),
    }
    assert!(
        err.to_string().starts_with(&format!(
            "data.test_source: {}: line 1: no `label` column",
            test.display()
        )),
        "{err}"
    );
    // The wrapped error is the source, and not shown twice.
    assert_eq!(hdr_common::error_lines(&err).len(), 1);
    assert!(!scratch.paths().train.exists());
}

#[test]
fn a_torn_last_line_in_the_users_digits_is_named_and_left_alone() {
    let scratch = Scratch::new();
    let good = scratch.write("good.csv", csv_text(&rows(20)));
    let paths = scratch.paths();
    run(&scratch.config(&good, 0.5), &paths, &QUIET).expect("good data runs");
    let before = snapshot(&paths);
    let text = csv_text(&rows(3));
    let torn = &text[..text.len() - 500];
    let mine = scratch.write("my-digits.csv", torn);
    let config = Config {
        user_samples: mine.clone(),
        ..scratch.config(&good, 0.5)
    };
    let err = run(&config, &paths, &QUIET).expect_err("a torn line must fail");
    assert!(
        matches!(&err, Error::UserSamples { source } if matches!(**source, Error::TruncatedRow { line: 4, .. })),
        "{err:?}"
    );
    assert_mentions(&err, &["data.user_samples", "my-digits.csv", "line 4"]);
    assert_eq!(snapshot(&paths), before, "artifacts unchanged");
    assert_eq!(
        std::fs::read(&mine).unwrap(),
        torn.as_bytes(),
        "never rewritten"
    );
}

#[test]
fn bad_extra_test_sources_name_the_key_and_the_file_and_write_nothing() {
    let scratch = Scratch::new();
    let good = scratch.write("good.csv", csv_text(&rows(20)));
    let paths = scratch.paths();
    run(&scratch.config(&good, 0.5), &paths, &QUIET).expect("good data runs");
    let before = snapshot(&paths);

    let folder = scratch.path("scans");
    std::fs::create_dir_all(folder.join("4")).unwrap();
    std::fs::write(
        folder.join("4/broken.png"),
        b"\x89PNG\r\n\x1a\nnot an image",
    )
    .unwrap();
    let unlabelled = scratch.path("unlabelled");
    std::fs::create_dir_all(&unlabelled).unwrap();
    std::fs::write(unlabelled.join("seven.png"), b"whatever").unwrap();
    let narrow = scratch.write("narrow.csv", "label,pixel0\n3,0\n");
    let empty = scratch.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for (source, expected) in [
        (&folder, "broken.png"),
        (&unlabelled, "seven.png: cannot tell which digit"),
        (&narrow, "narrow.csv"),
        (&empty, "no PNG, JPEG or BMP images"),
        (&scratch.path("missing.csv"), "missing.csv"),
    ] {
        let config = Config {
            extra_test_sources: vec![source.clone()],
            ..scratch.config(&good, 0.5)
        };
        let err = run(&config, &paths, &QUIET).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("data.extra_test_sources: ") && message.contains(expected),
            "{message}"
        );
        assert_eq!(snapshot(&paths), before, "{message}");
    }
}
