//! Deblocking kernels: scalar against AVX2 over every edge of a 1920x1080 luma plane and
//! of its 960x540 chroma plane, vertical edges (band by band, on one thread) and horizontal
//! edges (row by row) apart.
//!
//! Every segment is an edge, with QP 37's thresholds (luma beta 36, tc 4; chroma tc 5),
//! on blocky content (smooth 8x8 cells with steps between them and a little noise) where
//! segments take all three luma paths: strong, normal and none. Each iteration filters a
//! fresh copy of the plane; making the copy is not timed.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use mica::internals::dsp::deblock::{
    chroma_horizontal, chroma_vertical, luma_horizontal, luma_vertical, LumaEdge,
};
use mica::CpuLevel;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;

const LUMA_EDGE: LumaEdge = LumaEdge { beta: 36, tc: 4 };
const CHROMA_TC: u8 = 5;

/// A `w` x `h` plane of smooth 8x8 cells: a base level and a slope each way per cell, and
/// noise of up to 2.
fn blocky_plane(w: usize, h: usize, seed: u64) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let cells_x = w.div_ceil(8);
    let cells: Vec<(i32, i32, i32)> = (0..cells_x * h.div_ceil(8))
        .map(|_| {
            (
                rng.gen_range(40..216),
                rng.gen_range(-2..=2),
                rng.gen_range(-2..=2),
            )
        })
        .collect();
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let (base, sx, sy) = cells[(y / 8) * cells_x + x / 8];
            let v = base + sx * (x % 8) as i32 + sy * (y % 8) as i32 + rng.gen_range(-2..=2);
            v.clamp(0, 255) as u8
        })
        .collect()
}

/// Every vertical edge, band by band.
fn vertical(plane: &mut [u8], w: usize, luma: bool, cpu: CpuLevel) {
    let edges = w.div_ceil(8) - 1;
    let luma_edges = vec![LUMA_EDGE; edges];
    let tcs = vec![CHROMA_TC; edges];
    for band in plane.chunks_mut(4 * w) {
        if luma {
            luma_vertical(band, w, &luma_edges, cpu);
        } else {
            chroma_vertical(band, w, &tcs, cpu);
        }
    }
}

/// Every horizontal edge, top to bottom.
fn horizontal(plane: &mut [u8], w: usize, h: usize, luma: bool, cpu: CpuLevel) {
    let luma_edges = vec![LUMA_EDGE; w / 4];
    let tcs = vec![CHROMA_TC; w / 4];
    for y in (8..h).step_by(8) {
        if luma {
            luma_horizontal(plane, w, y, &luma_edges, cpu);
        } else {
            chroma_horizontal(plane, w, y, &tcs, cpu);
        }
    }
}

fn bench_deblock(c: &mut Criterion) {
    for (name, w, h, luma) in [("luma", 1920, 1080, true), ("chroma", 960, 540, false)] {
        let plane = blocky_plane(w, h, 37);
        let mut group = c.benchmark_group(format!("deblock_{name}/{w}x{h}"));
        for cpu in CpuLevel::all_supported() {
            group.bench_function(BenchmarkId::new(cpu.name(), "vertical edges"), |b| {
                b.iter_batched_ref(
                    || plane.clone(),
                    |p| {
                        vertical(p, w, luma, cpu);
                        black_box(p);
                    },
                    BatchSize::LargeInput,
                )
            });
            group.bench_function(BenchmarkId::new(cpu.name(), "horizontal edges"), |b| {
                b.iter_batched_ref(
                    || plane.clone(),
                    |p| {
                        horizontal(p, w, h, luma, cpu);
                        black_box(p);
                    },
                    BatchSize::LargeInput,
                )
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_deblock);
criterion_main!(benches);
