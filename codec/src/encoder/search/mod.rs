//! Rate-distortion search of one frame: partitions, intra modes and levels,
//! with rates measured by running the real syntax writer into a bit counter.

use crate::cpu::CpuLevel;
use crate::dsp::{self, dist};
use crate::entropy::{BinSink, BitCounter, Contexts, RangeEncoder, COST_ONE_BIT};
use crate::inter::mmvd::Mmvd;
use crate::inter::{
    self, predict_block, ColField, MotionEnv, RefLists, RefPicture, Refinement, MAX_BLOCK,
    MERGE_CANDIDATES,
};
use crate::intra::{self, chroma_candidates, predict_from_refs, IntraPredictor, NN_MODE};
use crate::partition::{self, AllowedSplits, Node, Split, SplitTools};
use crate::picture::{sub_block, Frame, Motion, Mv, PicState, SB_LOG2};
use crate::residual::{self, scan_for};
use crate::sb_qp::{self, SbQpState};
use crate::transform::quant::{quantize, QuantParams};
use crate::transform::{
    self, chroma_qp, quant_qp, reconstruct, tile_offsets, transform_tiles, tx_kind, ReconScratch,
};
use std::sync::Arc;

mod inter_search;
mod intra_search;
mod tu_coding;
mod write;

use super::motion_search::{self, MeParams};
use super::rdoq::{rdoq, RdoqScratch};

/// Decisions for one transform block.
#[derive(Clone)]
pub(crate) struct TuLevels {
    pub cbf: bool,
    pub levels: Box<[i16]>,
}

/// How a coding unit is predicted.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CuMode {
    Intra {
        nxn: bool,
        modes: [u8; 4],
        chroma_index: u8,
    },
    /// Merge candidate, no residual.
    Skip { merge: MergeCand, motion: Motion },
    /// Merge candidate or explicit motion, with a residual when `root_cbf`.
    Inter {
        motion: Motion,
        merge: Option<MergeCand>,
        mvp: [u8; 2],
        /// Vector difference precision index of explicit motion (0: quarter
        /// samples, 1 whole, 2 four samples).
        amvr: u8,
        /// Explicit bi-prediction from the frame's symmetric pair with one
        /// coded difference (`docs/bitstream.md` 4.6).
        symmetric: bool,
        root_cbf: bool,
    },
}

/// Which merge candidate a CU takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MergeCand {
    /// Candidate `merge_idx` as it is.
    Index(u8),
    /// Candidate 0 or 1 with a motion vector difference.
    Mmvd(Mmvd),
}

impl MergeCand {
    /// Whether decoder-side vector refinement may apply (a candidate taken as it is).
    fn refinable(self) -> bool {
        matches!(self, MergeCand::Index(_))
    }
}

/// Decisions for one coding unit.
#[derive(Clone)]
pub(crate) struct CuDecision {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
    pub mode: CuMode,
    /// Luma transform blocks in coding order, then Cb, then Cr (empty for skip).
    pub tus: Vec<TuLevels>,
}

/// The coding tree chosen for an area, in coding order: each node that
/// splits as its split, followed by its children; each leaf as its coding unit.
#[derive(Clone)]
pub(crate) enum TreeItem {
    Split(Split),
    Cu(CuDecision),
}

/// References of an inter frame.
#[derive(Clone)]
pub(crate) struct InterRefs {
    pub refs: [Vec<Arc<RefPicture>>; 2],
    pub lists: RefLists,
    pub col: Option<Arc<ColField>>,
}

