//! Distortion measures (SAD, SSE, SATD): scalar against AVX2 on square blocks from 4x4 to
//! 64x64, with 8-bit and 10-bit samples in planes wider than the block (as in motion search:
//! a source block against a reference plane). The kernels' cost does not depend on the values,
//! so the two depths should time alike.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mica::internals::dsp::dist::{sad, satd, sse};
use mica::CpuLevel;

/// Stride of both planes: wider than the largest block.
const STRIDE: usize = 96;

/// Deterministic samples below `1 << bit_depth` (a small LCG keeps the bench free of
/// dependencies).
fn plane(bit_depth: u32, seed: u64) -> Vec<u16> {
    let mut state = seed;
    (0..STRIDE * 64)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % (1 << bit_depth)) as u16
        })
        .collect()
}

/// `sad`, `sse` or `satd`, with the result widened.
type Measure = fn(&[u16], usize, &[u16], usize, usize, usize, CpuLevel) -> u64;

fn measures(c: &mut Criterion) {
    let cases: [(&str, Measure); 3] = [
        ("sad", |a, sa, b, sb, w, h, cpu| {
            u64::from(sad(a, sa, b, sb, w, h, cpu))
        }),
        ("sse", sse),
        ("satd", |a, sa, b, sb, w, h, cpu| {
            u64::from(satd(a, sa, b, sb, w, h, cpu))
        }),
    ];
    for bit_depth in [8, 10] {
        let (a, b) = (plane(bit_depth, 1), plane(bit_depth, 2));
        for (name, measure) in cases {
            for n in [4, 8, 16, 32, 64] {
                let mut group = c.benchmark_group(format!("dist_{name}/{n}x{n}"));
                for cpu in CpuLevel::all_supported() {
                    let id = BenchmarkId::new(cpu.name(), format!("{bit_depth}-bit"));
                    group.bench_function(id, |bench| {
                        bench.iter(|| {
                            measure(black_box(&a), STRIDE, black_box(&b), STRIDE, n, n, cpu)
                        })
                    });
                }
                group.finish();
            }
        }
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = measures
}
criterion_main!(benches);
