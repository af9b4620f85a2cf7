//! Deblocking kernels: scalar against AVX2 over every edge of a 1920x1080 luma plane and
//! of its 960x540 chroma plane, vertical edges (band by band, on one thread) and horizontal
//! edges (row by row) apart.
//!
//! Every segment is an edge, with QP 37's thresholds (luma beta 36, tc 4; chroma tc 5),
//! on blocky content (smooth 8x8 cells with steps between them and a little noise) where
//! segments take all three luma paths: strong, normal and none. Each iteration filters a
//! fresh copy of the plane; making the copy is not timed.
//!
//! 8-bit video (groups `deblock_luma`, `deblock_chroma`) and 10-bit video (groups
//! `deblock_luma_10bit`, `deblock_chroma_10bit`: the same content and thresholds scaled by
//! 4, so that the same segments take the same paths).

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use mica::internals::dsp::deblock::{
    chroma_horizontal, chroma_vertical, luma_horizontal, luma_vertical, LumaEdge,
};
use mica::CpuLevel;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;

/// 8-bit thresholds, scaled by 2^(bit_depth - 8) where used.
const LUMA_EDGE: LumaEdge = LumaEdge { beta: 36, tc: 4 };
const CHROMA_TC: u16 = 5;

/// A `w` x `h` plane of smooth 8x8 cells: a base level and a slope each way per cell, and
/// noise of up to 2 (8-bit levels, scaled by 2^(bit_depth - 8)).
fn blocky_plane(w: usize, h: usize, bit_depth: u32, seed: u64) -> Vec<u16> {
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
            (v.clamp(0, 255) << (bit_depth - 8)) as u16
        })
        .collect()
}

/// The luma thresholds and chroma tc at `bit_depth`.
fn thresholds(bit_depth: u32) -> (LumaEdge, u16) {
    let scale = 1 << (bit_depth - 8);
    let luma = LumaEdge {
        beta: LUMA_EDGE.beta * scale,
        tc: LUMA_EDGE.tc * scale,
    };
    (luma, CHROMA_TC * scale)
}

/// Every vertical edge, band by band.
fn vertical(plane: &mut [u16], w: usize, luma: bool, bit_depth: u32, cpu: CpuLevel) {
    let edges = w.div_ceil(8) - 1;
    let (luma_edge, chroma_tc) = thresholds(bit_depth);
    let luma_edges = vec![luma_edge; edges];
    let tcs = vec![chroma_tc; edges];
    for band in plane.chunks_mut(4 * w) {
        if luma {
            luma_vertical(band, w, &luma_edges, bit_depth, cpu);
        } else {
            chroma_vertical(band, w, &tcs, bit_depth, cpu);
        }
    }
}

/// Every horizontal edge, top to bottom.
fn horizontal(plane: &mut [u16], w: usize, h: usize, luma: bool, bit_depth: u32, cpu: CpuLevel) {
    let (luma_edge, chroma_tc) = thresholds(bit_depth);
    let luma_edges = vec![luma_edge; w / 4];
    let tcs = vec![chroma_tc; w / 4];
    for y in (8..h).step_by(8) {
        if luma {
            luma_horizontal(plane, w, y, &luma_edges, bit_depth, cpu);
        } else {
            chroma_horizontal(plane, w, y, &tcs, bit_depth, cpu);
        }
    }
}

fn bench_deblock(c: &mut Criterion) {
    let planes = [("luma", 1920, 1080, true), ("chroma", 960, 540, false)];
    for (bit_depth, suffix) in [(8, ""), (10, "_10bit")] {
        for (name, w, h, luma) in planes {
            bench_plane(
                c,
                &format!("deblock_{name}{suffix}"),
                (w, h),
                luma,
                bit_depth,
            );
        }
    }
}

/// Every level on every vertical, then every horizontal, edge of one plane.
fn bench_plane(c: &mut Criterion, name: &str, (w, h): (usize, usize), luma: bool, bit_depth: u32) {
    let plane = blocky_plane(w, h, bit_depth, 37);
    let mut group = c.benchmark_group(format!("{name}/{w}x{h}"));
    for cpu in CpuLevel::all_supported() {
        group.bench_function(BenchmarkId::new(cpu.name(), "vertical edges"), |b| {
            b.iter_batched_ref(
                || plane.clone(),
                |p| {
                    vertical(p, w, luma, bit_depth, cpu);
                    black_box(p);
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_function(BenchmarkId::new(cpu.name(), "horizontal edges"), |b| {
            b.iter_batched_ref(
                || plane.clone(),
                |p| {
                    horizontal(p, w, h, luma, bit_depth, cpu);
                    black_box(p);
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_deblock);
criterion_main!(benches);
