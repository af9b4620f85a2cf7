//! Reference distortion measures, sample by sample.

use super::hadamard_tile;

/// Sum of squared differences.
pub fn sse(a: &[u16], a_stride: usize, b: &[u16], b_stride: usize, w: usize, h: usize) -> u64 {
    (0..h)
        .map(|y| {
            let (row_a, row_b) = (&a[y * a_stride..][..w], &b[y * b_stride..][..w]);
            row_a
                .iter()
                .zip(row_b)
                .map(|(&p, &q)| u64::from(p.abs_diff(q)).pow(2))
                .sum::<u64>()
        })
        .sum()
}

/// Sum over Hadamard tiles of each tile's normalised sum of transformed magnitudes.
pub fn satd(a: &[u16], a_stride: usize, b: &[u16], b_stride: usize, w: usize, h: usize) -> u32 {
    let tile = hadamard_tile(w, h);
    let mut total = 0;
    for top in (0..h).step_by(tile) {
        for left in (0..w).step_by(tile) {
            let mut diff = [0i32; 64];
            for y in 0..tile {
                for x in 0..tile {
                    let (p, q) = (
                        a[(top + y) * a_stride + left + x],
                        b[(top + y) * b_stride + left + x],
                    );
                    diff[y * tile + x] = i32::from(p) - i32::from(q);
                }
            }
            let diff = &mut diff[..tile * tile];
            for row in 0..tile {
                walsh_hadamard(diff, row * tile, 1, tile);
            }
            for column in 0..tile {
                walsh_hadamard(diff, column, tile, tile);
            }
            let sum: u32 = diff.iter().map(|v| v.unsigned_abs()).sum();
            total += if tile == 8 {
                (sum + 2) >> 2
            } else {
                (sum + 1) >> 1
            };
        }
    }
    total
}

/// In-place unnormalised Walsh-Hadamard transform of the `n` values `v[first + i * stride]`.
fn walsh_hadamard(v: &mut [i32], first: usize, stride: usize, n: usize) {
    let mut half = 1;
    while half < n {
        for start in (0..n).step_by(2 * half) {
            for i in start..start + half {
                let (p, q) = (first + i * stride, first + (i + half) * stride);
                (v[p], v[q]) = (v[p] + v[q], v[p] - v[q]);
            }
        }
        half *= 2;
    }
}

/// Sum of absolute differences.
pub fn sad(a: &[u16], a_stride: usize, b: &[u16], b_stride: usize, w: usize, h: usize) -> u32 {
    let mut sum = 0u32;
    for y in 0..h {
        let (ra, rb) = (&a[y * a_stride..][..w], &b[y * b_stride..][..w]);
        sum += ra
            .iter()
            .zip(rb)
            .map(|(&p, &q)| p.abs_diff(q) as u32)
            .sum::<u32>();
    }
    sum
}
