//! The decoding process of the loop filter (`docs/bitstream.md` 7.1): each
//! plane whose kind is on runs its network, and the correction, scaled by
//! the frame's scale, replaces the samples of the superblocks that are on.

use super::model::{network_sample, regions_on, Region, STRIP_BUDGET};
use super::*;

/// Number of correction scales.
pub const NUM_SCALES: u8 = 8;

/// Scale `scale_idx` in eighths: 3/8 .. 10/8 (`scale_idx = 5` is the network's own output).
pub fn scale_eighths(scale_idx: u8) -> i32 {
    scale_idx as i32 + 3
}

/// The deblocked sample `r` moved towards the network's output `f` by the scale.
/// At 10 bits the correction is the network's output less its (8-bit) input,
/// scaled up: `r` keeps its own low bits.
#[inline]
pub(super) fn scaled(r: u16, f: u8, eighths: i32, bit_depth: u8) -> u16 {
    let shift = bit_depth - 8;
    let corr = f as i32 - network_sample(r, bit_depth) as i32;
    let max = (1i32 << bit_depth) - 1;
    (r as i32 + ((((eighths * corr) << shift) + 4) >> 3)).clamp(0, max) as u16
}

/// Runs the filter on the planes whose kind is switched on (`on`), each
/// kind with its set of networks (`set`), returning the filtered planes
/// (None where off).
/// The filtered planes of the kinds that are `on`, whole (what the encoder
/// needs to decide where the filter pays) or, given the superblock flags
/// `sb_on`, only in the superblocks that are on (what a decoder needs; the
/// rest of each plane is 0).
pub(crate) fn filter_frame(
    filter: &LoopFilter,
    recon: &Frame,
    on: [bool; 2],
    set: [u8; 2],
    sb_on: Option<&[Vec<bool>; 2]>,
    fh: &FrameHeader,
    cpu: CpuLevel,
) -> [Option<Vec<u8>>; 3] {
    let mut out: [Option<Vec<u8>>; 3] = Default::default();
    let key = fh.frame_type == FrameType::Key;
    let (cols, _) = sb_grid(recon.planes[0].width, recon.planes[0].height);
    for (p, o) in out.iter_mut().enumerate() {
        let kind = (p > 0) as usize;
        if on[kind] {
            let offset = if p == 0 {
                0
            } else {
                fh.chroma_qp_offset[p - 1]
            };
            let side = side_info(fh.qp, offset, p, key);
            let plane = &recon.planes[p];
            let regions = match sb_on {
                None => vec![Region::whole(plane)],
                Some(sb_on) => regions_on(plane, p, &sb_on[kind], cols),
            };
            let which = (key, p > 0, set[kind] as usize);
            let bd = recon.bit_depth;
            *o = Some(filter.filter_regions(plane, bd, side, which, cpu, STRIP_BUDGET, &regions));
        }
    }
    out
}

/// Rectangle of superblock `i` in plane `p` (chroma halves the luma sizes).
pub(super) fn sb_rect(
    plane: &Plane,
    p: usize,
    cols: usize,
    i: usize,
) -> (usize, usize, usize, usize) {
    let s = if p == 0 { SB } else { SB / 2 };
    let (x0, y0) = ((i % cols) * s, (i / cols) * s);
    let x1 = (x0 + s).min(plane.width);
    let y1 = (y0 + s).min(plane.height);
    (x0, y0, x1, y1)
}

/// Copies the filtered samples of the superblocks that are on into `recon`.
pub(crate) fn apply(recon: &mut Frame, filtered: &[Option<Vec<u8>>; 3], f: &FilterFlags) {
    let (cols, _) = sb_grid(recon.planes[0].width, recon.planes[0].height);
    for (p, fp) in filtered.iter().enumerate() {
        let (Some(fp), kind) = (fp, (p > 0) as usize) else {
            continue;
        };
        if !f.on[kind] {
            continue;
        }
        let plane = &mut recon.planes[p];
        for (i, &on) in f.sb[kind].iter().enumerate() {
            if !on {
                continue;
            }
            let (x0, y0, x1, y1) = sb_rect(plane, p, cols, i);
            let w = plane.width;
            let eighths = scale_eighths(f.scale[kind]);
            let bd = recon.bit_depth;
            for y in y0..y1 {
                let (dst, src) = (
                    &mut plane.data[y * w + x0..y * w + x1],
                    &fp[y * w + x0..y * w + x1],
                );
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = scaled(*d, v, eighths, bd);
                }
            }
        }
    }
}
