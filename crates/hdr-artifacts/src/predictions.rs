//! `eval/predictions_test.csv`: the model's answer for every test image.

use std::io::Write;
use std::path::Path;

use crate::{require_artifact, Error, EvalFiles, NUM_CLASSES};

/// Header of `predictions_test.csv`.
pub const PREDICTIONS_HEADER: &str =
    "index,label,predicted,confidence,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9";

/// One scored image, as the eval stage writes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictedImage {
    /// The true digit.
    pub label: u8,
    /// The predicted digit.
    pub predicted: u8,
    /// Softmax probabilities of the digits 0..=9.
    pub probabilities: [f32; NUM_CLASSES],
}

/// Writes `predictions_test.csv`: [`PREDICTIONS_HEADER`], then one row per
/// image in the split's order (`index` counts from 0), every probability in
/// the shortest text that reads back as the same `f32`.
pub fn write_predictions(
    mut out: impl Write,
    images: impl IntoIterator<Item = PredictedImage>,
) -> std::io::Result<()> {
    writeln!(out, "{PREDICTIONS_HEADER}")?;
    for (index, image) in images.into_iter().enumerate() {
        let confidence = image.probabilities[usize::from(image.predicted)];
        write!(
            out,
            "{index},{},{},{}",
            image.label,
            image.predicted,
            format_probability(confidence)
        )?;
        for &value in &image.probabilities {
            write!(out, ",{}", format_probability(value))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The shortest text that reads back as exactly `value`; tiny values in
/// exponent form (`3.1e-9`) rather than dozens of zeros.
pub fn format_probability(value: f32) -> String {
    if value == 0.0 || value.abs() >= 1e-4 {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

/// One row of `predictions_test.csv`, as read back.
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

/// Reads `predictions_test.csv`: the columns `index,label,predicted,confidence`
/// (in any order) and optionally `p0..p9`. Errors name the file, line and column.
pub fn read_predictions(path: &Path) -> Result<Vec<PredictionRow>, Error> {
    require_artifact(path, EvalFiles::STAGE)?;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = csv::Reader::from_reader(std::io::BufReader::new(file));
    let headers = reader
        .headers()
        .map_err(|e| Error::invalid(path, format!("line 1: {e}")))?
        .clone();
    let column = |name: &str| -> Result<usize, Error> {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| Error::invalid(path, format!("line 1: no `{name}` column")))
    };
    let (c_index, c_label, c_pred, c_conf) = (
        column("index")?,
        column("label")?,
        column("predicted")?,
        column("confidence")?,
    );
    let prob_columns: Option<Vec<usize>> = (0..NUM_CLASSES)
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
            Error::invalid(path, format!("{line}{e}"))
        })?;
        if !more {
            break;
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let field = |col: usize, name: &str| -> Result<&str, Error> {
            record
                .get(col)
                .map(str::trim)
                .ok_or_else(|| Error::invalid(path, format!("line {line}: missing `{name}`")))
        };
        let parse_err = |name: &str, v: &str, want: &str| {
            Error::invalid(
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
                Ok(d) if usize::from(d) < NUM_CLASSES => Ok(d),
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
            Some(cols) => Some(probability(cols[usize::from(label)], &format!("p{label}"))?),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn image(label: u8, predicted: u8, confidence: f32) -> PredictedImage {
        let mut probabilities = [(1.0 - confidence) / 9.0; NUM_CLASSES];
        probabilities[usize::from(predicted)] = confidence;
        PredictedImage {
            label,
            predicted,
            probabilities,
        }
    }

    #[test]
    fn rows_read_back_exactly() {
        let mut p = image(5, 7, 0.99999994);
        p.probabilities[2] = 3.1e-9;
        p.probabilities[4] = 0.0;
        let mut bytes = Vec::new();
        write_predictions(&mut bytes, [p, image(1, 1, 0.5)]).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(PREDICTIONS_HEADER));
        let fields: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(&fields[..4], &["0", "5", "7", "0.99999994"]);
        assert_eq!(fields[6], "3.1e-9");
        assert_eq!(fields[8], "0");
        let read: Vec<f32> = fields[3..].iter().map(|f| f.parse().unwrap()).collect();
        assert_eq!(read[0], p.probabilities[7]);
        assert_eq!(&read[1..], &p.probabilities);
        assert!(lines.next().unwrap().starts_with("1,1,1,0.5,"));
        assert_eq!(lines.next(), None);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("predictions_test.csv");
        std::fs::write(&path, &text).unwrap();
        let rows = read_predictions(&path).unwrap();
        assert_eq!(rows.len(), 2);
        let row = rows[0];
        assert_eq!(
            (row.line, row.index, row.label, row.predicted),
            (2, 0, 5, 7)
        );
        // The text is the shortest that reads back as the same f32.
        assert_eq!(row.confidence as f32, 0.99999994f32);
        assert_eq!(row.p_true.map(|p| p as f32), Some(p.probabilities[5]));
    }

    #[test]
    fn bad_rows_name_the_line_and_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("predictions_test.csv");
        let message_for = |text: &str| {
            std::fs::write(&path, text).unwrap();
            read_predictions(&path).unwrap_err().to_string()
        };
        let m = message_for("index,label,predicted,confidence\n0,3,x,0.5\n");
        assert!(
            m.contains("predictions_test.csv: line 2: `predicted` is \"x\", expected a digit 0-9"),
            "{m}"
        );
        let m = message_for("index,label,predicted\n0,3,3\n");
        assert!(m.contains("line 1: no `confidence` column"), "{m}");
        let m = message_for("index,label,predicted,confidence\n0,3,3,0.5\n1,2,2,1.5\n");
        assert!(m.contains("line 3: `confidence` is \"1.5\""), "{m}");
        let m = message_for("index,label,predicted,confidence\n-1,3,3,0.5\n");
        assert!(
            m.contains("line 2: `index` is \"-1\", expected a row number"),
            "{m}"
        );
        // Without p0..p9 the rows still read, without the true class's probability.
        std::fs::write(&path, "index,label,predicted,confidence\n0,3,3,0.5\n").unwrap();
        assert_eq!(read_predictions(&path).unwrap()[0].p_true, None);
    }
}
