//! Kernel of bi-directional optical flow (`docs/bitstream.md` 5.5): the bi-predicted luma
//! samples of a block corrected per 4 x 4 by a motion estimated from the two predictions'
//! gradients.
//!
//! Input: the two lists' 14-bit predictions (`dsp/mc`'s intermediates), each
//! `(w + 2) x (h + 2)` with row stride `w + 2` and the block at (1, 1): the one-sample
//! border only feeds the gradients of the block's edge samples. With `I` a prediction and
//! (x, y) a position in the block:
//!
//! * gradients `gx = (I[x + 1][y] >> 6) - (I[x - 1][y] >> 6)`, `gy` likewise vertically;
//! * per 4 x 4 at (bx, by), over the 6 x 6 window (bx - 1 ..= bx + 4) x (by - 1 ..= by + 4)
//!   with positions clamped into the block: `tx = (gx0 + gx1) >> 1`, `ty = (gy0 + gy1) >> 1`,
//!   `d = (I1 >> 4) - (I0 >> 4)`, and the sums `sxx = Σ|tx|`, `syy = Σ|ty|`,
//!   `sxy = Σ sign(ty) tx`, `sxd = Σ sign(tx) d`, `syd = Σ sign(ty) d`;
//! * `vx = sxx > 0 ? clip(-15, 15, (sxd << 2) >> floor(log2 sxx)) : 0` and
//!   `vy = syy > 0 ? clip(-15, 15, ((syd << 2) - ((vx sxy) >> 1)) >> floor(log2 syy)) : 0`;
//! * per sample `out = clip(0, max, (I0 + I1 + vx (gx0 - gx1) + vy (gy0 - gy1) + o) >> s)`
//!   with `s = 15 - BitDepth` and `o = 1 << (s - 1)`, as [`put_bi`](crate::dsp::mc::put_bi)
//!   plus the correction.
//!
//! Shifts of negative values round down. Bounds: predictions are -16830..=33150 at most
//! (`dsp/mc`'s module docs), so a gradient is within ±(33150 + 16830) >> 6 < 2^10, `tx`,
//! `ty` within ±2^10, `d` within ±2^12; a window's sums are below 36 · 2^12 < 2^18, and
//! `vx sxy` below 2^23: everything fits i32.

use crate::cpu::CpuLevel;
use crate::dsp::check_bit_depth;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod scalar;

/// Block sides the kernel accepts.
pub const SIDES: [usize; 2] = [8, 16];

/// Largest correcting motion component (in units of the gradients' scale).
pub const LIMIT: i32 = 15;

