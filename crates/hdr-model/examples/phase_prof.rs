use hdr_model::{Cnn, Learner, IMAGE_PIXELS};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let batch = 128;
    let images: Vec<f32> = (0..batch * IMAGE_PIXELS).map(|_| rng.gen::<f32>()).collect();
    let labels: Vec<u8> = (0..batch).map(|_| rng.gen_range(0..10)).collect();
    let mut learner = Learner::new(Cnn::new(1), 1e-3, 0.5);
    for s in 0..5 { learner.train_step(&images, &labels, s); }
    for p in &hdr_model::direct::PHASE { p.store(0, std::sync::atomic::Ordering::Relaxed); }
    let steps = 40;
    let t = Instant::now();
    for s in 0..steps { learner.train_step(&images, &labels, s); }
    let total = t.elapsed().as_secs_f64() * 1e3 / steps as f64;
    let names = ["conv1+pool1", "im2col2", "gemm2", "pool2", "head", "conv2 bwd", "conv1 bwd", "-"];
    for (n, p) in names.iter().zip(&hdr_model::direct::PHASE) {
        eprintln!("{n:12} {:.2} ms CPU/step", p.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6 / steps as f64);
    }
    eprintln!("wall {total:.2} ms/step");
}
