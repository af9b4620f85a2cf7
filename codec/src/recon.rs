//! Picture state shared by the encoder and the decoder: the reconstruction,
//! the maps that neighbouring blocks read (modes, CU and TU sizes), reference
//! sample gathering with availability, and block reconstruction.

use crate::cpu::CpuLevel;
use crate::dsp::{intra, transform};
use crate::frame::{Frame, Plane};
use crate::mv::Motion;
use crate::nn_intra::{IntraPredictor, NN_MODE};
use crate::quant::dequantize;
use std::sync::Arc;

/// Superblock size (log2, luma samples).
pub const SB_LOG2: u32 = 6;

/// The picture being reconstructed and the per-block maps its neighbours read.
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
    /// The learned intra predictor when the stream uses it.
    pub nn_intra: Option<Arc<IntraPredictor>>,
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
    pub fn new(w: usize, h: usize) -> PicState {
        PicState {
            recon: Frame::new_420(w, h),
            luma_modes: vec![intra::DC; (w / 4) * (h / 4)],
            cu_log2: vec![0; (w / 8) * (h / 8)],
            tu_log2: vec![0; (w / 8) * (h / 8)],
            motion: vec![Motion::INTRA; (w / 8) * (h / 8)],
            skip: vec![false; (w / 8) * (h / 8)],
            coded: vec![false; (w / 8) * (h / 8)],
            nn_intra: None,
            w,
            h,
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

    /// Gathers the `4n+1` reference samples of the `n x n` block at (`x`, `y`)
    /// of `plane` (layout of [`intra::predict`]), substituting unavailable ones.
    /// `cu` is the top-left luma sample of the block that owns the prediction.
    pub fn gather_refs(
        &self,
        plane: usize,
        x: usize,
        y: usize,
        log2n: u32,
        cu: (usize, usize),
        refs: &mut [u8],
    ) {
        gather_refs(
            &self.recon.planes[plane],
            (self.w, self.h),
            plane,
            x,
            y,
            log2n,
            cu,
            refs,
        );
    }

    /// Intra-predicts the `n x n` block at (`x`, `y`) of `plane` into `dst` (`n*n`).
    pub fn predict(
        &self,
        plane: usize,
        x: usize,
        y: usize,
        log2n: u32,
        mode: u8,
        cu: (usize, usize),
        cpu: CpuLevel,
        dst: &mut [u8],
    ) {
        let mut refs = [0u8; 129];
        self.gather_refs(plane, x, y, log2n, cu, &mut refs);
        if mode == NN_MODE {
            // Only luma transform blocks, their own availability reference, use it.
            debug_assert!(plane == 0 && cu == (x, y));
            let p = self
                .nn_intra
                .as_ref()
                .expect("the learned mode is only parsed or chosen with a predictor");
            let mut context = [0u8; crate::nn_intra::context_len(crate::nn_intra::MAX_LOG2)];
            crate::nn_intra::gather_context(
                &self.recon.planes[0],
                (self.w, self.h),
                x,
                y,
                log2n,
                &refs,
                &mut context,
            );
            p.predict(&context, log2n, dst);
        } else {
            predict_from_refs(plane, log2n, mode, &refs, cpu, dst);
        }
    }

    /// Context index of the learned-mode flag of the luma block of side
    /// `1 << log2n` at (`x`, `y`), or `None` where the flag is not coded (the
    /// stream has no predictor, or the size has no network): the size class
    /// times 3 plus how many of the left and above neighbours (as for the
    /// most probable modes) use the learned mode.
    pub fn nn_intra_ctx(&self, x: usize, y: usize, log2n: u32) -> Option<usize> {
        if self.nn_intra.is_none() || !IntraPredictor::supports(log2n) {
            return None;
        }
        let [left, above] = self.neighbour_modes(x, y);
        let learned = |m: Option<u8>| (m == Some(NN_MODE)) as usize;
        Some((log2n - crate::nn_intra::MIN_LOG2) as usize * 3 + learned(left) + learned(above))
    }

    /// The luma modes of the left and above neighbours of (`x`, `y`) that
    /// mode coding reads: the above one only inside the same superblock row
    /// (so decoders keep no line buffer of modes).
    fn neighbour_modes(&self, x: usize, y: usize) -> [Option<u8>; 2] {
        let w4 = self.w / 4;
        let left = (x > 0).then(|| self.luma_modes[(y / 4) * w4 + x / 4 - 1]);
        let above = (y > 0 && ((y - 1) >> SB_LOG2) == (y >> SB_LOG2))
            .then(|| self.luma_modes[(y / 4 - 1) * w4 + x / 4]);
        [left, above]
    }

    /// Writes `block` (`n*n`) into `plane` at (`x`, `y`).
    pub fn put_block(&mut self, plane: usize, x: usize, y: usize, n: usize, block: &[u8]) {
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

    /// Context index of skip_flag: skipped left and above neighbours.
    pub fn skip_ctx(&self, x: usize, y: usize) -> usize {
        let w8 = self.w / 8;
        let left = x > 0 && self.skip[(y / 8) * w8 + x / 8 - 1];
        let above = y > 0 && self.skip[(y / 8 - 1) * w8 + x / 8];
        left as usize + above as usize
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

    /// The three most probable modes for a luma block at (`x`, `y`): the left
    /// and above neighbours' modes, with the above one only inside the same
    /// superblock row (so decoders keep no line buffer of modes).
    pub fn mpm(&self, x: usize, y: usize) -> [u8; 3] {
        // Missing neighbours count as DC, the learned mode as planar.
        let plain = |m: Option<u8>| match m {
            None => intra::DC,
            Some(NN_MODE) => intra::PLANAR,
            Some(m) => m,
        };
        let [left, above] = self.neighbour_modes(x, y);
        crate::syntax::mpm_list(plain(left), plain(above))
    }

    /// Context index of split_cu_flag for a node at (`x`, `y`) of size `log2`.
    pub fn split_ctx(&self, x: usize, y: usize, log2: u32) -> usize {
        let w8 = self.w / 8;
        let left = x > 0 && (self.cu_log2[(y / 8) * w8 + x / 8 - 1] as u32) < log2;
        let above = y > 0 && (self.cu_log2[(y / 8 - 1) * w8 + x / 8] as u32) < log2;
        crate::syntax::split_ctx(log2, left, above)
    }
}

/// Whether the luma sample at (`xn`, `yn`) of a picture of coded size
/// `coded` is reconstructed before the block whose top-left luma sample is
/// (`cx`, `cy`) (see [`PicState::available`]).
#[inline]
pub(crate) fn available(coded: (usize, usize), xn: isize, yn: isize, cx: usize, cy: usize) -> bool {
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

/// Gathers the `4n+1` reference samples of the `n x n` block at (`x`, `y`)
/// of plane `plane` (samples `p`) of a picture of coded luma size `coded`,
/// substituting unavailable ones (see [`PicState::gather_refs`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gather_refs(
    p: &Plane,
    coded: (usize, usize),
    plane: usize,
    x: usize,
    y: usize,
    log2n: u32,
    cu: (usize, usize),
    refs: &mut [u8],
) {
    let n = 1usize << log2n;
    let ss = (plane > 0) as u32;
    let mut avail = [false; 129];
    let total = 4 * n + 1;
    let luma = |sx: isize, sy: isize| (sx << ss, sy << ss);
    for j in 0..2 * n {
        let (sx, sy) = (x as isize - 1, (y + j) as isize);
        let (lx, ly) = luma(sx, sy);
        let i = 2 * n - 1 - j;
        if available(coded, lx, ly, cu.0, cu.1) {
            avail[i] = true;
            refs[i] = p.data[sy as usize * p.width + sx as usize];
        }
    }
    {
        let (sx, sy) = (x as isize - 1, y as isize - 1);
        let (lx, ly) = luma(sx, sy);
        if available(coded, lx, ly, cu.0, cu.1) {
            avail[2 * n] = true;
            refs[2 * n] = p.data[sy as usize * p.width + sx as usize];
        }
    }
    for i in 0..2 * n {
        let (sx, sy) = ((x + i) as isize, y as isize - 1);
        let (lx, ly) = luma(sx, sy);
        if available(coded, lx, ly, cu.0, cu.1) {
            avail[2 * n + 1 + i] = true;
            refs[2 * n + 1 + i] = p.data[sy as usize * p.width + sx as usize];
        }
    }
    match avail[..total].iter().position(|&a| a) {
        None => refs[..total].fill(128),
        Some(first) => {
            let v = refs[first];
            refs[..first].fill(v);
            for i in first + 1..total {
                if !avail[i] {
                    refs[i] = refs[i - 1];
                }
            }
        }
    }
}

/// Predicts from gathered references, applying the reference smoothing and
/// boundary filters that the mode and size call for.
pub fn predict_from_refs(
    plane: usize,
    log2n: u32,
    mode: u8,
    refs: &[u8],
    cpu: CpuLevel,
    dst: &mut [u8],
) {
    let n = 1usize << log2n;
    let luma = plane == 0;
    let edge = luma && log2n < 5;
    if intra::needs_ref_filter(mode, log2n, luma) {
        let mut filtered = [0u8; 129];
        intra::filter_refs(&refs[..4 * n + 1], log2n, &mut filtered[..4 * n + 1]);
        intra::predict(mode, &filtered[..4 * n + 1], log2n, edge, dst, n, cpu);
    } else {
        intra::predict(mode, &refs[..4 * n + 1], log2n, edge, dst, n, cpu);
    }
}

/// Transform kind of a block: DST-VII for 4x4 intra luma, DCT-II otherwise.
pub fn tx_kind(plane: usize, log2n: u32) -> transform::TxKind {
    if plane == 0 && log2n == 2 {
        transform::TxKind::Dst7
    } else {
        transform::TxKind::Dct2
    }
}

/// Working memory of [`reconstruct`], allocated once per frame: zeroing
/// fresh 32x32 buffers for every 4x4 block would dominate small blocks.
pub struct ReconScratch {
    coeffs: Box<[i16; 1024]>,
    resid: Box<[i16; 1024]>,
}

impl Default for ReconScratch {
    fn default() -> Self {
        ReconScratch {
            coeffs: Box::new([0; 1024]),
            resid: Box::new([0; 1024]),
        }
    }
}

/// Dequantises `levels`, inverse transforms them and adds the residual to
/// `pred`, writing the reconstruction into `out` (all `n*n`).
#[allow(clippy::too_many_arguments)]
pub fn reconstruct(
    levels: &[i16],
    nz: (usize, usize),
    plane: usize,
    log2n: u32,
    qp: u8,
    pred: &[u8],
    out: &mut [u8],
    cpu: CpuLevel,
    scratch: &mut ReconScratch,
) {
    let n = 1usize << log2n;
    let coeffs = &mut scratch.coeffs[..n * n];
    let resid = &mut scratch.resid[..n * n];
    dequantize(levels, coeffs, qp, log2n, nz.0, nz.1);
    transform::inverse(tx_kind(plane, log2n), log2n, coeffs, nz.0, nz.1, resid, cpu);
    for i in 0..n * n {
        out[i] = (pred[i] as i16 + resid[i]).clamp(0, 255) as u8;
    }
}

/// Crops a coded-size frame to the visible size.
pub fn crop(frame: &Frame, width: usize, height: usize) -> Frame {
    let mut out = Frame::new_420(width, height);
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
