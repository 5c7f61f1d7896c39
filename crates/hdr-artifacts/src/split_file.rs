//! The split files `train.parquet` and `test.parquet`: parquet with a `label`
//! column then `pixel0..pixel783`, all UInt8 without nulls, one row per image.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;
use polars_parquet::parquet::error::ParquetResult;
use polars_parquet::parquet::metadata::Descriptor;
use polars_parquet::parquet::page::{DataPage, DataPageHeader, DataPageHeaderV1, DictPage};
use polars_parquet::parquet::schema::types::PrimitiveType;
use polars_parquet::parquet::CowBuffer;
use polars_parquet::write::{
    compress, fallible_streaming_iterator, CompressedPage, CompressionOptions, DynIter,
    DynStreamingIterator, Encoding, FileWriter, Page, StatisticsOptions, Version, WriteOptions,
};
use rayon::prelude::*;

use crate::{require_artifact, DataFiles, Dataset, Error, IMAGE_PIXELS, NUM_CLASSES};

/// Columns of a split file: `label`, then one per pixel.
pub const SPLIT_COLUMNS: usize = IMAGE_PIXELS + 1;

/// Rows per block of the parallel transposes (64 rows x 784 bytes stays in L2).
const ROW_BLOCK: usize = 64;

/// Page compression of the split files. LZ4 costs little more time than none
/// and makes the files (and the fsync at commit) about three times smaller;
/// Snappy was slower and larger on MNIST.
const COMPRESSION: CompressionOptions = CompressionOptions::Lz4Raw;

/// Rows per data page: 1 MiB of keys, the page size polars writes by default.
const PAGE_ROWS: usize = 1 << 20;

/// Encodes the rows `rows` of `frame` (a split-shaped frame: `label`,
/// `pixel0..pixel783`, UInt8) as the bytes of a split file. `path` is only
/// used in messages.
///
/// Polars' own writer dictionary-encodes every column with freshly computed
/// dictionaries and 32-bit keys; here each column chunk gets the identity
/// dictionary `0..=max` and 8-bit keys, so the keys are the pixel bytes
/// themselves: encoding is a gather, then LZ4 per page. Any parquet reader
/// reads the result as ordinary dictionary-encoded UInt8 columns.
pub fn encode_split(path: &Path, frame: &DataFrame, rows: &[u32]) -> Result<Vec<u8>, Error> {
    encode_rows(path, frame, rows, PAGE_ROWS)
}

/// [`encode_split`] with at most `page_rows` rows per data page.
fn encode_rows(
    path: &Path,
    frame: &DataFrame,
    rows: &[u32],
    page_rows: usize,
) -> Result<Vec<u8>, Error> {
    let broken = |e: &dyn std::fmt::Display| Error::invalid(path, format!("writing parquet: {e}"));
    let chunked: Vec<_> = frame
        .columns()
        .iter()
        .map(|c| c.u8().map(|ca| ca.rechunk()))
        .collect::<PolarsResult<_>>()
        .map_err(|e| broken(&e))?;
    let columns: Vec<&[u8]> = chunked
        .iter()
        .map(|ca| ca.cont_slice())
        .collect::<PolarsResult<_>>()
        .map_err(|e| broken(&e))?;
    if let Some(&row) = rows.iter().max().filter(|&&r| r as usize >= frame.height()) {
        return Err(broken(&format!(
            "row {row} is past the end of the {} rows",
            frame.height()
        )));
    }

    let schema: ArrowSchema = frame
        .columns()
        .iter()
        .map(|c| ArrowField::new(c.name().clone(), ArrowDataType::UInt8, false))
        .collect();
    let options = WriteOptions {
        // No statistics: nothing filters the splits by value, and they cost time.
        statistics: StatisticsOptions::empty(),
        version: Version::V1,
        compression: COMPRESSION,
        data_page_size: None,
    };
    let mut writer = FileWriter::try_new(
        Vec::with_capacity(rows.len() * frame.width() / 4),
        schema,
        options,
    )
    .map_err(|e| broken(&e))?;
    let types: Vec<PrimitiveType> = writer
        .parquet_schema()
        .columns()
        .iter()
        .map(|c| c.descriptor.primitive_type.clone())
        .collect();
    let chunks: Vec<Vec<CompressedPage>> = columns
        .par_iter()
        .zip(types.par_iter())
        .map(|(values, type_)| column_chunk(values, rows, type_, page_rows))
        .collect::<ParquetResult<_>>()
        .map_err(|e| broken(&e))?;
    let row_group = DynIter::new(chunks.iter().map(|pages| {
        Ok(DynStreamingIterator::new(
            fallible_streaming_iterator::convert(pages.iter().map(PolarsResult::Ok)),
        ))
    }));
    writer
        .write(rows.len() as u64, row_group)
        .map_err(|e| broken(&e))?;
    writer.end(None).map_err(|e| broken(&e))?;
    Ok(writer.into_inner())
}

