//! Kaggle-style digit CSVs: `label` plus 784 `pixelN` columns, read by polars.
//!
//! The header is parsed here (so the schema is declared, never inferred, and
//! header mistakes get precise messages); polars parses the body as UInt8
//! columns on every core. Polars' own errors do not say where, so on any
//! polars error, empty cell or out-of-range label a slower diagnostic pass
//! with the `csv` crate finds the first bad cell and names its line and column.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use polars::prelude::*;

use hdr_artifacts::{row_major_pixels, IMAGE_PIXELS, NUM_CLASSES};

use crate::error::{CellError, CellKind};
use crate::read::{decoded, read_file};
use crate::Error;

/// Images from a source whose label column may be absent (Kaggle's test.csv).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Images {
    /// Labels, when the source has a `label` column.
    pub labels: Option<Vec<u8>>,
    /// 784 grey levels per image.
    pub pixels: Vec<u8>,
}

impl Images {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / IMAGE_PIXELS
    }
    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }
}

/// Whether a source must have a `label` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelColumn {
    /// A missing `label` column is an error.
    Required,
    /// A missing `label` column is fine (unlabelled images).
    Optional,
}

/// A parsed CSV frame, columns normalised to `[label,] pixel0..pixel783`.
pub(crate) struct CsvFrame {
    /// UInt8 columns: `label` (when present) then `pixel0`..`pixel783`.
    pub frame: DataFrame,
    /// The labels, when the file has a `label` column.
    pub labels: Option<Vec<u8>>,
}

/// Loads a Kaggle-style CSV (plain or .gz) into memory, validating every cell.
pub fn load_csv(path: &Path, labels: LabelColumn) -> Result<Images, Error> {
    let raw = read_file(path)?;
    let text = decoded(path, &raw)?;
    let loaded = frame_from_csv(path, &text, labels)?;
    drop(text);
    drop(raw);
    let pixels = row_major_pixels(&loaded.frame, usize::from(loaded.labels.is_some())).map_err(
        |source| Error::PixelValues {
            path: path.to_path_buf(),
            source,
        },
    )?;
    Ok(Images {
        labels: loaded.labels,
        pixels,
    })
}

/// What the header line says about each column.
#[derive(Debug)]
struct Header {
    /// Column names as written (trimmed, unquoted).
    names: Vec<String>,
    /// Position of the `label` column.
    label: Option<usize>,
    /// `pixel_columns[p]` is the position of the column holding pixel `p` (0-based).
    pixel_columns: Vec<usize>,
}

impl Header {
    /// Column `position`'s name, for messages.
    fn name(&self, position: usize) -> &str {
        &self.names[position]
    }
}

