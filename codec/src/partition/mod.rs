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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::RangeEncoder;

    /// SplitCtx of section 4: `3 * (6 - max(4, log2))` plus one for each of
    /// the left and above CUs that is smaller than the node; a neighbour
    /// outside the picture counts as not smaller.
    #[test]
    fn split_context_follows_the_specification() {
        let mut st = PicState::new(128, 128, 8);
        let spec = |log2: u32, left: bool, above: bool| {
            3 * (6 - log2.max(4)) as usize + left as usize + above as usize
        };
        for log2 in 3..=6u32 {
            assert_eq!(split_ctx(&st, 0, 0, log2), spec(log2, false, false));
        }
        // A node at (64, 64): the left CU (63, 64) is 8x8, the above one
        // (64, 63) 32x32.
        st.set_cu_maps(56, 64, 3, 3);
        st.set_cu_maps(64, 32, 5, 5);
        for log2 in 3..=6u32 {
            let (left, above) = (3 < log2, 5 < log2);
            assert_eq!(
                split_ctx(&st, 64, 64, log2),
                spec(log2, left, above),
                "{log2}"
            );
        }
    }

    /// SkipCtx of section 4.1: skipped left and above units, 0 to 2.
    #[test]
    fn skip_context_counts_skipped_neighbours() {
        let mut st = PicState::new(32, 32, 8);
        assert_eq!(skip_ctx(&st, 16, 16), 0);
        st.set_motion(8, 16, 3, crate::picture::Motion::INTRA, true);
        assert_eq!(skip_ctx(&st, 16, 16), 1);
        st.set_motion(16, 8, 3, crate::picture::Motion::INTRA, true);
        assert_eq!(skip_ctx(&st, 16, 16), 2);
        assert_eq!(skip_ctx(&st, 0, 0), 0, "no neighbours at the corner");
    }

    /// The reader reads what the writer wrote, with the same contexts.
    #[test]
    fn flags_read_back_as_written() {
        let flags: Vec<(usize, bool)> = (0..200).map(|i| (i % 9, (i * 7) % 5 < 2)).collect();
        let mut ctx = Contexts::default();
        let mut enc = RangeEncoder::new();
        for &(c, f) in &flags {
            write_split(&mut enc, &mut ctx, c, f);
            write_skip(&mut enc, &mut ctx, c % 3, !f);
            write_intra(&mut enc, &mut ctx, f);
        }
        let bytes = enc.finish();
        let mut ctx = Contexts::default();
        let mut dec = RangeDecoder::new(&bytes);
        for &(c, f) in &flags {
            assert_eq!(read_split(&mut dec, &mut ctx, c), f);
            assert_eq!(read_skip(&mut dec, &mut ctx, c % 3), !f);
            assert_eq!(read_intra(&mut dec, &mut ctx), f);
        }
        assert_eq!(dec.consumed(), bytes.len());
    }
}