/// One column chunk: the identity dictionary `0..=max`, then data pages of
/// 8-bit keys (the values `values[rows]`; bit-packed at width 8 they stay as they are).
fn column_chunk(
    values: &[u8],
    rows: &[u32],
    type_: &PrimitiveType,
    rows_per_page: usize,
) -> ParquetResult<Vec<CompressedPage>> {
    let mut pages = Vec::with_capacity(1 + rows.len().div_ceil(rows_per_page));
    let mut max = 0u8;
    // An empty split still gets one (empty) data page.
    let page_slices = std::iter::once(rows)
        .filter(|rows| rows.is_empty())
        .chain(rows.chunks(rows_per_page));
    for page_rows in page_slices {
        // RLE/bit-packed hybrid: the key width, then one bit-packed run of whole
        // groups of 8 keys (header = groups << 1 | 1, as ULEB128), zero-padded.
        let groups = page_rows.len().div_ceil(8);
        let mut keys = Vec::with_capacity(1 + 5 + groups * 8);
        keys.push(8u8);
        push_uleb128(&mut keys, (groups as u64) << 1 | 1);
        let start = keys.len();
        keys.extend(page_rows.iter().map(|&r| values[r as usize]));
        max = max.max(keys[start..].iter().copied().max().unwrap_or(0));
        keys.resize(start + groups * 8, 0);

        let header = DataPageHeader::V1(DataPageHeaderV1 {
            num_values: page_rows.len() as i32, // at most PAGE_ROWS (the test uses fewer)
            encoding: Encoding::RleDictionary.into(),
            definition_level_encoding: Encoding::Rle.into(),
            repetition_level_encoding: Encoding::Rle.into(),
            statistics: None,
        });
        let descriptor = Descriptor {
            primitive_type: type_.clone(),
            max_def_level: 0,
            max_rep_level: 0,
        };
        let page = DataPage::new(header, CowBuffer::Owned(keys), descriptor, page_rows.len());
        pages.push(compress(Page::Data(page), Vec::new(), COMPRESSION)?);
    }
    // The dictionary page comes first in the file, but its size is known last.
    let dictionary: Vec<u8> = (0..=i32::from(max)).flat_map(i32::to_le_bytes).collect();
    let dictionary = DictPage::new(CowBuffer::Owned(dictionary), usize::from(max) + 1, true);
    pages.insert(
        0,
        compress(Page::Dict(dictionary), Vec::new(), COMPRESSION)?,
    );
    Ok(pages)
}

