//! Coding of one frame: search and write its blocks, deblock, decide and
//! write the learned loop filter and the adaptive loop filter, and keep the
//! reconstruction as a reference.

use super::gop::FramePlan;
use super::packet::Packet;
use super::search::{FrameSearch, InterRefs, SearchParams};
use super::training::{ContextStats, FrameExtras, TrainingHooks};
use super::{EncoderConfig, Preset, KEYFRAME_DEBLOCK_OFFSET_WITH_NN_FILTER};
use crate::alf;
use crate::bitstream::{write_packet_headers, FrameHeader, FrameType, SequenceHeader};
use crate::cpu::CpuLevel;
use crate::entropy::Contexts;
use crate::inter::{col_field, RefLists, RefPicture};
use crate::intra::IntraPredictor;
use crate::loop_filter::{self, LoopFilter};
use crate::partition::SplitTools;
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
    if seq.tools.multi_type_tree {
        params.max_mtt_depth = max_mtt_depth(cfg.preset, plan.key);
    }
    params.implicit_mts = seq.tools.implicit_mts;

    let start = || Contexts::for_frame(cfg.trained_contexts, plan.key, plan.qp);
    let mut search = FrameSearch::new(&padded, params, inter, start());
    search.nn_intra = intra.cloned();
    search.cclm = seq.tools.cclm;
    search.dmvr = seq.tools.dmvr;
    search.bdof = seq.tools.bdof;
    search.history_merge = seq.tools.history_merge;
    search.mmvd = seq.tools.mmvd;
    search.amvr = seq.tools.amvr;
    search.smvd = seq.tools.smvd;
    if seq.tools.multi_type_tree {
        search.code_multi_type_trees(SplitTools::of(&seq.tools));
    }
    if seq.tools.sb_qp_delta {
        search.code_sb_qp_deltas(sb_qp_deltas(plan, w, h, cfg.bit_depth));
    }
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
    if seq.tools.alf {
        // After the learned filter, as the decoder runs it.
        let lambda = [0, 1, 2].map(|p| search.p.lambda_for(p));
        let f = alf::derive(&padded, &state.recon, lambda, cpu);
        alf::write(&mut enc, &f, alf::sb_grid(w, h).0);
        if f.any() {
            alf::apply(&mut state.recon, &f, cpu);
        }
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
        base_qp: plan.base_qp,
        temporal_layer: plan.layer as u8,
        intra_modes,
        buffer_level: None,
    };
    let extras = FrameExtras {
        deblocked,
        contexts,
    };
    (packet, extras, picture)
}

/// Each superblock's QP offset from the frame's: its block-importance
/// offset less the map's mean (which the frame QP holds already), kept
/// within the QP range; `None` where the frame has no map or every offset
/// is 0.
fn sb_qp_deltas(plan: &FramePlan, w: usize, h: usize, bit_depth: u8) -> Option<Vec<i8>> {
    let map = plan.importance.as_ref()?;
    let sb = 1usize << crate::picture::SB_LOG2;
    if map.len() != w.div_ceil(sb) * h.div_ceil(sb) {
        return None;
    }
    let mean = super::filtering::mean_offset(map);
    let (lo, hi) = (
        crate::bitstream::min_qp(bit_depth) as i32,
        crate::bitstream::MAX_QP as i32,
    );
    let deltas: Vec<i8> = map
        .iter()
        .map(|&m| {
            let qp = (plan.qp as i32 + m - mean).clamp(lo, hi);
            (qp - plan.qp as i32) as i8
        })
        .collect();
    deltas.iter().any(|&d| d != 0).then_some(deltas)
}

/// Deepest binary split the search tries below the quadtree, by preset and
/// frame type (keyframes deeper: VVenC's presets do the same).
fn max_mtt_depth(preset: Preset, key: bool) -> u32 {
    match (preset, key) {
        (Preset::Fast, true) => 1,
        (Preset::Fast, false) => 0,
        (Preset::Medium, true) => 2,
        (Preset::Medium, false) => 1,
        (Preset::Slow, true) => 3,
        (Preset::Slow, false) => 2,
    }
}