/// Applies the flow correction to a `w` x `h` bi-predicted luma block (`w`, `h` 8 or 16)
/// from predictions `i0`, `i1` of `(w + 2) x (h + 2)` (stride `w + 2`, block at (1, 1)),
/// writing `dst[y * dst_stride + x]`.
///
/// Panics if a side is not 8 or 16, `bit_depth` is not 8 or 10, a prediction holds fewer
/// than `(w + 2) * (h + 2)` values, or `dst` cannot hold the block at `dst_stride` (>= w).
#[allow(clippy::too_many_arguments)]
pub fn bdof(
    i0: &[i16],
    i1: &[i16],
    w: usize,
    h: usize,
    dst: &mut [u16],
    dst_stride: usize,
    bit_depth: u32,
    cpu: CpuLevel,
) {
    check_bit_depth(bit_depth);
    assert!(
        SIDES.contains(&w) && SIDES.contains(&h),
        "optical-flow blocks are 8 or 16 samples wide and high, got {w}x{h}"
    );
    let n = (w + 2) * (h + 2);
    assert!(
        i0.len() >= n && i1.len() >= n,
        "predictions hold fewer than {n} values"
    );
    assert!(
        dst_stride >= w && dst.len() >= (h - 1) * dst_stride + w,
        "destination cannot hold {w}x{h} at stride {dst_stride}"
    );
    match cpu {
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: the guard above has just confirmed that this CPU supports AVX2, the
            // kernel's only requirement; the asserts above bound every access it makes.
            unsafe { avx2::bdof(i0, i1, w, h, dst, dst_stride, bit_depth) }
        }
        _ => scalar::bdof(i0, i1, w, h, dst, dst_stride, bit_depth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// The process of the module docs written out per sample in i64, windows clamped
    /// explicitly.
    fn reference(i0: &[i16], i1: &[i16], w: usize, h: usize, bd: u32) -> Vec<u16> {
        let s = w + 2;
        let at =
            |p: &[i16], x: i64, y: i64| i64::from(p[((y + 1) as usize) * s + (x + 1) as usize]);
        let gx = |p: &[i16], x: i64, y: i64| (at(p, x + 1, y) >> 6) - (at(p, x - 1, y) >> 6);
        let gy = |p: &[i16], x: i64, y: i64| (at(p, x, y + 1) >> 6) - (at(p, x, y - 1) >> 6);
        let floor_log2 = |v: i64| 63 - i64::from(v.leading_zeros());
        let shift = 15 - i64::from(bd);
        let max = (1i64 << bd) - 1;
        let mut out = vec![0u16; w * h];
        for by in (0..h as i64).step_by(4) {
            for bx in (0..w as i64).step_by(4) {
                let (mut sxx, mut syy, mut sxy, mut sxd, mut syd) = (0i64, 0i64, 0i64, 0i64, 0i64);
                for wy in by - 1..=by + 4 {
                    for wx in bx - 1..=bx + 4 {
                        let (x, y) = (wx.clamp(0, w as i64 - 1), wy.clamp(0, h as i64 - 1));
                        let tx = (gx(i0, x, y) + gx(i1, x, y)) >> 1;
                        let ty = (gy(i0, x, y) + gy(i1, x, y)) >> 1;
                        let d = (at(i1, x, y) >> 4) - (at(i0, x, y) >> 4);
                        sxx += tx.abs();
                        syy += ty.abs();
                        sxy += ty.signum() * tx;
                        sxd += tx.signum() * d;
                        syd += ty.signum() * d;
                    }
                }
                let lim = i64::from(LIMIT);
                let vx = if sxx > 0 {
                    ((sxd << 2) >> floor_log2(sxx)).clamp(-lim, lim)
                } else {
                    0
                };
                let vy = if syy > 0 {
                    (((syd << 2) - ((vx * sxy) >> 1)) >> floor_log2(syy)).clamp(-lim, lim)
                } else {
                    0
                };
                for y in by..by + 4 {
                    for x in bx..bx + 4 {
                        let b =
                            vx * (gx(i0, x, y) - gx(i1, x, y)) + vy * (gy(i0, x, y) - gy(i1, x, y));
                        let v = (at(i0, x, y) + at(i1, x, y) + b + (1 << (shift - 1))) >> shift;
                        out[(y as usize) * w + x as usize] = v.clamp(0, max) as u16;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_reference_at_every_level() {
        let mut rng = SmallRng::seed_from_u64(32);
        for bd in [8u32, 10] {
            for (w, h) in [(8, 8), (8, 16), (16, 8), (16, 16)] {
                for round in 0..40 {
                    let n = (w + 2) * (h + 2);
                    let scale = 1i32 << (14 - bd);
                    // Smooth ramps with noise (real flow), pure noise, and the extremes of
                    // the intermediates' range.
                    let gen = |rng: &mut SmallRng, phase: i32| -> Vec<i16> {
                        (0..n)
                            .map(|i| {
                                let (x, y) = ((i % (w + 2)) as i32, (i / (w + 2)) as i32);
                                match round % 4 {
                                    0 => {
                                        let v = (x * 9 + y * 5 + phase) * 3 + rng.gen_range(0..4);
                                        (v.clamp(0, (1 << bd) - 1) * scale) as i16
                                    }
                                    1 => (rng.gen_range(0..1 << bd) * scale) as i16,
                                    2 => [-16830, 32767][rng.gen_range(0..2)],
                                    _ => rng.gen_range(-16830..=32767) as i16,
                                }
                            })
                            .collect()
                    };
                    let i0 = gen(&mut rng, 0);
                    let phase = rng.gen_range(-6..6);
                    let i1 = gen(&mut rng, phase);
                    let want = reference(&i0, &i1, w, h, bd);
                    for cpu in CpuLevel::all_supported() {
                        let stride = w + 3;
                        let mut out = vec![0u16; stride * h];
                        bdof(&i0, &i1, w, h, &mut out, stride, bd, cpu);
                        for y in 0..h {
                            assert_eq!(
                                &out[y * stride..][..w],
                                &want[y * w..][..w],
                                "{cpu:?} {bd} bits {w}x{h} round {round} row {y}"
                            );
                        }
                    }
                }
            }
        }
    }
}
