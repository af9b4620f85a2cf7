//! Reference kernels, sample by sample: the definition the AVX2 versions must equal.

use super::{HALF_TAPS, ROW_GROUP};

/// The prediction at `x` from `rows[k][x]`: the one source, the rounded-up mean
/// `(p + q + 1) >> 1` of two, or the rounded mean `(a + b + c + d + 2) >> 2` of four.
#[inline]
pub fn predict<const N: usize>(rows: &[&[u16]; N], x: usize) -> u16 {
    let sum: u32 = rows.iter().map(|r| u32::from(r[x])).sum();
    match N {
        1 => sum as u16,
        2 => ((sum + 1) >> 1) as u16,
        _ => ((sum + 2) >> 2) as u16,
    }
}

/// Sum of squared differences between the `w` x `h` block `a` and the prediction formed
/// from `N` (1, 2 or 4) blocks `src` (see [`predict`]), stopping after any group of
/// [`ROW_GROUP`] rows (but not after a last, shorter one) at which the sum so far exceeds
/// `bound`.
pub fn sse_predicted<const N: usize>(
    a: &[u16],
    a_stride: usize,
    src: [&[u16]; N],
    stride: usize,
    w: usize,
    h: usize,
    bound: u64,
) -> u64 {
    let mut total = 0;
    for y in 0..h {
        let row_a = &a[y * a_stride..][..w];
        let rows = src.map(|s| &s[y * stride..][..w]);
        total += row_a
            .iter()
            .enumerate()
            .map(|(x, &p)| u64::from(p.abs_diff(predict(&rows, x))).pow(2))
            .sum::<u64>();
        if (y + 1) % ROW_GROUP == 0 && total > bound {
            return total;
        }
    }
    total
}

/// `out[x] = sum_k HALF_TAPS[k] * src[k][x]` for every `x` of `out`.
pub fn fir6_u16(src: [&[u16]; 6], out: &mut [i32]) {
    for (x, o) in out.iter_mut().enumerate() {
        *o = (0..6).map(|k| HALF_TAPS[k] * i32::from(src[k][x])).sum();
    }
}

/// `out[x] = sum_k HALF_TAPS[k] * src[k][x]` for every `x` of `out`.
pub fn fir6_i32(src: [&[i32]; 6], out: &mut [i32]) {
    for (x, o) in out.iter_mut().enumerate() {
        *o = (0..6).map(|k| HALF_TAPS[k] * src[k][x]).sum();
    }
}

/// `dst` (`w` x `h`) gets the rounded mean of each 2x2 square of `src` (`2w` x `2h`).
pub fn downscale_2x2(
    src: &[u16],
    src_stride: usize,
    dst: &mut [u16],
    dst_stride: usize,
    w: usize,
    h: usize,
) {
    for y in 0..h {
        let top = &src[2 * y * src_stride..][..2 * w];
        let bottom = &src[(2 * y + 1) * src_stride..][..2 * w];
        let out = &mut dst[y * dst_stride..][..w];
        for (x, o) in out.iter_mut().enumerate() {
            let sum = u32::from(top[2 * x])
                + u32::from(top[2 * x + 1])
                + u32::from(bottom[2 * x])
                + u32::from(bottom[2 * x + 1]);
            *o = ((sum + 2) >> 2) as u16;
        }
    }
}

/// `dst` (tight, `w` x `h`) gets the rounded-up mean `(p + q + 1) >> 1` of two blocks that
/// share `stride`.
pub fn average2(p: &[u16], q: &[u16], stride: usize, dst: &mut [u16], w: usize, h: usize) {
    for y in 0..h {
        let (rp, rq) = (&p[y * stride..][..w], &q[y * stride..][..w]);
        for ((o, &a), &b) in dst[y * w..][..w].iter_mut().zip(rp).zip(rq) {
            *o = ((u32::from(a) + u32::from(b) + 1) >> 1) as u16;
        }
    }
}

/// `dst` (tight, `w` x `h`) gets the rounded mean `(a + b + c + d + 2) >> 2` of four blocks
/// that share `stride`.
pub fn average4(src: [&[u16]; 4], stride: usize, dst: &mut [u16], w: usize, h: usize) {
    for y in 0..h {
        let rows = src.map(|s| &s[y * stride..][..w]);
        for (x, o) in dst[y * w..][..w].iter_mut().enumerate() {
            let sum: u32 = rows.iter().map(|r| u32::from(r[x])).sum();
            *o = ((sum + 2) >> 2) as u16;
        }
    }
}
