//! Run-time CPU feature detection and the ordered CPU level that selects kernels.
//!
//! Every SIMD kernel has a scalar reference. Kernels are chosen by a
//! [`CpuLevel`] passed in explicitly, so tests can run the same call at every
//! level the machine supports and compare. The scalar path can be forced with
//! the environment variable `MICA_CPU=scalar` (or `MICA_CPU=avx2`, to cap the level).

use std::sync::OnceLock;

/// The most worker threads an encoder or decoder takes.
pub const MAX_THREADS: usize = 256;

/// Instruction-set level, ordered: a higher level may use everything below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CpuLevel {
    /// Portable Rust only.
    Scalar,
    /// x86-64 AVX2 (with BMI/FMA not assumed).
    Avx2,
}

impl CpuLevel {
    /// The best level this CPU supports, ignoring any override.
    pub fn detect() -> CpuLevel {
        #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                return CpuLevel::Avx2;
            }
        }
        CpuLevel::Scalar
    }

    /// Every level this machine can run, lowest first (always includes `Scalar`).
    pub fn all_supported() -> Vec<CpuLevel> {
        let best = CpuLevel::detect();
        [CpuLevel::Scalar, CpuLevel::Avx2]
            .into_iter()
            .filter(|l| *l <= best)
            .collect()
    }

    /// Parses a level name as used by `MICA_CPU` and the `--cpu` flags.
    pub fn from_name(name: &str) -> Option<CpuLevel> {
        match name.trim().to_ascii_lowercase().as_str() {
            "scalar" | "c" | "none" => Some(CpuLevel::Scalar),
            "avx2" => Some(CpuLevel::Avx2),
            _ => None,
        }
    }

    /// The level's name, as accepted by [`CpuLevel::from_name`].
    pub fn name(self) -> &'static str {
        match self {
            CpuLevel::Scalar => "scalar",
            CpuLevel::Avx2 => "avx2",
        }
    }

    /// The level to use by default: the detected level, capped by `MICA_CPU` if set.
    /// An unknown `MICA_CPU` value is ignored with the detected level used (the CLIs
    /// validate their own `--cpu` flag and report bad values).
    pub fn runtime() -> CpuLevel {
        static LEVEL: OnceLock<CpuLevel> = OnceLock::new();
        *LEVEL.get_or_init(|| {
            let best = CpuLevel::detect();
            match std::env::var("MICA_CPU")
                .ok()
                .and_then(|v| CpuLevel::from_name(&v))
            {
                Some(cap) => cap.min(best),
                None => best,
            }
        })
    }

    /// Caps a requested level at what the machine supports.
    pub fn clamp_to_supported(self) -> CpuLevel {
        self.min(CpuLevel::detect())
    }
}
