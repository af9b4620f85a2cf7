//! Motion-compensation interpolation: scalar against AVX2 for representative luma blocks
//! at the half-sample position in both directions (2, 2: both passes) and a quarter-sample
//! horizontal one (1, 0: first pass only), a vertical-only one (0, 1), chroma blocks at
//! (4, 4) and (3, 0), and the two sample writers, each with 8-bit samples (groups `mc_*`)
//! and 10-bit ones (groups `mc_*_10bit`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mica::internals::dsp::mc::{chroma, luma, put_bi, put_uni};
use mica::CpuLevel;
use std::hint::black_box;
use std::time::Duration;

/// A reference plane with room for a 64x64 block's footprint at `ORIGIN`.
const STRIDE: usize = 96;
const ROWS: usize = 80;
const ORIGIN: usize = 8 * STRIDE + 8;
/// Output stride (i16 intermediates and samples alike), as for a 64-wide block.
const DST_STRIDE: usize = 64;

/// Sample bit depths benchmarked.
const BIT_DEPTHS: [u32; 2] = [8, 10];

fn plane(bit_depth: u32) -> Vec<u16> {
    // Fixed pseudo-random samples; the kernels' cost does not depend on the values.
    let max = (1 << bit_depth) - 1;
    (0..STRIDE * ROWS)
        .map(|i| (i * 97 + 13) as u16 & max)
        .collect()
}

/// Group name suffix for a bit depth: none at 8 bits, so that those groups keep their
/// names from before samples were 16-bit.
fn depth_suffix(bit_depth: u32) -> &'static str {
    if bit_depth == 8 {
        ""
    } else {
        "_10bit"
    }
}

/// `luma` or `chroma`.
type Interpolate = fn(&[u16], usize, usize, usize, usize, u8, u8, &mut [i16], usize, u32, CpuLevel);

/// A benchmarked call: plane name, function, block size and fractions.
type Case = (&'static str, Interpolate, (usize, usize), (u8, u8));

fn bench_interpolate(c: &mut Criterion) {
    for bit_depth in BIT_DEPTHS {
        bench_interpolate_at(c, bit_depth);
    }
}

fn bench_interpolate_at(c: &mut Criterion, bit_depth: u32) {
    let src = plane(bit_depth);
    let mut dst = vec![0i16; 64 * DST_STRIDE];
    let cases: [Case; 13] = [
        ("luma", luma, (8, 8), (2, 2)),
        ("luma", luma, (8, 8), (1, 0)),
        ("luma", luma, (8, 8), (0, 1)),
        ("luma", luma, (16, 16), (2, 2)),
        ("luma", luma, (16, 16), (1, 0)),
        ("luma", luma, (16, 16), (0, 1)),
        ("luma", luma, (64, 64), (2, 2)),
        ("luma", luma, (64, 64), (1, 0)),
        ("luma", luma, (64, 64), (0, 1)),
        ("luma", luma, (4, 8), (2, 2)),
        ("chroma", chroma, (8, 8), (4, 4)),
        ("chroma", chroma, (8, 8), (3, 0)),
        ("chroma", chroma, (4, 4), (4, 4)),
    ];
    for (name, interpolate, (w, h), (fx, fy)) in cases {
        let suffix = depth_suffix(bit_depth);
        let mut group = c.benchmark_group(format!("mc_{name}{suffix}/{w}x{h}"));
        for cpu in CpuLevel::all_supported() {
            group.bench_function(BenchmarkId::new(cpu.name(), format!("({fx},{fy})")), |b| {
                b.iter(|| {
                    interpolate(
                        black_box(&src),
                        STRIDE,
                        black_box(ORIGIN),
                        w,
                        h,
                        black_box(fx),
                        black_box(fy),
                        &mut dst,
                        DST_STRIDE,
                        bit_depth,
                        cpu,
                    );
                    black_box(&dst);
                })
            });
        }
        group.finish();
    }
}

fn bench_put(c: &mut Criterion) {
    for bit_depth in BIT_DEPTHS {
        bench_put_at(c, bit_depth);
    }
}

fn bench_put_at(c: &mut Criterion, bit_depth: u32) {
    let a: Vec<i16> = (0..64 * DST_STRIDE)
        .map(|i| (i * 131 % 17000) as i16)
        .collect();
    let b: Vec<i16> = (0..64 * DST_STRIDE)
        .map(|i| (i * 71 % 16000) as i16)
        .collect();
    let mut dst = vec![0u16; 64 * DST_STRIDE];
    for n in [8, 16, 64] {
        let suffix = depth_suffix(bit_depth);
        let mut group = c.benchmark_group(format!("mc_put{suffix}/{n}x{n}"));
        for cpu in CpuLevel::all_supported() {
            group.bench_function(BenchmarkId::new(cpu.name(), "uni"), |bench| {
                bench.iter(|| {
                    put_uni(
                        black_box(&a),
                        DST_STRIDE,
                        n,
                        n,
                        &mut dst,
                        DST_STRIDE,
                        bit_depth,
                        cpu,
                    );
                    black_box(&dst);
                })
            });
            group.bench_function(BenchmarkId::new(cpu.name(), "bi"), |bench| {
                bench.iter(|| {
                    put_bi(
                        black_box(&a),
                        black_box(&b),
                        DST_STRIDE,
                        n,
                        n,
                        &mut dst,
                        DST_STRIDE,
                        bit_depth,
                        cpu,
                    );
                    black_box(&dst);
                })
            });
        }
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_interpolate, bench_put
}
criterion_main!(benches);
