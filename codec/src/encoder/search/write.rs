//! Writing the chosen coding units with the real syntax writers: into the
//! range coder for the stream, or into a bit counter while deciding.

use super::*;

impl FrameSearch<'_> {
    // ------------------------------------------------------------ writing

    /// Writes the coding tree of `node` as the search chose it (`it`: its
    /// items in coding order).
    pub(super) fn write_tree<S: BinSink>(
        &mut self,
        s: &mut S,
        node: Node,
        it: &mut std::slice::Iter<'_, TreeItem>,
    ) {
        if node.x >= self.st.w || node.y >= self.st.h {
            return;
        }
        let inside = node.inside(self.st.w, self.st.h);
        let item = it.next().expect("the tree covers the frame");
        let split = match item {
            TreeItem::Split(split) => *split,
            TreeItem::Cu(_) => Split::None,
        };
        if inside {
            let allowed = AllowedSplits::of(&node, self.mtt);
            partition::write_split_mode(s, &mut self.ctx, &self.st, &node, allowed, split);
        }
        match item {
            TreeItem::Split(split) => {
                for child in node.children(*split) {
                    self.write_tree(s, child, it);
                }
            }
            TreeItem::Cu(cu) => {
                debug_assert!((cu.x, cu.y, cu.w, cu.h) == (node.x, node.y, node.w, node.h));
                self.write_cu(s, cu);
                self.st.set_decoded(cu.x, cu.y, cu.w, cu.h, true);
            }
        }
    }

    /// Writes the mode syntax of an inter-frame CU up to (not including) its
    /// transform blocks, and records its motion in the maps.
    pub(super) fn write_inter_prefix<S: BinSink>(
        &mut self,
        s: &mut S,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        mode: &CuMode,
    ) {
        let c = partition::skip_ctx(&self.st, x, y);
        partition::write_skip(s, &mut self.ctx, c, matches!(mode, CuMode::Skip { .. }));
        match *mode {
            CuMode::Skip { merge, .. } => self.write_merge_cand(s, merge),
            CuMode::Intra { .. } => partition::write_intra(s, &mut self.ctx, true),
            CuMode::Inter {
                motion,
                merge,
                mvp,
                amvr,
                symmetric,
                root_cbf,
            } => {
                partition::write_intra(s, &mut self.ctx, false);
                inter::write_merge(s, &mut self.ctx, merge.is_some());
                if let Some(cand) = merge {
                    self.write_merge_cand(s, cand);
                } else {
                    self.write_explicit_motion(s, x, y, w, h, &motion, mvp, amvr, symmetric);
                }
                inter::write_root_cbf(s, &mut self.ctx, root_cbf);
            }
        }
    }

    /// The merge candidate of a skip or merge CU (`docs/bitstream.md` 4.6).
    fn write_merge_cand<S: BinSink>(&mut self, s: &mut S, cand: MergeCand) {
        if self.mmvd {
            inter::mmvd::write_flag(s, &mut self.ctx, matches!(cand, MergeCand::Mmvd(_)));
        }
        match cand {
            MergeCand::Index(idx) => inter::write_merge_idx(s, &mut self.ctx, idx.into()),
            MergeCand::Mmvd(m) => inter::mmvd::write(s, &mut self.ctx, m),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_explicit_motion<S: BinSink>(
        &mut self,
        s: &mut S,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        m: &Motion,
        mvp: [u8; 2],
        amvr: u8,
        symmetric: bool,
    ) {
        let shift = inter::amvr::SHIFTS[usize::from(amvr)];
        let mut any_difference = false;
        let lists = self.inter.as_ref().expect("inter frame").lists;
        if lists.is_b() {
            let dir = if m.uses(0) && m.uses(1) {
                2
            } else {
                m.uses(1) as u8
            };
            inter::write_inter_dir(s, &mut self.ctx, w, h, dir);
            let pair = if dir == 2 && self.smvd {
                inter::smvd::symmetric_pair(&lists)
            } else {
                None
            };
            if let Some(pair) = pair {
                inter::smvd::write_flag(s, &mut self.ctx, symmetric);
                debug_assert!(
                    !symmetric || m.ref_idx.map(|r| r as usize) == pair,
                    "symmetric motion uses the frame's pair"
                );
            } else {
                debug_assert!(!symmetric, "no symmetric pair in this frame");
            }
        }
        let mut first_mvd = Mv::ZERO;
        for l in 0..2 {
            if !m.uses(l) {
                continue;
            }
            // Symmetric motion sends no reference indices.
            if !symmetric && lists.len[l] > 1 {
                inter::write_ref_idx(s, &mut self.ctx, m.ref_idx[l] as usize, lists.len[l]);
            }
            let pred = self
                .motion_env()
                .expect("inter")
                .amvp(x, y, w, h, l, m.ref_idx[l] as usize)[mvp[l] as usize];
            let pred = inter::amvr::round_mv(pred, shift);
            let mvd = Mv {
                x: m.mv[l].x.wrapping_sub(pred.x) >> shift,
                y: m.mv[l].y.wrapping_sub(pred.y) >> shift,
            };
            debug_assert_eq!(
                (i32::from(mvd.x) << shift, i32::from(mvd.y) << shift),
                (
                    i32::from(m.mv[l].x) - i32::from(pred.x),
                    i32::from(m.mv[l].y) - i32::from(pred.y)
                ),
                "vectors of coarse precision are multiples of it"
            );
            if symmetric && l == 1 {
                // List 1's difference is list 0's negated, and not sent.
                debug_assert_eq!(
                    (i32::from(mvd.x), i32::from(mvd.y)),
                    (-i32::from(first_mvd.x), -i32::from(first_mvd.y)),
                    "list 1 takes the negated difference"
                );
            } else {
                first_mvd = mvd;
                any_difference |= mvd != Mv::ZERO;
                inter::write_mvd(s, &mut self.ctx, mvd);
            }
            inter::write_mvp(s, &mut self.ctx, mvp[l] as usize);
        }
        if self.amvr && any_difference {
            inter::amvr::write(s, &mut self.ctx, amvr);
        } else {
            debug_assert_eq!(amvr, 0, "a coarse precision needs a difference to be sent");
        }
    }

    /// Writes the superblock's QP delta where this coding unit carries it
    /// (`docs/bitstream.md` 4.8): the QP its superblock was searched at.
    fn write_sb_qp_delta<S: BinSink>(&mut self, s: &mut S) {
        if self.sb_qp.delta_due() {
            let delta = self.sb_target as i32 - self.sb_qp.frame_qp as i32;
            sb_qp::write_delta(s, &mut self.sb_qp.ctx, delta);
            self.sb_qp.qp = self.sb_target;
            self.sb_qp.coded = true;
        }
    }

    pub(super) fn write_cu<S: BinSink>(&mut self, s: &mut S, cu: &CuDecision) {
        let (x, y, w, h) = (cu.x, cu.y, cu.w, cu.h);
        if self.inter.is_some() {
            self.write_inter_prefix(s, x, y, w, h, &cu.mode);
        }
        let carries_residual = match cu.mode {
            CuMode::Intra { .. } => false, // after its modes, in write_intra_cu
            CuMode::Skip { .. } => false,
            CuMode::Inter { root_cbf, .. } => root_cbf,
        };
        if carries_residual {
            self.write_sb_qp_delta(s);
        }
        let (tw, th) = transform_tiles(w, h);
        match cu.mode {
            CuMode::Intra {
                nxn,
                modes,
                chroma_index,
            } => self.write_intra_cu(s, cu, nxn, modes, chroma_index),
            CuMode::Skip { motion, .. } => {
                self.st.set_cu_maps(x, y, w, h, tw, th);
                self.st.set_motion(x, y, w, h, motion, true);
                self.st.set_coded(x, y, w, h, false);
                self.st.set_mode(x, y, w, h, intra::DC);
            }
            CuMode::Inter {
                motion, root_cbf, ..
            } => {
                self.st.set_cu_maps(x, y, w, h, tw, th);
                self.st.set_motion(x, y, w, h, motion, false);
                self.st.set_coded(x, y, w, h, false);
                self.st.set_mode(x, y, w, h, intra::DC);
                if root_cbf {
                    let n_luma = cu.tus.len() - 2;
                    let mut tiles = tile_offsets(w, h, tw, th);
                    let mut any = false;
                    for (i, t) in cu.tus.iter().enumerate() {
                        let (plane, bw, bh) = if i < n_luma {
                            (0, tw, th)
                        } else {
                            (i - n_luma + 1, w / 2, h / 2)
                        };
                        let (lw, lh) = (log2(bw), log2(bh));
                        let cb_coded = plane == 2 && cu.tus[n_luma].cbf;
                        if plane < 2 || any {
                            transform::write_cbf(s, &mut self.ctx, plane, lw, lh, cb_coded, t.cbf);
                        }
                        any |= t.cbf;
                        if t.cbf {
                            residual::write_residual(
                                s,
                                &mut self.ctx,
                                &t.levels,
                                lw,
                                lh,
                                plane > 0,
                                scan_for(1, lw, lh, plane > 0),
                            );
                        }
                        if plane == 0 {
                            let (dx, dy) = tiles.next().expect("one tile per luma block");
                            self.st.set_coded(x + dx, y + dy, tw, th, t.cbf);
                        }
                    }
                }
            }
        }
    }

    pub(super) fn write_intra_cu<S: BinSink>(
        &mut self,
        s: &mut S,
        cu: &CuDecision,
        nxn: bool,
        modes: [u8; 4],
        chroma_index: u8,
    ) {
        let (x, y, w, h) = (cu.x, cu.y, cu.w, cu.h);
        if w == 8 && h == 8 {
            intra::write_nxn(s, &mut self.ctx, nxn);
        }
        let (parts, pw, ph) = if nxn { (4, 4, 4) } else { (1, w, h) };
        let (tw, th) = if nxn { (4, 4) } else { transform_tiles(w, h) };
        for i in 0..parts {
            let (px, py) = (x + (i & 1) * 4, y + (i >> 1) * 4);
            let mpm = intra::mpm(&self.st, px, py);
            let nn_ctx = self.nn_intra_ctx(px, py, tw, th);
            intra::write_intra_luma(s, &mut self.ctx, modes[i], &mpm, nn_ctx);
            self.st.set_mode(px, py, pw, ph, modes[i]);
        }
        intra::write_chroma_mode(s, &mut self.ctx, chroma_index, self.cclm);
        self.write_sb_qp_delta(s);
        self.st.set_cu_maps(x, y, w, h, tw, th);
        self.st.set_motion(x, y, w, h, Motion::INTRA, false);
        let chroma_mode = chroma_candidates(modes[0])[chroma_index as usize];
        let n_luma = cu.tus.len() - 2;
        for (i, tu) in cu.tus.iter().enumerate() {
            let (plane, bw, bh, mode) = if i < n_luma {
                (0, tw, th, modes[if nxn { i } else { 0 }])
            } else {
                (i - n_luma + 1, w / 2, h / 2, chroma_mode)
            };
            let (lw, lh) = (log2(bw), log2(bh));
            if plane == 0 {
                let size = ((lw + lh) / 2) as usize - 2;
                self.intra_modes.blocks[size] += 1;
                self.intra_modes.learned[size] += (mode == NN_MODE) as u32;
            }
            let cb_coded = plane == 2 && cu.tus[n_luma].cbf;
            transform::write_cbf(s, &mut self.ctx, plane, lw, lh, cb_coded, tu.cbf);
            if tu.cbf {
                residual::write_residual(
                    s,
                    &mut self.ctx,
                    &tu.levels,
                    lw,
                    lh,
                    plane > 0,
                    scan_for(mode, lw, lh, plane > 0),
                );
            }
        }
    }
}
