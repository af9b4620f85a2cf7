//! The picture being reconstructed and the maps its neighbours read (modes,
//! CU and TU sizes, motion, skip and coded flags), shared by the encoder and
//! the decoder. Every coding tool reads and writes this state; it knows no
//! tool: the derivations from it (most probable modes, contexts, merge
//! candidates) live with the tool that owns them.

use super::frame::{Frame, Plane};
use super::motion::Motion;

/// Superblock size (log2, luma samples).
pub const SB_LOG2: u32 = 6;

/// Luma mode number the mode map starts with (DC, section 5); every unit is
/// written before a neighbour reads it.
const INITIAL_LUMA_MODE: u8 = 1;

/// The picture being reconstructed and the per-block maps its neighbours read.
#[derive(Clone)]
pub struct PicState {
    /// Reconstruction at the coded size (multiple of 8).
    pub recon: Frame,
    /// Luma intra mode per 4x4 unit.
    pub luma_modes: Vec<u8>,
    /// CU width (log2) per 8x8 unit.
    pub cu_w_log2: Vec<u8>,
    /// CU height (log2) per 8x8 unit.
    pub cu_h_log2: Vec<u8>,
    /// Which edges of each 8x8 unit start a block ([`EDGE_TU_V`] and the
    /// other `EDGE_` bits): what deblocking filters.
    pub edges: Vec<u8>,
    /// Whether each 4x4 luma unit has been reconstructed (availability).
    pub decoded: Vec<bool>,
    /// Motion per 8x8 unit (intra units hold [`Motion::INTRA`]).
    pub motion: Vec<Motion>,
    /// Skip flag per 8x8 unit.
    pub skip: Vec<bool>,
    /// Whether the luma transform block covering each 8x8 unit has coefficients.
    pub coded: Vec<bool>,
    /// QP per superblock in raster order, as deblocking sees it
    /// (`docs/bitstream.md` 4.8); empty: every superblock at the frame QP.
    pub sb_qp: Vec<i8>,
    /// The motion of the last inter CUs in coding order, oldest first, since
    /// the start of the superblock row (history-based merge candidates,
    /// `docs/bitstream.md` 4.7).
    pub history: Vec<Motion>,
    /// Coded width and height.
    pub w: usize,
    /// Coded height.
    pub h: usize,
}

/// Bit of [`PicState::edges`]: the unit's left edge is a luma transform block edge.
pub const EDGE_TU_V: u8 = 1;
/// Bit of [`PicState::edges`]: the unit's top edge is a luma transform block edge.
pub const EDGE_TU_H: u8 = 2;
/// Bit of [`PicState::edges`]: the unit's left edge is a coding unit edge.
pub const EDGE_CU_V: u8 = 4;
/// Bit of [`PicState::edges`]: the unit's top edge is a coding unit edge.
pub const EDGE_CU_H: u8 = 8;

/// Z-order index of a 4x4 unit inside its superblock.
#[inline]
fn morton(x4: usize, y4: usize) -> usize {
    let mut m = 0;
    for b in 0..4 {
        m |= ((x4 >> b) & 1) << (2 * b) | ((y4 >> b) & 1) << (2 * b + 1);
    }
    m
}

impl PicState {
    /// A blank state for a picture of coded size `w` x `h` (multiples of 8).
    pub fn new(w: usize, h: usize, bit_depth: u8) -> PicState {
        PicState {
            recon: Frame::new_420_at(w, h, bit_depth),
            luma_modes: vec![INITIAL_LUMA_MODE; (w / 4) * (h / 4)],
            cu_w_log2: vec![0; (w / 8) * (h / 8)],
            cu_h_log2: vec![0; (w / 8) * (h / 8)],
            edges: vec![0; (w / 8) * (h / 8)],
            decoded: vec![false; (w / 4) * (h / 4)],
            motion: vec![Motion::INTRA; (w / 8) * (h / 8)],
            skip: vec![false; (w / 8) * (h / 8)],
            coded: vec![false; (w / 8) * (h / 8)],
            sb_qp: Vec::new(),
            history: Vec::new(),
            w,
            h,
        }
    }

    /// Superblocks per row.
    pub fn sb_cols(&self) -> usize {
        self.w.div_ceil(1 << SB_LOG2)
    }

    /// The QP of the superblock holding luma sample (`x`, `y`), `frame_qp`
    /// where the frame keeps one QP.
    #[inline]
    pub fn qp_at(&self, x: usize, y: usize, frame_qp: i8) -> i8 {
        if self.sb_qp.is_empty() {
            frame_qp
        } else {
            self.sb_qp[(y >> SB_LOG2) * self.sb_cols() + (x >> SB_LOG2)]
        }
    }

