//! Block structure (`docs/bitstream.md` 4 and 4.1): superblocks split by a
//! quadtree and, where the stream allows it (`tool_flags` bits 5 and 9), a
//! multi-type tree of binary (and ternary) splits below it into coding units, and the
//! flags that open a coding unit (skip_flag, intra_flag). The tree walk
//! itself belongs to whoever reads or writes a frame (`decoder/`,
//! `encoder/search`); this module owns the syntax, its contexts and which
//! splits a node allows.

use crate::entropy::{BinSink, Contexts, RangeDecoder};
use crate::picture::PicState;

/// Deepest multi-type split below the quadtree (`MaxMttDepth`, section 4).
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
    /// Ternary split into a top quarter, a middle half and a bottom quarter.
    TernaryHorizontal,
    /// Ternary split into a left quarter, a middle half and a right quarter.
    TernaryVertical,
}

impl Split {
    /// Every split, in the order the encoder tries them.
    pub const ALL: [Split; 6] = [
        Split::None,
        Split::Quad,
        Split::Horizontal,
        Split::Vertical,
        Split::TernaryHorizontal,
        Split::TernaryVertical,
    ];

    /// Whether the split divides the width (a multi-type split).
    pub fn is_vertical(self) -> bool {
        matches!(self, Split::Vertical | Split::TernaryVertical)
    }

    /// Whether the split is a ternary one.
    pub fn is_ternary(self) -> bool {
        matches!(self, Split::TernaryHorizontal | Split::TernaryVertical)
    }
}

/// The splits a stream's coding trees may use below the quadtree
/// (`tool_flags` bits 5 and 9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SplitTools {
    /// Binary splits (the multi-type tree, bit 5).
    pub binary: bool,
    /// Ternary splits as well (bit 9; only with bit 5).
    pub ternary: bool,
}

impl SplitTools {
    /// The splits a stream's tools allow.
    pub fn of(tools: &crate::bitstream::Tools) -> SplitTools {
        SplitTools {
            binary: tools.multi_type_tree,
            ternary: tools.multi_type_tree && tools.ternary_splits,
        }
    }

    /// Quadtrees only.
    pub const QUADTREE: SplitTools = SplitTools {
        binary: false,
        ternary: false,
    };
    /// Quadtrees with binary splits below them.
    #[cfg(test)]
    pub const BINARY: SplitTools = SplitTools {
        binary: true,
        ternary: false,
    };
    /// Quadtrees with binary and ternary splits below them.
    #[cfg(test)]
    pub const TERNARY: SplitTools = SplitTools {
        binary: true,
        ternary: true,
    };
}

/// A node of the coding tree: its luma area and place in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
    /// Multi-type splits above this node (0: a quadtree node).
    pub mtt_depth: u32,
    /// The ternary split this node is the middle part of, if it is one: a
    /// binary split of it in the same direction would repeat two binary
    /// splits of the parent, so it is not allowed.
    pub middle_of: Option<Split>,
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
            middle_of: None,
        }
    }

    /// The nodes a split makes, in coding order (empty for [`Split::None`]).
    pub fn children(&self, split: Split) -> Vec<Node> {
        let (x, y, w, h) = (self.x, self.y, self.w, self.h);
        let q = self.mtt_depth + 1;
        let at = |x, y, w, h, mtt_depth, middle_of| Node {
            x,
            y,
            w,
            h,
            mtt_depth,
            middle_of,
        };
        let mid = Some(split);
        match split {
            Split::None => Vec::new(),
            Split::Quad => [(0, 0), (w / 2, 0), (0, h / 2), (w / 2, h / 2)]
                .iter()
                .map(|&(dx, dy)| at(x + dx, y + dy, w / 2, h / 2, 0, None))
                .collect(),
            Split::Horizontal => vec![
                at(x, y, w, h / 2, q, None),
                at(x, y + h / 2, w, h / 2, q, None),
            ],
            Split::Vertical => vec![
                at(x, y, w / 2, h, q, None),
                at(x + w / 2, y, w / 2, h, q, None),
            ],
            Split::TernaryHorizontal => vec![
                at(x, y, w, h / 4, q, None),
                at(x, y + h / 4, w, h / 2, q, mid),
                at(x, y + 3 * h / 4, w, h / 4, q, None),
            ],
            Split::TernaryVertical => vec![
                at(x, y, w / 4, h, q, None),
                at(x + w / 4, y, w / 2, h, q, mid),
                at(x + 3 * w / 4, y, w / 4, h, q, None),
            ],
        }
    }

    /// Whether the node lies inside a picture of coded size `w` x `h`
    /// (otherwise it is split implicitly).
    pub fn inside(&self, w: usize, h: usize) -> bool {
        self.x + self.w <= w && self.y + self.h <= h
    }
}

