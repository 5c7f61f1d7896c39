//! The split files: parquet with `label` then `pixel0..pixel783`, all UInt8.

use std::fs::File;
use std::path::Path;

use hdr_common::MissingArtifact;
use polars::prelude::*;
use rayon::prelude::*;

use crate::{fail, Dataset, Error, IMAGE_PIXELS, NUM_CLASSES};

/// Rows per block of the parallel transposes (64 rows x 784 bytes stays in L2).
const ROW_BLOCK: usize = 64;

/// Encodes the rows `rows` of `frame` as the bytes of a parquet file
/// (LZ4: about as fast to write as no compression, a third smaller).
/// `path` is only used in messages.
pub(crate) fn encode_split(path: &Path, frame: &DataFrame, rows: &[u32]) -> Result<Vec<u8>, Error> {
    let indices = IdxCa::from_vec("row".into(), rows.iter().map(|&r| r as IdxSize).collect());
    let mut part = frame
        .take(&indices)
        .map_err(|e| fail(format!("{}: selecting rows: {e}", path.display())))?;
    let mut bytes = Vec::with_capacity(rows.len() * IMAGE_PIXELS / 2);
    ParquetWriter::new(&mut bytes)
        .with_compression(ParquetCompression::Lz4Raw)
        .finish(&mut part)
        .map_err(|e| fail(format!("{}: writing parquet: {e}", path.display())))?;
    Ok(bytes)
}

/// Reads a split written by the data stage (train.parquet or test.parquet).
pub fn read_split(path: &Path) -> Result<Dataset, Error> {
    if !path.exists() {
        return Err(MissingArtifact {
            path: path.to_path_buf(),
            stage: "data",
        }
        .into());
    }
    let broken = |why: String| {
        fail(format!(
            "{}: not a valid data split ({why}); run `cargo xtask data` to rebuild it",
            path.display()
        ))
    };
    let file = File::open(path).map_err(|e| broken(e.to_string()))?;
    let frame = ParquetReader::new(file)
        .finish()
        .map_err(|e| broken(e.to_string()))?;
    let columns = frame.columns();
    if columns.len() != IMAGE_PIXELS + 1 {
        return Err(broken(format!(
            "{} columns, expected `label` and 784 pixel columns",
            columns.len()
        )));
    }
    for (position, column) in columns.iter().enumerate() {
        let expected = if position == 0 {
            "label".to_string()
        } else {
            format!("pixel{}", position - 1)
        };
        if column.name().as_str() != expected {
            return Err(broken(format!(
                "column {} is `{}`, expected `{expected}`",
                position + 1,
                column.name()
            )));
        }
        if column.dtype() != &DataType::UInt8 {
            return Err(broken(format!(
                "column `{expected}` has type {}, expected UInt8",
                column.dtype()
            )));
        }
        if column.null_count() > 0 {
            return Err(broken(format!("column `{expected}` has empty cells")));
        }
    }
    let labels = column_bytes(&columns[0]).map_err(|e| broken(e.to_string()))?;
    if let Some(row) = labels.iter().position(|&l| usize::from(l) >= NUM_CLASSES) {
        return Err(broken(format!(
            "row {} has label {}, outside 0..=9",
            row + 1,
            labels[row]
        )));
    }
    let pixels = row_major_pixels(&frame, 1).map_err(|e| broken(e.to_string()))?;
    Ok(Dataset { labels, pixels })
}

/// A UInt8 column without nulls as one byte vector.
fn column_bytes(column: &Column) -> PolarsResult<Vec<u8>> {
    let values = column.u8()?;
    let mut out = Vec::with_capacity(values.len());
    for chunk in values.data_views() {
        out.extend_from_slice(chunk);
    }
    Ok(out)
}

/// The 784 UInt8 columns starting at `first` as row-major images (784 bytes each).
pub(crate) fn row_major_pixels(frame: &DataFrame, first: usize) -> Result<Vec<u8>, Error> {
    let columns = &frame.columns()[first..first + IMAGE_PIXELS];
    let chunked: Vec<_> = columns
        .iter()
        .map(|c| c.u8().map(|ca| ca.rechunk()))
        .collect::<PolarsResult<_>>()
        .map_err(|e| fail(format!("pixel columns: {e}")))?;
    let slices: Vec<&[u8]> = chunked
        .iter()
        .map(|ca| ca.cont_slice())
        .collect::<PolarsResult<_>>()
        .map_err(|e| fail(format!("pixel columns: {e}")))?;
    Ok(rows_from_columns(&slices, frame.height()))
}

