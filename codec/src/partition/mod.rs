//! Block structure (`docs/bitstream.md` 4 and 4.1): superblocks split by a
//! quadtree and, where the stream allows it (`tool_flags` bit 5), a
//! multi-type tree of binary splits below it into coding units, and the
//! flags that open a coding unit (skip_flag, intra_flag). The tree walk
//! itself belongs to whoever reads or writes a frame (`decoder/`,
//! `encoder/search`); this module owns the syntax, its contexts and which
//! splits a node allows.

use crate::entropy::{BinSink, Contexts, RangeDecoder};
use crate::picture::PicState;

/// Deepest binary split below the quadtree (`MaxMttDepth`, section 4).
pub const MAX_MTT_DEPTH: u32 = 3;

/// Smallest coding unit side, in luma samples.
pub const MIN_CU_SIDE: usize = 8;

/// How a node of the coding tree splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// A coding unit.
    None,
    /// Four squares in z-order.
    Quad,
    /// Binary split into a top and a bottom half.
    Horizontal,
    /// Binary split into a left and a right half.
    Vertical,
}

/// A node of the coding tree: its luma area and place in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
    /// Binary splits above this node (0: a quadtree node).
    pub mtt_depth: u32,
}

impl Node {
    /// The superblock at (`x`, `y`) of side `size`.
    pub fn root(x: usize, y: usize, size: usize) -> Node {
        Node {
            x,
            y,
            w: size,
            h: size,
            mtt_depth: 0,
        }
    }

    /// The nodes a split makes, in coding order (empty for [`Split::None`]).
    pub fn children(&self, split: Split) -> Vec<Node> {
        let (x, y, w, h) = (self.x, self.y, self.w, self.h);
        let q = self.mtt_depth;
        let at = |x, y, w, h, mtt_depth| Node {
            x,
            y,
            w,
            h,
            mtt_depth,
        };
        match split {
            Split::None => Vec::new(),
            Split::Quad => [(0, 0), (w / 2, 0), (0, h / 2), (w / 2, h / 2)]
                .iter()
                .map(|&(dx, dy)| at(x + dx, y + dy, w / 2, h / 2, 0))
                .collect(),
            Split::Horizontal => vec![at(x, y, w, h / 2, q + 1), at(x, y + h / 2, w, h / 2, q + 1)],
            Split::Vertical => vec![at(x, y, w / 2, h, q + 1), at(x + w / 2, y, w / 2, h, q + 1)],
        }
    }

    /// Whether the node lies inside a picture of coded size `w` x `h`
    /// (otherwise it is split implicitly).
    pub fn inside(&self, w: usize, h: usize) -> bool {
        self.x + self.w <= w && self.y + self.h <= h
    }
}

/// The splits a node inside the picture may code (section 4): the quadtree
/// for squares above 8 until the first binary split, binary splits (with
/// `mtt`, the stream's `tool_flags` bit 5) into halves of at least 8 samples
/// down to [`MAX_MTT_DEPTH`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllowedSplits {
    pub quad: bool,
    pub horizontal: bool,
    pub vertical: bool,
}

impl AllowedSplits {
    pub fn of(node: &Node, mtt: bool) -> AllowedSplits {
        let binary = mtt && node.mtt_depth < MAX_MTT_DEPTH;
        AllowedSplits {
            quad: node.mtt_depth == 0 && node.w == node.h && node.w > MIN_CU_SIDE,
            horizontal: binary && node.h >= 2 * MIN_CU_SIDE,
            vertical: binary && node.w >= 2 * MIN_CU_SIDE,
        }
    }

    /// Whether any split is allowed (split_cu_flag is coded).
    pub fn any(&self) -> bool {
        self.quad || self.horizontal || self.vertical
    }

    /// Whether `split` is allowed.
    pub fn allows(&self, split: Split) -> bool {
        match split {
            Split::None => true,
            Split::Quad => self.quad,
            Split::Horizontal => self.horizontal,
            Split::Vertical => self.vertical,
        }
    }
}

