//! Scalar reference kernels of the refinement search (see the module docs).

use super::{GRID, MARGIN};

#[allow(clippy::too_many_arguments)]
pub(super) fn bilinear(
    src: &[u16],
    src_stride: usize,
    origin: usize,
    w: usize,
    h: usize,
    fx: u8,
    fy: u8,
    dst: &mut [u16],
) {
    let (fx, fy) = (u32::from(fx), u32::from(fy));
    let weights = [(4 - fx) * (4 - fy), fx * (4 - fy), (4 - fx) * fy, fx * fy];
    for y in 0..h {
        let top = &src[origin + y * src_stride..][..w + 1];
        let bottom = &src[origin + (y + 1) * src_stride..][..w + 1];
        for (x, d) in dst[y * w..][..w].iter_mut().enumerate() {
            let v = weights[0] * u32::from(top[x])
                + weights[1] * u32::from(top[x + 1])
                + weights[2] * u32::from(bottom[x])
                + weights[3] * u32::from(bottom[x + 1]);
            *d = v as u16;
        }
    }
}

pub(super) fn sad_grid(p0: &[u16], p1: &[u16], w: usize, h: usize) -> [u32; GRID] {
    let stride = w + 2 * MARGIN;
    let mut costs = [0u32; GRID];
    for (i, cost) in costs.iter_mut().enumerate() {
        let (dx, dy) = (i % 5, i / 5);
        // p0 at (+d) and p1 at (-d): offsets in the padded blocks are 2 + d and 2 - d.
        let (a0, b0) = (dy * stride + dx, (4 - dy) * stride + (4 - dx));
        let mut sum = 0u32;
        for y in (0..h).step_by(2) {
            let a = &p0[a0 + y * stride..][..w];
            let b = &p1[b0 + y * stride..][..w];
            sum += a
                .iter()
                .zip(b)
                .map(|(&a, &b)| u32::from(a.abs_diff(b)))
                .sum::<u32>();
        }
        *cost = sum;
    }
    costs
}
