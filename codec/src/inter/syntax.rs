//! Inter coding unit syntax (`docs/bitstream.md` 4.6): merge flag and
//! index, prediction direction, reference indices, motion vector
//! differences, predictor flags and the root coded-block flag.

use super::mvp::MERGE_CANDIDATES;
use crate::entropy::{read_exp_golomb, write_exp_golomb, BinSink, Contexts, RangeDecoder};
use crate::picture::Mv;

/// merge_flag.
pub fn write_merge<S: BinSink>(s: &mut S, ctx: &mut Contexts, merge: bool) {
    s.encode(&mut ctx.merge[0], merge);
}

/// Reads merge_flag.
pub fn read_merge(d: &mut RangeDecoder, ctx: &mut Contexts) -> bool {
    d.decode(&mut ctx.merge[0])
}

/// merge_idx: truncated unary, first bin context coded.
pub fn write_merge_idx<S: BinSink>(s: &mut S, ctx: &mut Contexts, idx: usize) {
    for i in 0..MERGE_CANDIDATES - 1 {
        let bin = idx > i;
        if i == 0 {
            s.encode(&mut ctx.merge_idx[0], bin);
        } else {
            s.bypass(bin);
        }
        if !bin {
            break;
        }
    }
}

/// Reads merge_idx.
pub fn read_merge_idx(d: &mut RangeDecoder, ctx: &mut Contexts) -> usize {
    let mut idx = 0;
    while idx < MERGE_CANDIDATES - 1 {
        let bin = if idx == 0 {
            d.decode(&mut ctx.merge_idx[0])
        } else {
            d.bypass()
        };
        if !bin {
            break;
        }
        idx += 1;
    }
    idx
}

/// Context of the bi-prediction flag: the CU's size class, log2 of
/// sqrt(w * h) rounded down, 8..64.
fn inter_dir_ctx(w: usize, h: usize) -> usize {
    let log2 = (w.trailing_zeros() + h.trailing_zeros()) / 2;
    (log2.clamp(3, 6) - 3) as usize
}

/// Prediction direction of a B-frame CU: 0 list 0, 1 list 1, 2 both.
pub fn write_inter_dir<S: BinSink>(s: &mut S, ctx: &mut Contexts, w: usize, h: usize, dir: u8) {
    s.encode(&mut ctx.inter_dir[inter_dir_ctx(w, h)], dir == 2);
    if dir != 2 {
        s.encode(&mut ctx.inter_dir[4], dir == 1);
    }
}

/// Reads the prediction direction (0 list 0, 1 list 1, 2 both).
pub fn read_inter_dir(d: &mut RangeDecoder, ctx: &mut Contexts, w: usize, h: usize) -> u8 {
    if d.decode(&mut ctx.inter_dir[inter_dir_ctx(w, h)]) {
        2
    } else {
        d.decode(&mut ctx.inter_dir[4]) as u8
    }
}

/// ref_idx among `count` (>= 2) references: truncated unary.
pub fn write_ref_idx<S: BinSink>(s: &mut S, ctx: &mut Contexts, idx: usize, count: usize) {
    for i in 0..count - 1 {
        let bin = idx > i;
        if i < 2 {
            s.encode(&mut ctx.ref_idx[i], bin);
        } else {
            s.bypass(bin);
        }
        if !bin {
            break;
        }
    }
}

/// Reads ref_idx among `count` (>= 2) references.
pub fn read_ref_idx(d: &mut RangeDecoder, ctx: &mut Contexts, count: usize) -> usize {
    let mut idx = 0;
    while idx < count - 1 {
        let bin = if idx < 2 {
            d.decode(&mut ctx.ref_idx[idx])
        } else {
            d.bypass()
        };
        if !bin {
            break;
        }
        idx += 1;
    }
    idx
}

/// A motion vector difference.
pub fn write_mvd<S: BinSink>(s: &mut S, ctx: &mut Contexts, mvd: Mv) {
    let (ax, ay) = (mvd.x.unsigned_abs() as u32, mvd.y.unsigned_abs() as u32);
    s.encode(&mut ctx.mvd[0], ax > 0);
    s.encode(&mut ctx.mvd[0], ay > 0);
    if ax > 0 {
        s.encode(&mut ctx.mvd[1], ax > 1);
    }
    if ay > 0 {
        s.encode(&mut ctx.mvd[1], ay > 1);
    }
    for (a, neg) in [(ax, mvd.x < 0), (ay, mvd.y < 0)] {
        if a > 0 {
            if a > 1 {
                write_exp_golomb(s, a - 2, 1);
            }
            s.bypass(neg);
        }
    }
}

/// Reads a motion vector difference (components as i32; the caller checks range).
pub fn read_mvd(d: &mut RangeDecoder, ctx: &mut Contexts) -> Option<(i32, i32)> {
    let gx = d.decode(&mut ctx.mvd[0]);
    let gy = d.decode(&mut ctx.mvd[0]);
    let g1x = gx && d.decode(&mut ctx.mvd[1]);
    let g1y = gy && d.decode(&mut ctx.mvd[1]);
    let mut out = [0i32; 2];
    for (i, (g0, g1)) in [(gx, g1x), (gy, g1y)].into_iter().enumerate() {
        if g0 {
            let a = if g1 {
                2 + read_exp_golomb(d, 1)? as i32
            } else {
                1
            };
            out[i] = if d.bypass() { -a } else { a };
        }
    }
    Some((out[0], out[1]))
}

/// mvp_flag: which of the two predictors.
pub fn write_mvp<S: BinSink>(s: &mut S, ctx: &mut Contexts, idx: usize) {
    s.encode(&mut ctx.mvp[0], idx == 1);
}

/// Reads mvp_flag.
pub fn read_mvp(d: &mut RangeDecoder, ctx: &mut Contexts) -> usize {
    d.decode(&mut ctx.mvp[0]) as usize
}

/// root_cbf: whether an inter CU has any residual.
pub fn write_root_cbf<S: BinSink>(s: &mut S, ctx: &mut Contexts, cbf: bool) {
    s.encode(&mut ctx.root_cbf[0], cbf);
}

/// Reads root_cbf.
pub fn read_root_cbf(d: &mut RangeDecoder, ctx: &mut Contexts) -> bool {
    d.decode(&mut ctx.root_cbf[0])
}