/// Per-frame encoder settings derived from the configuration.
#[derive(Clone, Copy)]
pub(crate) struct SearchParams {
    pub qp: i8,
    /// The frame header's chroma QP offsets.
    pub chroma_offset: [i8; 2],
    pub chroma_qp: [i8; 2],
    /// The quantiser's `qP'` per plane.
    pub quant_qp: [u8; 3],
    pub bit_depth: u8,
    pub lambda: f64,
    pub use_rdoq: bool,
    /// How many modes survive the SATD pass, by luma block size (4, 8, 16, 32).
    pub rd_modes: [usize; 4],
    pub cpu: CpuLevel,
    /// Motion search settings (inter frames).
    pub me: MeParams,
    /// Merge candidates given a full rate-distortion check.
    pub merge_rd: usize,
    /// Searched motions (uni, bi, coarser precisions) given a full
    /// rate-distortion check, best estimates first.
    pub explicit_rd: usize,
    /// The best merge offset gets a full check whatever its estimate (else
    /// only when it beats the best merge candidate's).
    pub mmvd_rd_always: bool,
    /// Search symmetric bi-prediction where the stream allows it.
    pub smvd_search: bool,
    /// The SATD estimates that rank candidates include optical flow (the
    /// full checks always do).
    pub estimate_bdof: bool,
    /// Distances searched for merge with motion vector differences (0..=8).
    pub mmvd_distances: usize,
    /// Turns of the iterative bi-prediction search (0: the two best
    /// uni-prediction vectors only).
    pub bi_iterations: usize,
    /// Steps of the coarse-precision refinement per list (adaptive motion
    /// vector resolution; 0: the rounded vectors only).
    pub amvr_steps: usize,
    /// Try intra CUs in inter frames only when the best inter CU's cost per
    /// sample exceeds this multiple of lambda (0: always).
    pub intra_in_inter_bar: f64,
    /// Skip the split search below a CU coded as skip.
    pub skip_stops_split: bool,
    /// Try four 4x4 parts in 8x8 intra CUs of inter frames.
    pub nxn_in_inter: bool,
    /// Deepest multi-type split searched below the quadtree (0: the
    /// quadtree alone), where the stream allows them.
    pub max_mtt_depth: u32,
    /// Ternary splits are searched where the binary split the same way cost
    /// at most this times the unsplit CU and the other binary split (VVenC's
    /// FastTTSplit threshold; 0: never searched).
    pub ternary_threshold: f64,
    /// Deepest multi-type depth at which ternary splits are searched (0:
    /// on quadtree nodes only).
    pub max_ternary_depth: u32,
    /// The stream selects intra luma transforms implicitly (`tool_flags` bit 6).
    pub implicit_mts: bool,
}

impl SearchParams {
    pub fn new(
        qp: i8,
        chroma_offset: [i8; 2],
        bit_depth: u8,
        cpu: CpuLevel,
        use_rdoq: bool,
        lambda: f64,
    ) -> SearchParams {
        let chroma = [
            chroma_qp(qp as i32 + chroma_offset[0] as i32, bit_depth),
            chroma_qp(qp as i32 + chroma_offset[1] as i32, bit_depth),
        ];
        SearchParams {
            qp,
            chroma_offset,
            chroma_qp: chroma,
            quant_qp: [
                quant_qp(qp, bit_depth),
                quant_qp(chroma[0], bit_depth),
                quant_qp(chroma[1], bit_depth),
            ],
            bit_depth,
            lambda,
            use_rdoq,
            rd_modes: [8, 8, 3, 3],
            cpu,
            me: MeParams::default(),
            merge_rd: 2,
            explicit_rd: 2,
            mmvd_rd_always: true,
            smvd_search: true,
            estimate_bdof: true,
            mmvd_distances: 6,
            bi_iterations: 1,
            amvr_steps: 2,
            intra_in_inter_bar: 0.0,
            skip_stops_split: false,
            nxn_in_inter: true,
            max_mtt_depth: 0,
            ternary_threshold: 0.0,
            max_ternary_depth: partition::MAX_MTT_DEPTH,
            implicit_mts: false,
        }
    }
}

/// Outcome of coding one transform block during the search.
struct TuOutcome {
    tu: TuLevels,
    dist: u64,
    /// Rate in 2^-16 bits.
    bits: u64,
}

