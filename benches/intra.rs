//! Intra prediction: scalar against AVX2 `predict` for a few representative modes (planar,
//! DC, the two diagonals 2 and 18, pure horizontal and vertical, and the fractional
//! vertical-class mode 30), as a luma block with boundary smoothing, on 8-bit samples
//! (`intra_predict/WxH`) and 10-bit samples (`intra_predict_10bit/WxH`): every square and
//! a few rectangles (16x8, 8x16, 32x8, 8x32, 32x16, 4x16).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mica::internals::dsp::intra::{predict, DC, HOR, PLANAR, VER};
use mica::CpuLevel;
use std::hint::black_box;

const MODES: [u8; 7] = [PLANAR, DC, 2, HOR, 18, VER, 30];

/// (log2 W, log2 H) of the shapes measured.
const SHAPES: [(u32, u32); 10] = [
    (2, 2),
    (3, 3),
    (4, 4),
    (5, 5),
    (4, 3),
    (3, 4),
    (5, 3),
    (3, 5),
    (5, 4),
    (2, 4),
];

fn bench_predict(c: &mut Criterion) {
    for (bit_depth, suffix) in [(8, ""), (10, "_10bit")] {
        let max = (1u16 << bit_depth) - 1;
        for (log2w, log2h) in SHAPES {
            let (w, h) = (1usize << log2w, 1usize << log2h);
            // Fixed pseudo-random references; the kernels' cost does not depend on the values.
            let refs: Vec<u16> = (0..2 * (w + h) + 1)
                .map(|i| (i * 97 + 13) as u16 & max)
                .collect();
            let stride = 64;
            let mut dst = vec![0u16; h * stride];
            let mut group = c.benchmark_group(format!("intra_predict{suffix}/{w}x{h}"));
            for mode in MODES {
                for cpu in CpuLevel::all_supported() {
                    let id = BenchmarkId::new(cpu.name(), format!("mode {mode}"));
                    group.bench_function(id, |b| {
                        b.iter(|| {
                            predict(
                                black_box(mode),
                                black_box(&refs),
                                log2w,
                                log2h,
                                true,
                                &mut dst,
                                stride,
                                bit_depth,
                                cpu,
                            );
                            black_box(&dst);
                        })
                    });
                }
            }
            group.finish();
        }
    }
}

criterion_group!(benches, bench_predict);
criterion_main!(benches);