/// The splits a node inside the picture may code (section 4): the quadtree
/// for squares above 8 until the first multi-type split; with binary
/// splits (`tool_flags` bit 5) halves of at least 8 samples, and with
/// ternary splits (bit 9) quarters of at least 8, down to [`MAX_MTT_DEPTH`]
/// multi-type splits; no binary split of a ternary split's middle part in
/// the ternary split's direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllowedSplits {
    pub quad: bool,
    pub horizontal: bool,
    pub vertical: bool,
    pub ternary_horizontal: bool,
    pub ternary_vertical: bool,
}

impl AllowedSplits {
    pub fn of(node: &Node, tools: SplitTools) -> AllowedSplits {
        let mtt = tools.binary && node.mtt_depth < MAX_MTT_DEPTH;
        let ternary = mtt && tools.ternary;
        AllowedSplits {
            quad: node.mtt_depth == 0 && node.w == node.h && node.w > MIN_CU_SIDE,
            horizontal: mtt
                && node.h >= 2 * MIN_CU_SIDE
                && node.middle_of != Some(Split::TernaryHorizontal),
            vertical: mtt
                && node.w >= 2 * MIN_CU_SIDE
                && node.middle_of != Some(Split::TernaryVertical),
            ternary_horizontal: ternary && node.h >= 4 * MIN_CU_SIDE,
            ternary_vertical: ternary && node.w >= 4 * MIN_CU_SIDE,
        }
    }

    /// Whether any split is allowed (split_cu_flag is coded).
    pub fn any(&self) -> bool {
        self.quad || self.any_horizontal() || self.any_vertical()
    }

    /// Whether a multi-type split dividing the height is allowed.
    pub fn any_horizontal(&self) -> bool {
        self.horizontal || self.ternary_horizontal
    }

    /// Whether a multi-type split dividing the width is allowed.
    pub fn any_vertical(&self) -> bool {
        self.vertical || self.ternary_vertical
    }

    /// Whether a binary and a ternary split are allowed in one direction
    /// (`vertical`: dividing the width).
    fn in_direction(&self, vertical: bool) -> (bool, bool) {
        if vertical {
            (self.vertical, self.ternary_vertical)
        } else {
            (self.horizontal, self.ternary_horizontal)
        }
    }