/// Context index of split_cu_flag for `node`: its size class and how many
/// of the left and above CUs are smaller (the left one's height below the
/// node's, the above one's width below the node's).
pub fn split_ctx(st: &PicState, node: &Node) -> usize {
    let w8 = st.w / 8;
    let (x, y) = (node.x, node.y);
    let (lw, lh) = (log2(node.w), log2(node.h));
    let left = x > 0 && (st.cu_h_log2[(y / 8) * w8 + x / 8 - 1] as u32) < lh;
    let above = y > 0 && (st.cu_w_log2[(y / 8 - 1) * w8 + x / 8] as u32) < lw;
    split_ctx_of((lw + lh) / 2, left, above)
}

fn log2(n: usize) -> u32 {
    n.trailing_zeros()
}

/// Context of split_qt_flag: how many of the left and above CUs are
/// smaller than the node in both directions.
fn split_qt_ctx(st: &PicState, node: &Node) -> usize {
    let w8 = st.w / 8;
    let (x, y) = (node.x, node.y);
    let lw = log2(node.w) as u8;
    let smaller = |i: usize| st.cu_w_log2[i] < lw && st.cu_h_log2[i] < lw;
    (x > 0 && smaller((y / 8) * w8 + x / 8 - 1)) as usize
        + (y > 0 && smaller((y / 8 - 1) * w8 + x / 8)) as usize
}

/// Context of mtt_vertical_flag: the node's shape (square, wide, tall).
fn mtt_vertical_ctx(node: &Node) -> usize {
    match node.w.cmp(&node.h) {
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
        std::cmp::Ordering::Less => 2,
    }
}

/// Writes how a node inside the picture splits (split_cu_flag, then
/// split_qt_flag and mtt_vertical_flag where more than one split is
/// allowed); `split` must be allowed.
pub fn write_split_mode<S: BinSink>(
    s: &mut S,
    ctx: &mut Contexts,
    st: &PicState,
    node: &Node,
    allowed: AllowedSplits,
    split: Split,
) {
    debug_assert!(allowed.allows(split));
    if !allowed.any() {
        return;
    }
    s.encode(&mut ctx.split[split_ctx(st, node)], split != Split::None);
    if split == Split::None {
        return;
    }
    let binary = allowed.horizontal || allowed.vertical;
    if allowed.quad && binary {
        s.encode(
            &mut ctx.split_qt[split_qt_ctx(st, node)],
            split == Split::Quad,
        );
    }
    if split != Split::Quad && allowed.horizontal && allowed.vertical {
        s.encode(
            &mut ctx.mtt_vertical[mtt_vertical_ctx(node)],
            split == Split::Vertical,
        );
    }
}

/// Reads how a node inside the picture splits (see [`write_split_mode`]).
pub fn read_split_mode(
    d: &mut RangeDecoder,
    ctx: &mut Contexts,
    st: &PicState,
    node: &Node,
    allowed: AllowedSplits,
) -> Split {
    if !allowed.any() || !d.decode(&mut ctx.split[split_ctx(st, node)]) {
        return Split::None;
    }
    let binary = allowed.horizontal || allowed.vertical;
    let quad = if allowed.quad && binary {
        d.decode(&mut ctx.split_qt[split_qt_ctx(st, node)])
    } else {
        allowed.quad
    };
    if quad {
        return Split::Quad;
    }
    let vertical = if allowed.horizontal && allowed.vertical {
        d.decode(&mut ctx.mtt_vertical[mtt_vertical_ctx(node)])
    } else {
        allowed.vertical
    };
    if vertical {
        Split::Vertical
    } else {
        Split::Horizontal
    }
}