/// Appends `value` as an unsigned LEB128 varint.
fn push_uleb128(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Pixel columns [`read_split`] decodes at a time (784 = 14 x 56): one band's
/// columns are all it holds beside the row-major pixels it returns, so reading
/// a split costs little more memory than its 784 bytes per image.
const READ_BAND: usize = 56;

/// Reads a split file (train.parquet or test.parquet), checking its columns,
/// their types and the labels; errors say how to rebuild it.
///
/// The pixels are decoded a band of columns at a time and interleaved into
/// rows as they come, so the whole file is never held as columns.
pub fn read_split(path: &Path) -> Result<Dataset, Error> {
    require_artifact(path, DataFiles::STAGE)?;
    let broken = |why: String| {
        Error::invalid(
            path,
            format!("not a valid data split ({why}); run `cargo xtask data` to rebuild it"),
        )
    };
    let open = || {
        File::open(path)
            .map(ParquetReader::new)
            .map_err(|e| broken(e.to_string()))
    };
    let mut reader = open()?;
    let metadata = reader
        .get_metadata()
        .map_err(|e| broken(e.to_string()))?
        .clone();
    let schema = reader.schema().map_err(|e| broken(e.to_string()))?;
    if schema.len() != SPLIT_COLUMNS {
        return Err(broken(format!(
            "{} columns, expected `label` and 784 pixel columns",
            schema.len()
        )));
    }
    let expected_name = |position: usize| {
        if position == 0 {
            "label".to_string()
        } else {
            format!("pixel{}", position - 1)
        }
    };
    for (position, name) in schema.iter_names().enumerate() {
        let expected = expected_name(position);
        if name.as_str() != expected {
            return Err(broken(format!(
                "column {} is `{name}`, expected `{expected}`",
                position + 1
            )));
        }
    }
    let rows = metadata.num_rows;
    // Columns `first..first + count`, checked for their type and for gaps.
    let read_columns = |first: usize, count: usize| -> Result<DataFrame, Error> {
        let mut reader = open()?;
        reader.set_metadata(metadata.clone());
        let frame = reader
            .with_projection(Some((first..first + count).collect()))
            .finish()
            .map_err(|e| broken(e.to_string()))?;
        for (offset, column) in frame.columns().iter().enumerate() {
            let expected = expected_name(first + offset);
            if column.dtype() != &DataType::UInt8 {
                return Err(broken(format!(
                    "column `{expected}` has type {}, expected UInt8",
                    column.dtype()
                )));
            }
            if column.null_count() > 0 {
                return Err(broken(format!("column `{expected}` has empty cells")));
            }
            if column.len() != rows {
                return Err(broken(format!(
                    "column `{expected}` has {} rows, the file says {rows}",
                    column.len()
                )));
            }
        }
        Ok(frame)
    };

    let labels =
        column_bytes(&read_columns(0, 1)?.columns()[0]).map_err(|e| broken(e.to_string()))?;
    if let Some(row) = labels.iter().position(|&l| usize::from(l) >= NUM_CLASSES) {
        return Err(broken(format!(
            "row {} has label {}, outside 0..=9",
            row + 1,
            labels[row]
        )));
    }
    let mut pixels = vec![0u8; rows * IMAGE_PIXELS];
    for first in (0..IMAGE_PIXELS).step_by(READ_BAND) {
        let count = READ_BAND.min(IMAGE_PIXELS - first);
        let frame = read_columns(1 + first, count)?;
        let chunked: Vec<_> = frame
            .columns()
            .iter()
            .map(|c| c.u8().map(|ca| ca.rechunk()))
            .collect::<PolarsResult<_>>()
            .map_err(|e| broken(e.to_string()))?;
        let columns: Vec<&[u8]> = chunked
            .iter()
            .map(|ca| ca.cont_slice())
            .collect::<PolarsResult<_>>()
            .map_err(|e| broken(e.to_string()))?;
        fill_columns(&mut pixels, IMAGE_PIXELS, first, &columns);
    }
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

/// The 784 UInt8 columns of `frame` starting at column `first` as row-major
/// images (784 bytes each): the pixels of a split-shaped frame (`first` = 1)
/// or of one without labels (`first` = 0).
pub fn row_major_pixels(frame: &DataFrame, first: usize) -> PolarsResult<Vec<u8>> {
    let columns = frame
        .columns()
        .get(first..first + IMAGE_PIXELS)
        .ok_or_else(|| {
            polars_err!(ShapeMismatch: "{} columns, expected {IMAGE_PIXELS} pixel columns after the first {first}", frame.width())
        })?;
    let chunked: Vec<_> = columns
        .iter()
        .map(|c| c.u8().map(|ca| ca.rechunk()))
        .collect::<PolarsResult<_>>()?;
    let slices: Vec<&[u8]> = chunked
        .iter()
        .map(|ca| ca.cont_slice())
        .collect::<PolarsResult<_>>()?;
    Ok(rows_from_columns(&slices, frame.height()))
}

/// Interleaves `columns` (each `rows` long) into row-major order.
fn rows_from_columns(columns: &[&[u8]], rows: usize) -> Vec<u8> {
    let width = columns.len();
    let mut out = vec![0u8; rows * width];
    fill_columns(&mut out, width, 0, columns);
    out
}

/// Writes `columns` into the row-major `out` (`width` values per row) as its
/// columns `first..first + columns.len()`.
fn fill_columns(out: &mut [u8], width: usize, first: usize, columns: &[&[u8]]) {
    if width == 0 {
        return;
    }
    out.par_chunks_mut(ROW_BLOCK * width)
        .enumerate()
        .for_each(|(block, chunk)| {
            let first_row = block * ROW_BLOCK;
            let block_rows = chunk.len() / width;
            for (c, column) in columns.iter().enumerate() {
                for (r, &value) in column[first_row..first_row + block_rows].iter().enumerate() {
                    chunk[r * width + first + c] = value;
                }
            }
        });
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

/// The split-shaped frame (`label`, `pixel0..pixel783`, UInt8) holding `data`.
pub fn split_frame(data: &Dataset) -> PolarsResult<DataFrame> {
    let rows = data.len();
    let mut columns = Vec::with_capacity(IMAGE_PIXELS + 1);
    columns.push(Column::new("label".into(), data.labels.clone()));
    for (p, values) in columns_from_rows(&data.pixels, rows)
        .into_iter()
        .enumerate()
    {
        columns.push(Column::new(format!("pixel{p}").into(), values));
    }
    DataFrame::new(rows, columns)
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
        let frame = split_frame(&data).unwrap();
        assert_eq!(frame.width(), IMAGE_PIXELS + 1);
        assert_eq!(row_major_pixels(&frame, 1).unwrap(), data.pixels);
    }

    #[test]
    fn split_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample(30);
        let frame = split_frame(&data).unwrap();
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
    fn pages_padding_and_long_run_headers_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample(1000);
        let frame = split_frame(&data).unwrap();
        let path = dir.path().join("part.parquet");
        // Every row but a few: 997 keys, not a multiple of 8, and 125 groups
        // need a two-byte run header; pages of 100 rows pad every page.
        let rows: Vec<u32> = (0..1000).filter(|r| r % 400 != 7).collect();
        for page_rows in [PAGE_ROWS, 100] {
            let bytes = encode_rows(&path, &frame, &rows, page_rows).unwrap();
            std::fs::write(&path, &bytes).unwrap();
            let back = read_split(&path).unwrap();
            assert_eq!(back.len(), rows.len(), "{page_rows} rows per page");
            for (i, &r) in rows.iter().enumerate() {
                assert_eq!(back.labels[i], data.labels[r as usize]);
                assert_eq!(back.image(i), data.image(r as usize), "row {r}");
            }
            assert_eq!(
                encode_rows(&path, &frame, &rows, page_rows).unwrap(),
                bytes,
                "same rows, same bytes"
            );
        }
    }

    #[test]
    fn an_empty_selection_is_a_readable_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let frame = split_frame(&sample(4)).unwrap();
        let path = dir.path().join("empty.parquet");
        std::fs::write(&path, encode_split(&path, &frame, &[]).unwrap()).unwrap();
        assert!(read_split(&path).unwrap().is_empty());
    }

    #[test]
    fn rows_past_the_end_are_an_error_not_a_panic() {
        let data = sample(5);
        let frame = split_frame(&data).unwrap();
        let err = encode_split(Path::new("t.parquet"), &frame, &[0, 5])
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.parquet") && err.contains("row 5"), "{err}");
    }

    #[test]
    fn uleb128_matches_the_spec_examples() {
        for (value, expected) in [
            (0u64, vec![0u8]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
            (624_485, vec![0xe5, 0x8e, 0x26]),
        ] {
            let mut out = Vec::new();
            push_uleb128(&mut out, value);
            assert_eq!(out, expected, "{value}");
        }
    }

    #[test]
    fn foreign_split_files_are_read_or_refused_by_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.parquet");
        let data = sample(300);
        let write = |frame: &mut DataFrame| {
            let file = File::create(&path).unwrap();
            ParquetWriter::new(file)
                .with_row_group_size(Some(64))
                .finish(frame)
                .unwrap();
        };
        // Polars' own writer, in several row groups: every band comes back whole.
        let frame = split_frame(&data).unwrap();
        write(&mut frame.clone());
        assert_eq!(read_split(&path).unwrap(), data);

        let refused = |frame: &mut DataFrame| {
            write(frame);
            let err = read_split(&path).unwrap_err().to_string();
            assert!(
                err.contains("train.parquet") && err.contains("cargo xtask data"),
                "{err}"
            );
            err
        };
        let mut renamed = frame.clone();
        renamed.rename("pixel5", "p5".into()).unwrap();
        let err = refused(&mut renamed);
        assert!(err.contains("column 7 is `p5`, expected `pixel5`"), "{err}");

        let mut wide = frame.clone();
        let widened = wide
            .column("pixel700")
            .unwrap()
            .cast(&DataType::Int32)
            .unwrap();
        wide.with_column(widened).unwrap();
        let err = refused(&mut wide);
        assert!(
            err.contains("column `pixel700` has type i32, expected UInt8"),
            "{err}"
        );

        let mut gaps = frame.clone();
        let cells: Vec<Option<u8>> = (0..300).map(|r| (r != 299).then_some(1)).collect();
        gaps.with_column(Column::new("pixel783".into(), cells))
            .unwrap();
        let err = refused(&mut gaps);
        assert!(err.contains("column `pixel783` has empty cells"), "{err}");

        let mut narrow = frame.clone();
        narrow.drop_in_place("pixel783").unwrap();
        let err = refused(&mut narrow);
        assert!(
            err.contains("784 columns, expected `label` and 784 pixel columns"),
            "{err}"
        );
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
