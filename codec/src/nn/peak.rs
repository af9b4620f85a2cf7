//! The machine's peak rate of integer multiply-accumulates, measured: a
//! register-only loop of the instructions a convolution kernel is made of
//! (no memory traffic, independent accumulators), on `threads` threads at
//! once. The network bench reports its convolution's rate as a fraction of
//! this (`mica-model peak`, `mica-model bench`).

/// One measured peak.
#[derive(Clone, Debug)]
pub struct Peak {
    /// Data type and instructions, e.g. `int16 vpmaddwd + vpaddd (AVX2)`.
    pub what: &'static str,
    /// Multiply-accumulates per second, in billions, all threads together.
    pub gmacs: f64,
}

/// Measures every kernel type this CPU has, each for about `seconds`.
pub fn measure(threads: usize, seconds: f64) -> Vec<Peak> {
    let mut peaks = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            peaks.push(Peak {
                what: "int16 vpmaddwd + vpaddd (AVX2), the chain kernels' type",
                // SAFETY: AVX2 was detected.
                gmacs: rate(threads, seconds, 160, |n| unsafe { x86::int16_avx2(n) }),
            });
            peaks.push(Peak {
                what: "int8 vpmaddubsw + vpmaddwd + vpaddd (AVX2; exact only for weights within +-64)",
                // SAFETY: AVX2 was detected.
                gmacs: rate(threads, seconds, 256, |n| unsafe { x86::int8_avx2(n) }),
            });
        }
        if std::arch::is_x86_feature_detected!("avx512vnni")
            && std::arch::is_x86_feature_detected!("avx512bw")
        {
            peaks.push(Peak {
                what: "int16 vpdpwssd (AVX-512 VNNI)",
                // SAFETY: AVX-512 VNNI was detected.
                gmacs: rate(threads, seconds, 256, |n| unsafe { x86::int16_vnni(n) }),
            });
            peaks.push(Peak {
                what: "int8 vpdpbusd (AVX-512 VNNI)",
                // SAFETY: AVX-512 VNNI was detected.
                gmacs: rate(threads, seconds, 512, |n| unsafe { x86::int8_vnni(n) }),
            });
        }
    }
    let _ = (threads, seconds);
    peaks
}

