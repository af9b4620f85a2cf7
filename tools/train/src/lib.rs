//! The trainer's parts that need no libtorch (tested without it); the
//! quantisation-aware training itself is the `mica-train` binary (feature
//! `torch`).

use mica::Frame;

/// `frame` at half its size in each direction (sizes rounded down to even):
/// each output sample is the [1, 3, 3, 1] / 8 weighted sum of the four input
/// samples around its centre in each direction (edges repeated), a plain
/// anti-aliasing decimator. Training material downscaled this way shows the
/// same scenes' texture at twice the frequency, as smaller or more distant
/// content would be, so block-sized networks see more kinds of detail.
pub fn downscale_half(frame: &Frame) -> Frame {
    let (w, h) = ((frame.width() / 2) & !1, (frame.height() / 2) & !1);
    let mut out = Frame::new_420_at(w.max(2), h.max(2), frame.bit_depth);
    for (src, dst) in frame.planes.iter().zip(out.planes.iter_mut()) {
        let tap = |i: isize, len: usize| i.clamp(0, len as isize - 1) as usize;
        // Horizontal pass into sums (x8), then vertical (x64 in all).
        let mut rows = vec![0u32; dst.width * src.height];
        for y in 0..src.height {
            let row = src.row(y);
            for x in 0..dst.width {
                let c = 2 * x as isize;
                let at = |d: isize| row[tap(c + d, src.width)] as u32;
                rows[y * dst.width + x] = at(-1) + 3 * at(0) + 3 * at(1) + at(2);
            }
        }
        for y in 0..dst.height {
            let c = 2 * y as isize;
            for x in 0..dst.width {
                let at = |d: isize| rows[tap(c + d, src.height) * dst.width + x];
                let sum = at(-1) + 3 * at(0) + 3 * at(1) + at(2);
                dst.row_mut(y)[x] = ((sum + 32) >> 6) as u16;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_from(w: usize, h: usize, value: impl Fn(usize, usize, usize) -> u8) -> Frame {
        let mut f = Frame::new_420(w, h);
        for (p, plane) in f.planes.iter_mut().enumerate() {
            for y in 0..plane.height {
                for x in 0..plane.width {
                    plane.row_mut(y)[x] = value(p, x, y).into();
                }
            }
        }
        f
    }

    #[test]
    fn downscale_half_sizes_and_flat_content() {
        let f = frame_from(70, 38, |p, _, _| [16, 128, 240][p]);
        let d = downscale_half(&f);
        assert_eq!((d.width(), d.height()), (34, 18));
        assert_eq!((d.planes[1].width, d.planes[1].height), (17, 9));
        for (p, plane) in d.planes.iter().enumerate() {
            assert!(plane.data.iter().all(|&v| v == [16, 128, 240][p]));
        }
    }

    #[test]
    fn downscale_half_follows_a_ramp_and_removes_the_finest_detail() {
        // A ramp in x: output sample x sits between inputs 2x and 2x+1.
        let d = downscale_half(&frame_from(64, 16, |_, x, _| (3 * x) as u8));
        for x in 1..31 {
            let want = 3.0 * (2.0 * x as f64 + 0.5);
            assert!((d.planes[0].row(4)[x] as f64 - want).abs() <= 0.5, "x {x}");
        }
        // Alternating columns (the highest frequency) must not alias into
        // a pattern at the lower rate: they average to mid-grey.
        let d = downscale_half(&frame_from(
            64,
            16,
            |_, x, _| if x % 2 == 0 { 0 } else { 255 },
        ));
        for &v in &d.planes[0].row(5)[1..31] {
            assert!((127..=128).contains(&v), "{v}");
        }
    }
}
