//! The reference ALF kernel.

use super::{COEFF_BITS, PAD};

/// See [`super::filter`].
#[allow(clippy::too_many_arguments)]
pub fn filter(
    src: &[u16],
    dst: &mut [u16],
    w: usize,
    rect: (usize, usize, usize, usize),
    taps: &[(i8, i8)],
    sets: &[i16],
    blocks: Option<&[u8]>,
    bit_depth: u32,
) {
    let (x0, y0, x1, y1) = rect;
    let n = taps.len();
    let bw = (x1 - x0) / 4;
    let stride = w + 2 * PAD;
    let max = (1i32 << bit_depth) - 1;
    let offsets: Vec<isize> = taps
        .iter()
        .map(|&(dy, dx)| dy as isize * stride as isize + dx as isize)
        .collect();
    for y in y0..y1 {
        for x in x0..x1 {
            let set = blocks.map_or(0, |b| b[(y - y0) / 4 * bw + (x - x0) / 4] as usize);
            let coeffs = &sets[set * n..][..n];
            dst[y * w + x] = sample(src, (y + PAD) * stride + x + PAD, &offsets, coeffs, max);
        }
    }
}

/// The filtered sample at `c` in the padded source.
#[inline]
pub(super) fn sample(src: &[u16], c: usize, offsets: &[isize], coeffs: &[i16], max: i32) -> u16 {
    let cur = src[c] as i32;
    let mut sum = 0i32;
    for (&o, &k) in offsets.iter().zip(coeffs) {
        let a = src[c.wrapping_add_signed(o)] as i32;
        let b = src[c.wrapping_add_signed(-o)] as i32;
        sum += k as i32 * (a + b - 2 * cur);
    }
    let round = 1 << (COEFF_BITS - 1);
    (cur + ((sum + round) >> COEFF_BITS)).clamp(0, max) as u16
}

/// See [`super::classify`]. Row by row: each window row's Laplacians at
/// its checkerboard positions are computed once and summed over runs of
/// four columns (`q`, one run per block edge), shared by the blocks left
/// and right of it and by the two block rows whose windows hold the row.
pub fn classify(
    src: &[u16],
    w: usize,
    rect: (usize, usize, usize, usize),
    bit_depth: u32,
    out: &mut [u8],
) {
    let (x0, y0, x1, y1) = rect;
    let stride = w + 2 * PAD;
    let (bw, bh) = ((x1 - x0) / 4, (y1 - y0) / 4);
    if bw == 0 || bh == 0 {
        return;
    }
    // q[(row * (bw + 1) + j) * 4 + g]: direction g's sum over columns
    // x0 + 4 j - 2 ..= x0 + 4 j + 1 of window row y0 - 2 + row.
    let rows = 4 * bh + 4;
    let mut q = vec![0u32; rows * (bw + 1) * 4];
    for row in 0..rows {
        let r = y0 + row + PAD - 2;
        let line = |dr: isize| &src[(r as isize + dr) as usize * stride..][..stride];
        let (up, mid, down) = (line(-1), line(0), line(1));
        for j in 0..=bw {
            // Padded column of x0 + 4 j - 2, plus one when the row is odd.
            let first = x0 + 4 * j + PAD - 2 + (row & 1);
            let mut g = [0u32; 4];
            for c in [first, first + 2] {
                let s2 = 2 * mid[c] as i32;
                let (u, d) = (up[c] as i32, down[c] as i32);
                g[0] += (s2 - u - d).unsigned_abs();
                g[1] += (s2 - mid[c - 1] as i32 - mid[c + 1] as i32).unsigned_abs();
                g[2] += (s2 - up[c - 1] as i32 - down[c + 1] as i32).unsigned_abs();
                g[3] += (s2 - down[c - 1] as i32 - up[c + 1] as i32).unsigned_abs();
            }
            q[(row * (bw + 1) + j) * 4..][..4].copy_from_slice(&g);
        }
    }
    for ib in 0..bh {
        for jb in 0..bw {
            let mut g = [0u32; 4];
            for row in 4 * ib..4 * ib + 8 {
                for j in [jb, jb + 1] {
                    let at = (row * (bw + 1) + j) * 4;
                    for (k, v) in g.iter_mut().enumerate() {
                        *v += q[at + k];
                    }
                }
            }
            out[ib * bw + jb] = super::class_of(g, bit_depth);
        }
    }
}
