//! Scalar vs AVX2 transforms, per size: inverse of a full coefficient block, of a sparse one
//! (only the top-left quarter by quarter non-zero, typical of coded blocks) and of a DC-only
//! one; and forward.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mica::internals::dsp::transform::{forward, inverse, TxKind};
use mica::CpuLevel;

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

/// Forward transform of a random residual: realistic coefficients for the inverse benches.
fn coefficients(log2n: u32, nz: usize) -> Vec<i16> {
    let n = 1 << log2n;
    let residual = pseudo_random(n * n, 255, u64::from(log2n));
    let mut coeffs = vec![0; n * n];
    forward(
        TxKind::Dct2,
        log2n,
        &residual,
        &mut coeffs,
        8,
        CpuLevel::Scalar,
    );
    for (i, c) in coeffs.iter_mut().enumerate() {
        if i % n >= nz || i / n >= nz {
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
        for log2n in 2..=5 {
            let n = 1usize << log2n;
            let nz = region(n);
            let coeffs = coefficients(log2n, nz);
            let mut residual = vec![0; n * n];
            for cpu in CpuLevel::all_supported() {
                let id = BenchmarkId::new(cpu.name(), format!("{n}x{n}"));
                group.bench_with_input(id, &coeffs, |b, coeffs| {
                    b.iter(|| {
                        inverse(
                            TxKind::Dct2,
                            log2n,
                            black_box(coeffs),
                            nz,
                            nz,
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
    for log2n in 2..=5 {
        let n = 1usize << log2n;
        let residual = pseudo_random(n * n, 255, 7);
        let mut coeffs = vec![0; n * n];
        for cpu in CpuLevel::all_supported() {
            group.bench_with_input(
                BenchmarkId::new(cpu.name(), format!("{n}x{n}")),
                &residual,
                |b, residual| {
                    b.iter(|| {
                        forward(
                            TxKind::Dct2,
                            log2n,
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
