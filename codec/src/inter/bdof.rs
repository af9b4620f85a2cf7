//! Bi-directional optical flow (`docs/bitstream.md` 5.5): the luma prediction of a
//! bi-predicted sub-block corrected per 4 x 4 from the two predictions' gradients. This
//! module fetches the predictions with their one-sample border; the kernel is `dsp/bdof`.

use crate::cpu::CpuLevel;
use crate::dsp::{bdof as kernel, mc};
use crate::picture::Motion;

use super::dmvr::SUB_BLOCK;
use super::prediction::RefPicture;

/// Luma prediction of the `w` x `h` sub-block at (x, y) (`w`, `h` 8 or 16) with motion `m`
/// and the optical-flow correction, into `dst` (`w * h`).
pub fn predict_luma(
    refs: [&RefPicture; 2],
    m: &Motion,
    (x, y): (usize, usize),
    (w, h): (usize, usize),
    dst: &mut [u16],
    cpu: CpuLevel,
) {
    const SIZE: usize = (SUB_BLOCK + 2) * (SUB_BLOCK + 2);
    let s = w + 2;
    let mut preds = [[0i16; SIZE]; 2];
    let bit_depth = u32::from(refs[0].bit_depth);
    for (l, out) in preds.iter_mut().enumerate() {
        let p = &refs[l].planes[0];
        let mv = m.mv[l];
        let (fx, fy) = ((mv.x & 3) as u8, (mv.y & 3) as u8);
        let ix = x as isize + (mv.x as isize >> 2);
        let iy = y as isize + (mv.y as isize >> 2);
        // The block itself: interpolated as in 5.2 (positions clamped where every sample
        // read is a replicated edge one).
        let cx = ix.clamp(-((w + 4) as isize), (p.width + 3) as isize);
        let cy = iy.clamp(-((h + 4) as isize), (p.height + 3) as isize);
        mc::luma(
            &p.data,
            p.stride,
            p.index(cx, cy),
            w,
            h,
            fx,
            fy,
            &mut out[s + 1..],
            s,
            bit_depth,
            cpu,
        );
        // The border: the integer sample nearest each position (fractions of a half and
        // more round up), scaled to the intermediates' precision.
        let (bx, by) = (ix + isize::from(fx >> 1), iy + isize::from(fy >> 1));
        let sample = |dx: isize, dy: isize| -> i16 {
            let sx = (bx + dx).clamp(0, p.width as isize - 1);
            let sy = (by + dy).clamp(0, p.height as isize - 1);
            (p.data[p.index(sx, sy)] << (14 - bit_depth)) as i16
        };
        for i in 0..w {
            out[i + 1] = sample(i as isize, -1);
            out[(h + 1) * s + i + 1] = sample(i as isize, h as isize);
        }
        for j in 0..h {
            out[(j + 1) * s] = sample(-1, j as isize);
            out[(j + 1) * s + w + 1] = sample(w as isize, j as isize);
        }
    }
    kernel::bdof(&preds[0], &preds[1], w, h, dst, w, bit_depth, cpu);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inter::prediction::tests::reference;
    use crate::inter::ColField;
    use crate::picture::{Frame, Mv};
    use rand::{rngs::SmallRng, Rng, SeedableRng};
    use std::sync::Arc;

    /// The predictions with their border as section 5.5 defines them (the
    /// interior by the literal interpolation of 5.2, the border from clamped
    /// integer samples) give the same corrected block as [`predict_luma`],
    /// vectors near and far outside the picture, at 8 and 10 bits.
    #[test]
    fn border_and_interior_as_specified() {
        let mut rng = SmallRng::seed_from_u64(33);
        let (pw, ph) = (48usize, 40usize);
        let empty = || {
            Arc::new(ColField {
                poc: 0,
                w8: 0,
                units: Vec::new(),
            })
        };
        for bit_depth in [8u8, 10] {
            for trial in 0..80 {
                let frames: Vec<Frame> = (0..2)
                    .map(|_| {
                        let mut f = Frame::new_420(pw, ph);
                        f.bit_depth = bit_depth;
                        for v in f.planes[0].data.iter_mut() {
                            *v = rng.gen_range(0..1u32 << bit_depth) as u16;
                        }
                        f
                    })
                    .collect();
                let refs = [
                    RefPicture::new(0, &frames[0], empty()),
                    RefPicture::new(2, &frames[1], empty()),
                ];
                let range = if trial % 4 == 3 { 20000 } else { 40 };
                let mut mv = || Mv {
                    x: rng.gen_range(-range..=range),
                    y: rng.gen_range(-range..=range),
                };
                let m = Motion {
                    ref_idx: [0, 0],
                    mv: [mv(), mv()],
                };
                let (w, h) = [(8, 8), (16, 16), (8, 16), (16, 8)][trial % 4];
                let (x, y) = (
                    rng.gen_range(0..=(pw - w) / 8) * 8,
                    rng.gen_range(0..=(ph - h) / 8) * 8,
                );
                let s = w + 2;
                let mut spec = [vec![0i16; s * (h + 2)], vec![0i16; s * (h + 2)]];
                for (l, out) in spec.iter_mut().enumerate() {
                    let p = &frames[l].planes[0];
                    let v = m.mv[l];
                    let inner =
                        reference(bit_depth.into(), p, true, x as isize, y as isize, w, h, v);
                    for j in 0..h {
                        out[(j + 1) * s + 1..][..w].copy_from_slice(&inner[j * w..][..w]);
                    }
                    let at = |i: isize, j: isize| -> i16 {
                        let sx = x as isize + (v.x as isize >> 2) + ((v.x & 3) >> 1) as isize + i;
                        let sy = y as isize + (v.y as isize >> 2) + ((v.y & 3) >> 1) as isize + j;
                        let sx = sx.clamp(0, pw as isize - 1) as usize;
                        let sy = sy.clamp(0, ph as isize - 1) as usize;
                        (p.data[sy * pw + sx] << (14 - bit_depth)) as i16
                    };
                    for i in 0..w as isize {
                        out[(i + 1) as usize] = at(i, -1);
                        out[(h + 1) * s + (i + 1) as usize] = at(i, h as isize);
                    }
                    for j in 0..h as isize {
                        out[(j + 1) as usize * s] = at(-1, j);
                        out[(j + 1) as usize * s + w + 1] = at(w as isize, j);
                    }
                }
                let mut want = vec![0u16; w * h];
                kernel::bdof(
                    &spec[0],
                    &spec[1],
                    w,
                    h,
                    &mut want,
                    w,
                    bit_depth.into(),
                    CpuLevel::Scalar,
                );
                for cpu in CpuLevel::all_supported() {
                    let mut got = vec![0u16; w * h];
                    predict_luma([&refs[0], &refs[1]], &m, (x, y), (w, h), &mut got, cpu);
                    assert_eq!(got, want, "{cpu:?} {bit_depth} bits trial {trial}");
                }
            }
        }
    }
}