/// Runs `run(iterations)` (each iteration `macs` multiply-accumulates) on
/// `threads` threads for about `seconds`; billions of MACs per second.
#[cfg(target_arch = "x86_64")]
fn rate(threads: usize, seconds: f64, macs: u64, run: fn(u64)) -> f64 {
    let threads = threads.max(1);
    // Calibrate on one thread.
    let mut n = 1u64 << 16;
    loop {
        let t = std::time::Instant::now();
        run(n);
        let dt = t.elapsed().as_secs_f64();
        if dt > 0.02 {
            n = ((n as f64) * seconds / dt).max(1.0) as u64;
            break;
        }
        n *= 4;
    }
    let t = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(move || run(n));
        }
    });
    (n * macs * threads as u64) as f64 / t.elapsed().as_secs_f64() / 1e9
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::asm;

    /// 10 independent `vpmaddwd` + `vpaddd` per iteration: 160 MACs.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn int16_avx2(n: u64) {
        // SAFETY: registers only; the caller checked AVX2.
        unsafe {
            asm!(
                "vpcmpeqd ymm14, ymm14, ymm14",
                "vpcmpeqd ymm15, ymm15, ymm15",
                "2:",
                "vpmaddwd ymm10, ymm14, ymm15", "vpaddd ymm0, ymm0, ymm10",
                "vpmaddwd ymm11, ymm14, ymm15", "vpaddd ymm1, ymm1, ymm11",
                "vpmaddwd ymm12, ymm14, ymm15", "vpaddd ymm2, ymm2, ymm12",
                "vpmaddwd ymm13, ymm14, ymm15", "vpaddd ymm3, ymm3, ymm13",
                "vpmaddwd ymm10, ymm14, ymm15", "vpaddd ymm4, ymm4, ymm10",
                "vpmaddwd ymm11, ymm14, ymm15", "vpaddd ymm5, ymm5, ymm11",
                "vpmaddwd ymm12, ymm14, ymm15", "vpaddd ymm6, ymm6, ymm12",
                "vpmaddwd ymm13, ymm14, ymm15", "vpaddd ymm7, ymm7, ymm13",
                "vpmaddwd ymm10, ymm14, ymm15", "vpaddd ymm8, ymm8, ymm10",
                "vpmaddwd ymm11, ymm14, ymm15", "vpaddd ymm9, ymm9, ymm11",
                "dec {n}",
                "jnz 2b",
                n = inout(reg) n.max(1) => _,
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
                out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
                options(nostack, nomem),
            );
        }
    }

    /// 8 independent `vpmaddubsw` + `vpmaddwd` (by ones) + `vpaddd` per iteration: 256 MACs.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn int8_avx2(n: u64) {
        // SAFETY: registers only; the caller checked AVX2.
        unsafe {
            asm!(
                "vpcmpeqd ymm13, ymm13, ymm13",
                "vpcmpeqd ymm14, ymm14, ymm14",
                "vpcmpeqd ymm15, ymm15, ymm15",
                "2:",
                "vpmaddubsw ymm8, ymm14, ymm15", "vpmaddwd ymm8, ymm8, ymm13", "vpaddd ymm0, ymm0, ymm8",
                "vpmaddubsw ymm9, ymm14, ymm15", "vpmaddwd ymm9, ymm9, ymm13", "vpaddd ymm1, ymm1, ymm9",
                "vpmaddubsw ymm10, ymm14, ymm15", "vpmaddwd ymm10, ymm10, ymm13", "vpaddd ymm2, ymm2, ymm10",
                "vpmaddubsw ymm11, ymm14, ymm15", "vpmaddwd ymm11, ymm11, ymm13", "vpaddd ymm3, ymm3, ymm11",
                "vpmaddubsw ymm12, ymm14, ymm15", "vpmaddwd ymm12, ymm12, ymm13", "vpaddd ymm4, ymm4, ymm12",
                "vpmaddubsw ymm8, ymm14, ymm15", "vpmaddwd ymm8, ymm8, ymm13", "vpaddd ymm5, ymm5, ymm8",
                "vpmaddubsw ymm9, ymm14, ymm15", "vpmaddwd ymm9, ymm9, ymm13", "vpaddd ymm6, ymm6, ymm9",
                "vpmaddubsw ymm10, ymm14, ymm15", "vpmaddwd ymm10, ymm10, ymm13", "vpaddd ymm7, ymm7, ymm10",
                "dec {n}",
                "jnz 2b",
                n = inout(reg) n.max(1) => _,
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
                out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
                options(nostack, nomem),
            );
        }
    }

    /// 8 independent `vpdpwssd` (32 pairs of int16 products) per iteration: 256 MACs.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn int16_vnni(n: u64) {
        // SAFETY: registers only; the caller checked AVX-512 VNNI.
        unsafe {
            asm!(
                "vpternlogd zmm14, zmm14, zmm14, 0xff",
                "vpternlogd zmm15, zmm15, zmm15, 0xff",
                "2:",
                "vpdpwssd zmm0, zmm14, zmm15", "vpdpwssd zmm1, zmm14, zmm15",
                "vpdpwssd zmm2, zmm14, zmm15", "vpdpwssd zmm3, zmm14, zmm15",
                "vpdpwssd zmm4, zmm14, zmm15", "vpdpwssd zmm5, zmm14, zmm15",
                "vpdpwssd zmm6, zmm14, zmm15", "vpdpwssd zmm7, zmm14, zmm15",
                "dec {n}",
                "jnz 2b",
                n = inout(reg) n.max(1) => _,
                out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
                out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _,
                out("zmm14") _, out("zmm15") _,
                options(nostack, nomem),
            );
        }
    }

    /// 8 independent `vpdpbusd` (64 u8 x s8 products) per iteration: 512 MACs.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn int8_vnni(n: u64) {
        // SAFETY: registers only; the caller checked AVX-512 VNNI.
        unsafe {
            asm!(
                "vpternlogd zmm14, zmm14, zmm14, 0xff",
                "vpternlogd zmm15, zmm15, zmm15, 0xff",
                "2:",
                "vpdpbusd zmm0, zmm14, zmm15", "vpdpbusd zmm1, zmm14, zmm15",
                "vpdpbusd zmm2, zmm14, zmm15", "vpdpbusd zmm3, zmm14, zmm15",
                "vpdpbusd zmm4, zmm14, zmm15", "vpdpbusd zmm5, zmm14, zmm15",
                "vpdpbusd zmm6, zmm14, zmm15", "vpdpbusd zmm7, zmm14, zmm15",
                "dec {n}",
                "jnz 2b",
                n = inout(reg) n.max(1) => _,
                out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
                out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _,
                out("zmm14") _, out("zmm15") _,
                options(nostack, nomem),
            );
        }
    }
}
