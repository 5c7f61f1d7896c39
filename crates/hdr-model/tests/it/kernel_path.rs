//! `HDR_KERNELS`, read at run time, forces a kernel path: a child process run
//! with it reports that path, the two vector builds compute the same bits, and
//! the portable build (slightly) different numbers where the CPU has a vector
//! build. A value that cannot be followed is an error naming the valid ones.

use std::process::Command;

use hdr_model::{params, Classifier, Cnn, KernelPath, Learner, IMAGE_PIXELS, KERNELS_ENV};
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
    match hdr_model::kernels_from_env() {
        Ok(path) => println!("setting=ok {path}"),
        Err(e) => println!("setting=error {e}"),
    }
    println!("results={}", bits.join(","));
}

/// What a child process run with `HDR_KERNELS` set reports.
struct Child {
    path: String,
    setting: String,
    results: Vec<f32>,
}

/// Runs [`report_kernel_path_and_results`] with `HDR_KERNELS` set to `value`.
fn child(value: &str) -> Child {
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
    Child {
        path: field("kernel_path="),
        setting: field("setting="),
        results,
    }
}

#[test]
fn kernels_follow_the_environment() {
    let best = KernelPath::best();
    let auto = child("auto");
    assert_eq!(
        (auto.path.as_str(), auto.setting.as_str()),
        (best.name(), &*format!("ok {best}"))
    );
    let portable = child("portable");
    assert_eq!(portable.path, "portable");
    assert_eq!(portable.results.len(), auto.results.len());
    for path in KernelPath::available() {
        let forced = child(&path.name().to_uppercase());
        assert_eq!(forced.path, path.name());
        if path == KernelPath::Portable {
            assert_eq!(forced.results, portable.results);
        } else {
            // The vector builds: one arithmetic at two widths, the same bits.
            assert_eq!(forced.results, auto.results, "{path} against {best}");
        }
    }
    if best != KernelPath::Portable {
        // Two builds of the same arithmetic: close, but not the same bits.
        assert_ne!(
            portable.results, auto.results,
            "the forced run used vector kernels"
        );
        let diff: f64 = portable
            .results
            .iter()
            .zip(&auto.results)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum();
        let norm: f64 = auto.results.iter().map(|v| (*v as f64).powi(2)).sum();
        assert!(
            diff.sqrt() <= 1e-4 * norm.sqrt(),
            "{} vs {}",
            diff.sqrt(),
            norm.sqrt()
        );
    } else {
        assert_eq!(portable.results, auto.results);
    }
    // Values that cannot be followed: the library says so (programs stop on
    // it) and computes on the best path meanwhile.
    let unknown = child("avx3");
    assert_eq!(
        unknown.setting,
        "error HDR_KERNELS=\"avx3\" is not a kernel path; valid values: avx512, avx2, portable, auto"
    );
    assert_eq!(unknown.path, best.name());
    for missing in KernelPath::ALL.into_iter().filter(|p| !p.is_available()) {
        let refused = child(missing.name());
        assert!(refused
            .setting
            .starts_with(&format!("error HDR_KERNELS={missing} needs CPU features")));
    }
    // This process follows its own environment the same way.
    let want = hdr_model::kernels_from_env().unwrap_or(best);
    assert_eq!(hdr_model::kernel_path(), want.name());
    let results = results();
    if want == KernelPath::Portable {
        assert_eq!(results, portable.results);
    } else {
        assert_eq!(results, auto.results);
    }
}
