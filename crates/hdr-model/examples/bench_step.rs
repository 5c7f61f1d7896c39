//! Throughput of `Learner::train_step` (batch 128; and of the tape-free
//! `Learner::train_step_untaped` as its baseline) and `Classifier::predict`
//! (batch 1000) on random data. Run in release:
//! `cargo run --release -p hdr-model --example bench_step [train_steps] [predict_rounds]`
//! Prints one JSON line.

use std::time::Instant;

use hdr_model::{Classifier, Cnn, Learner, IMAGE_PIXELS};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() {
    let mut args = std::env::args().skip(1);
    let steps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(60);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let batch = 128;
    let images: Vec<f32> = (0..batch * IMAGE_PIXELS)
        .map(|_| rng.gen::<f32>())
        .collect();
    let labels: Vec<u8> = (0..batch).map(|_| rng.gen_range(0..10)).collect();

    let mut learner = Learner::new(Cnn::new(1), 1e-3, 0.5);
    for s in 0..5 {
        learner.train_step(&images, &labels, s); // warm-up: allocations, caches, thread pool
    }
    let start = Instant::now();
    for s in 0..steps {
        learner.train_step(&images, &labels, s as u64);
    }
    let train_s = start.elapsed().as_secs_f64();

    // The tape-free path, same work, as the baseline of the tape path.
    let mut untaped = Learner::new(Cnn::new(1), 1e-3, 0.5);
    for s in 0..5 {
        untaped.train_step_untaped(&images, &labels, s);
    }
    let start = Instant::now();
    let untaped_steps = if std::env::var_os("BENCH_TAPE_ONLY").is_some() {
        0
    } else {
        steps
    };
    for s in 0..untaped_steps {
        untaped.train_step_untaped(&images, &labels, s as u64);
    }
    let untaped_s = start.elapsed().as_secs_f64().max(1e-9);

    let n = 1000;
    let raw: Vec<u8> = (0..n * IMAGE_PIXELS).map(|_| rng.gen()).collect();
    let classifier = Classifier::new(learner.cnn().clone());
    classifier.predict(&raw);
    let start = Instant::now();
    for _ in 0..rounds {
        classifier.predict(&raw);
    }
    let predict_s = start.elapsed().as_secs_f64();
    println!(
        "{{\"threads\": {}, \"train_batch\": {batch}, \"train_steps\": {steps}, \"train_samples_per_s\": {:.1}, \"train_ms_per_step\": {:.2}, \"untaped_train_samples_per_s\": {:.1}, \"predict_batch\": {n}, \"predict_images_per_s\": {:.1}}}",
        rayon::current_num_threads(),
        (steps * batch) as f64 / train_s,
        train_s * 1e3 / steps as f64,
        (untaped_steps * batch) as f64 / untaped_s,
        (rounds * n) as f64 / predict_s,
    );
}
