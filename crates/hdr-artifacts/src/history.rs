//! `train/history.csv`: one row per training epoch.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{require_artifact, Error, TrainFiles};

/// The header of `history.csv`, in column order.
pub const HISTORY_HEADER: [&str; 8] = [
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "learning_rate",
    "seconds",
    "samples_per_s",
];

/// One row of `history.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Training accuracy over the epoch (augmented images, dropout on).
    pub train_accuracy: f64,
    /// Mean validation loss.
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// Learning rate used in this epoch.
    pub learning_rate: f64,
    /// Wall time of the epoch, validation included, to the millisecond.
    pub seconds: f64,
    /// Training throughput (images per second of the training passes, validation excluded).
    pub samples_per_s: f64,
}

/// Writes `history` as `history.csv` (with [`HISTORY_HEADER`], also when empty).
pub fn write_history(out: impl Write, history: &[EpochRecord]) -> std::io::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    for record in history {
        csv.serialize(record).map_err(std::io::Error::other)?;
    }
    if history.is_empty() {
        csv.write_record(HISTORY_HEADER)
            .map_err(std::io::Error::other)?;
    }
    csv.flush()
}

/// Reads `history.csv`, checking the header, that epochs run 1, 2, 3, … and
/// that losses and accuracies are finite and not negative.
///
/// Errors name the file and the 1-based line (the header is line 1) and column.
pub fn read_history(path: &Path) -> Result<Vec<EpochRecord>, Error> {
    require_artifact(path, TrainFiles::STAGE)?;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = csv::Reader::from_reader(std::io::BufReader::new(file));
    let headers = reader
        .headers()
        .map_err(|e| Error::invalid(path, format!("line 1: {e}")))?
        .clone();
    if headers.iter().ne(HISTORY_HEADER) {
        return Err(Error::invalid(
            path,
            format!(
                "line 1: header is `{}`, expected `{}`",
                headers.iter().collect::<Vec<_>>().join(","),
                HISTORY_HEADER.join(",")
            ),
        ));
    }
    let mut records = Vec::new();
    for row in reader.deserialize::<EpochRecord>() {
        let record = row.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            let detail = match e.kind() {
                csv::ErrorKind::Deserialize { err, .. } => match err.field() {
                    Some(field) => format!(
                        "column {} (`{}`): {}",
                        field + 1,
                        HISTORY_HEADER.get(field as usize).unwrap_or(&"?"),
                        err.kind()
                    ),
                    None => err.kind().to_string(),
                },
                _ => e.to_string(),
            };
            Error::invalid(path, format!("line {line}: {detail}"))
        })?;
        check_record(&record, records.len()).map_err(|m| Error::invalid(path, m))?;
        records.push(record);
    }
    Ok(records)
}

/// Why the `index`-th record (0-based) is out of place or out of range, if it is.
fn check_record(record: &EpochRecord, index: usize) -> Result<(), String> {
    let line = index + 2; // line 1 is the header
    if record.epoch != index + 1 {
        return Err(format!(
            "line {line}: epoch {} out of order, expected {}",
            record.epoch,
            index + 1
        ));
    }
    for (name, v) in [
        ("train_loss", record.train_loss),
        ("train_accuracy", record.train_accuracy),
        ("val_loss", record.val_loss),
        ("val_accuracy", record.val_accuracy),
    ] {
        if !v.is_finite() || v < 0.0 {
            return Err(format!(
                "line {line}: {name} is {v}, expected a finite value >= 0"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: 0.25 / epoch as f64,
            train_accuracy: 0.9 + epoch as f64 / 100.0,
            val_loss: 0.125,
            val_accuracy: 0.975,
            learning_rate: 0.0019876,
            seconds: 2.345,
            samples_per_s: 12_001.5,
        }
    }

    #[test]
    fn round_trips_with_the_exact_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.csv");
        let history = vec![record(1), record(2), record(3)];
        let mut bytes = Vec::new();
        write_history(&mut bytes, &history).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds,samples_per_s"
        );
        std::fs::write(&path, &text).unwrap();
        assert_eq!(read_history(&path).unwrap(), history);

        let mut empty = Vec::new();
        write_history(&mut empty, &[]).unwrap();
        std::fs::write(&path, &empty).unwrap();
        assert_eq!(read_history(&path).unwrap(), vec![]);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.csv");
        let header = HISTORY_HEADER.join(",");
        let message_for = |text: &str| {
            std::fs::write(&path, text).unwrap();
            read_history(&path).unwrap_err().to_string()
        };
        let message = message_for(&format!(
            "{header}\n1,0.5,0.9,0.4,0.91,0.001,1.0,1000\n2,0.4,oops,0.3,0.92,0.001,1.0,1000\n"
        ));
        assert!(
            message.contains("history.csv: line 3: column 3 (`train_accuracy`)"),
            "{message}"
        );
        let message = message_for("epoch,loss\n1,0.5\n");
        assert!(
            message.contains("history.csv: line 1: header is `epoch,loss`"),
            "{message}"
        );
        let message = message_for(&format!("{header}\n1,0.5,0.9\n"));
        assert!(message.contains("history.csv: line 2"), "{message}");
        let message = message_for(&format!(
            "{header}\n1,0.5,0.9,0.4,0.91,0.001,1.0,1000\n3,0.4,0.9,0.3,0.92,0.001,1.0,1000\n"
        ));
        assert!(
            message.contains("history.csv: line 3: epoch 3 out of order, expected 2"),
            "{message}"
        );
        let message = message_for(&format!("{header}\n1,-0.5,0.9,0.4,0.91,0.001,1.0,1000\n"));
        assert!(
            message.contains("history.csv: line 2: train_loss is -0.5"),
            "{message}"
        );

        let absent = dir.path().join("absent.csv");
        let err = read_history(&absent).unwrap_err();
        assert!(
            matches!(err, Error::Missing(ref m) if m.stage == "train"),
            "{err}"
        );
        assert!(err.to_string().contains("absent.csv"));
    }
}