pub(crate) struct FrameSearch<'a> {
    pub src: &'a Frame,
    pub st: PicState,
    /// The stream's learned intra predictor (mode 35), if it uses one.
    pub nn_intra: Option<Arc<IntraPredictor>>,
    /// The stream allows the chroma mode LM (`tool_flags` bit 8).
    pub cclm: bool,
    /// The stream refines bi-predicted merge CUs' vectors (`inter_tool_flags` bit 0).
    pub dmvr: bool,
    /// The stream corrects bi-predicted luma by optical flow (`inter_tool_flags` bit 1).
    pub bdof: bool,
    /// The stream's merge lists take history candidates (`inter_tool_flags` bit 2).
    pub history_merge: bool,
    /// The stream allows merge with motion vector differences (`inter_tool_flags` bit 3).
    pub mmvd: bool,
    /// The stream allows coarse vector differences (`inter_tool_flags` bit 4).
    pub amvr: bool,
    /// The stream allows symmetric vector differences (`inter_tool_flags` bit 5).
    pub smvd: bool,
    pub ctx: Contexts,
    pub p: SearchParams,
    scratch: Box<TuScratch>,
    inter: Option<InterRefs>,
    mc: Box<McScratch>,
    /// Intra luma blocks written so far, by size and learned or not.
    pub intra_modes: super::IntraModeCounts,
    /// Motion found by the CU searched last at each depth of the coding tree.
    parent_motion: [inter_search::ParentMotion; MAX_TREE_DEPTH + 1],
    /// Depth in the coding tree of the node being searched.
    depth: usize,
    /// The splits the stream allows below the quadtree (`tool_flags` bits
    /// 5 and 9).
    mtt: SplitTools,
    /// QP offset from the frame's of each superblock (raster order), where
    /// the stream codes superblock QP deltas and the frame plans any.
    sb_deltas: Option<Vec<i8>>,
    /// The superblock QP state of the writer.
    sb_qp: SbQpState,
    /// The QP the current superblock was searched at.
    sb_target: i8,
}

/// Deepest node of a coding tree: the quadtree down to 8x8, then binary splits.
const MAX_TREE_DEPTH: usize = SB_LOG2 as usize - 3 + partition::MAX_MTT_DEPTH as usize;

/// Prediction buffers of inter CUs.
struct McScratch {
    pred: [u16; MAX_BLOCK * MAX_BLOCK * 3 / 2],
    tmp: [[i16; MAX_BLOCK * MAX_BLOCK]; 2],
}

/// Buffers of one transform block's coding, allocated once per frame.
struct TuScratch {
    resid: [i16; 1024],
    coeffs: [i16; 1024],
    recon: [u16; 1024],
    rdoq: RdoqScratch,
    recon_tmp: ReconScratch,
}

/// Copies the `kw x kh` units at (x, y) of a map `map_w` units wide.
fn grab_region<T: Copy>(
    map: &[T],
    map_w: usize,
    x: usize,
    y: usize,
    kw: usize,
    kh: usize,
) -> Vec<T> {
    let mut v = Vec::with_capacity(kw * kh);
    for r in 0..kh {
        v.extend_from_slice(&map[(y + r) * map_w + x..][..kw]);
    }
    v
}

/// Writes back what [`grab_region`] copied.
fn put_region<T: Copy>(
    map: &mut [T],
    map_w: usize,
    x: usize,
    y: usize,
    kw: usize,
    kh: usize,
    v: &[T],
) {
    for r in 0..kh {
        map[(y + r) * map_w + x..][..kw].copy_from_slice(&v[r * kw..][..kw]);
    }
}

fn bits_of(f: impl FnOnce(&mut BitCounter)) -> u64 {
    let mut c = BitCounter::default();
    f(&mut c);
    c.cost
}

/// Saved reconstruction and maps of a region, to undo a rejected choice.
struct Snapshot {
    planes: [Vec<u16>; 3],
    modes: Vec<u8>,
    decoded: Vec<bool>,
    cu_w: Vec<u8>,
    cu_h: Vec<u8>,
    edges: Vec<u8>,
    motion: Vec<Motion>,
    skip: Vec<bool>,
    coded: Vec<bool>,
    /// The merge history (of the whole frame: CUs in coding order change it).
    history: Vec<Motion>,
}

