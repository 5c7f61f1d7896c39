//! `HDR_KERNELS=portable`, read at run time, forces the portable kernels:
//! a child process run with it reports the portable path and computes
//! (slightly) different numbers than the AVX-512 build where the CPU has one.

use std::process::Command;

use hdr_model::{params, Classifier, Cnn, Learner, IMAGE_PIXELS, KERNELS_ENV};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The weights after two training steps and the predicted probabilities of
/// a few images, all through the seed network's tuned kernels.
fn results() -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let n = 20;
    let images: Vec<f32> = (0..n * IMAGE_PIXELS).map(|_| rng.gen()).collect();
    let labels: Vec<u8> = (0..n).map(|_| rng.gen_range(0..10)).collect();
    let mut learner = Learner::new(Cnn::new(3), 1e-3, 0.5);
    learner.train_step(&images, &labels, 1);
    learner.train_step(&images, &labels, 2);
    let mut out: Vec<f32> = params(learner.network())
        .into_iter()
        .flat_map(|p| p.values)
        .collect();
    let raw: Vec<u8> = (0..n * IMAGE_PIXELS).map(|_| rng.gen()).collect();
    for p in Classifier::new(learner.network().clone()).predict(&raw) {
        out.extend(p.probabilities);
    }
    out
}

#[test]
#[ignore = "a helper: `kernels_follow_the_environment` runs it in child processes"]
fn report_kernel_path_and_results() {
    let bits: Vec<String> = results().iter().map(|v| v.to_bits().to_string()).collect();
    println!("kernel_path={}", hdr_model::kernel_path());
    println!("results={}", bits.join(","));
}

/// Runs [`report_kernel_path_and_results`] with `HDR_KERNELS` set to `value`.
fn child(value: &str) -> (String, Vec<f32>) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "kernel_path::report_kernel_path_and_results",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KERNELS_ENV, value)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}");
    let field = |key: &str| {
        stdout
            .lines()
            // libtest may print the test's name on the same line first.
            .find_map(|l| l.find(key).map(|at| &l[at + key.len()..]))
            .unwrap_or_else(|| panic!("no {key} in the child's output"))
            .to_string()
    };
    let results = field("results=")
        .split(',')
        .map(|b| f32::from_bits(b.parse().unwrap()))
        .collect();
    (field("kernel_path="), results)
}

#[test]
fn kernels_follow_the_environment() {
    let (forced_path, forced) = child("portable");
    assert_eq!(forced_path, "portable");
    let (auto_path, auto) = child("auto");
    #[cfg(target_arch = "x86_64")]
    let has_avx512 = is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512bw");
    #[cfg(not(target_arch = "x86_64"))]
    let has_avx512 = false;
    assert_eq!(auto_path, if has_avx512 { "avx512" } else { "portable" });
    assert_eq!(forced.len(), auto.len());
    if has_avx512 {
        // Two builds of the same arithmetic: close, but not the same bits.
        assert_ne!(forced, auto, "the forced run used the AVX-512 kernels");
        let diff: f64 = forced
            .iter()
            .zip(&auto)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum();
        let norm: f64 = auto.iter().map(|v| (*v as f64).powi(2)).sum();
        assert!(
            diff.sqrt() <= 1e-4 * norm.sqrt(),
            "{} vs {}",
            diff.sqrt(),
            norm.sqrt()
        );
    } else {
        assert_eq!(forced, auto);
    }
    // This process follows its own environment the same way.
    let here = std::env::var(KERNELS_ENV).unwrap_or_default();
    let want = if here.trim().eq_ignore_ascii_case("portable") {
        "portable"
    } else {
        auto_path.as_str()
    };
    assert_eq!(hdr_model::kernel_path(), want);
    assert_eq!(results(), if want == "portable" { forced } else { auto });
}
