//! Reference pictures and motion-compensated prediction
//! (`docs/bitstream.md` 5.2); the interpolation kernels are in `dsp/mc`.
//!
//! A reference picture is kept with its borders extended by edge
//! replication, so prediction from any position (vectors may point far
//! outside the picture) reads real memory: block positions are clamped to
//! where every sample read is already a replicated border sample, which
//! gives exactly the result of an infinitely extended picture.

use crate::cpu::CpuLevel;
use crate::dsp::mc;
use crate::picture::{Frame, Motion, Mv, Plane};

use super::mvp::ColField;
use super::{bdof, dmvr, Refinement};
use std::sync::Arc;

/// Border width of luma reference planes (chroma: half).
pub const PAD: usize = 80;

/// A plane with replicated borders.
#[derive(Clone, Debug)]
pub struct PaddedPlane {
    /// Samples, `stride * (height + 2 * pad)`.
    pub data: Vec<u16>,
    /// Row stride.
    pub stride: usize,
    /// Border width.
    pub pad: usize,
    /// Width of the picture area.
    pub width: usize,
    /// Height of the picture area.
    pub height: usize,
}

impl PaddedPlane {
    /// Copies `p` and replicates its edges `pad` samples outwards.
    pub fn new(p: &Plane, pad: usize) -> PaddedPlane {
        let stride = p.width + 2 * pad;
        let rows = p.height + 2 * pad;
        let mut data = vec![0u16; stride * rows];
        for y in 0..rows {
            let sy = y.saturating_sub(pad).min(p.height - 1);
            let src = &p.data[sy * p.width..][..p.width];
            let row = &mut data[y * stride..][..stride];
            row[..pad].fill(src[0]);
            row[pad..pad + p.width].copy_from_slice(src);
            row[pad + p.width..].fill(src[p.width - 1]);
        }
        PaddedPlane {
            data,
            stride,
            pad,
            width: p.width,
            height: p.height,
        }
    }

    /// Index of picture sample (x, y); both may be negative down to `-pad`.
    #[inline]
    pub fn index(&self, x: isize, y: isize) -> usize {
        ((y + self.pad as isize) as usize) * self.stride + (x + self.pad as isize) as usize
    }
}

/// A decoded picture kept for reference.
#[derive(Clone, Debug)]
pub struct RefPicture {
    /// Display-order number.
    pub poc: i64,
    /// Luma and chroma with extended borders.
    pub planes: [PaddedPlane; 3],
    /// Motion for temporal prediction.
    pub motion: Arc<ColField>,
    /// Bits per sample.
    pub bit_depth: u8,
}

impl RefPicture {
    /// Builds a reference from a reconstructed coded-size frame.
    pub fn new(poc: i64, frame: &Frame, motion: Arc<ColField>) -> RefPicture {
        let planes = [
            PaddedPlane::new(&frame.planes[0], PAD),
            PaddedPlane::new(&frame.planes[1], PAD / 2),
            PaddedPlane::new(&frame.planes[2], PAD / 2),
        ];
        RefPicture {
            poc,
            planes,
            motion,
            bit_depth: frame.bit_depth,
        }
    }
}

/// Largest prediction block side (luma).
pub const MAX_BLOCK: usize = 64;

