//! Which build of the tuned kernels runs: AVX-512 when the CPU has it,
//! portable loops otherwise, or portable when `HDR_KERNELS=portable` asks.

use std::sync::OnceLock;

/// The environment variable that can force the portable kernels.
pub const KERNELS_ENV: &str = "HDR_KERNELS";

/// Whether the AVX-512 kernels run: the CPU has the features they were
/// compiled for and `HDR_KERNELS` is not `portable` (read once per process).
pub(crate) fn avx512_enabled() -> bool {
    #[cfg(test)]
    if tests::FORCE_PORTABLE.with(std::cell::Cell::get) {
        return false;
    }
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| cpu_has_avx512() && !portable_requested())
}

/// `HDR_KERNELS=portable` (any case); any other value, or none, means automatic.
fn portable_requested() -> bool {
    std::env::var(KERNELS_ENV).is_ok_and(|v| v.trim().eq_ignore_ascii_case("portable"))
}

fn cpu_has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The kernel build this process runs: `"avx512"` or `"portable"`. Weights
/// trained on the two differ in the last bits; each is deterministic.
pub fn kernel_path() -> &'static str {
    if avx512_enabled() {
        "avx512"
    } else {
        "portable"
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;

    thread_local! {
        /// Makes this thread take the portable kernels even on an AVX-512 CPU.
        pub(crate) static FORCE_PORTABLE: Cell<bool> = const { Cell::new(false) };
    }

    /// Runs `f` on a one-thread pool whose thread takes the portable kernels.
    pub(crate) fn portable<R: Send>(f: impl FnOnce() -> R + Send) -> R {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("thread pool");
        pool.install(|| {
            FORCE_PORTABLE.with(|p| p.set(true));
            let r = f();
            FORCE_PORTABLE.with(|p| p.set(false));
            r
        })
    }

    #[test]
    fn forcing_portable_is_reported() {
        assert_eq!(portable(super::kernel_path), "portable");
    }
}