/// Parses `text` (decompressed CSV bytes) into a normalised frame.
pub(crate) fn frame_from_csv(
    path: &Path,
    text: &[u8],
    labels: LabelColumn,
) -> Result<CsvFrame, Error> {
    let no_data_rows = || Error::NoDataRows {
        path: path.to_path_buf(),
    };
    let (header, body_start) = parse_header(path, text, labels)?;
    let body = &text[body_start..];
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(no_data_rows());
    }

    let schema: Schema = header
        .names
        .iter()
        .map(|name| Field::new(name.as_str().into(), DataType::UInt8))
        .collect();
    let parsed = CsvReadOptions::default()
        .with_has_header(false)
        .with_schema(Some(Arc::new(schema)))
        .with_rechunk(true)
        .with_raise_if_empty(false)
        .into_reader_with_file_handle(Cursor::new(body))
        .finish();
    let frame = match parsed {
        Ok(frame) => frame,
        Err(source) => {
            return Err(
                diagnose(path, body, &header).unwrap_or_else(|| Error::ParseCsv {
                    path: path.to_path_buf(),
                    source,
                }),
            )
        }
    };
    if frame.height() == 0 {
        return Err(no_data_rows());
    }
    if frame.columns().iter().any(|c| c.null_count() > 0) {
        return Err(
            diagnose(path, body, &header).unwrap_or_else(|| Error::EmptyCells {
                path: path.to_path_buf(),
            }),
        );
    }

    let label_values = match header.label {
        Some(position) => {
            let values =
                u8_column(&frame.columns()[position]).map_err(|source| Error::LabelValues {
                    path: path.to_path_buf(),
                    source,
                })?;
            if values.iter().any(|&l| usize::from(l) >= NUM_CLASSES) {
                return Err(diagnose(path, body, &header).unwrap_or_else(|| {
                    Error::LabelOutOfRange {
                        path: path.to_path_buf(),
                    }
                }));
            }
            Some(values)
        }
        None => None,
    };

    // Normalise the column order and names: `label`, then pixel0..pixel783.
    let columns = frame.columns();
    let mut ordered = Vec::with_capacity(IMAGE_PIXELS + 1);
    if let Some(position) = header.label {
        ordered.push(columns[position].clone().with_name("label".into()));
    }
    for (pixel, &position) in header.pixel_columns.iter().enumerate() {
        ordered.push(
            columns[position]
                .clone()
                .with_name(format!("pixel{pixel}").into()),
        );
    }
    let frame = DataFrame::new(frame.height(), ordered).map_err(|source| Error::Columns {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(CsvFrame {
        frame,
        labels: label_values,
    })
}

/// A UInt8 column's values as a plain vector.
fn u8_column(column: &Column) -> PolarsResult<Vec<u8>> {
    let values = column.u8()?;
    let mut out = Vec::with_capacity(values.len());
    for chunk in values.data_views() {
        out.extend_from_slice(chunk);
    }
    Ok(out)
}

/// Parses the header line; returns it and where the body starts.
fn parse_header(path: &Path, text: &[u8], labels: LabelColumn) -> Result<(Header, usize), Error> {
    let bom = if text.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    if text[bom..].iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let line_end = text[bom..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| bom + i);
    let body_start = (line_end + 1).min(text.len());
    let line = &text[bom..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = std::str::from_utf8(line).map_err(|source| Error::HeaderNotText {
        path: path.to_path_buf(),
        source,
    })?;

    let mut names = Vec::new();
    let mut label = None;
    let mut pixel_numbers: Vec<(u32, usize)> = Vec::new(); // (number, position)
    let mut seen = std::collections::HashMap::new();
    for (position, cell) in line.split(',').enumerate() {
        let name = cell.trim();
        let name = name
            .strip_prefix('"')
            .and_then(|n| n.strip_suffix('"'))
            .unwrap_or(name)
            .trim();
        if let Some(first) = seen.insert(name.to_string(), position) {
            return Err(Error::DuplicateColumn {
                path: path.to_path_buf(),
                column: position + 1,
                name: name.to_string(),
                first: first + 1,
            });
        }
        if name == "label" {
            label = Some(position);
        } else if let Some(number) = name.strip_prefix("pixel").and_then(parse_pixel_number) {
            pixel_numbers.push((number, position));
        } else {
            return Err(Error::UnexpectedColumn {
                path: path.to_path_buf(),
                column: position + 1,
                name: name.to_string(),
            });
        }
        names.push(name.to_string());
    }

    if label.is_none() && labels == LabelColumn::Required {
        return Err(Error::NoLabelColumn {
            path: path.to_path_buf(),
        });
    }
    let pixel_columns = pixel_layout(path, &pixel_numbers)?;
    Ok((
        Header {
            names,
            label,
            pixel_columns,
        },
        body_start,
    ))
}

/// `123` → 123; rejects signs, spaces and leading zeros (`pixel01`).
fn parse_pixel_number(digits: &str) -> Option<u32> {
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if canonical {
        digits.parse().ok()
    } else {
        None
    }
}

/// Checks that the pixel columns are `pixel0..pixel783` or `pixel1..pixel784`
/// (any order) and returns each pixel's column position.
fn pixel_layout(path: &Path, numbers: &[(u32, usize)]) -> Result<Vec<usize>, Error> {
    let base = if numbers.iter().any(|&(n, _)| n == 0) {
        0
    } else {
        1
    };
    let last = base + IMAGE_PIXELS as u32 - 1;
    let mut positions = vec![usize::MAX; IMAGE_PIXELS];
    let mut outside = None;
    for &(number, position) in numbers {
        if number < base || number > last {
            outside.get_or_insert((number, position));
        } else {
            positions[(number - base) as usize] = position;
        }
    }
    let found = numbers.len();
    let missing = positions
        .iter()
        .position(|&p| p == usize::MAX)
        .map(|missing| missing as u32 + base);
    if found == IMAGE_PIXELS && outside.is_none() && missing.is_none() {
        Ok(positions)
    } else {
        Err(Error::PixelColumns {
            path: path.to_path_buf(),
            found,
            outside: outside.map(|(number, position)| (position + 1, number)),
            missing,
            base,
        })
    }
}

/// Finds the first bad cell of `body` (the text after the header line) and
/// describes it with its 1-based line and column name. `None` if every cell is fine.
fn diagnose(path: &Path, body: &[u8], header: &Header) -> Option<Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut record = csv::ByteRecord::new();
    let width = header.names.len();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return None,
            Ok(true) => {}
            Err(source) => {
                return Some(Error::UnreadableCsv {
                    path: path.to_path_buf(),
                    line: source.position().map_or(0, |p| p.line() + 1),
                    source,
                });
            }
        }
        // The header is line 1 and holds no quoted newlines, so body line n is file line n + 1.
        let line = record.position().map_or(0, |p| p.line() + 1);
        if record.len() == 1 && record[0].iter().all(|b| b.is_ascii_whitespace()) {
            continue; // a blank line (e.g. a stray trailing newline)
        }
        if record.len() < width {
            return Some(Error::TruncatedRow {
                path: path.to_path_buf(),
                line,
                cells: record.len(),
                width,
                missing: header.name(record.len()).to_string(),
            });
        }
        if record.len() > width {
            return Some(Error::LongRow {
                path: path.to_path_buf(),
                line,
                cells: record.len(),
                width,
            });
        }
        for (position, cell) in record.iter().enumerate() {
            let kind = if header.label == Some(position) {
                CellKind::Label
            } else {
                CellKind::Pixel
            };
            if let Err(problem) = check_cell(cell, kind) {
                let path = path.to_path_buf();
                return Some(match kind {
                    CellKind::Label => Error::BadLabel {
                        path,
                        line,
                        problem,
                    },
                    CellKind::Pixel => Error::BadPixel {
                        path,
                        line,
                        column: header.name(position).to_string(),
                        problem,
                    },
                });
            }
        }
    }
}