/// Interpolates one list's prediction of a `w` x `h` block at (x, y) of
/// `plane` (luma coordinates for plane 0, chroma for 1 and 2) into 14-bit
/// intermediates `out` (`w*h`).
#[allow(clippy::too_many_arguments)]
pub fn predict_plane(
    r: &RefPicture,
    plane: usize,
    x: usize,
    y: usize,
    w: usize,
    h: usize,
    mv: Mv,
    out: &mut [i16],
    cpu: CpuLevel,
) {
    let p = &r.planes[plane];
    let bd = u32::from(r.bit_depth);
    let (ix, iy, fx, fy) = if plane == 0 {
        (
            x as isize + (mv.x as isize >> 2),
            y as isize + (mv.y as isize >> 2),
            (mv.x & 3) as u8,
            (mv.y & 3) as u8,
        )
    } else {
        (
            x as isize + (mv.x as isize >> 3),
            y as isize + (mv.y as isize >> 3),
            (mv.x & 7) as u8,
            (mv.y & 7) as u8,
        )
    };
    // Beyond these positions every sample the filter reads is a replicated
    // edge sample, so clamping changes nothing and keeps reads inside the border.
    let (before, after) = if plane == 0 { (4, 3) } else { (2, 1) };
    let ix = ix.clamp(-((w + before) as isize), (p.width + after) as isize);
    let iy = iy.clamp(-((h + before) as isize), (p.height + after) as isize);
    let origin = p.index(ix, iy);
    if plane == 0 {
        mc::luma(&p.data, p.stride, origin, w, h, fx, fy, out, w, bd, cpu);
    } else {
        mc::chroma(&p.data, p.stride, origin, w, h, fx, fy, out, w, bd, cpu);
    }
}

/// The two pictures a bi-predicted `motion` refers to.
fn pictures<'a>(refs: [&'a [Arc<RefPicture>]; 2], motion: &Motion) -> [&'a RefPicture; 2] {
    [0, 1].map(|l| &*refs[l][motion.ref_idx[l] as usize])
}

/// Bit depth of the reference pictures.
fn bit_depth(refs: [&[Arc<RefPicture>]; 2]) -> u32 {
    u32::from(
        refs[0]
            .first()
            .or(refs[1].first())
            .map_or(8, |r| r.bit_depth),
    )
}

/// Motion-compensated prediction of a `w` x `h` block at luma (x, y) for
/// all three planes into `pred` (luma `w*h`, then Cb and Cr `(w/2)*(h/2)` each),
/// with the decoder-side refinements `refine` (the caller has checked that the
/// block qualifies: [`refinable`](super::refinable)).
#[allow(clippy::too_many_arguments)]
pub fn predict_block(
    refs: [&[Arc<RefPicture>]; 2],
    motion: &Motion,
    refine: Refinement,
    x: usize,
    y: usize,
    w: usize,
    h: usize,
    pred: &mut [u16],
    tmp: &mut [[i16; MAX_BLOCK * MAX_BLOCK]; 2],
    cpu: CpuLevel,
) {
    predict_planes(refs, motion, refine, 3, (x, y), (w, h), pred, tmp, cpu);
}

/// Motion-compensated luma prediction only (for ranking candidates), into
/// `pred` (`w*h`); `refine` as for [`predict_block`].
#[allow(clippy::too_many_arguments)]
pub fn predict_luma(
    refs: [&[Arc<RefPicture>]; 2],
    motion: &Motion,
    refine: Refinement,
    x: usize,
    y: usize,
    w: usize,
    h: usize,
    pred: &mut [u16],
    tmp: &mut [[i16; MAX_BLOCK * MAX_BLOCK]; 2],
    cpu: CpuLevel,
) {
    predict_planes(refs, motion, refine, 1, (x, y), (w, h), pred, tmp, cpu);
}

