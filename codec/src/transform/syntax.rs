//! Coded-block flags of transform blocks (`docs/bitstream.md` 4.4).

use crate::entropy::{BinSink, Context, Contexts, RangeDecoder};
use crate::residual::size_class;

/// Coded-block flag of a `2^log2w x 2^log2h` block. `plane`: 0 luma, 1 Cb,
/// 2 Cr; `cb_coded` is Cb's flag (for Cr).
pub fn write_cbf<S: BinSink>(
    s: &mut S,
    ctx: &mut Contexts,
    plane: usize,
    log2w: u32,
    log2h: u32,
    cb_coded: bool,
    cbf: bool,
) {
    let c = cbf_context(ctx, plane, log2w, log2h, cb_coded);
    s.encode(c, cbf);
}

/// Reads a coded-block flag.
pub fn read_cbf(
    d: &mut RangeDecoder,
    ctx: &mut Contexts,
    plane: usize,
    log2w: u32,
    log2h: u32,
    cb_coded: bool,
) -> bool {
    d.decode(cbf_context(ctx, plane, log2w, log2h, cb_coded))
}

/// The context by the block's size class (a square's log2 side).
fn cbf_context(
    ctx: &mut Contexts,
    plane: usize,
    log2w: u32,
    log2h: u32,
    cb_coded: bool,
) -> &mut Context {
    let size = size_class(log2w, log2h) as usize - 2;
    match plane {
        0 => &mut ctx.cbf_luma[size],
        1 => &mut ctx.cbf_cb[size],
        _ => &mut ctx.cbf_cr[size + 4 * cb_coded as usize],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::RangeEncoder;

    /// Which context of `Contexts` a flag used: the index of the one context
    /// that moved.
    fn used(plane: usize, log2w: u32, log2h: u32, cb: bool) -> usize {
        let before = Contexts::default();
        let mut ctx = before.clone();
        let mut enc = RangeEncoder::new();
        write_cbf(&mut enc, &mut ctx, plane, log2w, log2h, cb, true);
        let moved: Vec<usize> = before
            .iter()
            .zip(ctx.iter())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(moved.len(), 1);
        moved[0]
    }

    /// Squares use the contexts they always did (by log2 side); rectangles
    /// those of their size class; every shape reads back.
    #[test]
    fn cbf_contexts() {
        let base = used(0, 2, 2, false);
        for l in 2..=5u32 {
            let i = (l - 2) as usize;
            assert_eq!(used(0, l, l, false), base + i);
            assert_eq!(used(1, l, l, false), base + 4 + i);
            assert_eq!(used(2, l, l, false), base + 8 + i);
            assert_eq!(used(2, l, l, true), base + 12 + i);
        }
        // Size class: the mean log2 side rounded up.
        assert_eq!(used(0, 2, 3, false), base + 1);
        assert_eq!(used(0, 5, 2, false), base + 2);
        assert_eq!(used(1, 3, 4, false), base + 4 + 2);
        assert_eq!(used(2, 4, 5, true), base + 12 + 3);
        let mut enc = RangeEncoder::new();
        let mut ctx = Contexts::for_frame(true, true, 32);
        let mut flags = Vec::new();
        for lw in 2..=5 {
            for lh in 2..=5 {
                for plane in 0..3 {
                    for cb in [false, true] {
                        let f = (lw * 7 + lh * 3 + plane as u32 + cb as u32).is_multiple_of(3);
                        write_cbf(&mut enc, &mut ctx, plane, lw, lh, cb, f);
                        flags.push((lw, lh, plane, cb, f));
                    }
                }
            }
        }
        let bytes = enc.finish();
        let mut dec = RangeDecoder::new(&bytes);
        let mut ctx = Contexts::for_frame(true, true, 32);
        for (lw, lh, plane, cb, f) in flags {
            assert_eq!(read_cbf(&mut dec, &mut ctx, plane, lw, lh, cb), f);
        }
        assert_eq!(dec.consumed(), bytes.len());
    }
}
