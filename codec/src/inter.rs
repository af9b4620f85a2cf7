//! Reference pictures and motion-compensated prediction.
//!
//! A reference picture is kept with its borders extended by edge
//! replication, so prediction from any position (vectors may point far
//! outside the picture) reads real memory: block positions are clamped to
//! where every sample read is already a replicated border sample, which
//! gives exactly the result of an infinitely extended picture.

use crate::cpu::CpuLevel;
use crate::dsp::mc;
use crate::frame::{Frame, Plane};
use crate::mv::{ColField, Motion, Mv};
use std::sync::Arc;

/// Border width of luma reference planes (chroma: half).
pub const PAD: usize = 80;

/// A plane with replicated borders.
#[derive(Clone, Debug)]
pub struct PaddedPlane {
    /// Samples, `stride * (height + 2 * pad)`.
    pub data: Vec<u8>,
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
        let mut data = vec![0u8; stride * rows];
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
        mc::luma(&p.data, p.stride, origin, w, h, fx, fy, out, w, cpu);
    } else {
        mc::chroma(&p.data, p.stride, origin, w, h, fx, fy, out, w, cpu);
    }
}

/// Motion-compensated prediction of a square block of side `s` at luma (x, y)
/// for all three planes into `pred` (luma `s*s`, then Cb and Cr `(s/2)^2` each).
#[allow(clippy::too_many_arguments)]
pub fn predict_block(
    refs: [&[Arc<RefPicture>]; 2],
    motion: &Motion,
    x: usize,
    y: usize,
    s: usize,
    pred: &mut [u8],
    tmp: &mut [[i16; MAX_BLOCK * MAX_BLOCK]; 2],
    cpu: CpuLevel,
) {
    let c = s / 2;
    for plane in 0..3 {
        let (px, py, n, off) = if plane == 0 {
            (x, y, s, 0)
        } else {
            (x / 2, y / 2, c, s * s + (plane - 1) * c * c)
        };
        let dst = &mut pred[off..off + n * n];
        let mut used = 0;
        for l in 0..2 {
            if motion.uses(l) {
                let r = &refs[l][motion.ref_idx[l] as usize];
                predict_plane(
                    r,
                    plane,
                    px,
                    py,
                    n,
                    n,
                    motion.mv[l],
                    &mut tmp[used][..n * n],
                    cpu,
                );
                used += 1;
            }
        }
        let [a, b] = tmp;
        if used == 2 {
            mc::put_bi(&a[..n * n], &b[..n * n], n, n, n, dst, n, cpu);
        } else {
            mc::put_uni(&a[..n * n], n, n, n, dst, n, cpu);
        }
    }
}

/// Motion-compensated luma prediction only (for ranking candidates), into `pred` (`s*s`).
pub fn predict_luma(
    refs: [&[Arc<RefPicture>]; 2],
    motion: &Motion,
    x: usize,
    y: usize,
    s: usize,
    pred: &mut [u8],
    tmp: &mut [[i16; MAX_BLOCK * MAX_BLOCK]; 2],
    cpu: CpuLevel,
) {
    let n = s * s;
    let mut used = 0;
    for l in 0..2 {
        if motion.uses(l) {
            let r = &refs[l][motion.ref_idx[l] as usize];
            predict_plane(r, 0, x, y, s, s, motion.mv[l], &mut tmp[used][..n], cpu);
            used += 1;
        }
    }
    let [a, b] = tmp;
    if used == 2 {
        mc::put_bi(&a[..n], &b[..n], s, s, s, &mut pred[..n], s, cpu);
    } else {
        mc::put_uni(&a[..n], s, s, s, &mut pred[..n], s, cpu);
    }
}
