//! Times `preprocess` on the ways people photograph digits (the styles of the
//! integration tests, the serve page's 280x280 drawing among them): per
//! style, the median and the fastest tenth of many runs, in milliseconds.
//! The fastest tenth shows the cost on a machine busy with other work.
//!
//! ```sh
//! cargo run --release -p hdr-recognize --example preprocess_timing
//! ```

use std::time::{Duration, Instant};

use hdr_recognize::preprocess;
use hdr_testkit::{load_sample, Style};
use image::DynamicImage;

/// Digits timed per style.
const DIGITS: usize = 50;
/// Runs per digit.
const RUNS: usize = 20;

/// The median and the 10th percentile of the runs, in milliseconds.
fn timings(images: &[DynamicImage]) -> (f64, f64) {
    let mut times: Vec<Duration> = Vec::new();
    for image in images {
        for _ in 0..RUNS {
            let started = Instant::now();
            std::hint::black_box(preprocess(std::hint::black_box(image)).ok());
            times.push(started.elapsed());
        }
    }
    times.sort();
    let ms = |i: usize| times[i].as_secs_f64() * 1e3;
    (ms(times.len() / 2), ms(times.len() / 10))
}

fn main() {
    let sample = load_sample(0..DIGITS);
    println!("{:<32} {:>9} {:>9}", "style", "median ms", "p10 ms");
    for style in Style::ALL {
        let images: Vec<DynamicImage> = (0..DIGITS)
            .map(|i| style.render(sample.image(i), i))
            .collect();
        let (median, p10) = timings(&images);
        println!("{:<32} {median:>9.3} {p10:>9.3}", style.name());
    }
}
