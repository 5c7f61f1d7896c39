//! MNIST IDX import and Kaggle CSV export.

use std::path::Path;

use crate::common::*;
use hdr_data::{
    load_csv, read_idx, write_kaggle_csv, Dataset, Error, IdxFile, LabelColumn, IMAGE_PIXELS,
};

fn sample_data(count: usize) -> Dataset {
    let rows = rows(count);
    Dataset {
        labels: rows.iter().map(|r| r.0).collect(),
        pixels: rows.iter().flat_map(|r| r.1.iter().copied()).collect(),
    }
}

fn idx_images(count: u32, side: u32, pixels: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 3];
    for v in [count, side, side] {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    bytes.extend_from_slice(pixels);
    bytes
}

fn idx_labels(count: u32, labels: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 1];
    bytes.extend_from_slice(&count.to_be_bytes());
    bytes.extend_from_slice(labels);
    bytes
}

fn read_pair(scratch: &Scratch, images: Vec<u8>, labels: Vec<u8>) -> Result<Dataset, Error> {
    let i = scratch.write("x-images-idx3-ubyte", images);
    let l = scratch.write("x-labels-idx1-ubyte", labels);
    read_idx(&i, &l)
}

#[test]
fn reads_raw_and_gzip_pairs() {
    let data = sample_data(7);
    let scratch = Scratch::new();
    let images = idx_images(7, 28, &data.pixels);
    let labels = idx_labels(7, &data.labels);
    assert_eq!(
        read_pair(&scratch, images.clone(), labels.clone()).unwrap(),
        data
    );
    let i = scratch.write("y-images-idx3-ubyte.gz", gzip(&images));
    let l = scratch.write("y-labels-idx1-ubyte.gz", gzip(&labels));
    assert_eq!(read_idx(&i, &l).unwrap(), data);
}

#[test]
fn bad_idx_files_are_named() {
    let data = sample_data(3);
    let scratch = Scratch::new();
    let good_images = || idx_images(3, 28, &data.pixels);
    let good_labels = || idx_labels(3, &data.labels);
    /// Images bytes, labels bytes, the expected variant, parts of the message.
    type Case = (
        Vec<u8>,
        Vec<u8>,
        fn(&Error) -> bool,
        &'static [&'static str],
    );
    let cases: Vec<Case> = vec![
        (
            good_labels(),
            good_labels(),
            |e| {
                matches!(
                    e,
                    Error::IdxMagic {
                        kind: IdxFile::Images,
                        found: 0x801,
                        ..
                    }
                )
            },
            &["x-images-idx3-ubyte", "magic number 0x00000801", "swapped"],
        ),
        (
            idx_images(3, 27, &data.pixels),
            good_labels(),
            |e| {
                matches!(
                    e,
                    Error::IdxImageSize {
                        rows: 27,
                        cols: 27,
                        ..
                    }
                )
            },
            &["x-images-idx3-ubyte", "27x27, expected 28x28"],
        ),
        (
            idx_images(4, 28, &data.pixels),
            good_labels(),
            |e| {
                matches!(
                    e,
                    Error::IdxImageBytes {
                        count: 4,
                        pixel_bytes: 2352,
                        ..
                    }
                )
            },
            &["x-images-idx3-ubyte", "promises 4 images"],
        ),
        (
            good_images(),
            idx_labels(2, &data.labels[..2]),
            |e| {
                matches!(
                    e,
                    Error::IdxCounts {
                        label_count: 2,
                        image_count: 3,
                        ..
                    }
                )
            },
            &["x-labels-idx1-ubyte", "2 labels", "3 images"],
        ),
        (
            good_images(),
            idx_labels(3, &[1, 10, 2]),
            |e| {
                matches!(
                    e,
                    Error::IdxLabel {
                        item: 2,
                        label: 10,
                        ..
                    }
                )
            },
            &["x-labels-idx1-ubyte", "label 10 of item 2 (byte 9)"],
        ),
        (
            good_images(),
            idx_labels(5, &data.labels),
            |e| matches!(e, Error::IdxCounts { label_count: 5, .. }),
            &["x-labels-idx1-ubyte", "5 labels"],
        ),
        (
            good_images(),
            {
                let mut labels = good_labels();
                labels.push(0);
                labels
            },
            |e| {
                matches!(
                    e,
                    Error::IdxLabelBytes {
                        count: 3,
                        bytes: 12,
                        ..
                    }
                )
            },
            &[
                "x-labels-idx1-ubyte",
                "promises 3 labels (11 bytes)",
                "has 12 bytes",
            ],
        ),
        (
            good_images(),
            vec![0, 0],
            |e| {
                matches!(
                    e,
                    Error::IdxTooShort {
                        bytes: 2,
                        kind: IdxFile::Labels,
                        ..
                    }
                )
            },
            &["x-labels-idx1-ubyte", "too short"],
        ),
    ];
    for (images, labels, check, parts) in cases {
        let err = read_pair(&scratch, images, labels).unwrap_err();
        assert!(check(&err), "unexpected variant: {err:?}");
        let message = err.to_string();
        for part in parts {
            assert!(message.contains(part), "expected {part:?} in: {message}");
        }
    }
    let err = read_idx(&scratch.path("nope-images"), &scratch.path("nope-labels")).unwrap_err();
    assert!(
        matches!(&err, Error::Read { path, .. } if path.ends_with("nope-images")),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("nope-images") && message.contains("cannot read"),
        "{message}"
    );
}

#[test]
fn kaggle_csv_round_trips_plain_and_gzip() {
    let data = sample_data(25);
    let scratch = Scratch::new();
    for name in ["out.csv", "out.csv.gz"] {
        let path = scratch.path(name);
        write_kaggle_csv(&data, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            bytes.starts_with(&[0x1f, 0x8b]),
            name.ends_with(".gz"),
            "{name}"
        );
        let back = load_csv(&path, LabelColumn::Required).unwrap();
        assert_eq!(back.labels.as_ref(), Some(&data.labels), "{name}");
        assert!(back.pixels == data.pixels, "{name}");
    }
    let text = std::fs::read_to_string(scratch.path("out.csv")).unwrap();
    assert!(text.starts_with("label,pixel0,pixel1,"));
    assert!(text.lines().next().unwrap().ends_with(",pixel783"));
}

#[test]
fn inconsistent_dataset_is_not_written() {
    let mut data = sample_data(2);
    data.pixels.pop();
    let scratch = Scratch::new();
    let path = scratch.path("bad.csv");
    let err = write_kaggle_csv(&data, &path).unwrap_err();
    assert!(
        matches!(&err, Error::PixelCount { labels: 2, pixels: 1567, path: p } if p == &path),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("bad.csv") && message.contains("784 per image"),
        "{message}"
    );
    assert!(!path.exists());

    let mut data = sample_data(2);
    data.labels[1] = 12;
    let err = write_kaggle_csv(&data, &path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ImageLabel {
                image: 2,
                label: 12,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("{}: image 2 has label 12, outside 0..=9", path.display())
    );
    assert!(!path.exists());
}

#[test]
fn real_fashion_mnist_test_set() {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    let images = dir.join("t10k-images-idx3-ubyte.gz");
    if !images.exists() {
        eprintln!("skipped: {} is not on this machine", images.display());
        return;
    }
    let data = read_idx(&images, &dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(data.len(), 10_000);
    assert_eq!(data.pixels.len(), 10_000 * IMAGE_PIXELS);
    assert_eq!(data.class_counts(), [1000; 10]);
}
