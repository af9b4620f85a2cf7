//! Scalar vs AVX2 transforms, per shape (the squares and a few rectangles): inverse of a full
//! coefficient block, of a sparse one (only the top-left quarter by quarter non-zero, typical
//! of coded blocks) and of a DC-only one; and forward.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mica::internals::dsp::transform::{forward, inverse, TxKind};
use mica::CpuLevel;

/// The shapes benched, as (log2w, log2h): every square, then rectangles of ratio 2, 4 and 8.
const SHAPES: [(u32, u32); 11] = [
    (2, 2),
    (3, 3),
    (4, 4),
    (5, 5),
    (2, 3),
    (3, 2),
    (4, 3),
    (3, 5),
    (5, 3),
    (2, 4),
    (2, 5),
];

/// Deterministic values in `[-range, range]` (a small LCG keeps the bench free of dependencies).
fn pseudo_random(len: usize, range: i32, seed: u64) -> Vec<i16> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as i32 % (2 * range + 1) - range) as i16
        })
        .collect()
}

/// Forward transform of a random residual: realistic coefficients for the inverse benches,
/// zero outside the top-left `nz` (columns, rows).
fn coefficients((log2w, log2h): (u32, u32), nz: (usize, usize)) -> Vec<i16> {
    let (w, h) = (1usize << log2w, 1usize << log2h);
    let residual = pseudo_random(w * h, 255, u64::from(log2w * 8 + log2h));
    let mut coeffs = vec![0; w * h];
    forward(
        TxKind::Dct2,
        TxKind::Dct2,
        log2w,
        log2h,
        &residual,
        &mut coeffs,
        8,
        CpuLevel::Scalar,
    );
    for (i, c) in coeffs.iter_mut().enumerate() {
        if i % w >= nz.0 || i / w >= nz.1 {
            *c = 0;
        }
    }
    coeffs
}

fn transforms(c: &mut Criterion) {
    type Region = fn(usize) -> usize;
    let regions: [(&str, Region); 3] = [
        ("inverse", |n| n),
        ("inverse_sparse", |n| (n / 4).max(1)),
        ("inverse_dc", |_| 1),
    ];
    for (group_name, region) in regions {
        let mut group = c.benchmark_group(group_name);
        group
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for (log2w, log2h) in SHAPES {
            let (w, h) = (1usize << log2w, 1usize << log2h);
            let nz = (region(w), region(h));
            let coeffs = coefficients((log2w, log2h), nz);
            let mut residual = vec![0; w * h];
            for cpu in CpuLevel::all_supported() {
                let id = BenchmarkId::new(cpu.name(), format!("{w}x{h}"));
                group.bench_with_input(id, &coeffs, |b, coeffs| {
                    b.iter(|| {
                        inverse(
                            TxKind::Dct2,
                            TxKind::Dct2,
                            log2w,
                            log2h,
                            black_box(coeffs),
                            nz.0,
                            nz.1,
                            &mut residual,
                            8,
                            cpu,
                        );
                        black_box(&residual);
                    })
                });
            }
        }
        group.finish();
    }

    let mut group = c.benchmark_group("forward");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (log2w, log2h) in SHAPES {
        let (w, h) = (1usize << log2w, 1usize << log2h);
        let residual = pseudo_random(w * h, 255, 7);
        let mut coeffs = vec![0; w * h];
        for cpu in CpuLevel::all_supported() {
            group.bench_with_input(
                BenchmarkId::new(cpu.name(), format!("{w}x{h}")),
                &residual,
                |b, residual| {
                    b.iter(|| {
                        forward(
                            TxKind::Dct2,
                            TxKind::Dct2,
                            log2w,
                            log2h,
                            black_box(residual),
                            &mut coeffs,
                            8,
                            cpu,
                        );
                        black_box(&coeffs);
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, transforms);
criterion_main!(benches);
