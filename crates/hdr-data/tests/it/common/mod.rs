//! Tiny Kaggle-style CSVs for the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hdr_data::{Config, Paths, IMAGE_PIXELS};

/// `rows` images, two per class at least: label `i % 10`, pixels a pattern of `i`.
pub fn rows(count: usize) -> Vec<(u8, Vec<u8>)> {
    (0..count)
        .map(|i| {
            let pixels = (0..IMAGE_PIXELS)
                .map(|p| ((i * 7 + p * 13) % 256) as u8)
                .collect();
            ((i % 10) as u8, pixels)
        })
        .collect()
}

/// The header `label,pixel0,...` with pixels numbered from `base`.
pub fn header(base: usize) -> Vec<String> {
    std::iter::once("label".to_string())
        .chain((0..IMAGE_PIXELS).map(|p| format!("pixel{}", p + base)))
        .collect()
}

/// CSV text: header line, then one line per row, LF endings.
pub fn csv_text(rows: &[(u8, Vec<u8>)]) -> String {
    let mut text = header(0).join(",");
    text.push('\n');
    for (label, pixels) in rows {
        text.push_str(&label.to_string());
        for p in pixels {
            text.push(',');
            text.push_str(&p.to_string());
        }
        text.push('\n');
    }
    text
}

/// Replaces cell `column` (0 = label) of data row `row` (0-based; file line row + 2).
pub fn with_cell(text: &str, row: usize, column: usize, value: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut cells: Vec<&str> = lines[row + 1].split(',').collect();
    cells[column] = value;
    lines[row + 1] = cells.join(",");
    lines.join("\n") + "\n"
}

/// A scratch project: a source file and an artifacts directory.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
    pub fn paths(&self) -> Paths {
        Paths::under(&self.path("artifacts"))
    }
    pub fn config(&self, source: &Path, test_fraction: f64) -> Config {
        Config {
            source: source.to_path_buf(),
            test_source: None,
            user_samples: std::path::PathBuf::new(),
            extra_test_sources: Vec::new(),
            test_fraction,
            seed: 42,
        }
    }
}

/// Bytes of every file under the artifacts directory, sorted by path.
pub fn snapshot(paths: &Paths) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = paths.summary.parent().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

/// gzip-compressed `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The embedded 10,000-image MNIST sample.
pub fn sample_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-sample.csv.gz")
}
