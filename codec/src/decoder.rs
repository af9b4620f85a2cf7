//! The decoder: parses packets and reconstructs frames.

use crate::cpu::CpuLevel;
use crate::deblock::deblock_frame;
use crate::entropy::RangeDecoder;
use crate::error::{BitstreamError, Error};
use crate::frame::Frame;
use crate::headers::{read_packet_headers, FrameHeader, SequenceHeader};
use crate::recon::{crop, reconstruct, PicState, ReconScratch, SB_LOG2};
use crate::syntax::{self, chroma_candidates, scan_for, Contexts};
use crate::tables::chroma_qp;

/// Decoder settings.
#[derive(Clone, Copy, Debug)]
pub struct DecoderConfig {
    /// Kernel level; `None` uses the best the CPU supports (capped by `MICA_CPU`).
    pub cpu: Option<CpuLevel>,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig { cpu: None }
    }
}

/// A decoded frame in display order, cropped to the visible size.
#[derive(Clone, Debug)]
pub struct DecodedFrame {
    /// Display-order frame number from the frame header.
    pub frame_number: u32,
    /// The samples.
    pub frame: Frame,
}

/// Decodes a Mica stream packet by packet.
pub struct Decoder {
    cpu: CpuLevel,
    sequence: Option<SequenceHeader>,
    ready: std::collections::VecDeque<DecodedFrame>,
}

impl Decoder {
    /// A decoder with the given settings.
    pub fn new(config: DecoderConfig) -> Decoder {
        let cpu = config.cpu.unwrap_or_else(CpuLevel::runtime).clamp_to_supported();
        Decoder { cpu, sequence: None, ready: Default::default() }
    }

    /// The sequence header in force (after the first keyframe).
    pub fn sequence_header(&self) -> Option<&SequenceHeader> {
        self.sequence.as_ref()
    }

    /// Decodes one packet (one IVF frame). Decoded frames become available
    /// from [`Decoder::receive_frame`] in display order.
    pub fn send_packet(&mut self, packet: &[u8]) -> Result<(), Error> {
        let headers = read_packet_headers(packet)?;
        if let Some(seq) = headers.sequence {
            if let Some(m) = seq.models.first() {
                let hex: String = m.sha256.iter().map(|b| format!("{b:02x}")).collect();
                return Err(BitstreamError::MissingModel(hex).into());
            }
            self.sequence = Some(seq);
        }
        let seq = self.sequence.as_ref().ok_or(BitstreamError::MissingSequenceHeader)?;
        let payload = &packet[headers.payload_offset..];
        let state = decode_frame(seq, &headers.frame, payload, self.cpu)?;
        let frame = crop(&state.recon, seq.width as usize, seq.height as usize);
        self.ready.push_back(DecodedFrame { frame_number: headers.frame.frame_number, frame });
        Ok(())
    }

    /// The next decoded frame in display order, if one is ready.
    pub fn receive_frame(&mut self) -> Option<DecodedFrame> {
        self.ready.pop_front()
    }
}

struct FrameDecoder<'a> {
    st: PicState,
    ctx: Contexts,
    dec: RangeDecoder<'a>,
    fh: &'a FrameHeader,
    cpu: CpuLevel,
    chroma_qp: [u8; 2],
    scratch: ReconScratch,
    levels: Box<[i16; 1024]>,
}

/// Decodes one frame's payload into a reconstructed, deblocked picture at the coded size.
pub(crate) fn decode_frame(seq: &SequenceHeader, fh: &FrameHeader, payload: &[u8], cpu: CpuLevel) -> Result<PicState, Error> {
    let (w, h) = (seq.coded_width(), seq.coded_height());
    let mut fd = FrameDecoder {
        st: PicState::new(w, h),
        ctx: Contexts::default(),
        dec: RangeDecoder::new(payload),
        fh,
        cpu,
        chroma_qp: [
            chroma_qp(fh.qp as i32 + fh.chroma_qp_offset[0] as i32),
            chroma_qp(fh.qp as i32 + fh.chroma_qp_offset[1] as i32),
        ],
        scratch: ReconScratch::default(),
        levels: Box::new([0; 1024]),
    };
    let sb = 1usize << SB_LOG2;
    for y in (0..h).step_by(sb) {
        for x in (0..w).step_by(sb) {
            fd.node(x, y, SB_LOG2)?;
            // A valid payload is never read more than 4 bytes ahead: stop early on garbage.
            if fd.dec.consumed() > payload.len() + 4 {
                return Err(BitstreamError::PayloadMismatch {
                    frame: fh.frame_number,
                    what: "is truncated or corrupt",
                    len: payload.len(),
                    used: fd.dec.consumed(),
                }
                .into());
            }
        }
    }
    let used = fd.dec.consumed();
    if used != payload.len() {
        let what = if used > payload.len() { "is truncated or corrupt" } else { "has trailing bytes" };
        return Err(BitstreamError::PayloadMismatch { frame: fh.frame_number, what, len: payload.len(), used }.into());
    }
    if fh.deblock {
        deblock_frame(&mut fd.st, fh);
    }
    Ok(fd.st)
}

