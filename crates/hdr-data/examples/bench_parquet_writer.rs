//! Does the hand-written split writer earn its place? Times the data stage
//! with it against the same stage with polars' own `ParquetWriter`.
//!
//! `cargo run --release -p hdr-data --example bench_parquet_writer [-- --runs N --rows N]`
//!
//! Builds a Kaggle-sized CSV (42,000 rows by default) by repeating the rows of
//! data/mnist-sample.csv.gz, then, in each of `--runs` rounds (default 7):
//! runs the whole data stage (`hdr_data::run`: load, validate, split, encode
//! both splits, write and fsync, summary), and times its encode-and-write
//! phase alone with each writer on the same frame and rows (both splits at
//! once, as the stage does; the writers' order alternates between rounds).
//! The stage with polars' writer is the measured stage minus the hand-written
//! phase plus polars' phase. Medians over the rounds are printed. Both
//! writers' files are checked to read back as the same images.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use hdr_artifacts::{encode_split, read_split, split_frame, Dataset};
use hdr_common::RunOptions;
use hdr_data::{load_csv, run, stratified_split, Config, LabelColumn, Paths};
use polars::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let runs = flag("--runs", 7);
    let rows = flag("--rows", 42_000);

    let work = std::env::temp_dir().join(format!("hdr-bench-parquet-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let csv = build_csv(&work, rows);
    let config = Config {
        source: csv.clone(),
        ..Config::default()
    };
    let paths = Paths::under(&work.join("artifacts"));

    // The frame and rows the stage encodes, built the same way.
    let images = load_csv(&csv, LabelColumn::Required).unwrap();
    let data = Dataset {
        labels: images.labels.unwrap(),
        pixels: images.pixels,
    };
    let frame = split_frame(&data).unwrap();
    let split = stratified_split(&data.labels, config.test_fraction, config.seed);
    let parts = [
        (&split.kept, work.join("train.parquet")),
        (&split.held_out, work.join("test.parquet")),
    ];

    let hand =
        |frame: &DataFrame, rows: &[u32], path: &Path| encode_split(path, frame, rows).unwrap();
    let polars_writer = |frame: &DataFrame, rows: &[u32], _: &Path| encode_with_polars(frame, rows);

    // Same images either way.
    for (rows, path) in &parts {
        std::fs::write(path, hand(&frame, rows, path)).unwrap();
        let by_hand = read_split(path).unwrap();
        std::fs::write(path, polars_writer(&frame, rows, path)).unwrap();
        assert_eq!(read_split(path).unwrap(), by_hand, "the writers disagree");
    }

    let (mut stage, mut hand_phase, mut polars_phase) = (Vec::new(), Vec::new(), Vec::new());
    let (mut hand_bytes, mut polars_bytes) = (0, 0);
    for round in 0..runs {
        let started = Instant::now();
        run(&config, &paths, &RunOptions { quiet: true }).unwrap();
        stage.push(started.elapsed().as_secs_f64());
        let mut time_hand = || {
            let (seconds, bytes) = encode_and_write(&frame, &parts, hand);
            hand_phase.push(seconds);
            hand_bytes = bytes;
        };
        let mut time_polars = || {
            let (seconds, bytes) = encode_and_write(&frame, &parts, polars_writer);
            polars_phase.push(seconds);
            polars_bytes = bytes;
        };
        if round % 2 == 0 {
            time_hand();
            time_polars();
        } else {
            time_polars();
            time_hand();
        }
    }
    std::fs::remove_dir_all(&work).unwrap();

    let with_polars: Vec<f64> = stage
        .iter()
        .zip(hand_phase.iter().zip(&polars_phase))
        .map(|(s, (h, p))| s - h + p)
        .collect();
    let (s, p) = (median(&stage), median(&with_polars));
    println!("{rows} rows, {runs} rounds, medians:");
    println!(
        "  encode+write both splits: hand-written {:.3} s ({:.1} MB), polars ParquetWriter {:.3} s ({:.1} MB)",
        median(&hand_phase),
        hand_bytes as f64 / 1e6,
        median(&polars_phase),
        polars_bytes as f64 / 1e6
    );
    println!("  data stage: hand-written {s:.3} s, with polars' writer {p:.3} s");
    println!(
        "  the hand-written writer makes the data stage {:.0}% faster (keep it if >= 20%)",
        100.0 * (p - s) / p
    );
}

/// Encodes both splits at once (as the stage does) and writes and syncs the
/// files; returns the seconds taken and the bytes written.
fn encode_and_write(
    frame: &DataFrame,
    parts: &[(&Vec<u32>, PathBuf)],
    encode: impl Fn(&DataFrame, &[u32], &Path) -> Vec<u8> + Sync,
) -> (f64, usize) {
    let started = Instant::now();
    let encoded: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter()
            .map(|(rows, path)| {
                let encode = &encode;
                scope.spawn(move || encode(frame, rows, path))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut bytes = 0;
    for ((_, path), content) in parts.iter().zip(&encoded) {
        let mut file = std::fs::File::create(path).unwrap();
        file.write_all(content).unwrap();
        file.sync_all().unwrap();
        bytes += content.len();
    }
    (started.elapsed().as_secs_f64(), bytes)
}

/// The rows `rows` of `frame` written by polars' own writer, with the same
/// compression as the hand-written one and no statistics.
fn encode_with_polars(frame: &DataFrame, rows: &[u32]) -> Vec<u8> {
    let indices = IdxCa::from_vec("rows".into(), rows.to_vec());
    let mut part = frame.take(&indices).unwrap();
    let mut out = Vec::new();
    ParquetWriter::new(&mut out)
        .with_compression(ParquetCompression::Lz4Raw)
        .with_statistics(StatisticsOptions::empty())
        .finish(&mut part)
        .unwrap();
    out
}

/// Writes a CSV of `rows` rows cycling through the embedded sample's rows.
fn build_csv(dir: &Path, rows: usize) -> PathBuf {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-sample.csv.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(sample).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let body: Vec<&str> = lines.collect();
    let mut out = String::with_capacity(text.len() * (rows / body.len() + 1));
    out.push_str(header);
    out.push('\n');
    for line in body.iter().cycle().take(rows) {
        out.push_str(line);
        out.push('\n');
    }
    let path = dir.join(format!("train-{rows}.csv"));
    std::fs::write(&path, out).unwrap();
    path
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
