//! Adaptive loop filter kernels: scalar against AVX2 on a 1920x1080 luma
//! plane (classification of every 4x4 block; filtering with a coefficient
//! set per block, as luma with 25 classes and four transposes uses) and on
//! its 960x540 chroma plane (one set), at 8 and 10 bits. The padded copy
//! of the plane is made once, outside the timing; each iteration filters
//! the whole plane into the same output.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mica::internals::dsp::alf::{classify, filter, padded, CHROMA_TAPS, LUMA_TAPS};
use mica::CpuLevel;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;

/// Smooth gradients with texture and noise (8-bit levels scaled to the depth).
fn plane(w: usize, h: usize, bit_depth: u32, seed: u64) -> Vec<u16> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f64, (i / w) as f64);
            let v = 128.0 + 60.0 * (x * 0.05).sin() * (y * 0.03).cos() + rng.gen_range(-6.0..6.0);
            (v.clamp(0.0, 255.0) as u16) << (bit_depth - 8)
        })
        .collect()
}

fn bench_alf(c: &mut Criterion) {
    for bit_depth in [8u32, 10] {
        let suffix = if bit_depth == 8 { "" } else { "_10bit" };
        let mut rng = SmallRng::seed_from_u64(3);
        let (w, h) = (1920, 1080);
        let luma = plane(w, h, bit_depth, 1);
        let src = padded(&luma, w, h);
        let sets: Vec<i16> = (0..100 * 12).map(|_| rng.gen_range(-20..=20)).collect();
        let mut blocks = vec![0u8; (w / 4) * (h / 4)];
        let mut group = c.benchmark_group(format!("alf_luma{suffix}"));
        for cpu in CpuLevel::all_supported() {
            group.bench_function(BenchmarkId::new(cpu.name(), "classify"), |b| {
                b.iter(|| {
                    classify(
                        black_box(&src),
                        w,
                        (0, 0, w, h),
                        bit_depth,
                        &mut blocks,
                        cpu,
                    )
                })
            });
            classify(&src, w, (0, 0, w, h), bit_depth, &mut blocks, cpu);
            let mut out = luma.clone();
            group.bench_function(BenchmarkId::new(cpu.name(), "filter"), |b| {
                b.iter(|| {
                    let rect = (0, 0, w, h);
                    filter(
                        black_box(&src),
                        &mut out,
                        w,
                        rect,
                        &LUMA_TAPS,
                        &sets,
                        Some(&blocks),
                        bit_depth,
                        cpu,
                    )
                })
            });
        }
        group.finish();
        let (cw, ch) = (w / 2, h / 2);
        let chroma = plane(cw, ch, bit_depth, 2);
        let csrc = padded(&chroma, cw, ch);
        let mut group = c.benchmark_group(format!("alf_chroma{suffix}"));
        for cpu in CpuLevel::all_supported() {
            let mut out = chroma.clone();
            group.bench_function(BenchmarkId::new(cpu.name(), "filter"), |b| {
                b.iter(|| {
                    let rect = (0, 0, cw, ch);
                    filter(
                        black_box(&csrc),
                        &mut out,
                        cw,
                        rect,
                        &CHROMA_TAPS,
                        &sets[..6],
                        None,
                        bit_depth,
                        cpu,
                    )
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_alf);
criterion_main!(benches);
