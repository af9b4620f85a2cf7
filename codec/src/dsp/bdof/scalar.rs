//! Scalar reference of the optical-flow correction (see the module docs).

use super::LIMIT;

/// floor(log2 v) for v > 0.
#[inline]
pub(super) fn floor_log2(v: i32) -> u32 {
    31 - v.leading_zeros()
}

/// The correcting motion of one 4 x 4 from its window's sums.
#[inline]
pub(super) fn velocity(sxx: i32, syy: i32, sxy: i32, sxd: i32, syd: i32) -> (i32, i32) {
    let vx = if sxx > 0 {
        ((sxd << 2) >> floor_log2(sxx)).clamp(-LIMIT, LIMIT)
    } else {
        0
    };
    let vy = if syy > 0 {
        (((syd << 2) - ((vx * sxy) >> 1)) >> floor_log2(syy)).clamp(-LIMIT, LIMIT)
    } else {
        0
    };
    (vx, vy)
}

pub(super) fn bdof(
    i0: &[i16],
    i1: &[i16],
    w: usize,
    h: usize,
    dst: &mut [u16],
    dst_stride: usize,
    bit_depth: u32,
) {
    let s = w + 2;
    // Per block position: gradients of both lists, and the window terms.
    let mut gx = [[0i32; 256]; 2];
    let mut gy = [[0i32; 256]; 2];
    let mut terms = [[0i32; 5]; 256];
    for y in 0..h {
        for x in 0..w {
            let c = (y + 1) * s + x + 1;
            let k = y * w + x;
            for (l, p) in [i0, i1].into_iter().enumerate() {
                gx[l][k] = i32::from(p[c + 1] >> 6) - i32::from(p[c - 1] >> 6);
                gy[l][k] = i32::from(p[c + s] >> 6) - i32::from(p[c - s] >> 6);
            }
            let tx = (gx[0][k] + gx[1][k]) >> 1;
            let ty = (gy[0][k] + gy[1][k]) >> 1;
            let d = i32::from(i1[c] >> 4) - i32::from(i0[c] >> 4);
            terms[k] = [
                tx.abs(),
                ty.abs(),
                ty.signum() * tx,
                tx.signum() * d,
                ty.signum() * d,
            ];
        }
    }
    let shift = 15 - bit_depth;
    let offset = 1i32 << (shift - 1);
    let max = (1i32 << bit_depth) - 1;
    for by in (0..h).step_by(4) {
        for bx in (0..w).step_by(4) {
            let mut sums = [0i32; 5];
            for wy in by as isize - 1..=by as isize + 4 {
                let y = wy.clamp(0, h as isize - 1) as usize;
                for wx in bx as isize - 1..=bx as isize + 4 {
                    let x = wx.clamp(0, w as isize - 1) as usize;
                    for (s, t) in sums.iter_mut().zip(terms[y * w + x]) {
                        *s += t;
                    }
                }
            }
            let (vx, vy) = velocity(sums[0], sums[1], sums[2], sums[3], sums[4]);
            for y in by..by + 4 {
                for x in bx..bx + 4 {
                    let k = y * w + x;
                    let c = (y + 1) * s + x + 1;
                    let b = vx * (gx[0][k] - gx[1][k]) + vy * (gy[0][k] - gy[1][k]);
                    let v = (i32::from(i0[c]) + i32::from(i1[c]) + b + offset) >> shift;
                    dst[y * dst_stride + x] = v.clamp(0, max) as u16;
                }
            }
        }
    }
}
