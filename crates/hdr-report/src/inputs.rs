//! The report's inputs: read with the readers of the stages that write them,
//! then checked for what the charts rely on, naming the file (and line) when
//! something is off.

use std::fs::File;
use std::path::Path;

use hdr_data::Summary;
use hdr_eval::{Metrics, SplitMetrics};
use hdr_model::ModelCard;
use hdr_train::EpochRecord;

use crate::Error;

/// Number of digit classes every table and chart has.
const CLASSES: usize = hdr_data::NUM_CLASSES;

/// Everything the report shows, read and checked.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// `metrics.json`.
    pub metrics: Metrics,
    /// `history.csv`, one record per epoch.
    pub history: Vec<EpochRecord>,
    /// `model.json`.
    pub card: ModelCard,
    /// `summary.json`.
    pub data_summary: Summary,
    /// The test split's most confident mistakes, most confident first.
    pub mistakes: Vec<Mistake>,
    /// How many test images were misclassified in all.
    pub total_mistakes: usize,
}

/// One misclassified test image.
#[derive(Debug, Clone, PartialEq)]
pub struct Mistake {
    /// 0-based row of test.parquet.
    pub index: usize,
    /// The true digit.
    pub label: u8,
    /// The predicted digit.
    pub predicted: u8,
    /// The probability of the predicted digit.
    pub confidence: f64,
    /// The probability given to the true digit, when predictions carry `p0..p9`.
    pub p_true: Option<f64>,
    /// The 784 grey levels of the image.
    pub pixels: Vec<u8>,
}

fn input_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read_text(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads `metrics.json` (hdr_eval's reader) and checks what the charts rely on.
pub fn read_metrics(path: &Path) -> Result<Metrics, Error> {
    let metrics = hdr_eval::read_metrics(path)?;
    check_split(path, "train", &metrics.train)?;
    check_split(path, "test", &metrics.test)?;
    Ok(metrics)
}

fn check_split(path: &Path, split: &str, m: &SplitMetrics) -> Result<(), Error> {
    let bad = |message: String| input_error(path, format!("{split}.{message}"));
    if m.per_class.len() != CLASSES {
        return Err(bad(format!(
            "per_class has {} rows, expected {CLASSES}",
            m.per_class.len()
        )));
    }
    for (i, row) in m.per_class.iter().enumerate() {
        if row.class as usize != i {
            return Err(bad(format!(
                "per_class[{i}].class is {}, expected {i}",
                row.class
            )));
        }
        for (name, v) in [
            ("precision", row.precision),
            ("recall", row.recall),
            ("f1", row.f1),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(format!(
                    "per_class[{i}].{name} is {v}, expected a value in [0, 1]"
                )));
            }
        }
    }
    for (name, v) in [
        ("accuracy", m.accuracy),
        ("macro.precision", m.macro_avg.precision),
        ("macro.recall", m.macro_avg.recall),
        ("macro.f1", m.macro_avg.f1),
        ("weighted.precision", m.weighted.precision),
        ("weighted.recall", m.weighted.recall),
        ("weighted.f1", m.weighted.f1),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(bad(format!("{name} is {v}, expected a value in [0, 1]")));
        }
    }
    if !(m.log_loss.is_finite() && m.log_loss >= 0.0) {
        return Err(bad(format!(
            "log_loss is {}, expected a finite value >= 0",
            m.log_loss
        )));
    }
    if !(m.images_per_s.is_finite() && m.images_per_s >= 0.0) {
        return Err(bad(format!(
            "images_per_s is {}, expected a finite value >= 0",
            m.images_per_s
        )));
    }
    if m.confusion_matrix.len() != CLASSES {
        return Err(bad(format!(
            "confusion_matrix has {} rows, expected {CLASSES}",
            m.confusion_matrix.len()
        )));
    }
    for (i, row) in m.confusion_matrix.iter().enumerate() {
        if row.len() != CLASSES {
            return Err(bad(format!(
                "confusion_matrix[{i}] has {} columns, expected {CLASSES}",
                row.len()
            )));
        }
    }
    let total: u64 = m.confusion_matrix.iter().flatten().sum();
    if total != m.support {
        return Err(bad(format!(
            "confusion_matrix counts {total} images but support is {}",
            m.support
        )));
    }
    Ok(())
}

/// Reads `history.csv` (hdr_train's reader) and checks epochs run 1, 2, 3, ...
pub fn read_history(path: &Path) -> Result<Vec<EpochRecord>, Error> {
    let history = hdr_train::read_history(path)?;
    for (i, record) in history.iter().enumerate() {
        // Line 1 is the header.
        let line = i + 2;
        if record.epoch != i + 1 {
            return Err(input_error(
                path,
                format!(
                    "line {line}: epoch {} out of order, expected {}",
                    record.epoch,
                    i + 1
                ),
            ));
        }
        for (name, v) in [
            ("train_loss", record.train_loss),
            ("train_accuracy", record.train_accuracy),
            ("val_loss", record.val_loss),
            ("val_accuracy", record.val_accuracy),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(input_error(
                    path,
                    format!("line {line}: {name} is {v}, expected a finite value >= 0"),
                ));
            }
        }
    }
    Ok(history)
}

