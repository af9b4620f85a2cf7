//! Coding of one transform block: forward transform, quantisation (RDOQ
//! or dead-zone), reconstruction, and its cost with the real syntax writer.

use super::*;

impl FrameSearch<'_> {
    /// Intra-predicts one transform block, then codes its residual.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn code_tu(
        &mut self,
        plane: usize,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        mode: u8,
        cb_coded: bool,
    ) -> TuOutcome {
        let mut pred = [0u16; 1024];
        intra::predict(
            &self.st,
            self.nn_intra.as_deref(),
            plane,
            x,
            y,
            log2(w),
            log2(h),
            mode,
            self.p.cpu,
            &mut pred[..w * h],
        );
        self.code_residual(plane, x, y, w, h, mode, true, cb_coded, &pred[..w * h])
    }

    /// Transforms, quantises and reconstructs one transform block on top of
    /// `pred`, writing the reconstruction into the picture. `mode` selects the
    /// scan (1, DC, gives the diagonal scan used by inter blocks); `intra` and
    /// `mode` select the transform kinds.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn code_residual(
        &mut self,
        plane: usize,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        mode: u8,
        intra: bool,
        cb_coded: bool,
        pred: &[u16],
    ) -> TuOutcome {
        let (lw, lh) = (log2(w), log2(h));
        let n = w * h;
        let cpu = self.p.cpu;
        let TuScratch {
            resid,
            coeffs,
            recon,
            rdoq: rdoq_tmp,
            recon_tmp,
            ..
        } = &mut *self.scratch;
        let (resid, coeffs, recon) = (&mut resid[..n], &mut coeffs[..n], &mut recon[..n]);
        let src = &self.src.planes[plane];
        for r in 0..h {
            let s = &src.data[(y + r) * src.width + x..][..w];
            for c in 0..w {
                resid[r * w + c] = s[c] as i16 - pred[r * w + c] as i16;
            }
        }
        let bd = self.p.bit_depth;
        let implicit = self.p.implicit_mts && intra && mode != NN_MODE;
        let kinds = tx_kind(plane, lw, lh, implicit);
        dsp::transform::forward(kinds.0, kinds.1, lw, lh, resid, coeffs, bd.into(), cpu);
        let qp = self.p.quant_qp[plane];
        let q = QuantParams::new(qp, lw, lh, bd);
        let mut levels = vec![0i16; n].into_boxed_slice();
        let scan = scan_for(mode, lw, lh, plane > 0);
        let any = if self.p.use_rdoq {
            rdoq(
                coeffs,
                &mut levels,
                q,
                lw,
                lh,
                plane > 0,
                scan,
                &self.ctx,
                self.p.lambda_for(plane),
                rdoq_tmp,
            )
        } else {
            quantize(coeffs, &mut levels, q, 171)
        };
        let ctx = &mut self.ctx;
        let zero_bits = bits_of(|c| transform::write_cbf(c, ctx, plane, lw, lh, cb_coded, false));
        let pred_dist = dist::sse(
            &src.data[y * src.width + x..],
            src.width,
            pred,
            w,
            w,
            h,
            cpu,
        );
        let mut out = TuOutcome {
            tu: TuLevels { cbf: false, levels },
            dist: pred_dist,
            bits: zero_bits,
        };
        if any {
            reconstruct(
                &out.tu.levels,
                (w, h),
                (lw, lh),
                kinds,
                qp,
                bd,
                pred,
                recon,
                cpu,
                recon_tmp,
            );
            let d = dist::sse(
                &src.data[y * src.width + x..],
                src.width,
                recon,
                w,
                w,
                h,
                cpu,
            );
            let ctx = &mut self.ctx;
            let levels = &out.tu.levels;
            let bits = bits_of(|c| {
                transform::write_cbf(c, ctx, plane, lw, lh, cb_coded, true);
                residual::write_residual(c, ctx, levels, lw, lh, plane > 0, scan);
            });
            let weight = if plane == 0 {
                1.0
            } else {
                2f64.powf((self.p.qp as f64 - self.p.chroma_qp[plane - 1] as f64) / 3.0)
            };
            let coded = d as f64 * weight + self.p.lambda * bits as f64 / COST_ONE_BIT as f64;
            let skipped =
                pred_dist as f64 * weight + self.p.lambda * zero_bits as f64 / COST_ONE_BIT as f64;
            if coded < skipped {
                self.st.put_block(plane, x, y, w, h, recon);
                out.tu.cbf = true;
                out.dist = d;
                out.bits = bits;
                return out;
            }
            out.tu.levels.fill(0);
        }
        self.st.put_block(plane, x, y, w, h, pred);
        out
    }
}