impl FrameDecoder<'_> {
    fn corrupt(&self) -> Error {
        BitstreamError::LevelOverflow { frame: self.fh.frame_number }.into()
    }

    fn node(&mut self, x: usize, y: usize, log2: u32) -> Result<(), Error> {
        if x >= self.st.w || y >= self.st.h {
            return Ok(());
        }
        let size = 1usize << log2;
        let inside = x + size <= self.st.w && y + size <= self.st.h;
        let split = if log2 == 3 {
            false
        } else if !inside {
            true
        } else {
            let c = self.st.split_ctx(x, y, log2);
            syntax::read_split(&mut self.dec, &mut self.ctx, c)
        };
        if split {
            let half = size / 2;
            for (dx, dy) in [(0, 0), (half, 0), (0, half), (half, half)] {
                self.node(x + dx, y + dy, log2 - 1)?;
            }
            return Ok(());
        }
        self.coding_unit(x, y, log2)
    }

    fn coding_unit(&mut self, x: usize, y: usize, log2: u32) -> Result<(), Error> {
        let nxn = log2 == 3 && syntax::read_nxn(&mut self.dec, &mut self.ctx);
        let (parts, pu_log2) = if nxn { (4, 2) } else { (1, log2) };
        let mut modes = [0u8; 4];
        for (i, mode) in modes.iter_mut().enumerate().take(parts) {
            let (px, py) = (x + (i & 1) * 4, y + (i >> 1) * 4);
            let mpm = self.st.mpm(px, py);
            *mode = syntax::read_luma_mode(&mut self.dec, &mut self.ctx, &mpm);
            self.st.set_mode(px, py, pu_log2, *mode);
        }
        let chroma_index = syntax::read_chroma_mode(&mut self.dec, &mut self.ctx);
        let chroma_mode = chroma_candidates(modes[0])[chroma_index as usize];
        let tu_log2 = if nxn { 2 } else { log2.min(5) };
        self.st.set_cu_maps(x, y, log2, tu_log2);

        // Luma transform blocks in z-order, each predicted from the reconstruction so far.
        let tu = 1usize << tu_log2;
        let per_side = (1usize << log2) / tu;
        for i in 0..per_side * per_side {
            let (tx, ty) = (x + (i % per_side) * tu, y + (i / per_side) * tu);
            let mode = modes[if nxn { i } else { 0 }];
            self.transform_block(0, tx, ty, tu_log2, mode, (tx, ty), false)?;
        }
        let c_log2 = log2 - 1;
        let cb = self.transform_block(1, x / 2, y / 2, c_log2, chroma_mode, (x, y), false)?;
        self.transform_block(2, x / 2, y / 2, c_log2, chroma_mode, (x, y), cb)?;
        Ok(())
    }

    /// Reads one transform block's flag and residual and reconstructs it.
    /// Returns its coded-block flag.
    #[allow(clippy::too_many_arguments)]
    fn transform_block(
        &mut self,
        plane: usize,
        x: usize,
        y: usize,
        log2n: u32,
        mode: u8,
        cu: (usize, usize),
        cb_coded: bool,
    ) -> Result<bool, Error> {
        let n = 1usize << log2n;
        let mut pred = [0u8; 1024];
        self.st.predict(plane, x, y, log2n, mode, cu, self.cpu, &mut pred[..n * n]);
        let cbf = syntax::read_cbf(&mut self.dec, &mut self.ctx, plane, log2n, cb_coded);
        if cbf {
            let levels = &mut self.levels[..n * n];
            levels.fill(0);
            let scan = scan_for(mode, log2n, plane > 0);
            let Some(nz) = syntax::read_residual(&mut self.dec, &mut self.ctx, levels, log2n, plane > 0, scan) else {
                return Err(self.corrupt());
            };
            let qp = if plane == 0 { self.fh.qp } else { self.chroma_qp[plane - 1] };
            let mut out = [0u8; 1024];
            reconstruct(levels, nz, plane, log2n, qp, &pred[..n * n], &mut out[..n * n], self.cpu, &mut self.scratch);
            self.st.put_block(plane, x, y, n, &out[..n * n]);
        } else {
            self.st.put_block(plane, x, y, n, &pred[..n * n]);
        }
        Ok(cbf)
    }
}
