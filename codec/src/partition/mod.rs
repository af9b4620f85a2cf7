//! Block structure (`docs/bitstream.md` 4 and 4.1): superblocks split by a
//! quadtree into coding units, and the flags that open a coding unit
//! (skip_flag, intra_flag). The quadtree walk itself belongs to whoever
//! reads or writes a frame (`decoder/`, `encoder/search`); this module owns
//! the syntax and its contexts.

use crate::entropy::{BinSink, Contexts, RangeDecoder};
use crate::picture::PicState;

/// Context index of split_cu_flag for a node at (`x`, `y`) of size `log2`:
/// its size class and how many of the left and above CUs are smaller.
pub fn split_ctx(st: &PicState, x: usize, y: usize, log2: u32) -> usize {
    let w8 = st.w / 8;
    let left = x > 0 && (st.cu_log2[(y / 8) * w8 + x / 8 - 1] as u32) < log2;
    let above = y > 0 && (st.cu_log2[(y / 8 - 1) * w8 + x / 8] as u32) < log2;
    split_ctx_of(log2, left, above)
}

/// SplitCtx from the size and the neighbours being smaller.
fn split_ctx_of(log2: u32, left_smaller: bool, above_smaller: bool) -> usize {
    let class = (6 - log2.clamp(4, 6)) as usize; // 64 -> 0, 32 -> 1, 16 -> 2
    class * 3 + left_smaller as usize + above_smaller as usize
}

/// split_cu_flag.
pub fn write_split<S: BinSink>(s: &mut S, ctx: &mut Contexts, ctx_idx: usize, split: bool) {
    s.encode(&mut ctx.split[ctx_idx], split);
}

/// Reads split_cu_flag.
pub fn read_split(d: &mut RangeDecoder, ctx: &mut Contexts, ctx_idx: usize) -> bool {
    d.decode(&mut ctx.split[ctx_idx])
}

/// Context index of skip_flag: skipped left and above neighbours.
pub fn skip_ctx(st: &PicState, x: usize, y: usize) -> usize {
    let w8 = st.w / 8;
    let left = x > 0 && st.skip[(y / 8) * w8 + x / 8 - 1];
    let above = y > 0 && st.skip[(y / 8 - 1) * w8 + x / 8];
    left as usize + above as usize
}

/// skip_flag; `ctx_idx` counts skipped left and above neighbours.
pub fn write_skip<S: BinSink>(s: &mut S, ctx: &mut Contexts, ctx_idx: usize, skip: bool) {
    s.encode(&mut ctx.skip[ctx_idx], skip);
}

/// Reads skip_flag.
pub fn read_skip(d: &mut RangeDecoder, ctx: &mut Contexts, ctx_idx: usize) -> bool {
    d.decode(&mut ctx.skip[ctx_idx])
}

/// intra_flag of a CU in an inter frame.
pub fn write_intra<S: BinSink>(s: &mut S, ctx: &mut Contexts, intra: bool) {
    s.encode(&mut ctx.intra[0], intra);
}

/// Reads intra_flag.
pub fn read_intra(d: &mut RangeDecoder, ctx: &mut Contexts) -> bool {
    d.decode(&mut ctx.intra[0])
}
