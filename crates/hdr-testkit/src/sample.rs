//! The repository's `data/mnist-sample.csv.gz`, read as tests want it.

use std::io::{BufRead as _, BufReader, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};

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

/// Writes the sample's header line and its digits `rows` to `path`, as a
/// plain (uncompressed) Kaggle-style CSV: a data source for a test project.
///
/// # Panics
/// If the sample cannot be read, `path` cannot be written, or the sample
/// has fewer rows.
pub fn write_sample_csv(path: &Path, rows: Range<usize>) {
    let sample = sample_path();
    let file = std::fs::File::open(&sample).unwrap_or_else(|e| panic!("{}: {e}", sample.display()));
    let mut lines = BufReader::new(flate2::read::GzDecoder::new(file)).lines();
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    );
    let header = lines.next().expect("the sample has a header").unwrap();
    writeln!(out, "{header}").unwrap();
    let mut written = 0;
    for line in lines.skip(rows.start).take(rows.len()) {
        writeln!(out, "{}", line.unwrap()).unwrap();
        written += 1;
    }
    assert_eq!(
        written,
        rows.len(),
        "the sample ends before row {}",
        rows.end
    );
    out.flush().unwrap();
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

    #[test]
    fn a_written_csv_holds_the_header_and_the_rows_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        write_sample_csv(&path, 5..8);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("label,pixel0,"), "{}", lines[0]);
        let rows = load_sample(5..8);
        for (i, line) in lines[1..].iter().enumerate() {
            let cells: Vec<u8> = line.split(',').map(|c| c.parse().unwrap()).collect();
            assert_eq!(cells[0], rows.labels[i]);
            assert_eq!(&cells[1..], rows.image(i));
        }
    }
}
