//! The reference ALF kernel.

use super::{COEFF_BITS, PAD};

/// See [`super::filter`].
pub fn filter(
    src: &[u16],
    dst: &mut [u16],
    w: usize,
    rect: (usize, usize, usize, usize),
    taps: &[(i8, i8)],
    coeffs: &[i16],
    bit_depth: u32,
) {
    let (x0, y0, x1, y1) = rect;
    let stride = w + 2 * PAD;
    let max = (1i32 << bit_depth) - 1;
    let offsets: Vec<isize> = taps
        .iter()
        .map(|&(dy, dx)| dy as isize * stride as isize + dx as isize)
        .collect();
    for y in y0..y1 {
        for x in x0..x1 {
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
