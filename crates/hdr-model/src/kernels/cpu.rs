//! Which build of the tuned kernels runs: the best the CPU has (AVX-512, then
//! AVX2 + FMA, then portable loops), or the one `HDR_KERNELS` names.

use std::fmt;
use std::sync::OnceLock;

/// The environment variable that forces a kernel path (`avx512`, `avx2`,
/// `portable`; `auto` or unset picks the best the CPU has).
pub const KERNELS_ENV: &str = "HDR_KERNELS";

/// A build of the tuned kernels. The AVX-512 and AVX2 builds give the same
/// bits (each lane computes in the same order); the portable one differs from
/// them in the last bits. Each is deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelPath {
    /// 16-lane AVX-512 (F, VL, BW) with FMA.
    Avx512,
    /// 8-lane AVX2 with FMA (x86-64-v3: Intel since Haswell, AMD since Zen 1).
    Avx2,
    /// Plain loops for any CPU, vectorised by the compiler for the build target.
    Portable,
}

impl KernelPath {
    /// Every path, best first.
    pub const ALL: [KernelPath; 3] = [KernelPath::Avx512, KernelPath::Avx2, KernelPath::Portable];

    /// `"avx512"`, `"avx2"` or `"portable"`: what `HDR_KERNELS` takes and model cards record.
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Avx512 => "avx512",
            KernelPath::Avx2 => "avx2",
            KernelPath::Portable => "portable",
        }
    }

    /// Paths with the same arithmetic compute the same bits: `"vector"` for
    /// the AVX-512 and AVX2 builds, `"portable"` for the portable one.
    pub fn arithmetic(self) -> &'static str {
        match self {
            KernelPath::Avx512 | KernelPath::Avx2 => "vector",
            KernelPath::Portable => "portable",
        }
    }

    /// The path called `name` (as [`KernelPath::name`] gives it).
    pub fn named(name: &str) -> Option<KernelPath> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether this CPU can run the path.
    pub fn is_available(self) -> bool {
        match self {
            KernelPath::Portable => true,
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => {
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512 => {
                KernelPath::Avx2.is_available()
                    && std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("avx512bw")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The paths this CPU can run, best first.
    pub fn available() -> Vec<KernelPath> {
        Self::ALL.into_iter().filter(|p| p.is_available()).collect()
    }

    /// The best path this CPU can run.
    pub fn best() -> KernelPath {
        Self::available()[0]
    }

    /// The path `value` of `HDR_KERNELS` asks for: a path's name (any case,
    /// surrounding spaces ignored); `auto` or empty picks the best.
    pub fn from_setting(value: &str) -> Result<KernelPath, KernelsError> {
        let wanted = value.trim().to_ascii_lowercase();
        if wanted.is_empty() || wanted == "auto" {
            return Ok(Self::best());
        }
        let path = Self::named(&wanted).ok_or_else(|| KernelsError::Unknown {
            value: value.to_string(),
        })?;
        if path.is_available() {
            Ok(path)
        } else {
            Err(KernelsError::Unavailable {
                path,
                available: Self::available(),
            })
        }
    }
}

impl fmt::Display for KernelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value of `HDR_KERNELS` that cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelsError {
    /// Not the name of a kernel path.
    #[error(
        "{KERNELS_ENV}={value:?} is not a kernel path; valid values: avx512, avx2, portable, auto"
    )]
    Unknown {
        /// The value as set.
        value: String,
    },
    /// A path this CPU cannot run.
    #[error(
        "{KERNELS_ENV}={path} needs CPU features this machine lacks; it can run: {}",
        names(available)
    )]
    Unavailable {
        /// The path asked for.
        path: KernelPath,
        /// What this CPU can run, best first.
        available: Vec<KernelPath>,
    },
}

fn names(paths: &[KernelPath]) -> String {
    paths
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The kernel path `HDR_KERNELS` asks for (the best the CPU has when unset):
/// programs call this first, so a bad value is an error before any work.
pub fn kernels_from_env() -> Result<KernelPath, KernelsError> {
    KernelPath::from_setting(&std::env::var(KERNELS_ENV).unwrap_or_default())
}

/// The path the kernels take in this process, read once. A value of
/// `HDR_KERNELS` that [`kernels_from_env`] rejects falls back to the best path
/// here; programs report that error before computing.
pub(crate) fn active() -> KernelPath {
    #[cfg(test)]
    if let Some(path) = tests::FORCED.with(std::cell::Cell::get) {
        return path;
    }
    static ACTIVE: OnceLock<KernelPath> = OnceLock::new();
    *ACTIVE.get_or_init(|| kernels_from_env().unwrap_or_else(|_| KernelPath::best()))
}

/// The kernel path this process runs (see [`KernelPath::name`]).
pub fn kernel_path() -> &'static str {
    active().name()
}

/// The kernel path this process runs.
pub fn active_kernel_path() -> KernelPath {
    active()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;

    use super::*;

    thread_local! {
        /// Makes this thread take the given path whatever the environment says.
        pub(crate) static FORCED: Cell<Option<KernelPath>> = const { Cell::new(None) };
    }

    /// A pool of `threads` threads that all take `path`.
    pub(crate) fn pool_on_path(path: KernelPath, threads: usize) -> rayon::ThreadPool {
        assert!(path.is_available(), "{path} is not available here");
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .start_handler(move |_| FORCED.with(|p| p.set(Some(path))))
            .build()
            .expect("thread pool")
    }

    /// Runs `f` on a one-thread pool whose thread takes `path`.
    pub(crate) fn on_path<R: Send>(path: KernelPath, f: impl FnOnce() -> R + Send) -> R {
        pool_on_path(path, 1).install(f)
    }

    #[test]
    fn forcing_a_path_is_reported() {
        for path in KernelPath::available() {
            assert_eq!(on_path(path, super::kernel_path), path.name());
        }
    }

    #[test]
    fn settings_name_a_path_or_ask_for_the_best() {
        assert_eq!(KernelPath::from_setting(""), Ok(KernelPath::best()));
        assert_eq!(KernelPath::from_setting(" Auto "), Ok(KernelPath::best()));
        assert_eq!(
            KernelPath::from_setting("PORTABLE"),
            Ok(KernelPath::Portable)
        );
        let unknown = KernelPath::from_setting("avx3").unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "HDR_KERNELS=\"avx3\" is not a kernel path; valid values: avx512, avx2, portable, auto"
        );
        for path in KernelPath::ALL {
            match KernelPath::from_setting(path.name()) {
                Ok(p) => assert!(p == path && path.is_available()),
                Err(e) => {
                    assert!(!path.is_available());
                    let message = e.to_string();
                    assert!(
                        message.contains("lacks; it can run: ") && message.ends_with("portable"),
                        "{message}"
                    );
                }
            }
        }
        // The best path is the first available; portable is always there.
        assert_eq!(KernelPath::available()[0], KernelPath::best());
        assert_eq!(KernelPath::available().last(), Some(&KernelPath::Portable));
    }
}
