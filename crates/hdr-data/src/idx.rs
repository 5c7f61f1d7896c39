//! MNIST IDX files (raw or .gz) in, Kaggle-style CSV out.

use std::io::{BufWriter, Write};
use std::path::Path;

use hdr_artifacts::{Dataset, IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};
use hdr_common::OutputSet;
use rayon::prelude::*;

use crate::error::IdxFile;
use crate::read::{decoded, read_file};
use crate::Error;

/// Reads an MNIST-format pair of IDX files (each raw or gzip), checking magic
/// numbers, 28x28 images, matching counts and labels 0..=9; errors name the file.
pub fn read_idx(images: &Path, labels: &Path) -> Result<Dataset, Error> {
    let (image_bytes, label_bytes) = std::thread::scope(|scope| {
        // The labels file is small; read it on the side while the images inflate.
        let label_job = scope.spawn(|| read_decoded(labels));
        let image_bytes = read_decoded(images);
        let label_bytes = label_job.join().map_err(|_| Error::Panicked {
            thread: "IDX labels",
        });
        (image_bytes, label_bytes)
    });
    let mut image_bytes = image_bytes?;
    let mut label_bytes = label_bytes??;

    let count = check_images(images, &image_bytes)?;
    let label_count = check_header(labels, &label_bytes, IdxFile::Labels, 8)?;
    if label_count != count {
        return Err(Error::IdxCounts {
            path: labels.to_path_buf(),
            images: images.to_path_buf(),
            label_count,
            image_count: count,
        });
    }
    if label_bytes.len() != 8 + count {
        return Err(Error::IdxLabelBytes {
            path: labels.to_path_buf(),
            count,
            bytes: label_bytes.len(),
        });
    }
    if let Some(i) = label_bytes[8..]
        .iter()
        .position(|&l| usize::from(l) >= NUM_CLASSES)
    {
        return Err(Error::IdxLabel {
            path: labels.to_path_buf(),
            item: i + 1,
            label: label_bytes[8 + i],
        });
    }
    label_bytes.drain(..8);
    image_bytes.drain(..16);
    Ok(Dataset {
        labels: label_bytes,
        pixels: image_bytes,
    })
}

fn read_decoded(path: &Path) -> Result<Vec<u8>, Error> {
    let raw = read_file(path)?;
    Ok(match decoded(path, &raw)? {
        std::borrow::Cow::Owned(inflated) => inflated,
        std::borrow::Cow::Borrowed(_) => raw,
    })
}

/// Checks the magic number and returns the item count of an IDX header.
fn check_header(
    path: &Path,
    bytes: &[u8],
    kind: IdxFile,
    header_len: usize,
) -> Result<usize, Error> {
    let field = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    let too_short = || Error::IdxTooShort {
        path: path.to_path_buf(),
        bytes: bytes.len(),
        kind,
    };
    if bytes.len() < 4 {
        return Err(too_short());
    }
    // The magic number first: it tells a swapped pair apart from a short file.
    let found = field(0);
    if found != kind.magic() {
        return Err(Error::IdxMagic {
            path: path.to_path_buf(),
            kind,
            found,
        });
    }
    if bytes.len() < header_len {
        return Err(too_short());
    }
    Ok(field(1) as usize)
}

/// Checks an images file's header and size; returns the image count.
fn check_images(path: &Path, bytes: &[u8]) -> Result<usize, Error> {
    let count = check_header(path, bytes, IdxFile::Images, 16)?;
    let side = |i: usize| {
        u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes")) as usize
    };
    let (rows, cols) = (side(2), side(3));
    if (rows, cols) != (IMAGE_SIDE, IMAGE_SIDE) {
        return Err(Error::IdxImageSize {
            path: path.to_path_buf(),
            rows,
            cols,
        });
    }
    let expected_len = count
        .checked_mul(IMAGE_PIXELS)
        .and_then(|n| n.checked_add(16));
    if expected_len != Some(bytes.len()) {
        return Err(Error::IdxImageBytes {
            path: path.to_path_buf(),
            count,
            pixel_bytes: bytes.len() - 16,
        });
    }
    Ok(count)
}

/// Writes `data` as a Kaggle-style CSV (`label,pixel0..pixel783`), gzip when
/// `out` ends in `.gz`; the file appears only once complete.
pub fn write_kaggle_csv(data: &Dataset, out: &Path) -> Result<(), Error> {
    if data.pixels.len() != data.labels.len() * IMAGE_PIXELS {
        return Err(Error::PixelCount {
            path: out.to_path_buf(),
            labels: data.labels.len(),
            pixels: data.pixels.len(),
        });
    }
    if let Some(i) = data
        .labels
        .iter()
        .position(|&l| usize::from(l) >= NUM_CLASSES)
    {
        return Err(Error::ImageLabel {
            path: out.to_path_buf(),
            image: i + 1,
            label: data.labels[i],
        });
    }
    let mut header = String::from("label");
    for p in 0..IMAGE_PIXELS {
        header.push_str(&format!(",pixel{p}"));
    }
    header.push('\n');
    // Format blocks of rows in parallel; write them in order.
    const ROWS_PER_BLOCK: usize = 2048;
    let blocks: Vec<Vec<u8>> = data
        .labels
        .par_chunks(ROWS_PER_BLOCK)
        .zip(data.pixels.par_chunks(ROWS_PER_BLOCK * IMAGE_PIXELS))
        .map(|(labels, pixels)| format_rows(labels, pixels))
        .collect();

    let gzip = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let mut outputs = OutputSet::new();
    let cannot_write = |source| Error::Write {
        path: out.to_path_buf(),
        source,
    };
    let file = outputs.create(out).map_err(cannot_write)?;
    let writer = BufWriter::with_capacity(1 << 20, file);
    let result = if gzip {
        let mut encoder = flate2::write::GzEncoder::new(writer, flate2::Compression::default());
        write_blocks(&mut encoder, &header, &blocks)
            .and_then(|_| encoder.finish())
            .and_then(|mut w| w.flush())
    } else {
        let mut writer = writer;
        write_blocks(&mut writer, &header, &blocks).and_then(|_| writer.flush())
    };
    result.map_err(cannot_write)?;
    outputs.commit().map_err(cannot_write)?;
    Ok(())
}

fn write_blocks(writer: &mut impl Write, header: &str, blocks: &[Vec<u8>]) -> std::io::Result<()> {
    writer.write_all(header.as_bytes())?;
    blocks.iter().try_for_each(|block| writer.write_all(block))
}

/// `label,p0,...,p783\n` for each image.
fn format_rows(labels: &[u8], pixels: &[u8]) -> Vec<u8> {
    let mut text = Vec::with_capacity(labels.len() * IMAGE_PIXELS * 2);
    for (&label, image) in labels.iter().zip(pixels.chunks_exact(IMAGE_PIXELS)) {
        text.push(b'0' + label);
        for &value in image {
            text.push(b',');
            if value >= 100 {
                text.push(b'0' + value / 100);
            }
            if value >= 10 {
                text.push(b'0' + value / 10 % 10);
            }
            text.push(b'0' + value % 10);
        }
        text.push(b'\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_formatted_as_kaggle_text() {
        let mut pixels = vec![0u8; IMAGE_PIXELS];
        pixels[0] = 255;
        pixels[1] = 10;
        pixels[783] = 7;
        let text = String::from_utf8(format_rows(&[3], &pixels)).unwrap();
        assert!(text.starts_with("3,255,10,0,"), "{text}");
        assert!(text.ends_with(",0,7\n"));
        assert_eq!(text.matches(',').count(), 784);
    }
}