/// Search effort by preset.
fn apply_preset(p: &mut SearchParams, preset: Preset, layer: usize) {
    match preset {
        Preset::Fast => {
            p.rd_modes = [3, 3, 2, 2];
            p.merge_rd = 1;
            p.explicit_rd = 1;
            p.mmvd_rd_always = false;
            p.smvd_search = false;
            p.estimate_bdof = false;
            p.amvr_steps = 0;
            p.mmvd_distances = 4;
            p.bi_iterations = 0;
            p.me.range_min = 16;
            p.me.range_max = 64;
            p.me.range_per_picture = 8;
            p.me.raster_from = 0;
            p.me.quarter_square = false;
            p.intra_in_inter_bar = 3.0;
            p.nxn_in_inter = false;
            p.skip_stops_split = true;
            p.ternary_threshold = 0.95;
            p.max_ternary_depth = 0;
        }
        Preset::Medium => {
            // Measured on box/city (QP 32, 17 frames): merge_rd 2 -> 1 and an
            // intra bar of 2 lambda per sample cost under 0.03 dB for ~35% speed.
            p.rd_modes = [4, 4, 2, 2];
            p.merge_rd = 1;
            // A second searched motion and the best merge offset always get
            // a full check: -0.45 % for about 5 % of the encoder's time;
            // refining coarse-precision vectors by whole steps gained under
            // 0.1 % for 7 % (4 clips, 17 frames, QP 22-37, issue 29).
            p.amvr_steps = 0;
            // Ranking candidates without optical flow: +0.28 % Y for 14 %
            // less time (4 clips, 17 frames, QP 22-37, issue 30); medium keeps it.
            p.me.range_min = 32;
            p.me.range_max = 128;
            p.me.range_per_picture = 16;
            p.me.raster_from = 8;
            p.me.raster_step = 8;
            p.me.quarter_square = false;
            p.intra_in_inter_bar = 2.0;
            p.skip_stops_split = true;
            // Ternary splits of quadtree nodes only: deeper ones cost 3 % of
            // the encoder's time on box for little (measured at issue 28).
            p.ternary_threshold = 1.0;
            p.max_ternary_depth = 0;
        }
        Preset::Slow => {
            p.rd_modes = [8, 8, 3, 3];
            p.merge_rd = 3;
            p.explicit_rd = 3;
            p.mmvd_distances = 8;
            p.bi_iterations = 2;
            p.me.range_min = 64;
            p.me.range_max = 256;
            p.me.range_per_picture = 32;
            p.me.raster_from = 8;
            p.me.raster_step = 8;
            p.ternary_threshold = 1.075;
        }
    }
    let _ = layer;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::gop::{Held, QpRule};
    use crate::{Decoder, Encoder};

    /// A 128x64 frame whose two superblocks hold the same busy texture,
    /// shifted right by `shift` samples.
    fn twin_texture(shift: usize) -> Frame {
        let mut f = Frame::new_420(128, 64);
        for (pi, p) in f.planes.iter_mut().enumerate() {
            let w = p.width;
            for (i, v) in p.data.iter_mut().enumerate() {
                let (x, y) = (
                    (i % w + w - shift / (1 + (pi > 0) as usize)) % (w / 2),
                    i / w,
                );
                let h = (x * 7919 + y * 104_729 + pi * 31) as u32;
                *v = (((h ^ (h >> 7)).wrapping_mul(2_654_435_761) >> 25) % 160 + 48) as u16;
            }
        }
        f
    }

    fn sse_of_half(a: &Frame, b: &Frame, right: bool) -> u64 {
        let p = (&a.planes[0], &b.planes[0]);
        let x0 = if right { 64 } else { 0 };
        (0..64)
            .flat_map(|y| (x0..x0 + 64).map(move |x| y * 128 + x))
            .map(|i| (p.0.data[i] as i64 - p.1.data[i] as i64).pow(2) as u64)
            .sum()
    }

    /// Superblocks coded at their own QPs (section 4.8): a keyframe with
    /// deltas -6 and +6 and an inter frame with +4 and -4 decode to the
    /// encoder's reconstruction, and the superblock at the lower QP of the
    /// keyframe is the more faithful one although both hold the same texture.
    #[test]
    fn superblock_qps_code_and_decode() {
        let mut cfg = EncoderConfig::new(128, 64);
        cfg.nn_filter = false;
        assert!(!cfg.sb_qp_deltas, "off by default");
        cfg.sb_qp_deltas = true;
        let seq = Encoder::new(cfg.clone()).unwrap().sequence_header();
        assert!(seq.tools.sb_qp_delta, "the stream codes deltas");
        let lambda = |qp: i8| 0.57 * 2f64.powf((qp as f64 - 12.0) / 3.0);
        let cpu = CpuLevel::runtime();
        let key_src = twin_texture(0);
        let key = FramePlan {
            poc: 0,
            key: true,
            sequence_header: true,
            layer: 0,
            base_qp: 32,
            rule: QpRule::Key {
                qp_offset: 0,
                factor: 1.0,
                importance_offset: 0,
            },
            qp: 32,
            lambda: lambda(32),
            refs: Default::default(),
            store: Some(0),
            importance: Some(vec![-5, 7].into()),
        };
        let hooks = TrainingHooks::default();
        let (p0, _, pic0) = encode_frame(&cfg, hooks, &seq, &key, &key_src, cpu, None, None);
        let inter_src = twin_texture(3);
        let inter = FramePlan {
            poc: 1,
            key: false,
            sequence_header: false,
            layer: 1,
            base_qp: 32,
            rule: QpRule::LowDelay {
                offset: 2,
                factor: 1.0,
            },
            qp: 34,
            lambda: lambda(34),
            refs: [
                vec![Held {
                    slot: 0,
                    picture: pic0,
                    importance: None,
                }],
                vec![],
            ],
            store: None,
            importance: Some(vec![4, -4].into()),
        };
        let (p1, ..) = encode_frame(&cfg, hooks, &seq, &inter, &inter_src, cpu, None, None);
        let mut dec = Decoder::new(Default::default());
        for p in [&p0, &p1] {
            dec.send_packet(&p.data).unwrap();
        }
        dec.flush().unwrap();
        for p in [&p0, &p1] {
            let d = dec.receive_frame().expect("a frame");
            assert_eq!(d.frame, p.recon, "frame {}", p.frame_number);
        }
        // Map [-5, 7] has mean 1 (in the frame QP already): deltas -6 and +6.
        let (left, right) = (
            sse_of_half(&p0.recon, &key_src, false),
            sse_of_half(&p0.recon, &key_src, true),
        );
        assert!(4 * left < right, "QP 26 half {left}, QP 38 half {right}");
        // Without deltas the halves are alike.
        let flat = FramePlan {
            importance: None,
            ..key
        };
        let (q0, ..) = encode_frame(&cfg, hooks, &seq, &flat, &key_src, cpu, None, None);
        let (l, r) = (
            sse_of_half(&q0.recon, &key_src, false),
            sse_of_half(&q0.recon, &key_src, true),
        );
        assert!(l.abs_diff(r) * 4 < l + r, "flat halves {l} and {r}");
    }

    /// A delta that takes a superblock's QP outside the frame's range is
    /// refused by name (the encoder never writes one: this search is made to).
    #[test]
    fn superblock_qps_beyond_51_are_refused() {
        let mut cfg = EncoderConfig::new(128, 64);
        cfg.nn_filter = false;
        cfg.sb_qp_deltas = true;
        // The payload below is written by a quadtree search without the
        // adaptive loop filter's syntax or LM: the header must say so.
        cfg.multi_type_tree = false;
        cfg.alf = false;
        cfg.cclm = false;
        let seq = Encoder::new(cfg).unwrap().sequence_header();
        let src = twin_texture(0);
        let packet = |deltas: Vec<i8>| {
            let params = SearchParams::new(49, [0, 0], 8, CpuLevel::runtime(), true, 500.0);
            let mut search =
                FrameSearch::new(&src, params, None, Contexts::for_frame(true, true, 49));
            search.code_sb_qp_deltas(Some(deltas));
            let payload = search.encode_blocks().finish();
            let mut data = write_packet_headers(Some(&seq), &FrameHeader::key(0, 49));
            data.extend_from_slice(&payload);
            let mut dec = Decoder::new(Default::default());
            dec.send_packet(&data)?;
            dec.flush()
        };
        assert!(packet(vec![-3, 2]).is_ok());
        let err = packet(vec![-3, 3]).unwrap_err().to_string();
        assert!(err.contains("sb_qp_delta"), "{err}");
    }
}