/// Checks one cell the way the fast path reads it: optional leading
/// whitespace, then a whole number in range.
fn check_cell(cell: &[u8], kind: CellKind) -> Result<(), CellError> {
    let start = cell
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(cell.len());
    let trimmed = &cell[start..];
    let text = || String::from_utf8_lossy(cell).into_owned();
    if trimmed.is_empty() {
        return Err(CellError::Empty { kind });
    }
    let digits = trimmed.strip_prefix(b"+").unwrap_or(trimmed);
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        let value = digits.iter().fold(0u64, |acc, &d| {
            acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
        if value > kind.max() {
            return Err(CellError::OutOfRange { kind, text: text() });
        }
        return Ok(());
    }
    let utf8 = std::str::from_utf8(trimmed).unwrap_or("");
    if !utf8.trim_end().is_empty() && utf8.trim_end().bytes().all(|b| b.is_ascii_digit()) {
        return Err(CellError::TrailingSpaces { kind, text: text() });
    }
    match std::str::from_utf8(trimmed)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
    {
        Some(number) if number < 0.0 => Err(CellError::Negative { kind, text: text() }),
        Some(_) => Err(CellError::NotWhole { kind, text: text() }),
        None => Err(CellError::NotANumber { kind, text: text() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f_csv() -> &'static Path {
        Path::new("f.csv")
    }

    fn header_line(names: &[String]) -> Vec<u8> {
        let mut line = names.join(",").into_bytes();
        line.push(b'\n');
        line
    }

    fn kaggle_names(base: usize) -> Vec<String> {
        std::iter::once("label".to_string())
            .chain((0..784).map(|p| format!("pixel{}", p + base)))
            .collect()
    }

    #[test]
    fn header_accepts_either_numbering_in_any_order() {
        let mut names = kaggle_names(1);
        names.reverse();
        let (header, start) =
            parse_header(f_csv(), &header_line(&names), LabelColumn::Required).unwrap();
        assert_eq!(header.label, Some(784));
        assert_eq!(
            header.pixel_columns[0], 783,
            "pixel1 is the last-but-one column"
        );
        assert_eq!(start, header_line(&names).len());
    }

    #[test]
    fn header_strips_bom_crlf_and_quotes() {
        let mut text = b"\xEF\xBB\xBF".to_vec();
        let quoted: Vec<String> = kaggle_names(0).iter().map(|n| format!("\"{n}\"")).collect();
        text.extend_from_slice(quoted.join(",").as_bytes());
        text.extend_from_slice(b"\r\n1");
        let (header, start) = parse_header(f_csv(), &text, LabelColumn::Required).unwrap();
        assert_eq!(header.names[0], "label");
        assert_eq!(&text[start..], b"1");
    }

    #[test]
    fn header_problems_are_named() {
        let mut names = kaggle_names(0);
        names[5] = "pixel900".into();
        let err = parse_header(f_csv(), &header_line(&names), LabelColumn::Required).unwrap_err();
        assert!(
            matches!(
                err,
                Error::PixelColumns {
                    found: 784,
                    outside: Some((6, 900)),
                    missing: Some(4),
                    base: 0,
                    ..
                }
            ),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("`pixel900`") && message.contains("`pixel4` is missing"),
            "{message}"
        );
        let err = parse_header(f_csv(), b"label,pixel01\n", LabelColumn::Required).unwrap_err();
        assert!(
            matches!(&err, Error::UnexpectedColumn { column: 2, name, .. } if name == "pixel01"),
            "{err:?}"
        );
        assert!(err.to_string().contains("column 2 (`pixel01`)"), "{err}");
        let err = parse_header(f_csv(), b"label,label\n", LabelColumn::Required).unwrap_err();
        assert!(
            matches!(
                err,
                Error::DuplicateColumn {
                    column: 2,
                    first: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        let unlabelled: Vec<String> = (0..784).map(|p| format!("pixel{p}")).collect();
        parse_header(f_csv(), &header_line(&unlabelled), LabelColumn::Optional).unwrap();
        let err =
            parse_header(f_csv(), &header_line(&unlabelled), LabelColumn::Required).unwrap_err();
        assert!(matches!(err, Error::NoLabelColumn { .. }), "{err:?}");
        let err = parse_header(f_csv(), b"\xEF\xBB\xBF \r\n", LabelColumn::Required).unwrap_err();
        assert!(matches!(err, Error::EmptyFile { .. }), "{err:?}");
        let err = parse_header(f_csv(), b"label,\xff\n", LabelColumn::Required).unwrap_err();
        assert!(matches!(err, Error::HeaderNotText { .. }), "{err:?}");
        assert!(
            std::error::Error::source(&err).is_some(),
            "keeps the Utf8Error"
        );
    }

    #[test]
    fn cells_are_checked_like_the_fast_path() {
        use CellKind::{Label, Pixel};
        assert!(check_cell(b"255", Pixel).is_ok());
        assert!(check_cell(b" 7", Label).is_ok());
        assert!(check_cell(b"+12", Pixel).is_ok());
        let text = |t: &str| t.to_string();
        assert_eq!(
            check_cell(b"256", Pixel),
            Err(CellError::OutOfRange {
                kind: Pixel,
                text: text("256")
            })
        );
        let label = check_cell(b"10", Label).unwrap_err();
        assert_eq!(label.to_string(), "label 10 is outside 0..=9");
        assert_eq!(
            check_cell(b"-1", Pixel),
            Err(CellError::Negative {
                kind: Pixel,
                text: text("-1")
            })
        );
        assert!(matches!(
            check_cell(b"0.5", Pixel),
            Err(CellError::NotWhole { .. })
        ));
        assert!(matches!(
            check_cell(b"abc", Pixel),
            Err(CellError::NotANumber { .. })
        ));
        assert_eq!(
            check_cell(b"", Pixel),
            Err(CellError::Empty { kind: Pixel })
        );
        assert_eq!(
            check_cell(b"", Pixel).unwrap_err().to_string(),
            "empty cell; every pixel value must be a whole number 0..=255"
        );
        assert!(matches!(
            check_cell(b"5 ", Pixel),
            Err(CellError::TrailingSpaces { .. })
        ));
        assert!(matches!(
            check_cell(b"99999999999999999999999", Pixel),
            Err(CellError::OutOfRange { .. })
        ));
    }
}
