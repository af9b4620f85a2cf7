//! Coded-block flags of transform blocks (`docs/bitstream.md` 4.4).

use crate::entropy::{BinSink, Context, Contexts, RangeDecoder};

/// Coded-block flags. `plane`: 0 luma, 1 Cb, 2 Cr; `cb_coded` is Cb's flag (for Cr).
pub fn write_cbf<S: BinSink>(
    s: &mut S,
    ctx: &mut Contexts,
    plane: usize,
    log2w: u32,
    log2h: u32,
    cb_coded: bool,
    cbf: bool,
) {
    let c = cbf_context(ctx, plane, (log2w + log2h) / 2, cb_coded);
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
    d.decode(cbf_context(ctx, plane, (log2w + log2h) / 2, cb_coded))
}

fn cbf_context(ctx: &mut Contexts, plane: usize, log2n: u32, cb_coded: bool) -> &mut Context {
    let size = log2n as usize - 2;
    match plane {
        0 => &mut ctx.cbf_luma[size],
        1 => &mut ctx.cbf_cb[size],
        _ => &mut ctx.cbf_cr[size + 4 * cb_coded as usize],
    }
}