/// [`predict_block`] (`planes` 3) or [`predict_luma`] (`planes` 1).
#[allow(clippy::too_many_arguments)]
fn predict_planes(
    refs: [&[Arc<RefPicture>]; 2],
    motion: &Motion,
    refine: Refinement,
    planes: usize,
    (x, y): (usize, usize),
    (w, h): (usize, usize),
    pred: &mut [u16],
    tmp: &mut [[i16; MAX_BLOCK * MAX_BLOCK]; 2],
    cpu: CpuLevel,
) {
    let (cw, ch) = (w / 2, h / 2);
    let bd = bit_depth(refs);
    if refine.any() {
        // Per sub-block: the refined vectors, then the flow correction of luma
        // unless the refinement found the two predictions already matching.
        let (sw, sh) = dmvr::sub_block_size(w, h);
        let (scw, sch) = (sw / 2, sh / 2);
        let pics = pictures(refs, motion);
        let mut sub = [0u16; dmvr::SUB_BLOCK * dmvr::SUB_BLOCK * 3 / 2];
        for sy in (0..h).step_by(sh) {
            for sx in (0..w).step_by(sw) {
                let (at, size) = ((x + sx, y + sy), (sw, sh));
                let (m, matched) = if refine.dmvr {
                    dmvr::refine(pics, motion, at, size, cpu)
                } else {
                    (*motion, false)
                };
                if refine.bdof && !matched {
                    bdof::predict_luma(pics, &m, at, size, &mut sub[..sw * sh], cpu);
                    if planes == 3 {
                        let chroma = &mut sub[sw * sh..];
                        plain_planes(refs, &m, 1..3, at, size, chroma, tmp, bd, cpu);
                    }
                } else {
                    plain_planes(refs, &m, 0..planes, at, size, &mut sub, tmp, bd, cpu);
                }
                for r in 0..sh {
                    pred[(sy + r) * w + sx..][..sw].copy_from_slice(&sub[r * sw..][..sw]);
                }
                for plane in 1..planes {
                    let dst = w * h + (plane - 1) * cw * ch;
                    let src = sw * sh + (plane - 1) * scw * sch;
                    for r in 0..sch {
                        pred[dst + (sy / 2 + r) * cw + sx / 2..][..scw]
                            .copy_from_slice(&sub[src + r * scw..][..scw]);
                    }
                }
            }
        }
        return;
    }
    plain_planes(refs, motion, 0..planes, (x, y), (w, h), pred, tmp, bd, cpu);
}