    /// Whether `split` is allowed.
    pub fn allows(&self, split: Split) -> bool {
        match split {
            Split::None => true,
            Split::Quad => self.quad,
            Split::Horizontal => self.horizontal,
            Split::Vertical => self.vertical,
            Split::TernaryHorizontal => self.ternary_horizontal,
            Split::TernaryVertical => self.ternary_vertical,
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

/// Context of mtt_binary_flag: the direction and whether the node is at
/// most one multi-type split deep (VVC's `2 * vertical + (depth <= 1)`).
fn mtt_binary_ctx(node: &Node, vertical: bool) -> usize {
    2 * vertical as usize + (node.mtt_depth <= 1) as usize
}

/// Writes how a node inside the picture splits (split_cu_flag, then
/// split_qt_flag, mtt_vertical_flag and mtt_binary_flag where more than one
/// split is allowed); `split` must be allowed.
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
    let (hor, ver) = (allowed.any_horizontal(), allowed.any_vertical());
    if allowed.quad && (hor || ver) {
        s.encode(
            &mut ctx.split_qt[split_qt_ctx(st, node)],
            split == Split::Quad,
        );
    }
    if split == Split::Quad {
        return;
    }
    let vertical = split.is_vertical();
    if hor && ver {
        s.encode(&mut ctx.mtt_vertical[mtt_vertical_ctx(node)], vertical);
    }
    let (binary, ternary) = allowed.in_direction(vertical);
    if binary && ternary {
        s.encode(
            &mut ctx.mtt_binary[mtt_binary_ctx(node, vertical)],
            !split.is_ternary(),
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
    let (hor, ver) = (allowed.any_horizontal(), allowed.any_vertical());
    let quad = if allowed.quad && (hor || ver) {
        d.decode(&mut ctx.split_qt[split_qt_ctx(st, node)])
    } else {
        allowed.quad
    };
    if quad {
        return Split::Quad;
    }
    let vertical = if hor && ver {
        d.decode(&mut ctx.mtt_vertical[mtt_vertical_ctx(node)])
    } else {
        ver
    };
    let (binary, ternary) = allowed.in_direction(vertical);
    let is_binary = if binary && ternary {
        d.decode(&mut ctx.mtt_binary[mtt_binary_ctx(node, vertical)])
    } else {
        binary
    };
    match (vertical, is_binary) {
        (false, true) => Split::Horizontal,
        (true, true) => Split::Vertical,
        (false, false) => Split::TernaryHorizontal,
        (true, false) => Split::TernaryVertical,
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
            middle_of: None,
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
    /// any multi-type split, binary halves and ternary quarters of at least
    /// 8 down to MaxMttDepth, no binary split of a ternary middle part in
    /// the same direction, and none of them without their tool bits.
    #[test]
    fn allowed_splits_follow_the_specification() {
        let node = |w, h, mtt_depth| Node {
            x: 0,
            y: 0,
            w,
            h,
            mtt_depth,
            middle_of: None,
        };
        let a = |n: Node, tools| {
            let s = AllowedSplits::of(&n, tools);
            (s.quad, s.horizontal, s.vertical)
        };
        let t = |n: Node, tools| {
            let s = AllowedSplits::of(&n, tools);
            (s.ternary_horizontal, s.ternary_vertical)
        };
        let (qt, bt, tt) = (
            SplitTools::QUADTREE,
            SplitTools::BINARY,
            SplitTools::TERNARY,
        );
        assert_eq!(a(node(64, 64, 0), qt), (true, false, false));
        assert_eq!(a(node(8, 8, 0), qt), (false, false, false));
        assert_eq!(a(node(64, 64, 0), bt), (true, true, true));
        assert_eq!(a(node(16, 16, 0), bt), (true, true, true));
        assert_eq!(a(node(8, 8, 0), bt), (false, false, false));
        assert_eq!(a(node(32, 16, 1), bt), (false, true, true));
        assert_eq!(a(node(16, 8, 1), bt), (false, false, true));
        assert_eq!(a(node(8, 32, 2), bt), (false, true, false));
        assert_eq!(
            a(node(32, 32, 2), bt),
            (false, true, true),
            "no quadtree after a binary split"
        );
        assert_eq!(a(node(64, 64, MAX_MTT_DEPTH), bt), (false, false, false));
        // Ternary splits: only with bit 9, sides of 32 and more.
        assert_eq!(t(node(64, 64, 0), bt), (false, false));
        assert_eq!(t(node(64, 64, 0), qt), (false, false));
        assert_eq!(t(node(64, 64, 0), tt), (true, true));
        assert_eq!(t(node(32, 16, 1), tt), (false, true));
        assert_eq!(t(node(16, 32, 2), tt), (true, false));
        assert_eq!(t(node(16, 16, 0), tt), (false, false));
        assert_eq!(t(node(64, 64, MAX_MTT_DEPTH), tt), (false, false));
        // A ternary split's middle part: no binary split its own way.
        let mid = |w, h, split| Node {
            middle_of: Some(split),
            ..node(w, h, 1)
        };
        assert_eq!(
            a(mid(32, 32, Split::TernaryVertical), tt),
            (false, true, false)
        );
        assert_eq!(
            a(mid(32, 32, Split::TernaryHorizontal), tt),
            (false, false, true)
        );
        assert_eq!(t(mid(32, 32, Split::TernaryVertical), tt), (true, true));
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
            middle_of: None,
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
        assert_eq!(
            at(Split::TernaryVertical),
            [(64, 0, 8, 16, 2), (72, 0, 16, 16, 2), (88, 0, 8, 16, 2)]
        );
        let tall = Node { w: 16, h: 64, ..n };
        let th: Vec<_> = tall
            .children(Split::TernaryHorizontal)
            .iter()
            .map(|c| (c.x, c.y, c.w, c.h, c.middle_of))
            .collect();
        let mid = Some(Split::TernaryHorizontal);
        assert_eq!(
            th,
            [
                (64, 0, 16, 16, None),
                (64, 16, 16, 32, mid),
                (64, 48, 16, 16, None)
            ]
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
        let tool_sets = [
            SplitTools::QUADTREE,
            SplitTools::BINARY,
            SplitTools::TERNARY,
        ];
        let middles = [
            None,
            Some(Split::TernaryHorizontal),
            Some(Split::TernaryVertical),
        ];
        let mut cases = Vec::new();
        let mut ternaries = 0;
        for i in 0..600usize {
            let tools = tool_sets[i % 3];
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
                middle_of: if depth > 0 {
                    middles[(i / 3) % 3]
                } else {
                    None
                },
            };
            let allowed = AllowedSplits::of(&n, tools);
            let options: Vec<Split> = Split::ALL
                .into_iter()
                .filter(|&s| allowed.allows(s))
                .collect();
            let split = options[(i * 13) % options.len()];
            ternaries += split.is_ternary() as usize;
            cases.push((n, tools, split));
        }
        assert!(
            ternaries > 30,
            "ternary splits among the cases: {ternaries}"
        );
        let mut ctx = Contexts::default();
        let mut enc = RangeEncoder::new();
        let mut bins = 0;
        for &(n, tools, split) in &cases {
            let allowed = AllowedSplits::of(&n, tools);
            let mut counter = crate::entropy::BitCounter::default();
            write_split_mode(&mut counter, &mut ctx.clone(), &st, &n, allowed, split);
            bins += (counter.cost > 0) as usize;
            write_split_mode(&mut enc, &mut ctx, &st, &n, allowed, split);
        }
        assert!(bins > 300, "most nodes code a split: {bins}");
        let bytes = enc.finish();
        let mut ctx = Contexts::default();
        let mut dec = RangeDecoder::new(&bytes);
        for &(n, tools, split) in &cases {
            let allowed = AllowedSplits::of(&n, tools);
            assert_eq!(
                read_split_mode(&mut dec, &mut ctx, &st, &n, allowed),
                split,
                "{n:?}"
            );
        }
        assert_eq!(dec.consumed(), bytes.len());
    }

    /// mtt_binary_flag's context (section 4): twice the direction plus one
    /// at multi-type depth 0 or 1.
    #[test]
    fn binary_flag_context_follows_the_specification() {
        let n = |mtt_depth| Node {
            mtt_depth,
            ..Node::root(0, 0, 64)
        };
        assert_eq!(mtt_binary_ctx(&n(0), false), 1);
        assert_eq!(mtt_binary_ctx(&n(1), true), 3);
        assert_eq!(mtt_binary_ctx(&n(2), false), 0);
        assert_eq!(mtt_binary_ctx(&n(2), true), 2);
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
