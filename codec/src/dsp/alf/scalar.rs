//! The reference ALF kernel.

use super::{COEFF_BITS, PAD};

/// See [`super::filter`].
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

/// See [`super::classify`].
pub fn classify(
    src: &[u16],
    w: usize,
    rect: (usize, usize, usize, usize),
    bit_depth: u32,
    out: &mut [u8],
) {
    let (x0, y0, x1, y1) = rect;
    let stride = w + 2 * PAD;
    let bw = (x1 - x0).div_ceil(4);
    for by in (y0..y1).step_by(4) {
        for bx in (x0..x1).step_by(4) {
            let mut g = [0u32; 4];
            for a in 0..8 {
                // Rows by - 2 .. by + 5; even rows of the window at even columns, odd at odd.
                let r = by + PAD + a - 2;
                for b in 0..4 {
                    let c = bx + PAD - 2 + 2 * b + (a & 1);
                    let at = |dr: isize, dc: isize| {
                        src[(r as isize + dr) as usize * stride + (c as isize + dc) as usize] as i32
                    };
                    let s2 = 2 * at(0, 0);
                    g[0] += (s2 - at(-1, 0) - at(1, 0)).unsigned_abs();
                    g[1] += (s2 - at(0, -1) - at(0, 1)).unsigned_abs();
                    g[2] += (s2 - at(-1, -1) - at(1, 1)).unsigned_abs();
                    g[3] += (s2 - at(1, -1) - at(-1, 1)).unsigned_abs();
                }
            }
            out[(by - y0) / 4 * bw + (bx - x0) / 4] = super::class_of(g, bit_depth);
        }
    }
}