/// Unrefined prediction of the planes in `planes` of a `w` x `h` block
/// into `pred`, which starts with the first of them (luma `w*h`, chroma
/// `(w/2)*(h/2)` each).
#[allow(clippy::too_many_arguments)]
fn plain_planes(
    refs: [&[Arc<RefPicture>]; 2],
    motion: &Motion,
    planes: std::ops::Range<usize>,
    (x, y): (usize, usize),
    (w, h): (usize, usize),
    pred: &mut [u16],
    tmp: &mut [[i16; MAX_BLOCK * MAX_BLOCK]; 2],
    bd: u32,
    cpu: CpuLevel,
) {
    let (cw, ch) = (w / 2, h / 2);
    let mut off = 0;
    for plane in planes {
        let (px, py, bw, bh) = if plane == 0 {
            (x, y, w, h)
        } else {
            (x / 2, y / 2, cw, ch)
        };
        let n = bw * bh;
        let dst = &mut pred[off..off + n];
        off += n;
        let mut used = 0;
        for l in 0..2 {
            if motion.uses(l) {
                let r = &refs[l][motion.ref_idx[l] as usize];
                predict_plane(
                    r,
                    plane,
                    px,
                    py,
                    bw,
                    bh,
                    motion.mv[l],
                    &mut tmp[used][..n],
                    cpu,
                );
                used += 1;
            }
        }
        let [a, b] = tmp;
        if used == 2 {
            mc::put_bi(&a[..n], &b[..n], bw, bw, bh, dst, bw, bd, cpu);
        } else {
            mc::put_uni(&a[..n], bw, bw, bh, dst, bw, bd, cpu);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::inter::ColField;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// Reference interpolation at `bd` bits straight from the definition: every sample
    /// read at coordinates clamped into the picture (an infinitely extended
    /// picture), no borders, no position clamping.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::inter) fn reference(
        bd: u32,
        p: &Plane,
        luma: bool,
        x: isize,
        y: isize,
        w: usize,
        h: usize,
        mv: Mv,
    ) -> Vec<i16> {
        let (shift, mask) = if luma { (2, 3) } else { (3, 7) };
        let (ix, iy) = (x + (mv.x as isize >> shift), y + (mv.y as isize >> shift));
        let (fx, fy) = ((mv.x & mask) as usize, (mv.y & mask) as usize);
        const LUMA: [[i32; 8]; 4] = [
            [0, 0, 0, 64, 0, 0, 0, 0],
            [-1, 4, -10, 58, 17, -5, 1, 0],
            [-1, 4, -11, 40, 40, -11, 4, -1],
            [0, 1, -5, 17, 58, -10, 4, -1],
        ];
        const CHROMA: [[i32; 4]; 8] = [
            [0, 64, 0, 0],
            [-2, 58, 10, -2],
            [-4, 54, 16, -2],
            [-6, 46, 28, -4],
            [-4, 36, 36, -4],
            [-4, 28, 46, -6],
            [-2, 16, 54, -4],
            [-2, 10, 58, -2],
        ];
        let taps = |f: usize| -> Vec<i32> {
            if luma {
                LUMA[f].to_vec()
            } else {
                CHROMA[f].to_vec()
            }
        };
        let before = if luma { 3 } else { 1 } as isize;
        let at = |xx: isize, yy: isize| -> i32 {
            let cx = xx.clamp(0, p.width as isize - 1) as usize;
            let cy = yy.clamp(0, p.height as isize - 1) as usize;
            p.data[cy * p.width + cx] as i32
        };
        let (hx, vy) = (taps(fx), taps(fy));
        let mut out = Vec::with_capacity(w * h);
        for r in 0..h as isize {
            for c in 0..w as isize {
                let (sx, sy) = (ix + c, iy + r);
                let v = if fx == 0 && fy == 0 {
                    at(sx, sy) << (14 - bd)
                } else if fy == 0 {
                    (0..hx.len())
                        .map(|k| hx[k] * at(sx + k as isize - before, sy))
                        .sum::<i32>()
                        >> (bd - 8)
                } else if fx == 0 {
                    (0..vy.len())
                        .map(|k| vy[k] * at(sx, sy + k as isize - before))
                        .sum::<i32>()
                        >> (bd - 8)
                } else {
                    let row = |yy: isize| -> i32 {
                        (0..hx.len())
                            .map(|k| hx[k] * at(sx + k as isize - before, yy))
                            .sum::<i32>()
                            >> (bd - 8)
                    };
                    (0..vy.len())
                        .map(|k| vy[k] * row(sy + k as isize - before))
                        .sum::<i32>()
                        >> 6
                };
                out.push(v.clamp(i16::MIN as i32, i16::MAX as i32) as i16);
            }
        }
        out
    }

    /// Vectors pointing anywhere, including hundreds of samples outside the
    /// picture, predict exactly what an infinitely edge-extended picture gives.
    #[test]
    fn far_vectors_match_infinite_extension() {
        let mut rng = SmallRng::seed_from_u64(21);
        let (w, h) = (48usize, 40usize);
        let mut f = Frame::new_420(w, h);
        for p in f.planes.iter_mut() {
            p.data.iter_mut().for_each(|v| *v = rng.gen::<u8>().into());
        }
        let r = RefPicture::new(
            0,
            &f,
            Arc::new(ColField {
                poc: 0,
                w8: 0,
                units: Vec::new(),
            }),
        );
        let mut out = vec![0i16; MAX_BLOCK * MAX_BLOCK];
        for cpu in CpuLevel::all_supported() {
            for _ in 0..400 {
                let s = [8usize, 16, 32, 64][rng.gen_range(0..4)];
                let (x, y) = (rng.gen_range(0..w / 8) * 8, rng.gen_range(0..h / 8) * 8);
                let big = rng.gen_bool(0.5);
                let range = if big { 32767 } else { 400 };
                let mv = Mv {
                    x: rng.gen_range(-range..=range) as i16,
                    y: rng.gen_range(-range..=range) as i16,
                };
                predict_plane(&r, 0, x, y, s, s, mv, &mut out[..s * s], cpu);
                assert_eq!(
                    &out[..s * s],
                    &reference(8, &f.planes[0], true, x as isize, y as isize, s, s, mv)[..],
                    "luma {mv:?} at ({x},{y}) size {s}"
                );
                let c = s / 2;
                predict_plane(&r, 1, x / 2, y / 2, c, c, mv, &mut out[..c * c], cpu);
                assert_eq!(
                    &out[..c * c],
                    &reference(
                        8,
                        &f.planes[1],
                        false,
                        x as isize / 2,
                        y as isize / 2,
                        c,
                        c,
                        mv
                    )[..],
                    "chroma {mv:?}"
                );
            }
        }
    }
}
