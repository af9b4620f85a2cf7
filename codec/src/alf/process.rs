//! The decoding process of the adaptive loop filter (`docs/bitstream.md`
//! 7.2): each plane that is on is filtered in its superblocks that are on,
//! every output sample computed from the unfiltered plane; luma with the
//! filter of each 4x4 block's class, its taps transposed by the block's
//! direction.

use super::*;
use crate::dsp::alf;

/// Filters `recon` in place where `f` says.
pub(crate) fn apply(recon: &mut Frame, f: &AlfFrame, cpu: CpuLevel) {
    let (cols, _) = sb_grid(recon.planes[0].width, recon.planes[0].height);
    let bd = recon.bit_depth as u32;
    for p in 0..3 {
        let Some(coeffs) = &f.coeffs[p] else {
            continue;
        };
        if !f.sb[p].contains(&true) {
            continue;
        }
        let plane = &mut recon.planes[p];
        let (w, h) = (plane.width, plane.height);
        let src = alf::padded(&plane.data, w, h);
        let sets = if p == 0 {
            luma_sets(coeffs, &f.luma_map)
        } else {
            coeffs.clone()
        };
        let mut blocks = [0u8; (SB / 4) * (SB / 4)];
        for (i, _) in f.sb[p].iter().enumerate().filter(|(_, &on)| on) {
            let rect = sb_rect(p, w, h, cols, i);
            let blocks = (p == 0).then(|| {
                alf::classify(&src, w, rect, bd, &mut blocks, cpu);
                &blocks[..]
            });
            alf::filter(
                &src,
                &mut plane.data,
                w,
                rect,
                taps(p),
                &sets,
                blocks,
                bd,
                cpu,
            );
        }
    }
}
