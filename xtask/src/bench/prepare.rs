//! Input files for the benchmarks: a labelled source's rows, cut or repeated
//! to a given count, written as a Kaggle-style CSV or as raw MNIST IDX files.
//!
//! The work runs in a child process (`cargo xtask bench --prepare …`): a
//! child's peak memory as the kernel reports it is at least its parent's peak
//! when it was started (the parent's memory counts until `exec`), so the
//! parent that measures the stages must never hold a dataset itself.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use super::measure;

/// Suffix that marks an IDX images file (its labels file sits beside it).
const IDX_IMAGES: &str = "images-idx3-ubyte";
/// The labels file's counterpart of [`IDX_IMAGES`].
const IDX_LABELS: &str = "labels-idx1-ubyte";

/// The labels file beside an IDX images file.
fn labels_beside(images: &Path) -> PathBuf {
    let name = images
        .file_name()
        .map(|n| n.to_string_lossy().replace(IDX_IMAGES, IDX_LABELS))
        .unwrap_or_default();
    images.with_file_name(name)
}

fn is_idx(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().contains(IDX_IMAGES))
}

/// Reads a labelled source: a Kaggle-style CSV (plain or .gz) or IDX images.
fn load(source: &Path) -> Result<hdr_data::Dataset> {
    if is_idx(source) {
        return Ok(hdr_data::read_idx(source, &labels_beside(source))?);
    }
    let images = hdr_data::load_csv(source, hdr_data::LabelColumn::Required)?;
    let labels = images
        .labels
        .with_context(|| format!("{} has no label column", source.display()))?;
    Ok(hdr_data::Dataset {
        labels,
        pixels: images.pixels,
    })
}

/// The first `rows` rows of `data`, repeated from the start as often as needed.
fn cycle(data: &hdr_data::Dataset, rows: usize) -> Result<hdr_data::Dataset> {
    if data.is_empty() {
        bail!("no rows to repeat");
    }
    let mut out = hdr_data::Dataset {
        labels: Vec::with_capacity(rows),
        pixels: Vec::with_capacity(rows * hdr_artifacts::IMAGE_PIXELS),
    };
    for i in 0..rows {
        let j = i % data.len();
        out.labels.push(data.labels[j]);
        out.pixels.extend_from_slice(data.image(j));
    }
    Ok(out)
}

/// Writes `data` as raw IDX files: `images` and its labels file beside it.
fn write_idx(data: &hdr_data::Dataset, images: &Path) -> Result<()> {
    let count = u32::try_from(data.len()).context("too many rows for an IDX file")?;
    let side = hdr_artifacts::IMAGE_SIDE as u32;
    let write = |path: &Path, header: &[u8], body: &[u8]| -> Result<()> {
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        );
        file.write_all(header)?;
        file.write_all(body)?;
        file.flush()
            .with_context(|| format!("cannot write {}", path.display()))
    };
    let mut header = vec![0, 0, 8, 3];
    for n in [count, side, side] {
        header.extend_from_slice(&n.to_be_bytes());
    }
    write(images, &header, &data.pixels)?;
    let mut header = vec![0, 0, 8, 1];
    header.extend_from_slice(&count.to_be_bytes());
    write(&labels_beside(images), &header, &data.labels)
}

/// What `cargo xtask bench --prepare SOURCE ROWS OUT` does in the child.
pub fn run_child(args: &[String]) -> Result<()> {
    let [source, rows, out] = args else {
        bail!("--prepare takes SOURCE ROWS OUT");
    };
    let rows: usize = rows
        .parse()
        .with_context(|| format!("--prepare: ROWS must be a number, got {rows:?}"))?;
    let (source, out) = (Path::new(source), Path::new(out));
    let data = cycle(&load(source)?, rows)?;
    if is_idx(out) {
        write_idx(&data, out)
    } else {
        Ok(hdr_data::write_kaggle_csv(&data, out)?)
    }
}

/// Whether `out` already holds `rows` rows (IDX: by size; CSV: by existence,
/// since its name carries the row count).
fn is_ready(out: &Path, rows: usize) -> bool {
    if is_idx(out) {
        let has_len =
            |path: &Path, len: usize| std::fs::metadata(path).is_ok_and(|m| m.len() == len as u64);
        has_len(out, 16 + rows * hdr_artifacts::IMAGE_PIXELS)
            && has_len(&labels_beside(out), 8 + rows)
    } else {
        out.exists()
    }
}

/// Makes `out` from `rows` rows of `source` (cut or repeated), in a child
/// process, unless it is already there. `out` ending in `images-idx3-ubyte`
/// gets IDX files, anything else a Kaggle-style CSV.
pub fn rows(work: &Path, source: &Path, rows: usize, out: &Path) -> Result<()> {
    if is_ready(out, rows) {
        return Ok(());
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // The child loads no pipeline config of its own: an empty one keeps a
    // broken pipeline.toml in the current directory from mattering.
    let config = work.join("prepare.toml");
    std::fs::write(&config, "").with_context(|| format!("cannot write {}", config.display()))?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["--quiet", "--config"])
        .arg(&config)
        .args(["bench", "--prepare"])
        .arg(source)
        .arg(rows.to_string())
        .arg(out);
    measure::run(command).with_context(|| format!("preparing {}", out.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_images() -> hdr_data::Dataset {
        hdr_data::Dataset {
            labels: vec![3, 9],
            pixels: (0..2 * hdr_artifacts::IMAGE_PIXELS)
                .map(|i| (i % 251) as u8)
                .collect(),
        }
    }

    #[test]
    fn cycle_cuts_or_repeats_from_the_start() {
        let base = two_images();
        let five = cycle(&base, 5).unwrap();
        assert_eq!(five.labels, vec![3, 9, 3, 9, 3]);
        assert_eq!(five.image(3), base.image(1));
        assert_eq!(cycle(&base, 1).unwrap().labels, vec![3]);
        assert!(cycle(&hdr_data::Dataset::default(), 3).is_err());
    }

    #[test]
    fn written_idx_files_are_read_back_by_the_data_stage_reader() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("x-images-idx3-ubyte");
        let data = cycle(&two_images(), 5).unwrap();
        write_idx(&data, &images).unwrap();
        assert!(is_ready(&images, 5));
        assert!(!is_ready(&images, 6));
        assert_eq!(load(&images).unwrap(), data);
    }

    #[test]
    fn labels_sit_beside_the_images() {
        assert_eq!(
            labels_beside(Path::new("/d/train-images-idx3-ubyte.gz")),
            Path::new("/d/train-labels-idx1-ubyte.gz")
        );
    }
}