/// Reads `model.json`.
pub fn read_card(path: &Path) -> Result<ModelCard, Error> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| {
        input_error(
            path,
            format!("line {}, column {}: {e}", e.line(), e.column()),
        )
    })
}

/// Reads `summary.json` (hdr_data's reader).
pub fn read_data_summary(path: &Path) -> Result<Summary, Error> {
    Ok(hdr_data::read_summary(path)?)
}

/// One row of `predictions_test.csv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictionRow {
    /// 1-based line in the file (for messages).
    pub line: u64,
    /// 0-based row of test.parquet.
    pub index: usize,
    /// The true digit.
    pub label: u8,
    /// The predicted digit.
    pub predicted: u8,
    /// Probability of the predicted digit.
    pub confidence: f64,
    /// Probability of the true digit, when the file has `p0..p9`.
    pub p_true: Option<f64>,
}

/// Reads `predictions_test.csv` (`index,label,predicted,confidence[,p0..p9]`).
pub fn read_predictions(path: &Path) -> Result<Vec<PredictionRow>, Error> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = csv::Reader::from_reader(std::io::BufReader::new(file));
    let headers = reader
        .headers()
        .map_err(|e| input_error(path, format!("line 1: {e}")))?
        .clone();
    let column = |name: &str| -> Result<usize, Error> {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| input_error(path, format!("line 1: no `{name}` column")))
    };
    let (c_index, c_label, c_pred, c_conf) = (
        column("index")?,
        column("label")?,
        column("predicted")?,
        column("confidence")?,
    );
    let prob_columns: Option<Vec<usize>> = (0..CLASSES)
        .map(|k| headers.iter().position(|h| h == format!("p{k}")))
        .collect();
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader.read_record(&mut record).map_err(|e| {
            let line = e
                .position()
                .map(|p| format!("line {}: ", p.line()))
                .unwrap_or_default();
            input_error(path, format!("{line}{e}"))
        })?;
        if !more {
            break;
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let field = |col: usize, name: &str| -> Result<&str, Error> {
            record
                .get(col)
                .map(str::trim)
                .ok_or_else(|| input_error(path, format!("line {line}: missing `{name}`")))
        };
        let parse_err = |name: &str, v: &str, want: &str| {
            input_error(
                path,
                format!("line {line}: `{name}` is {v:?}, expected {want}"),
            )
        };
        let index_text = field(c_index, "index")?;
        let index: usize = index_text
            .parse()
            .map_err(|_| parse_err("index", index_text, "a row number"))?;
        let digit = |col: usize, name: &str| -> Result<u8, Error> {
            let text = field(col, name)?;
            match text.parse::<u8>() {
                Ok(d) if (d as usize) < CLASSES => Ok(d),
                _ => Err(parse_err(name, text, "a digit 0-9")),
            }
        };
        let label = digit(c_label, "label")?;
        let predicted = digit(c_pred, "predicted")?;
        let probability = |col: usize, name: &str| -> Result<f64, Error> {
            let text = field(col, name)?;
            match text.parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
                _ => Err(parse_err(name, text, "a probability in [0, 1]")),
            }
        };
        let confidence = probability(c_conf, "confidence")?;
        let p_true = match &prob_columns {
            Some(cols) => Some(probability(cols[label as usize], &format!("p{label}"))?),
            None => None,
        };
        rows.push(PredictionRow {
            line,
            index,
            label,
            predicted,
            confidence,
            p_true,
        });
    }
    Ok(rows)
}

/// Picks the `limit` most confident mistakes (ties: lower row first) and loads their images,
/// checking every prediction's row and label against test.parquet so stale artifacts are caught.
pub fn select_mistakes(
    predictions_path: &Path,
    test_split_path: &Path,
    limit: usize,
) -> Result<(Vec<Mistake>, usize), Error> {
    let rows = read_predictions(predictions_path)?;
    let split = hdr_data::read_split(test_split_path)?;
    let labels = &split.labels;
    for r in &rows {
        let stale = |what: String| {
            input_error(
                predictions_path,
                format!(
                    "line {}: {what} (stale predictions: re-run `cargo xtask eval`)",
                    r.line
                ),
            )
        };
        match labels.get(r.index) {
            None => {
                return Err(stale(format!(
                    "index {} but {} has {} rows",
                    r.index,
                    test_split_path.display(),
                    labels.len()
                )))
            }
            Some(&truth) if truth != r.label => {
                return Err(stale(format!(
                    "label {} but row {} of {} has label {truth}",
                    r.label,
                    r.index,
                    test_split_path.display()
                )))
            }
            Some(_) => {}
        }
    }
    let mut wrong: Vec<&PredictionRow> = rows.iter().filter(|r| r.label != r.predicted).collect();
    let total = wrong.len();
    wrong.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(a.index.cmp(&b.index))
    });
    wrong.truncate(limit);
    let wanted: Vec<usize> = wrong.iter().map(|r| r.index).collect();
    let images: Vec<Vec<u8>> = wanted
        .iter()
        .map(|&row| split.image(row).to_vec())
        .collect();
    let mistakes = wrong
        .into_iter()
        .zip(images)
        .map(|(r, pixels)| Mistake {
            index: r.index,
            label: r.label,
            predicted: r.predicted,
            confidence: r.confidence,
            p_true: r.p_true,
            pixels,
        })
        .collect();
    Ok((mistakes, total))
}
