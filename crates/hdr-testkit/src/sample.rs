//! The repository's `data/mnist-sample.csv.gz`, read as tests want it.

use std::io::BufReader;
use std::ops::Range;
use std::path::PathBuf;

use hdr_artifacts::{Dataset, IMAGE_PIXELS};

/// The repository's `data/mnist-sample.csv.gz` (Kaggle layout, 10,000 digits).
pub fn sample_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-sample.csv.gz")
}

/// Digits `rows` of the embedded sample (light ink on black, as in MNIST).
///
/// # Panics
/// If the file is missing or malformed, or has fewer rows: it is part of
/// the repository.
pub fn load_sample(rows: Range<usize>) -> Dataset {
    let path = sample_path();
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut csv = csv::Reader::from_reader(BufReader::new(flate2::read::GzDecoder::new(file)));
    let mut sample = Dataset::default();
    for record in csv.records().skip(rows.start).take(rows.len()) {
        let record = record.expect("sample row parses");
        let mut cells = record
            .iter()
            .map(|c| c.parse::<u8>().expect("sample cell is a byte"));
        sample.labels.push(cells.next().expect("label"));
        sample.pixels.extend(cells);
    }
    assert_eq!(
        sample.len(),
        rows.len(),
        "the sample ends before row {}",
        rows.end
    );
    assert_eq!(sample.pixels.len(), sample.len() * IMAGE_PIXELS);
    sample
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_from_where_they_start() {
        let first = load_sample(0..30);
        let later = load_sample(10..30);
        assert_eq!(later.len(), 20);
        assert_eq!(later.image(0), first.image(10));
        assert_eq!(later.labels[..], first.labels[10..]);
        assert!(first.labels.iter().all(|&l| l <= 9));
    }
}