impl<'a> FrameSearch<'a> {
    /// A search of `src` whose contexts start as `ctx`.
    pub fn new(
        src: &'a Frame,
        p: SearchParams,
        inter: Option<InterRefs>,
        ctx: Contexts,
    ) -> FrameSearch<'a> {
        let st = PicState::new(src.planes[0].width, src.planes[0].height, src.bit_depth);
        let scratch = Box::new(TuScratch {
            resid: [0; 1024],
            coeffs: [0; 1024],
            recon: [0; 1024],
            rdoq: RdoqScratch::default(),
            recon_tmp: ReconScratch::default(),
        });
        let mc = Box::new(McScratch {
            pred: [0; MAX_BLOCK * MAX_BLOCK * 3 / 2],
            tmp: [[0; MAX_BLOCK * MAX_BLOCK]; 2],
        });
        FrameSearch {
            src,
            st,
            nn_intra: None,
            cclm: false,
            dmvr: false,
            bdof: false,
            history_merge: false,
            mmvd: false,
            amvr: false,
            smvd: false,
            ctx,
            p,
            scratch,
            inter,
            mc,
            intra_modes: Default::default(),
            parent_motion: Default::default(),
            depth: 0,
            mtt: SplitTools::QUADTREE,
            sb_deltas: None,
            sb_qp: SbQpState::new(false, p.qp),
            sb_target: p.qp,
        }
    }

    /// Codes coding trees with multi-type splits below the quadtree (the
    /// stream's `tool_flags` bits 5 and 9), searched to
    /// `SearchParams::max_mtt_depth`.
    pub fn code_multi_type_trees(&mut self, tools: SplitTools) {
        self.mtt = tools;
    }

    /// Codes superblock QP deltas (`tool_flags` bit 4): each superblock is
    /// searched at the frame QP plus its entry of `deltas`, when given, with
    /// lambda scaled to match, and codes its delta in its first coding unit
    /// that can carry a residual.
    pub fn code_sb_qp_deltas(&mut self, deltas: Option<Vec<i8>>) {
        self.sb_qp = SbQpState::new(true, self.p.qp);
        self.sb_deltas = deltas;
    }

    /// Context of the learned-mode flag of a `tw` x `th` luma block, `None`
    /// where the flag is not coded ([`intra::nn_intra_ctx`] for this
    /// stream; only square blocks have it).
    fn nn_intra_ctx(&self, x: usize, y: usize, tw: usize, th: usize) -> Option<usize> {
        if tw != th {
            return None;
        }
        intra::nn_intra_ctx(&self.st, self.nn_intra.is_some(), x, y, log2(tw))
    }

    fn cost(&self, dist: u64, bits: u64) -> f64 {
        dist as f64 + self.p.lambda * bits as f64 / COST_ONE_BIT as f64
    }

    /// Searches and codes the whole frame, returning the entropy-coded payload.
    /// Searches and writes every superblock; the caller may add more syntax before finishing.
    pub fn encode_blocks(&mut self) -> RangeEncoder {
        let mut enc = RangeEncoder::new();
        let (w, h) = (self.st.w, self.st.h);
        let sb = 1usize << SB_LOG2;
        let frame_p = self.p;
        let deltas = self.sb_deltas.take();
        if self.sb_qp.enabled {
            self.st.sb_qp = Vec::with_capacity(w.div_ceil(sb) * h.div_ceil(sb));
        }
        let mut index = 0;
        for y in (0..h).step_by(sb) {
            // The merge history starts empty in every superblock row.
            self.st.history.clear();
            for x in (0..w).step_by(sb) {
                let delta = deltas.as_ref().map_or(0, |d| d[index]);
                index += 1;
                // Lambda follows the QP as the frame's does (2^(dQP/3)).
                self.p = if delta == 0 {
                    frame_p
                } else {
                    let lambda = frame_p.lambda * 2f64.powf(delta as f64 / 3.0);
                    frame_p.at_qp(frame_p.qp + delta, lambda)
                };
                self.sb_target = self.p.qp;
                let root = Node::root(x, y, sb);
                let (_, tree) = self.search_tree(root);
                self.sb_qp.start_superblock();
                // The writer sees the superblock decoded as far as a decoder
                // has: motion vector prediction reads availability.
                self.st
                    .set_decoded(x, y, sb.min(w - x), sb.min(h - y), false);
                let mut it = tree.iter();
                self.write_tree(&mut enc, root, &mut it);
                debug_assert!(it.next().is_none(), "the tree is written whole");
                if self.sb_qp.enabled {
                    // Without a residual the superblock keeps the frame QP.
                    self.st.sb_qp.push(self.sb_qp.qp);
                }
            }
        }
        self.p = frame_p;
        enc
    }

    // ------------------------------------------------------------ search

    fn snapshot(&self, x: usize, y: usize, w: usize, h: usize) -> Snapshot {
        let mut planes: [Vec<u16>; 3] = Default::default();
        for (pi, out) in planes.iter_mut().enumerate() {
            let (px, py, pw, ph) = if pi == 0 {
                (x, y, w, h)
            } else {
                (x / 2, y / 2, w / 2, h / 2)
            };
            let p = &self.st.recon.planes[pi];
            for r in 0..ph {
                out.extend_from_slice(&p.data[(py + r) * p.width + px..][..pw]);
            }
        }
        let st = &self.st;
        let (w4, w8) = (st.w / 4, st.w / 8);
        let at4 = |map: &[u8]| grab_region(map, w4, x / 4, y / 4, w / 4, h / 4);
        // Size maps cover whole CUs (none of 4x4 parts); the motion maps
        // keep the 8x8 unit holding a 4x4 part.
        let at8 = |map: &[u8]| grab_region(map, w8, x / 8, y / 8, w / 8, h / 8);
        let (x8, y8, k8w, k8h) = (x / 8, y / 8, (w / 8).max(1), (h / 8).max(1));
        Snapshot {
            planes,
            modes: at4(&st.luma_modes),
            decoded: grab_region(&st.decoded, w4, x / 4, y / 4, w / 4, h / 4),
            cu_w: at8(&st.cu_w_log2),
            cu_h: at8(&st.cu_h_log2),
            edges: at8(&st.edges),
            motion: grab_region(&st.motion, w8, x8, y8, k8w, k8h),
            skip: grab_region(&st.skip, w8, x8, y8, k8w, k8h),
            coded: grab_region(&st.coded, w8, x8, y8, k8w, k8h),
            history: st.history.clone(),
        }
    }

    fn restore(&mut self, x: usize, y: usize, w: usize, h: usize, s: &Snapshot) {
        for pi in 0..3 {
            let (px, py, pw, ph) = if pi == 0 {
                (x, y, w, h)
            } else {
                (x / 2, y / 2, w / 2, h / 2)
            };
            let p = &mut self.st.recon.planes[pi];
            for r in 0..ph {
                p.data[(py + r) * p.width + px..][..pw]
                    .copy_from_slice(&s.planes[pi][r * pw..][..pw]);
            }
        }
        let st = &mut self.st;
        let (w4, w8) = (st.w / 4, st.w / 8);
        let (x4, y4, k4w, k4h) = (x / 4, y / 4, w / 4, h / 4);
        put_region(&mut st.luma_modes, w4, x4, y4, k4w, k4h, &s.modes);
        put_region(&mut st.decoded, w4, x4, y4, k4w, k4h, &s.decoded);
        let (x8, y8) = (x / 8, y / 8);
        put_region(&mut st.cu_w_log2, w8, x8, y8, w / 8, h / 8, &s.cu_w);
        put_region(&mut st.cu_h_log2, w8, x8, y8, w / 8, h / 8, &s.cu_h);
        put_region(&mut st.edges, w8, x8, y8, w / 8, h / 8, &s.edges);
        let (k8w, k8h) = ((w / 8).max(1), (h / 8).max(1));
        put_region(&mut st.motion, w8, x8, y8, k8w, k8h, &s.motion);
        put_region(&mut st.skip, w8, x8, y8, k8w, k8h, &s.skip);
        put_region(&mut st.coded, w8, x8, y8, k8w, k8h, &s.coded);
        st.history.clone_from(&s.history);
    }

    /// Rate of coding `split` at `node`.
    fn split_bits(&self, node: &Node, allowed: AllowedSplits, split: Split) -> u64 {
        let mut ctx = self.ctx.clone();
        bits_of(|c| partition::write_split_mode(c, &mut ctx, &self.st, node, allowed, split))
    }

    /// Best coding tree of `node`: as one coding unit, or split each way the
    /// stream allows and the preset searches (children searched in coding
    /// order; a split is abandoned once it costs more than the best so far).
    /// Leaves the reconstruction and maps in the state of the choice.
    fn search_tree(&mut self, node: Node) -> (f64, Vec<TreeItem>) {
        let (w, h) = (self.st.w, self.st.h);
        if node.x >= w || node.y >= h {
            return (0.0, Vec::new());
        }
        self.depth += 1;
        let out = self.search_tree_inside(node);
        self.depth -= 1;
        out
    }

    fn search_tree_inside(&mut self, node: Node) -> (f64, Vec<TreeItem>) {
        let (x, y, w, h) = (node.x, node.y, node.w, node.h);
        if !node.inside(self.st.w, self.st.h) {
            // Nodes crossing the picture's edge split as quadtrees.
            let mut cost = 0.0;
            let mut items = vec![TreeItem::Split(Split::Quad)];
            for child in node.children(Split::Quad) {
                let (c, t) = self.search_tree(child);
                cost += c;
                items.extend(t);
            }
            return (cost, items);
        }
        let allowed = AllowedSplits::of(&node, self.mtt);
        // Each choice of the node starts from the merge history before it.
        let history = self.st.history.clone();
        let (mut best_cost, cu) = self.search_cu(x, y, w, h);
        if allowed.any() {
            best_cost += self.cost(0, self.split_bits(&node, allowed, Split::None));
        }
        let unsplit_cost = best_cost;
        let mut searched = allowed;
        if node.mtt_depth >= self.p.max_mtt_depth {
            searched.horizontal = false;
            searched.vertical = false;
        }
        if node.mtt_depth >= self.p.max_mtt_depth
            || node.mtt_depth > self.p.max_ternary_depth
            || self.p.ternary_threshold <= 0.0
        {
            searched.ternary_horizontal = false;
            searched.ternary_vertical = false;
        }
        if !searched.any() || (self.p.skip_stops_split && matches!(cu.mode, CuMode::Skip { .. })) {
            return (best_cost, vec![TreeItem::Cu(cu)]);
        }
        // The binary splits' costs where searched to the end ([horizontal,
        // vertical]) and whether either half split again: they decide
        // whether the ternary split the same way is worth a search.
        let mut binary: [Option<(f64, bool)>; 2] = [None, None];
        let mut best_items = vec![TreeItem::Cu(cu)];
        // The best choice's state, taken only before a split overwrites it
        // (`None`: the state in place is the best so far).
        let mut best_state = None;
        for split in Split::ALL {
            if split == Split::None || !searched.allows(split) {
                continue;
            }
            if split.is_ternary()
                && !self.ternary_worth_searching(&node, split, unsplit_cost, binary)
            {
                continue;
            }
            if best_state.is_none() {
                best_state = Some(self.snapshot(x, y, w, h));
            }
            // The children see only what is decoded before them.
            self.st.set_decoded(x, y, w, h, false);
            self.st.history.clone_from(&history);
            let mut cost = self.cost(0, self.split_bits(&node, allowed, split));
            let mut items = vec![TreeItem::Split(split)];
            let children = node.children(split);
            let mut complete = true;
            for (i, child) in children.iter().enumerate() {
                let (c, t) = self.search_tree(*child);
                cost += c;
                items.extend(t);
                if cost >= best_cost && i + 1 < children.len() {
                    complete = false;
                    break;
                }
            }
            if complete && matches!(split, Split::Horizontal | Split::Vertical) {
                let split_again = items[1..].iter().any(|i| matches!(i, TreeItem::Split(_)));
                binary[split.is_vertical() as usize] = Some((cost, split_again));
            }
            if cost < best_cost {
                best_cost = cost;
                best_items = items;
                best_state = None;
            } else if let Some(snap) = &best_state {
                self.restore(x, y, w, h, snap);
            }
        }
        (best_cost, best_items)
    }

    /// Whether to search the ternary `split` of `node` (VVenC's rules,
    /// `EncModeCtrl::trySplit` and `useModeResult`): only after the binary
    /// split the same way was searched to the end, cost at most
    /// `ternary_threshold` times the unsplit CU's and the other binary
    /// split's (where that one finished), and split a half again (or its
    /// halves could not split).
    fn ternary_worth_searching(
        &self,
        node: &Node,
        split: Split,
        unsplit_cost: f64,
        binary: [Option<(f64, bool)>; 2],
    ) -> bool {
        let vertical = split.is_vertical();
        let Some((same_way, split_again)) = binary[vertical as usize] else {
            return false;
        };
        let th = self.p.ternary_threshold;
        let other_way = binary[!vertical as usize].map_or(f64::INFINITY, |b| b.0);
        let halves_at_max_depth = node.mtt_depth + 1 >= self.p.max_mtt_depth;
        same_way <= th * unsplit_cost
            && same_way <= th * other_way
            && (split_again || halves_at_max_depth)
    }

    /// Best coding of one CU. Leaves the reconstruction and maps in the state of that choice.
    fn search_cu(&mut self, x: usize, y: usize, w: usize, h: usize) -> (f64, CuDecision) {
        if self.inter.is_none() {
            return self.search_intra_cu(x, y, w, h);
        }
        let start = self.snapshot(x, y, w, h);
        let (inter_cost, inter_cu) = self.search_inter_cu(x, y, w, h);
        let samples = (w * h) as f64;
        if self.p.intra_in_inter_bar > 0.0
            && inter_cost < self.p.intra_in_inter_bar * self.p.lambda * samples
        {
            return (inter_cost, inter_cu);
        }
        let inter_state = self.snapshot(x, y, w, h);
        self.restore(x, y, w, h, &start);
        let (intra_cost, intra_cu) = self.search_intra_cu(x, y, w, h);
        if intra_cost < inter_cost {
            (intra_cost, intra_cu)
        } else {
            self.restore(x, y, w, h, &inter_state);
            (inter_cost, inter_cu)
        }
    }

    /// Rate of the mode prefix of an inter-frame CU (skip, intra, merge and motion flags).
    fn prefix_bits(&mut self, x: usize, y: usize, w: usize, h: usize, mode: &CuMode) -> u64 {
        let mut c = BitCounter::default();
        self.write_inter_prefix(&mut c, x, y, w, h, mode);
        c.cost
    }

    /// Writes a whole-CU prediction (luma then chroma) into the reconstruction.
    fn put_prediction(&mut self, x: usize, y: usize, w: usize, h: usize, pred: &[u16]) {
        let (cw, ch) = (w / 2, h / 2);
        let (l, c) = (w * h, cw * ch);
        self.st.put_block(0, x, y, w, h, &pred[..l]);
        self.st.put_block(1, x / 2, y / 2, cw, ch, &pred[l..l + c]);
        self.st
            .put_block(2, x / 2, y / 2, cw, ch, &pred[l + c..l + 2 * c]);
    }

    /// Distortion of the reconstructed CU against the source, chroma weighted.
    fn weighted_dist(&self, x: usize, y: usize, w: usize, h: usize) -> f64 {
        let cpu = self.p.cpu;
        let mut d = 0.0;
        for plane in 0..3 {
            let (px, py, bw, bh) = if plane == 0 {
                (x, y, w, h)
            } else {
                (x / 2, y / 2, w / 2, h / 2)
            };
            let a = &self.src.planes[plane];
            let b = &self.st.recon.planes[plane];
            let e = dist::sse(
                &a.data[py * a.width + px..],
                a.width,
                &b.data[py * b.width + px..],
                b.width,
                bw,
                bh,
                cpu,
            );
            d += if plane == 0 {
                e as f64
            } else {
                self.chroma_cost(plane, e, 0)
            };
        }
        d
    }
}

