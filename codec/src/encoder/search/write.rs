//! Writing the chosen coding units with the real syntax writers: into the
//! range coder for the stream, or into a bit counter while deciding.

use super::*;

impl FrameSearch<'_> {
    // ------------------------------------------------------------ writing

    pub(super) fn write_node<S: BinSink>(
        &mut self,
        s: &mut S,
        x: usize,
        y: usize,
        log2: u32,
        it: &mut std::iter::Peekable<std::slice::Iter<'_, CuDecision>>,
    ) {
        if x >= self.st.w || y >= self.st.h {
            return;
        }
        let size = 1usize << log2;
        let inside = x + size <= self.st.w && y + size <= self.st.h;
        let next = it.peek().expect("decision list covers the frame");
        let split = !(next.x == x && next.y == y && next.log2 == log2);
        if log2 > 3 && inside {
            let c = partition::split_ctx(&self.st, x, y, log2);
            partition::write_split(s, &mut self.ctx, c, split);
        }
        if split {
            let half = size / 2;
            for (dx, dy) in [(0, 0), (half, 0), (0, half), (half, half)] {
                self.write_node(s, x + dx, y + dy, log2 - 1, it);
            }
        } else {
            let cu = it.next().expect("peeked");
            self.write_cu(s, cu);
        }
    }

    /// Writes the mode syntax of an inter-frame CU up to (not including) its
    /// transform blocks, and records its motion in the maps.
    pub(super) fn write_inter_prefix<S: BinSink>(
        &mut self,
        s: &mut S,
        x: usize,
        y: usize,
        log2: u32,
        mode: &CuMode,
    ) {
        let c = partition::skip_ctx(&self.st, x, y);
        partition::write_skip(s, &mut self.ctx, c, matches!(mode, CuMode::Skip { .. }));
        match *mode {
            CuMode::Skip { merge_idx, .. } => {
                inter::write_merge_idx(s, &mut self.ctx, merge_idx as usize)
            }
            CuMode::Intra { .. } => partition::write_intra(s, &mut self.ctx, true),
            CuMode::Inter {
                motion,
                merge_idx,
                mvp,
                root_cbf,
            } => {
                partition::write_intra(s, &mut self.ctx, false);
                inter::write_merge(s, &mut self.ctx, merge_idx.is_some());
                if let Some(idx) = merge_idx {
                    inter::write_merge_idx(s, &mut self.ctx, idx as usize);
                } else {
                    self.write_explicit_motion(s, x, y, log2, &motion, mvp);
                }
                inter::write_root_cbf(s, &mut self.ctx, root_cbf);
            }
        }
    }

    pub(super) fn write_explicit_motion<S: BinSink>(
        &mut self,
        s: &mut S,
        x: usize,
        y: usize,
        log2: u32,
        m: &Motion,
        mvp: [u8; 2],
    ) {
        let lists = self.inter.as_ref().expect("inter frame").lists;
        if lists.is_b() {
            let dir = if m.uses(0) && m.uses(1) {
                2
            } else {
                m.uses(1) as u8
            };
            inter::write_inter_dir(s, &mut self.ctx, log2, dir);
        }
        for l in 0..2 {
            if !m.uses(l) {
                continue;
            }
            if lists.len[l] > 1 {
                inter::write_ref_idx(s, &mut self.ctx, m.ref_idx[l] as usize, lists.len[l]);
            }
            let pred =
                self.motion_env()
                    .expect("inter")
                    .amvp(x, y, 1 << log2, l, m.ref_idx[l] as usize)[mvp[l] as usize];
            let mvd = Mv {
                x: m.mv[l].x.wrapping_sub(pred.x),
                y: m.mv[l].y.wrapping_sub(pred.y),
            };
            inter::write_mvd(s, &mut self.ctx, mvd);
            inter::write_mvp(s, &mut self.ctx, mvp[l] as usize);
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
        let (x, y, log2) = (cu.x, cu.y, cu.log2);
        if self.inter.is_some() {
            self.write_inter_prefix(s, x, y, log2, &cu.mode);
        }
        let carries_residual = match cu.mode {
            CuMode::Intra { .. } => false, // after its modes, in write_intra_cu
            CuMode::Skip { .. } => false,
            CuMode::Inter { root_cbf, .. } => root_cbf,
        };
        if carries_residual {
            self.write_sb_qp_delta(s);
        }
        match cu.mode {
            CuMode::Intra {
                nxn,
                modes,
                chroma_index,
            } => self.write_intra_cu(s, cu, nxn, modes, chroma_index),
            CuMode::Skip { motion, .. } => {
                self.st.set_cu_maps(x, y, log2, log2.min(5));
                self.st.set_motion(x, y, log2, motion, true);
                self.st.set_coded(x, y, log2, false);
                self.st.set_mode(x, y, log2, intra::DC);
            }
            CuMode::Inter {
                motion, root_cbf, ..
            } => {
                let tu_log2 = log2.min(5);
                self.st.set_cu_maps(x, y, log2, tu_log2);
                self.st.set_motion(x, y, log2, motion, false);
                self.st.set_coded(x, y, log2, false);
                self.st.set_mode(x, y, log2, intra::DC);
                if root_cbf {
                    let n_luma = cu.tus.len() - 2;
                    let tu = 1usize << tu_log2;
                    let per = (1usize << log2) / tu;
                    let mut any = false;
                    for (i, t) in cu.tus.iter().enumerate() {
                        let (plane, log2n) = if i < n_luma {
                            (0, tu_log2)
                        } else {
                            (i - n_luma + 1, log2 - 1)
                        };
                        let cb_coded = plane == 2 && cu.tus[n_luma].cbf;
                        if plane < 2 || any {
                            transform::write_cbf(
                                s,
                                &mut self.ctx,
                                plane,
                                log2n,
                                log2n,
                                cb_coded,
                                t.cbf,
                            );
                        }
                        any |= t.cbf;
                        if t.cbf {
                            residual::write_residual(
                                s,
                                &mut self.ctx,
                                &t.levels,
                                log2n,
                                log2n,
                                plane > 0,
                                scan_for(1, log2n, log2n, plane > 0),
                            );
                        }
                        if plane == 0 {
                            self.st.set_coded(
                                x + (i % per) * tu,
                                y + (i / per) * tu,
                                tu_log2,
                                t.cbf,
                            );
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
        let (x, y, log2) = (cu.x, cu.y, cu.log2);
        if log2 == 3 {
            intra::write_nxn(s, &mut self.ctx, nxn);
        }
        let (parts, pu_log2) = if nxn { (4, 2) } else { (1, log2) };
        let tu_log2 = if nxn { 2 } else { log2.min(5) };
        for i in 0..parts {
            let (px, py) = (x + (i & 1) * 4, y + (i >> 1) * 4);
            let mpm = intra::mpm(&self.st, px, py);
            let nn_ctx = self.nn_intra_ctx(px, py, tu_log2);
            intra::write_intra_luma(s, &mut self.ctx, modes[i], &mpm, nn_ctx);
            self.st.set_mode(px, py, pu_log2, modes[i]);
        }
        intra::write_chroma_mode(s, &mut self.ctx, chroma_index);
        self.write_sb_qp_delta(s);
        self.st.set_cu_maps(x, y, log2, tu_log2);
        self.st.set_motion(x, y, log2, Motion::INTRA, false);
        let chroma_mode = chroma_candidates(modes[0])[chroma_index as usize];
        let n_luma = cu.tus.len() - 2;
        for (i, tu) in cu.tus.iter().enumerate() {
            let (plane, log2n, mode) = if i < n_luma {
                (0, tu_log2, modes[if nxn { i } else { 0 }])
            } else {
                (i - n_luma + 1, log2 - 1, chroma_mode)
            };
            if plane == 0 {
                let size = log2n as usize - 2;
                self.intra_modes.blocks[size] += 1;
                self.intra_modes.learned[size] += (mode == NN_MODE) as u32;
            }
            let cb_coded = plane == 2 && cu.tus[n_luma].cbf;
            transform::write_cbf(s, &mut self.ctx, plane, log2n, log2n, cb_coded, tu.cbf);
            if tu.cbf {
                residual::write_residual(
                    s,
                    &mut self.ctx,
                    &tu.levels,
                    log2n,
                    log2n,
                    plane > 0,
                    scan_for(mode, log2n, log2n, plane > 0),
                );
            }
        }
    }
}
