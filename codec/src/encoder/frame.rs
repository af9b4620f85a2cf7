//! Coding of one frame: search and write its blocks, deblock, decide and
//! write the learned loop filter, and keep the reconstruction as a
//! reference.

use super::gop::FramePlan;
use super::packet::Packet;
use super::search::{FrameSearch, InterRefs, SearchParams};
use super::training::{ContextStats, FrameExtras, TrainingHooks};
use super::{EncoderConfig, Preset, KEYFRAME_DEBLOCK_OFFSET_WITH_NN_FILTER};
use crate::bitstream::{write_packet_headers, FrameHeader, FrameType, SequenceHeader};
use crate::cpu::CpuLevel;
use crate::entropy::Contexts;
use crate::inter::{col_field, RefLists, RefPicture};
use crate::intra::IntraPredictor;
use crate::loop_filter::{self, LoopFilter};
use crate::picture::{crop, Frame};
use std::sync::Arc;

/// Pads a frame to the coded size by repeating its last column and row.
fn pad_frame(src: &Frame, w: usize, h: usize) -> Frame {
    let mut out = Frame::new_420_at(w, h, src.bit_depth);
    for (dst, s) in out.planes.iter_mut().zip(src.planes.iter()) {
        for y in 0..dst.height {
            let sy = y.min(s.height - 1);
            let srow = &s.data[sy * s.width..][..s.width];
            let drow = &mut dst.data[y * dst.width..][..dst.width];
            drow[..s.width].copy_from_slice(srow);
            let last = srow[s.width - 1];
            drow[s.width..].fill(last);
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
pub(super) fn encode_frame(
    cfg: &EncoderConfig,
    hooks: TrainingHooks,
    seq: &SequenceHeader,
    plan: &FramePlan,
    frame: &Frame,
    cpu: CpuLevel,
    filter: Option<&LoopFilter>,
    intra: Option<&Arc<IntraPredictor>>,
) -> (Packet, FrameExtras, Arc<RefPicture>) {
    let (w, h) = (seq.coded_width(), seq.coded_height());
    let padded = pad_frame(frame, w, h);
    let mut fh = FrameHeader {
        chroma_qp_offset: [cfg.chroma_qp_offset; 2],
        deblock: cfg.deblock,
        ..FrameHeader::key(plan.poc, plan.qp)
    };
    if cfg.deblock {
        let learned_filter_key = plan.key && filter.is_some();
        let offset = cfg.deblock_offset.unwrap_or(if learned_filter_key {
            KEYFRAME_DEBLOCK_OFFSET_WITH_NN_FILTER
        } else {
            0
        });
        fh.deblock_beta_offset = offset;
        fh.deblock_tc_offset = offset;
    }
    let mut lists = RefLists {
        cur_poc: plan.poc as i64,
        ..Default::default()
    };
    let inter = if plan.key {
        None
    } else {
        fh.frame_type = FrameType::Inter;
        fh.refresh_slots = plan.store.map_or(0, |s| 1 << s);
        let mut refs: [Vec<Arc<RefPicture>>; 2] = Default::default();
        for l in 0..2 {
            fh.num_refs[l] = plan.refs[l].len() as u8;
            lists.len[l] = plan.refs[l].len();
            for (i, held) in plan.refs[l].iter().enumerate() {
                fh.ref_slots[l][i] = held.slot as u8;
                lists.poc[l][i] = held.picture.poc;
                refs[l].push(held.picture.clone());
            }
        }
        let col = if lists.len[1] > 0 {
            refs[1][0].motion.clone()
        } else {
            refs[0][0].motion.clone()
        };
        Some(InterRefs {
            refs,
            lists,
            col: Some(col),
        })
    };
    let mut params = SearchParams::new(
        plan.qp,
        fh.chroma_qp_offset,
        cfg.bit_depth,
        cpu,
        cfg.rdoq,
        plan.lambda,
    );
    apply_preset(&mut params, cfg.preset, plan.layer);
    let start = || Contexts::for_frame(cfg.trained_contexts, plan.key, plan.qp);
    let mut search = FrameSearch::new(&padded, params, inter, start());
    search.nn_intra = intra.cloned();
    let mut enc = search.encode_blocks();
    let intra_modes = search.intra_modes;
    let mut state = search.st;
    if fh.deblock {
        crate::deblock::deblock_frame(&mut state, &fh, &lists, cpu);
    }
    let deblocked = hooks
        .keep_deblocked
        .then(|| crop(&state.recon, cfg.width, cfg.height));
    if let Some(filter) = filter {
        let lambda = [search.p.lambda, search.p.lambda_for(1)];
        let (flags, filtered) = loop_filter::filter_and_decide(
            filter,
            &padded,
            &state.recon,
            &fh,
            lambda,
            &search.ctx,
            // A second set of networks doubles the encoder's filtering of
            // the planes it covers; the fast preset keeps to the first.
            cfg.preset != Preset::Fast,
            cpu,
        );
        let (cols, _) = loop_filter::sb_grid(w, h);
        loop_filter::write_flags(&mut enc, &mut search.ctx, &flags, filter.sets(), cols);
        loop_filter::apply(&mut state.recon, &filtered, &flags);
        fh.nn_filter = flags.on;
        fh.nn_filter_scale = flags.scale;
    }
    let contexts = hooks
        .keep_context_stats
        .then(|| ContextStats::new(plan.key, plan.qp, &start(), &search.ctx));
    let payload = enc.finish();
    let col = Arc::new(col_field(&state, &lists));
    let picture = Arc::new(RefPicture::new(plan.poc as i64, &state.recon, col));
    let mut data = write_packet_headers(plan.sequence_header.then_some(seq), &fh);
    data.extend_from_slice(&payload);
    let packet = Packet {
        data,
        frame_number: plan.poc,
        keyframe: plan.key,
        random_access: plan.sequence_header,
        recon: crop(&state.recon, cfg.width, cfg.height),
        qp: plan.qp,
        intra_modes,
    };
    let extras = FrameExtras {
        deblocked,
        contexts,
    };
    (packet, extras, picture)
}

/// Search effort by preset.
fn apply_preset(p: &mut SearchParams, preset: Preset, layer: usize) {
    match preset {
        Preset::Fast => {
            p.rd_modes = [3, 3, 2, 2];
            p.merge_rd = 1;
            p.me.range_min = 16;
            p.me.range_max = 64;
            p.me.range_per_picture = 8;
            p.me.raster_from = 0;
            p.me.quarter_square = false;
            p.intra_in_inter_bar = 3.0;
            p.nxn_in_inter = false;
            p.skip_stops_split = true;
        }
        Preset::Medium => {
            // Measured on box/city (QP 32, 17 frames): merge_rd 2 -> 1 and an
            // intra bar of 2 lambda per sample cost under 0.03 dB for ~35% speed.
            p.rd_modes = [4, 4, 2, 2];
            p.merge_rd = 1;
            p.me.range_min = 32;
            p.me.range_max = 128;
            p.me.range_per_picture = 16;
            p.me.raster_from = 8;
            p.me.raster_step = 8;
            p.me.quarter_square = false;
            p.intra_in_inter_bar = 2.0;
            p.skip_stops_split = true;
        }
        Preset::Slow => {
            p.rd_modes = [8, 8, 3, 3];
            p.merge_rd = 3;
            p.me.range_min = 64;
            p.me.range_max = 256;
            p.me.range_per_picture = 32;
            p.me.raster_from = 8;
            p.me.raster_step = 8;
        }
    }
    let _ = layer;
}