    /// Whether the luma sample at (`xn`, `yn`) has been reconstructed (is
    /// inside the picture and its block is decoded): blocks are
    /// reconstructed in coding order and mark the luma they reconstruct
    /// ([`Self::put_block`]), so a block asking needs to say nothing more.
    #[inline]
    pub fn available(&self, xn: isize, yn: isize) -> bool {
        xn >= 0
            && yn >= 0
            && (xn as usize) < self.w
            && (yn as usize) < self.h
            && self.decoded[(yn as usize / 4) * (self.w / 4) + xn as usize / 4]
    }

    /// Writes `block` (`w*h`) into `plane` at (`x`, `y`); luma writes mark
    /// the area reconstructed for [`Self::available`].
    pub fn put_block(
        &mut self,
        plane: usize,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        block: &[u16],
    ) {
        let p = &mut self.recon.planes[plane];
        for r in 0..h {
            let o = (y + r) * p.width + x;
            p.data[o..o + w].copy_from_slice(&block[r * w..r * w + w]);
        }
        if plane == 0 {
            self.set_decoded(x, y, w, h, true);
        }
    }

    /// Marks a luma area (multiples of 4) reconstructed or not.
    pub fn set_decoded(&mut self, x: usize, y: usize, w: usize, h: usize, decoded: bool) {
        let w4 = self.w / 4;
        for r in y / 4..(y + h) / 4 {
            self.decoded[r * w4 + x / 4..][..w / 4].fill(decoded);
        }
    }

    /// Records a CU's size and its luma transform blocks (`tw` x `th`
    /// tiles, at least 8 for the edge map: 4x4 parts are not deblocked) in
    /// the maps.
    pub fn set_cu_maps(&mut self, x: usize, y: usize, w: usize, h: usize, tw: usize, th: usize) {
        let w8 = self.w / 8;
        let (tw, th) = (tw.max(8), th.max(8));
        for r in 0..h / 8 {
            for c in 0..w / 8 {
                let i = (y / 8 + r) * w8 + x / 8 + c;
                self.cu_w_log2[i] = w.trailing_zeros() as u8;
                self.cu_h_log2[i] = h.trailing_zeros() as u8;
                let (dx, dy) = (8 * c, 8 * r);
                let bit = |on: bool, b: u8| if on { b } else { 0 };
                self.edges[i] = bit(dx % tw == 0, EDGE_TU_V)
                    | bit(dy % th == 0, EDGE_TU_H)
                    | bit(dx == 0, EDGE_CU_V)
                    | bit(dy == 0, EDGE_CU_H);
            }
        }
    }

    /// Fills a region (luma position and size, at least 8x8) of an 8x8-unit map.
    fn fill_units<T: Copy>(map: &mut [T], w8: usize, x: usize, y: usize, w: usize, h: usize, v: T) {
        let n8 = w.max(8) / 8;
        for r in 0..h.max(8) / 8 {
            let o = (y / 8 + r) * w8 + x / 8;
            map[o..o + n8].fill(v);
        }
    }

    /// Records the motion and skip flag of a CU.
    pub fn set_motion(&mut self, x: usize, y: usize, w: usize, h: usize, m: Motion, skip: bool) {
        let w8 = self.w / 8;
        Self::fill_units(&mut self.motion, w8, x, y, w, h, m);
        Self::fill_units(&mut self.skip, w8, x, y, w, h, skip);
    }

    /// Records whether a luma transform block has coefficients.
    pub fn set_coded(&mut self, x: usize, y: usize, w: usize, h: usize, coded: bool) {
        let w8 = self.w / 8;
        Self::fill_units(&mut self.coded, w8, x, y, w, h, coded);
    }

    /// Records a luma mode for a `w x h` region.
    pub fn set_mode(&mut self, x: usize, y: usize, w: usize, h: usize, mode: u8) {
        let w4 = self.w / 4;
        for r in 0..h / 4 {
            let o = (y / 4 + r) * w4 + x / 4;
            self.luma_modes[o..o + w / 4].fill(mode);
        }
    }
}