impl SearchParams {
    /// The same settings at another QP and lambda (a superblock's).
    pub fn at_qp(&self, qp: i8, lambda: f64) -> SearchParams {
        let fresh = SearchParams::new(
            qp,
            self.chroma_offset,
            self.bit_depth,
            self.cpu,
            self.use_rdoq,
            lambda,
        );
        SearchParams {
            qp,
            chroma_qp: fresh.chroma_qp,
            quant_qp: fresh.quant_qp,
            lambda,
            ..*self
        }
    }

    /// Lambda used to weigh rate against unweighted distortion in `plane`.
    pub fn lambda_for(&self, plane: usize) -> f64 {
        if plane == 0 {
            self.lambda
        } else {
            let dq = self.qp as f64 - self.chroma_qp[plane - 1] as f64;
            self.lambda / 2f64.powf(dq / 3.0)
        }
    }
}

/// log2 of a block side.
fn log2(n: usize) -> u32 {
    n.trailing_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64x64 keyframe of flat vertical bands 16, 16 and 32 samples wide.
    fn bands() -> Frame {
        let mut f = Frame::new_420(64, 64);
        for (pi, p) in f.planes.iter_mut().enumerate() {
            let w = p.width;
            let band = |x: usize| match x * 64 / w {
                0..16 => 40,
                16..32 => 200,
                _ => 110,
            };
            for (i, v) in p.data.iter_mut().enumerate() {
                *v = band(i % w) + 10 * pi as u16;
            }
        }
        f
    }

    fn tree(mtt: bool) -> (f64, Vec<TreeItem>) {
        let tools = if mtt {
            SplitTools::BINARY
        } else {
            SplitTools::QUADTREE
        };
        tree_of(&bands(), tools)
    }

    fn tree_of(src: &Frame, tools: SplitTools) -> (f64, Vec<TreeItem>) {
        let mut p = SearchParams::new(32, [0, 0], 8, CpuLevel::runtime(), true, 50.0);
        p.max_mtt_depth = 2;
        p.ternary_threshold = 1.0;
        let mut search = FrameSearch::new(src, p, None, Contexts::default());
        search.code_multi_type_trees(tools);
        search.search_tree(Node::root(0, 0, 64))
    }

    fn splits(items: &[TreeItem]) -> Vec<Split> {
        items
            .iter()
            .filter_map(|i| match i {
                TreeItem::Split(s) => Some(*s),
                TreeItem::Cu(_) => None,
            })
            .collect()
    }

    /// Bands 16 wide fit whole in 16x32 coding units with binary splits,
    /// where the quadtree needs 16x16 squares: the search finds vertical
    /// splits, rectangular coding units, and a lower cost than the quadtree.
    #[test]
    fn binary_splits_follow_vertical_bands() {
        let (quad_cost, quad) = tree(false);
        assert!(splits(&quad).iter().all(|&s| s == Split::Quad));
        let (mtt_cost, mtt) = tree(true);
        assert!(
            splits(&mtt).contains(&Split::Vertical),
            "{:?}",
            splits(&mtt)
        );
        let rectangles = mtt
            .iter()
            .filter(|i| matches!(i, TreeItem::Cu(c) if c.w != c.h))
            .count();
        assert!(rectangles > 0);
        assert!(mtt_cost < quad_cost, "{mtt_cost} vs {quad_cost}");
    }

    /// A 64x64 keyframe whose middle half (columns 16..48) is one flat
    /// band between two textured quarters: a vertical ternary split codes it
    /// as 16 | 32 | 16, where binary splits need the middle in two.
    #[test]
    fn ternary_splits_follow_a_middle_band() {
        let mut f = Frame::new_420(64, 64);
        for (pi, p) in f.planes.iter_mut().enumerate() {
            let w = p.width;
            for (i, v) in p.data.iter_mut().enumerate() {
                let (x, y) = (i % w * 64 / w, i / w);
                *v = if (16..48).contains(&x) {
                    150
                } else {
                    // Texture that changes every 16 columns, so the outer
                    // quarters want their own CUs.
                    (40 + (x / 16) * 60 + (y * 7 + x * 3) % 11) as u16
                } + 5 * pi as u16;
            }
        }
        let (binary_cost, _) = tree_of(&f, SplitTools::BINARY);
        let (ternary_cost, ternary) = tree_of(&f, SplitTools::TERNARY);
        assert!(
            splits(&ternary).contains(&Split::TernaryVertical),
            "{:?}",
            splits(&ternary)
        );
        assert!(
            ternary_cost < binary_cost,
            "{ternary_cost} vs {binary_cost}"
        );
    }
}
