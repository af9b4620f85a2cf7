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
    /// CU size (log2) per 8x8 unit.
    pub cu_log2: Vec<u8>,
    /// Luma transform size (log2) per 8x8 unit (2 for 8x8 CUs split in four).
    pub tu_log2: Vec<u8>,
    /// Motion per 8x8 unit (intra units hold [`Motion::INTRA`]).
    pub motion: Vec<Motion>,
    /// Skip flag per 8x8 unit.
    pub skip: Vec<bool>,
    /// Whether the luma transform block covering each 8x8 unit has coefficients.
    pub coded: Vec<bool>,
    /// QP per superblock in raster order, as deblocking sees it
    /// (`docs/bitstream.md` 4.8); empty: every superblock at the frame QP.
    pub sb_qp: Vec<i8>,
    /// Coded width and height.
    pub w: usize,
    /// Coded height.
    pub h: usize,
}

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
            cu_log2: vec![0; (w / 8) * (h / 8)],
            tu_log2: vec![0; (w / 8) * (h / 8)],
            motion: vec![Motion::INTRA; (w / 8) * (h / 8)],
            skip: vec![false; (w / 8) * (h / 8)],
            coded: vec![false; (w / 8) * (h / 8)],
            sb_qp: Vec::new(),
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

    /// Whether the luma sample at (`xn`, `yn`) is reconstructed before the
    /// block whose top-left luma sample is (`cx`, `cy`). Blocks are aligned
    /// squares coded in superblock raster order and z-order inside, so this
    /// is a comparison of positions.
    #[inline]
    pub fn available(&self, xn: isize, yn: isize, cx: usize, cy: usize) -> bool {
        available((self.w, self.h), xn, yn, cx, cy)
    }

    /// Writes `block` (`n*n`) into `plane` at (`x`, `y`).
    pub fn put_block(&mut self, plane: usize, x: usize, y: usize, n: usize, block: &[u16]) {
        let p = &mut self.recon.planes[plane];
        for r in 0..n {
            let o = (y + r) * p.width + x;
            p.data[o..o + n].copy_from_slice(&block[r * n..r * n + n]);
        }
    }

    /// Records a CU's size and transform size in the maps.
    pub fn set_cu_maps(&mut self, x: usize, y: usize, log2: u32, tu_log2: u32) {
        let w8 = self.w / 8;
        let n8 = 1usize << (log2 - 3);
        for r in 0..n8 {
            for c in 0..n8 {
                let i = (y / 8 + r) * w8 + x / 8 + c;
                self.cu_log2[i] = log2 as u8;
                self.tu_log2[i] = tu_log2 as u8;
            }
        }
    }

    /// Fills a square region (luma position, side `1 << log2`, at least 8) of an 8x8-unit map.
    fn fill_units<T: Copy>(map: &mut [T], w8: usize, x: usize, y: usize, log2: u32, v: T) {
        let n8 = 1usize << (log2.max(3) - 3);
        for r in 0..n8 {
            let o = (y / 8 + r) * w8 + x / 8;
            map[o..o + n8].fill(v);
        }
    }

    /// Records the motion and skip flag of a CU.
    pub fn set_motion(&mut self, x: usize, y: usize, log2: u32, m: Motion, skip: bool) {
        let w8 = self.w / 8;
        Self::fill_units(&mut self.motion, w8, x, y, log2, m);
        Self::fill_units(&mut self.skip, w8, x, y, log2, skip);
    }

    /// Records whether a luma transform block has coefficients.
    pub fn set_coded(&mut self, x: usize, y: usize, log2: u32, coded: bool) {
        let w8 = self.w / 8;
        Self::fill_units(&mut self.coded, w8, x, y, log2, coded);
    }

    /// Records a luma mode for an `n x n` region.
    pub fn set_mode(&mut self, x: usize, y: usize, log2n: u32, mode: u8) {
        let w4 = self.w / 4;
        let n4 = 1usize << (log2n - 2);
        for r in 0..n4 {
            let o = (y / 4 + r) * w4 + x / 4;
            self.luma_modes[o..o + n4].fill(mode);
        }
    }
}

/// Whether the luma sample at (`xn`, `yn`) of a picture of coded size
/// `coded` is reconstructed before the block whose top-left luma sample is
/// (`cx`, `cy`) (see [`PicState::available`]).
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

/// Copies the `n x n` block at (dx, dy) of an `s x s` block into `out` (`n*n`, row-major).
pub fn sub_block(src: &[u16], s: usize, dx: usize, dy: usize, n: usize, out: &mut [u16]) {
    for r in 0..n {
        out[r * n..(r + 1) * n].copy_from_slice(&src[(dy + r) * s + dx..][..n]);
    }
}