/// Whether the luma sample at (`xn`, `yn`) of a picture of coded size
/// `coded` is reconstructed before the block whose top-left luma sample is
/// (`cx`, `cy`) in a picture split by the quadtree alone (square blocks in
/// superblock raster order and z-order inside): a comparison of positions.
/// For tools that see reconstructions without their coding structure (the
/// learned predictor's training sets); the codec uses
/// [`PicState::available`], which equals it for quadtree partitions.
#[inline]
pub fn available(coded: (usize, usize), xn: isize, yn: isize, cx: usize, cy: usize) -> bool {
    if xn < 0 || yn < 0 || xn as usize >= coded.0 || yn as usize >= coded.1 {
        return false;
    }
    let (xn, yn) = (xn as usize, yn as usize);
    let (sbn, sbc) = (
        (yn >> SB_LOG2, xn >> SB_LOG2),
        (cy >> SB_LOG2, cx >> SB_LOG2),
    );
    if sbn != sbc {
        return sbn < sbc;
    }
    let mask = (1 << SB_LOG2) - 1;
    morton((xn & mask) >> 2, (yn & mask) >> 2) < morton((cx & mask) >> 2, (cy & mask) >> 2)
}

/// Crops a coded-size frame to the visible size.
pub fn crop(frame: &Frame, width: usize, height: usize) -> Frame {
    let mut out = Frame::new_420_at(width, height, frame.bit_depth);
    for (dst, src) in out.planes.iter_mut().zip(frame.planes.iter()) {
        crop_plane(src, dst);
    }
    out
}

fn crop_plane(src: &Plane, dst: &mut Plane) {
    for y in 0..dst.height {
        let w = dst.width;
        dst.data[y * w..y * w + w].copy_from_slice(&src.data[y * src.width..y * src.width + w]);
    }
}

/// Copies the `w x h` block at (dx, dy) of a block `s` samples wide into
/// `out` (`w*h`, row-major).
pub fn sub_block(src: &[u16], s: usize, dx: usize, dy: usize, w: usize, h: usize, out: &mut [u16]) {
    for r in 0..h {
        out[r * w..(r + 1) * w].copy_from_slice(&src[(dy + r) * s + dx..][..w]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// Random quadtree leaves (x, y, side) of a superblock at (sx, sy), in
    /// coding (z-) order; 8x8 leaves are sometimes four 4x4 parts.
    fn quadtree(
        rng: &mut SmallRng,
        x: usize,
        y: usize,
        n: usize,
        out: &mut Vec<(usize, usize, usize)>,
    ) {
        if n > 4 && (n == 64 || rng.gen_bool(0.6)) {
            let h = n / 2;
            for (dx, dy) in [(0, 0), (h, 0), (0, h), (h, h)] {
                quadtree(rng, x + dx, y + dy, h, out);
            }
        } else {
            out.push((x, y, n));
        }
    }

    /// For quadtree partitions the decoded map gives exactly the position
    /// comparison of z-order: every sample around every block of random
    /// trees (a 3x2-superblock picture with a partial last column) is
    /// available by one rule iff by the other, asked before the block is
    /// reconstructed.
    #[test]
    fn decoded_map_equals_z_order_for_quadtrees() {
        let mut rng = SmallRng::seed_from_u64(5);
        let (w, h) = (168, 128);
        for _ in 0..4 {
            let mut st = PicState::new(w, h, 8);
            let mut blocks = Vec::new();
            for sy in (0..h).step_by(64) {
                for sx in (0..w).step_by(64) {
                    quadtree(&mut rng, sx, sy, 64, &mut blocks);
                }
            }
            let mut checked = 0;
            for &(x, y, n) in blocks.iter().filter(|b| b.0 < w && b.1 < h) {
                let ni = n as isize;
                for j in -1..2 * ni {
                    for (xn, yn) in [
                        (x as isize - 1, y as isize + j),
                        (x as isize + j, y as isize - 1),
                    ] {
                        assert_eq!(
                            st.available(xn, yn),
                            available((w, h), xn, yn, x, y),
                            "({xn}, {yn}) from the {n}x{n} block at ({x}, {y})"
                        );
                        checked += 1;
                    }
                }
                let n_in = n.min(w - x);
                st.put_block(0, x, y, n_in, n, &vec![0; n_in * n]);
            }
            assert!(checked > 2_000, "{checked}");
        }
    }

    /// A binary split's second half sees the first half whole, and the
    /// first half sees nothing of the second: what z-order gets wrong for
    /// a vertical split (the left half's lower rows come after the right
    /// half's top in z-order).
    #[test]
    fn decoded_map_follows_binary_splits() {
        let mut st = PicState::new(64, 64, 8);
        // A 32x32 node split vertically: left 16x32 first.
        assert!(!st.available(15, 31));
        st.put_block(0, 0, 0, 16, 32, &[0; 16 * 32]);
        assert!(
            st.available(15, 31),
            "the left half's bottom row is decoded"
        );
        assert!(
            !available((64, 64), 15, 31, 16, 0),
            "z-order says it is not"
        );
        assert!(!st.available(16, 0));
        st.set_decoded(0, 0, 16, 32, false);
        assert!(!st.available(0, 0), "an encoder's undo clears the area");
    }
}