/// Interleaves `columns` (each `rows` long) into row-major order.
fn rows_from_columns(columns: &[&[u8]], rows: usize) -> Vec<u8> {
    let width = columns.len();
    let mut out = vec![0u8; rows * width];
    if width == 0 {
        return out;
    }
    out.par_chunks_mut(ROW_BLOCK * width)
        .enumerate()
        .for_each(|(block, chunk)| {
            let first_row = block * ROW_BLOCK;
            let block_rows = chunk.len() / width;
            for (c, column) in columns.iter().enumerate() {
                for (r, &value) in column[first_row..first_row + block_rows].iter().enumerate() {
                    chunk[r * width + c] = value;
                }
            }
        });
    out
}

/// Splits row-major `pixels` (784 per row) into 784 column vectors.
fn columns_from_rows(pixels: &[u8], rows: usize) -> Vec<Vec<u8>> {
    // Each task owns a band of columns and walks all rows, reading one short
    // contiguous run per row: cache-friendly on both sides.
    const BAND: usize = 16;
    (0..IMAGE_PIXELS.div_ceil(BAND))
        .into_par_iter()
        .flat_map_iter(|band| {
            let lo = band * BAND;
            let hi = (lo + BAND).min(IMAGE_PIXELS);
            let mut columns: Vec<Vec<u8>> = (lo..hi).map(|_| Vec::with_capacity(rows)).collect();
            for row in pixels.chunks_exact(IMAGE_PIXELS) {
                for (column, &value) in columns.iter_mut().zip(&row[lo..hi]) {
                    column.push(value);
                }
            }
            columns
        })
        .collect()
}

/// A frame `label, pixel0..pixel783` (UInt8) holding `data`.
pub(crate) fn frame_from_dataset(data: &Dataset) -> Result<DataFrame, Error> {
    let rows = data.len();
    let mut columns = Vec::with_capacity(IMAGE_PIXELS + 1);
    columns.push(Column::new("label".into(), data.labels.clone()));
    for (p, values) in columns_from_rows(&data.pixels, rows)
        .into_iter()
        .enumerate()
    {
        columns.push(Column::new(format!("pixel{p}").into(), values));
    }
    DataFrame::new(rows, columns).map_err(|e| fail(format!("could not assemble the columns: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rows: usize) -> Dataset {
        Dataset {
            labels: (0..rows).map(|i| (i % 10) as u8).collect(),
            pixels: (0..rows * IMAGE_PIXELS)
                .map(|i| (i.wrapping_mul(31) % 251) as u8)
                .collect(),
        }
    }

    #[test]
    fn transposes_round_trip() {
        let data = sample(150); // not a multiple of ROW_BLOCK
        let frame = frame_from_dataset(&data).unwrap();
        assert_eq!(frame.width(), IMAGE_PIXELS + 1);
        assert_eq!(row_major_pixels(&frame, 1).unwrap(), data.pixels);
    }

    #[test]
    fn split_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample(30);
        let frame = frame_from_dataset(&data).unwrap();
        let path = dir.path().join("part.parquet");
        let rows = [1u32, 4, 29];
        std::fs::write(&path, encode_split(&path, &frame, &rows).unwrap()).unwrap();
        let back = read_split(&path).unwrap();
        assert_eq!(back.labels, vec![1, 4, 9]);
        for (i, &r) in rows.iter().enumerate() {
            assert_eq!(back.image(i), data.image(r as usize));
        }
    }

    #[test]
    fn missing_or_foreign_files_say_how_to_fix_them() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("train.parquet");
        let err = read_split(&missing).unwrap_err().to_string();
        assert!(
            err.contains("train.parquet") && err.contains("cargo xtask data"),
            "{err}"
        );
        std::fs::write(&missing, b"not parquet").unwrap();
        let err = read_split(&missing).unwrap_err().to_string();
        assert!(
            err.contains("train.parquet") && err.contains("cargo xtask data"),
            "{err}"
        );
    }
}
