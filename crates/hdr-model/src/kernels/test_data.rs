//! Random test data and a tolerance check shared by the kernel tests.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` uniform values in [-1, 1), reproducible from `seed`.
pub(crate) fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// `|a - b| <= tol * |b|` in the Euclidean norm (robust to a rare argmax
/// near-tie resolved differently by two summation orders).
pub(crate) fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let diff: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    assert!(norm > 0.0, "{what}: zero reference");
    assert!(
        diff.sqrt() <= tol * norm.sqrt(),
        "{what}: |a - b| = {} vs |b| = {}",
        diff.sqrt(),
        norm.sqrt()
    );
}