/// SplitCtx from the size and the neighbours being smaller.
fn split_ctx_of(log2: u32, left_smaller: bool, above_smaller: bool) -> usize {
    let class = (6 - log2.clamp(4, 6)) as usize; // 64 -> 0, 32 -> 1, 16 -> 2
    class * 3 + left_smaller as usize + above_smaller as usize
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

    /// SplitCtx of section 4: `3 * (6 - clamp(log2, 4, 6))` with log2 =
    /// (log2 W + log2 H) / 2, plus one for the left CU if its height is below
    /// the node's and one for the above CU if its width is below the node's;
    /// a neighbour outside the picture counts as not smaller.
    #[test]
    fn split_context_follows_the_specification() {
        let mut st = PicState::new(128, 128, 8);
        let spec = |log2: u32, left: bool, above: bool| {
            3 * (6 - log2.clamp(4, 6)) as usize + left as usize + above as usize
        };
        let node = |x, y, w, h| Node {
            x,
            y,
            w,
            h,
            mtt_depth: 0,
        };
        for log2 in 3..=6u32 {
            let n = 1 << log2;
            assert_eq!(split_ctx(&st, &node(0, 0, n, n)), spec(log2, false, false));
        }
        // A node at (64, 64): the left CU (63, 64) is 8 wide and 32 high,
        // the above one (64, 63) 32x16.
        st.set_cu_maps(56, 64, 8, 32, 8, 32);
        st.set_cu_maps(64, 48, 32, 16, 32, 16);
        for (w, h) in [
            (8usize, 8usize),
            (16, 16),
            (32, 32),
            (64, 64),
            (64, 16),
            (16, 64),
            (32, 8),
        ] {
            let log2 = (w.trailing_zeros() + h.trailing_zeros()) / 2;
            let (left, above) = (32 < h, 32 < w);
            assert_eq!(
                split_ctx(&st, &node(64, 64, w, h)),
                spec(log2, left, above),
                "{w}x{h}"
            );
        }
    }

    /// Section 4's split rules: the quadtree for squares above 8 before
    /// any binary split, binary halves of at least 8 down to MaxMttDepth,
    /// and none of them without the multi-type tree.
    #[test]
    fn allowed_splits_follow_the_specification() {
        let node = |w, h, mtt_depth| Node {
            x: 0,
            y: 0,
            w,
            h,
            mtt_depth,
        };
        let a = |n: Node, mtt| {
            let s = AllowedSplits::of(&n, mtt);
            (s.quad, s.horizontal, s.vertical)
        };
        assert_eq!(a(node(64, 64, 0), false), (true, false, false));
        assert_eq!(a(node(8, 8, 0), false), (false, false, false));
        assert_eq!(a(node(64, 64, 0), true), (true, true, true));
        assert_eq!(a(node(16, 16, 0), true), (true, true, true));
        assert_eq!(a(node(8, 8, 0), true), (false, false, false));
        assert_eq!(a(node(32, 16, 1), true), (false, true, true));
        assert_eq!(a(node(16, 8, 1), true), (false, false, true));
        assert_eq!(a(node(8, 32, 2), true), (false, true, false));
        assert_eq!(
            a(node(32, 32, 2), true),
            (false, true, true),
            "no quadtree after a binary split"
        );
        assert_eq!(a(node(64, 64, MAX_MTT_DEPTH), true), (false, false, false));
    }

    /// Children cover their parent exactly, in coding order.
    #[test]
    fn children_tile_their_parent() {
        let n = Node {
            x: 64,
            y: 0,
            w: 32,
            h: 16,
            mtt_depth: 1,
        };
        let at = |s| {
            n.children(s)
                .iter()
                .map(|c| (c.x, c.y, c.w, c.h, c.mtt_depth))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            at(Split::Horizontal),
            [(64, 0, 32, 8, 2), (64, 8, 32, 8, 2)]
        );
        assert_eq!(
            at(Split::Vertical),
            [(64, 0, 16, 16, 2), (80, 0, 16, 16, 2)]
        );
        let q = Node::root(0, 0, 64).children(Split::Quad);
        let q: Vec<_> = q.iter().map(|c| (c.x, c.y, c.w, c.mtt_depth)).collect();
        assert_eq!(
            q,
            [
                (0, 0, 32, 0),
                (32, 0, 32, 0),
                (0, 32, 32, 0),
                (32, 32, 32, 0)
            ]
        );
    }

    /// Every allowed split of random nodes reads back as written, with the
    /// same contexts; without the multi-type tree the syntax is one
    /// split_cu_flag.
    #[test]
    fn split_modes_read_back_as_written() {
        let st = PicState::new(128, 128, 8);
        let mut cases = Vec::new();
        for i in 0..400usize {
            let mtt = i % 5 != 0;
            let (lw, lh) = (3 + (i * 7) % 4, 3 + (i * 11) % 4);
            let depth = if lw == lh {
                (i % 3) as u32
            } else {
                1 + (i % 3) as u32
            };
            let n = Node {
                x: 0,
                y: 64,
                w: 1 << lw,
                h: 1 << lh,
                mtt_depth: depth,
            };
            let allowed = AllowedSplits::of(&n, mtt);
            let options: Vec<Split> =
                [Split::None, Split::Quad, Split::Horizontal, Split::Vertical]
                    .into_iter()
                    .filter(|&s| allowed.allows(s))
                    .collect();
            cases.push((n, mtt, options[(i * 13) % options.len()]));
        }
        let mut ctx = Contexts::default();
        let mut enc = RangeEncoder::new();
        let mut bins = 0;
        for &(n, mtt, split) in &cases {
            let allowed = AllowedSplits::of(&n, mtt);
            let mut counter = crate::entropy::BitCounter::default();
            write_split_mode(&mut counter, &mut ctx.clone(), &st, &n, allowed, split);
            bins += (counter.cost > 0) as usize;
            write_split_mode(&mut enc, &mut ctx, &st, &n, allowed, split);
        }
        assert!(bins > 200, "most nodes code a split: {bins}");
        let bytes = enc.finish();
        let mut ctx = Contexts::default();
        let mut dec = RangeDecoder::new(&bytes);
        for &(n, mtt, split) in &cases {
            let allowed = AllowedSplits::of(&n, mtt);
            assert_eq!(
                read_split_mode(&mut dec, &mut ctx, &st, &n, allowed),
                split,
                "{n:?}"
            );
        }
        assert_eq!(dec.consumed(), bytes.len());
    }

    /// SkipCtx of section 4.1: skipped left and above units, 0 to 2.
    #[test]
    fn skip_context_counts_skipped_neighbours() {
        let mut st = PicState::new(32, 32, 8);
        assert_eq!(skip_ctx(&st, 16, 16), 0);
        st.set_motion(8, 16, 8, 8, crate::picture::Motion::INTRA, true);
        assert_eq!(skip_ctx(&st, 16, 16), 1);
        st.set_motion(16, 8, 8, 8, crate::picture::Motion::INTRA, true);
        assert_eq!(skip_ctx(&st, 16, 16), 2);
        assert_eq!(skip_ctx(&st, 0, 0), 0, "no neighbours at the corner");
    }

    /// The reader reads what the writer wrote, with the same contexts.
    #[test]
    fn flags_read_back_as_written() {
        let flags: Vec<(usize, bool)> = (0..200).map(|i| (i % 3, (i * 7) % 5 < 2)).collect();
        let mut ctx = Contexts::default();
        let mut enc = RangeEncoder::new();
        for &(c, f) in &flags {
            write_skip(&mut enc, &mut ctx, c, !f);
            write_intra(&mut enc, &mut ctx, f);
        }
        let bytes = enc.finish();
        let mut ctx = Contexts::default();
        let mut dec = RangeDecoder::new(&bytes);
        for &(c, f) in &flags {
            assert_eq!(read_skip(&mut dec, &mut ctx, c), !f);
            assert_eq!(read_intra(&mut dec, &mut ctx), f);
        }
        assert_eq!(dec.consumed(), bytes.len());
    }
}
