//! Learned intra prediction: an integer network maps a luma block's
//! reference samples to its prediction, as one more intra mode.
//!
//! One model file holds one small dense network per block size (4x4, 8x8,
//! 16x16 luma transform blocks): input `k` of the model takes the block's
//! context, [`LINES`] reference lines around an `N x N` block (`N = 4 << k`;
//! line 0 is the `4N+1` references of section 5 of `docs/bitstream.md` after
//! availability substitution, lines 1 and 2 the next ones out) minus the
//! block's DC value, and output `k` is the block's `N*N` prediction minus that
//! value, row-major. Lines beyond the first let the network continue texture,
//! which no single-line mode can. Dense layers suit blocks this small (VVC's matrix intra
//! prediction is a linear descendant of the same idea). See `models/intra/README.md`.

use crate::nn::{hex, identity, requantise, LayerOp, Model, ModelError};
use crate::picture::Plane;
use std::sync::{Arc, OnceLock};

/// The default intra predictor shipped with Mica (`models/intra/intra.micanet`).
const DEFAULT_MODEL: &[u8] = include_bytes!("../../../models/intra/intra.micanet");

/// Role of the intra predictor in the sequence header's model list.
pub const ROLE: u8 = 2;

/// The luma intra mode number of the learned predictor (after the 35
/// traditional modes). Its neighbours see it as planar when they derive
/// their most probable modes and the chroma candidates.
pub const NN_MODE: u8 = 35;

/// Smallest block (log2 side) the predictor serves.
pub const MIN_LOG2: u32 = 2;
/// Largest block (log2 side) the predictor serves.
pub const MAX_LOG2: u32 = 4;

/// Number of block sizes, one network each.
const SIZES: usize = (MAX_LOG2 - MIN_LOG2 + 1) as usize;

/// Widest tensor a network may have (the format's channel limit).
const MAX_WIDTH: usize = 256;

/// Reference lines the network sees.
pub const LINES: usize = 3;

/// Context samples of an `N x N` block: line r has `4N + 2r + 1`.
pub const fn context_len(log2n: u32) -> usize {
    let n = 1usize << log2n;
    LINES * (4 * n + 1) + LINES * (LINES - 1)
}

/// Largest context (16x16 blocks).
const MAX_CONTEXT: usize = context_len(MAX_LOG2);

/// One dense layer of a network, copied out of the model for direct evaluation.
struct DenseLayer {
    in_features: usize,
    out_features: usize,
    shift: u32,
    lo: i32,
    hi: i32,
    weights: Vec<i8>,
    bias: Vec<i32>,
}

impl DenseLayer {
    /// The format's dense layer: `y = clamp((bias + w·x + round) >> shift)`.
    fn run(&self, x: &[i16], y: &mut [i16]) {
        for (o, out) in y[..self.out_features].iter_mut().enumerate() {
            let row = &self.weights[o * self.in_features..(o + 1) * self.in_features];
            let acc = self.bias[o]
                + row
                    .iter()
                    .zip(&x[..self.in_features])
                    .map(|(&w, &v)| w as i32 * v as i32)
                    .sum::<i32>();
            *out = requantise(acc, self.shift, self.lo, self.hi);
        }
    }
}

/// A loaded intra-predictor model.
pub struct IntraPredictor {
    /// What the file holds, for the tests (prediction runs `nets`).
    #[cfg(test)]
    model: Model,
    sha256: [u8; 32],
    /// Per block size, the chain of dense layers from input `k` to output `k`.
    nets: Vec<Vec<DenseLayer>>,
}

impl std::fmt::Debug for IntraPredictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntraPredictor")
            .field("sha256", &hex(&self.sha256))
            .finish()
    }
}

fn shape_error(what: &'static str) -> ModelError {
    ModelError::Shape {
        layer: 0,
        what,
        h: 1,
        w: 1,
    }
}

impl IntraPredictor {
    /// Loads an intra-predictor model: 3 inputs of `4N+1` channels in
    /// `-128..=127` for N = 4, 8, 16, and 3 outputs of `N*N` channels, each
    /// output computed by a chain of dense layers from its own input.
    pub fn from_bytes(bytes: &[u8]) -> Result<IntraPredictor, ModelError> {
        let model = Model::parse(bytes)?;
        if model.inputs.len() != SIZES || model.outputs.len() != SIZES {
            return Err(shape_error(
                "an intra predictor has 3 inputs and 3 outputs (4x4, 8x8 and 16x16 blocks)",
            ));
        }
        let n_in = model.inputs.len();
        let mut nets = Vec::with_capacity(SIZES);
        for k in 0..SIZES {
            let n = 4usize << k;
            let input = &model.inputs[k];
            if input.channels != context_len(MIN_LOG2 + k as u32)
                || input.lo != -128
                || input.hi < 127
            {
                return Err(shape_error(
                    "intra predictor input k takes the 12N+9 context samples of an N = 4 << k \
                     block, range -128..=127",
                ));
            }
            let mut chain = Vec::new();
            let mut id = model.outputs[k];
            while id >= n_in {
                let li = id - n_in;
                let layer = &model.layers[li];
                let LayerOp::Dense {
                    in_features,
                    shift,
                    weights,
                    bias,
                } = &layer.op
                else {
                    return Err(ModelError::Shape {
                        layer: li,
                        what: "an intra predictor is made of dense layers only",
                        h: 1,
                        w: 1,
                    });
                };
                if layer.out.channels > MAX_WIDTH || *in_features > MAX_WIDTH {
                    return Err(ModelError::Shape {
                        layer: li,
                        what: "intra predictor layers are at most 256 wide",
                        h: 1,
                        w: 1,
                    });
                }
                chain.push(DenseLayer {
                    in_features: *in_features,
                    out_features: layer.out.channels,
                    shift: *shift,
                    lo: layer.out.lo as i32,
                    hi: layer.out.hi as i32,
                    weights: weights.clone(),
                    bias: bias.clone(),
                });
                id = layer.operands[0];
            }
            if id != k || chain.is_empty() {
                return Err(shape_error(
                    "intra predictor output k must be computed from input k",
                ));
            }
            chain.reverse();
            if chain.last().map(|l| l.out_features) != Some(n * n) {
                return Err(shape_error(
                    "intra predictor output k has N*N channels (N = 4 << k)",
                ));
            }
            nets.push(chain);
        }
        Ok(IntraPredictor {
            #[cfg(test)]
            model,
            sha256: identity(bytes),
            nets,
        })
    }

    /// The model shipped with Mica, loaded once.
    pub fn default_model() -> Arc<IntraPredictor> {
        static DEFAULT: OnceLock<Arc<IntraPredictor>> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                Arc::new(
                    IntraPredictor::from_bytes(DEFAULT_MODEL)
                        .expect("the embedded intra predictor is valid (tested)"),
                )
            })
            .clone()
    }

    /// The model's identity.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// The networks.
    #[cfg(test)]
    pub(crate) fn model(&self) -> &Model {
        &self.model
    }

    /// Whether blocks of side `1 << log2n` can use the predictor.
    pub(crate) fn supports(log2n: u32) -> bool {
        (MIN_LOG2..=MAX_LOG2).contains(&log2n)
    }

    /// Multiply-accumulates per predicted sample of an `N x N` block.
    pub fn macs_per_sample(&self, log2n: u32) -> f64 {
        let net = &self.nets[(log2n - MIN_LOG2) as usize];
        let macs: usize = net.iter().map(|l| l.in_features * l.out_features).sum();
        macs as f64 / (1usize << (2 * log2n)) as f64
    }

    /// Runs the network for blocks of side `1 << log2n` on `input` (its
    /// [`context_len`] values); writes the `N*N` outputs.
    pub(crate) fn run_network(&self, log2n: u32, input: &[i16], out: &mut [i16]) {
        let net = &self.nets[(log2n - MIN_LOG2) as usize];
        let mut a = [0i16; MAX_WIDTH];
        let mut b = [0i16; MAX_WIDTH];
        a[..input.len()].copy_from_slice(input);
        for layer in net {
            layer.run(&a, &mut b);
            std::mem::swap(&mut a, &mut b);
        }
        let n2 = 1usize << (2 * log2n);
        out[..n2].copy_from_slice(&a[..n2]);
    }

    /// Predicts the `N x N` block (`N = 1 << log2n`) from its context
    /// ([`gather_context`]) into `dst` (`N*N`, row-major).
    /// At 10 bits the network sees the context's differences from DC scaled down to
    /// 8-bit units and its output is scaled back up.
    pub(crate) fn predict(&self, context: &[u16], log2n: u32, bit_depth: u8, dst: &mut [u16]) {
        let mut input = [0i16; MAX_CONTEXT];
        let dc = network_input(context, log2n, bit_depth, &mut input);
        let (shift, max) = (bit_depth - 8, (1i32 << bit_depth) - 1);
        let mut out = [0i16; 256];
        self.run_network(log2n, &input[..context_len(log2n)], &mut out);
        let n2 = 1usize << (2 * log2n);
        for (d, &o) in dst[..n2].iter_mut().zip(&out[..n2]) {
            *d = (dc + ((o as i32) << shift)).clamp(0, max) as u16;
        }
    }
}

/// The network's input for a block: each context sample minus the block's
/// DC value (the DC mode's `(sum T[0..N) + sum L[0..N) + N) >> (log2 N + 1)`
/// over line 0), shifted right by `bit_depth - 8` (to 8-bit units) and clamped
/// to `-128..=127`. Returns the DC value, which is added back to the network's
/// output. Working around the mean lets a small network spend its capacity on
/// shape rather than brightness.
pub fn network_input(context: &[u16], log2n: u32, bit_depth: u8, input: &mut [i16]) -> i32 {
    let shift = bit_depth - 8;
    let n = 1usize << log2n;
    let top: u32 = context[2 * n + 1..3 * n + 1]
        .iter()
        .map(|&v| v as u32)
        .sum();
    let left: u32 = context[n..2 * n].iter().map(|&v| v as u32).sum();
    let dc = ((top + left + n as u32) >> (log2n + 1)) as i32;
    let len = context_len(log2n);
    for (x, &r) in input[..len].iter_mut().zip(&context[..len]) {
        *x = ((r as i32 - dc) >> shift).clamp(-128, 127) as i16;
    }
    dc
}

/// Gathers the context of the `N x N` luma block at (`x`, `y`) of `luma` (a
/// picture of coded size `coded`; the block is its own availability
/// reference) into `out` ([`context_len`] samples): line 0 is `refs`, the
/// block's substituted references; line r = 1, 2 is, in the same order,
/// the left column x-1-r from row y+2N-1 up to y-r, the corner
/// (x-1-r, y-1-r), then the top row y-1-r from column x-r to x+2N-1. A
/// sample of line r is read from the picture when it lies inside it and its
/// projection on line 0 (straight up or left, or the corner for samples
/// beyond it) is available; otherwise it repeats the sample one line in
/// (line r-1 at column max(cx, x-r) for the top row, row max(cy, y-r) for
/// the left column). Every sample up and left of an available one has been
/// decoded, so the rule reads only reconstructed samples.
pub(crate) fn gather_context(
    luma: &Plane,
    available: &dyn Fn(isize, isize) -> bool,
    x: usize,
    y: usize,
    log2n: u32,
    refs: &[u16],
    out: &mut [u16],
) {
    let n = 1usize << log2n;
    let l = LINES as isize;
    // Window over columns x-L..x+2N and rows y-L..y+2N (absolute coords + L).
    let side = 2 * n + LINES;
    let mut win = [0u16; (32 + LINES) * (32 + LINES)];
    let at = |cx: isize, cy: isize| {
        ((cy - y as isize + l) as usize) * side + (cx - x as isize + l) as usize
    };
    let (xi, yi) = (x as isize, y as isize);
    let n2 = 2 * n as isize;
    for j in 0..n2 {
        win[at(xi - 1, yi + j)] = refs[(n2 - 1 - j) as usize];
    }
    win[at(xi - 1, yi - 1)] = refs[2 * n];
    for i in 0..n2 {
        win[at(xi + i, yi - 1)] = refs[(n2 + 1 + i) as usize];
    }
    let avail = |cx: isize, cy: isize| available(cx, cy);
    let corner_ok = avail(xi - 1, yi - 1);
    let read = |cx: isize, cy: isize| luma.data[cy as usize * luma.width + cx as usize];
    let mut o = 4 * n + 1;
    out[..o].copy_from_slice(&refs[..o]);
    for r in 1..l {
        let (lx, ty) = (xi - 1 - r, yi - 1 - r);
        // Left column, bottom first.
        for cy in (yi - r..yi + n2).rev() {
            let ok = lx >= 0
                && if cy < yi {
                    cy >= 0 && corner_ok
                } else {
                    avail(xi - 1, cy)
                };
            let v = if ok {
                read(lx, cy)
            } else {
                win[at(lx + 1, cy.max(yi - r))]
            };
            win[at(lx, cy)] = v;
            out[o] = v;
            o += 1;
        }
        // Corner.
        let v = if lx >= 0 && ty >= 0 && corner_ok {
            read(lx, ty)
        } else {
            win[at(lx + 1, ty + 1)]
        };
        win[at(lx, ty)] = v;
        out[o] = v;
        o += 1;
        // Top row, left to right.
        for cx in xi - r..xi + n2 {
            let ok = ty >= 0
                && if cx < xi {
                    cx >= 0 && corner_ok
                } else {
                    avail(cx, yi - 1)
                };
            let v = if ok {
                read(cx, ty)
            } else {
                win[at(cx.max(xi - r), ty + 1)]
            };
            win[at(cx, ty)] = v;
            out[o] = v;
            o += 1;
        }
    }
    debug_assert_eq!(o, context_len(log2n));
}

/// The context ([`gather_context`], availability by quadtree z-order, as
/// the codec derives it for quadtree streams; multi-type trees decide it by
/// coding order instead) of the `N x N` luma transform block at (`x`, `y`) of a
/// reconstructed luma plane whose size is the coded size. For building
/// training sets from reconstructions; its first `4N+1` samples are the
/// block's references (section 5). `bit_depth`: the plane's.
#[cfg_attr(not(feature = "internals"), allow(dead_code))]
pub fn block_context(luma: &Plane, x: usize, y: usize, log2n: u32, bit_depth: u8, out: &mut [u16]) {
    let coded = (luma.width, luma.height);
    // Quadtree availability: the block's coding structure is not known here.
    let avail = |lx, ly| crate::picture::available(coded, lx, ly, x, y);
    let mut refs = [0u16; 129];
    super::prediction::gather_refs_in(luma, 0, x, y, log2n, log2n, bit_depth, avail, &mut refs);
    gather_context(luma, &avail, x, y, log2n, &refs, out);
}

/// The prediction of traditional luma mode `mode` (0..=34) from the same
/// references, with the codec's reference smoothing and edge filters; for
/// tools that compare the learned predictor with the modes it competes with.
#[cfg_attr(not(feature = "internals"), allow(dead_code))]
pub fn traditional_prediction(refs: &[u16], log2n: u32, mode: u8, bit_depth: u8, dst: &mut [u16]) {
    // Chosen once: training tools call this millions of times.
    static CPU: OnceLock<crate::cpu::CpuLevel> = OnceLock::new();
    let cpu = *CPU.get_or_init(crate::cpu::CpuLevel::runtime);
    super::prediction::predict_from_refs(0, log2n, log2n, mode, refs, bit_depth, cpu, dst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Engine, Layer, TensorSpec};
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn dense(rng: &mut SmallRng, operand: usize, inf: usize, outf: usize, lo: i16) -> Layer {
        Layer {
            operands: vec![operand],
            out: TensorSpec {
                channels: outf,
                lo,
                hi: 127.max(lo + 1),
            },
            op: LayerOp::Dense {
                in_features: inf,
                shift: rng.gen_range(4..10),
                weights: (0..inf * outf).map(|_| rng.gen_range(-127..=127)).collect(),
                bias: (0..outf).map(|_| rng.gen_range(-5000..5000)).collect(),
            },
        }
    }

    /// A random predictor: per size, input -> hidden (ReLU) -> N*N outputs.
    pub(crate) fn random_model(seed: u64, hidden: usize) -> Model {
        let mut rng = SmallRng::seed_from_u64(seed);
        let inputs = (0..SIZES)
            .map(|k| TensorSpec {
                channels: context_len(MIN_LOG2 + k as u32),
                lo: -128,
                hi: 127,
            })
            .collect::<Vec<_>>();
        let mut layers = Vec::new();
        let mut outputs = Vec::new();
        for k in 0..SIZES {
            let n = 4usize << k;
            layers.push(dense(
                &mut rng,
                k,
                context_len(MIN_LOG2 + k as u32),
                hidden,
                0,
            ));
            let h = SIZES + layers.len() - 1;
            layers.push(dense(&mut rng, h, hidden, n * n, -128));
            outputs.push(SIZES + layers.len() - 1);
        }
        Model {
            inputs,
            layers,
            outputs,
        }
    }

    /// `models/intra/manifest.toml` describes the embedded default.
    #[test]
    fn manifest_describes_the_shipped_model() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/intra");
        let text = std::fs::read_to_string(dir.join("manifest.toml")).expect("manifest");
        let m = crate::nn::manifest_fields(&text);
        let p = IntraPredictor::default_model();
        assert_eq!(m["sha256"], hex(&p.sha256()));
        assert_eq!(m["bytes"], DEFAULT_MODEL.len().to_string());
        assert_eq!(m["role"], ROLE.to_string());
        assert_eq!(m["outputs"], p.model().outputs.len().to_string());
        assert_eq!(m["parameters"], p.model().cost(1).1.to_string());
        assert_eq!(std::fs::read(dir.join(&m["file"])).unwrap(), DEFAULT_MODEL);
        assert!(dir.join("checkpoints/intra.ckpt").is_file());
        assert!(text.contains("\"checkpoints/intra.ckpt\""));
    }

    #[test]
    fn direct_evaluation_equals_engine() {
        for seed in 0..4 {
            let model = random_model(seed, 16 + 8 * seed as usize);
            let bytes = model.to_bytes();
            let p = IntraPredictor::from_bytes(&bytes).expect("valid");
            let mut engine = Engine::new(model.clone(), 1, 1).expect("engine");
            let mut rng = SmallRng::seed_from_u64(seed + 100);
            for _ in 0..20 {
                let ins: Vec<Vec<i16>> = (0..SIZES)
                    .map(|k| {
                        (0..context_len(MIN_LOG2 + k as u32))
                            .map(|_| rng.gen_range(-128..=127))
                            .collect()
                    })
                    .collect();
                let refs: Vec<&[i16]> = ins.iter().map(|v| v.as_slice()).collect();
                engine.run(&refs).expect("run");
                for k in 0..SIZES {
                    let mut out = [0i16; 256];
                    p.run_network(MIN_LOG2 + k as u32, &ins[k], &mut out);
                    let (want, _) = engine.output(k);
                    assert_eq!(&out[..want.len()], want, "size {k}");
                }
            }
        }
    }

    #[test]
    fn wrong_shapes_are_refused() {
        // A loop filter is not an intra predictor.
        let lf = crate::loop_filter::LoopFilter::default_model();
        assert!(IntraPredictor::from_bytes(&lf.model().to_bytes()).is_err());
        // Outputs swapped between sizes.
        let mut m = random_model(1, 16);
        m.outputs.swap(0, 1);
        assert!(IntraPredictor::from_bytes(&m.to_bytes()).is_err());
        // A convolution in a chain.
        let mut m = random_model(2, 16);
        if let LayerOp::Dense {
            weights,
            bias,
            shift,
            ..
        } = m.layers[0].op.clone()
        {
            m.layers[0].op = LayerOp::Conv2d {
                kernel: 1,
                stride: 1,
                shift,
                weights,
                bias,
            };
        }
        let e = IntraPredictor::from_bytes(&m.to_bytes()).expect_err("conv refused");
        assert!(e.to_string().contains("dense"), "{e}");
    }

    #[test]
    fn embedded_default_loads() {
        let p = IntraPredictor::default_model();
        for log2n in MIN_LOG2..=MAX_LOG2 {
            assert!(p.macs_per_sample(log2n) > 0.0);
        }
    }

    /// A stream using a non-default predictor decodes exactly with it and is
    /// refused, naming the model, without it.
    #[test]
    fn custom_model_round_trip_and_missing_model() {
        use crate::{Decoder, DecoderConfig, Encoder, EncoderConfig, Error, Frame};
        let p = Arc::new(IntraPredictor::from_bytes(&random_model(5, 16).to_bytes()).unwrap());
        let mut f = Frame::new_420(64, 48);
        for (p, plane) in f.planes.iter_mut().enumerate() {
            let w = plane.width;
            for (i, v) in plane.data.iter_mut().enumerate() {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                *v = (128.0 + 60.0 * (x * 0.3 + y * 0.1 + p as f64).sin()) as u16;
            }
        }
        let mut cfg = EncoderConfig::new(64, 48);
        cfg.qp = 30;
        cfg.nn_intra = true;
        cfg.nn_intra_model = Some(p.clone());
        let mut enc = Encoder::new(cfg).expect("config");
        enc.send_frame(f).expect("frame");
        enc.flush();
        let packet = enc.receive_packet().expect("packet");
        let mut dec = Decoder::new(DecoderConfig {
            intra_predictors: vec![p.clone()],
            ..Default::default()
        });
        dec.send_packet(&packet.data).expect("decodes");
        dec.flush().expect("decodes");
        assert_eq!(dec.receive_frame().expect("frame").frame, packet.recon);
        let mut dec = Decoder::new(DecoderConfig::default());
        match dec.send_packet(&packet.data) {
            Err(Error::Bitstream(crate::BitstreamError::MissingModel(name))) => {
                assert_eq!(name, hex(&p.sha256()))
            }
            other => panic!("expected MissingModel, got {other:?}"),
        }
    }

    /// Context lines read the picture where the block's neighbourhood is
    /// decoded and repeat the line inside where it is not.
    #[test]
    fn context_lines_follow_availability() {
        let (w, h) = (64usize, 64usize);
        let mut plane = Plane::new(w, h);
        for (i, v) in plane.data.iter_mut().enumerate() {
            *v = ((i * 37) % 251) as u16;
        }
        let px = |x: usize, y: usize| plane.data[y * w + x];
        let mut ctx = [0u16; 256];
        // 8x8 block at (24, 16): left rows 16..24 and top columns 24..32 are
        // decoded; the bottom-left (rows 24..32) and top-right (columns
        // 32..40) come later in z-order. Line 0 substitutes them with
        // (23, 23) and (31, 15); lines 1 and 2 repeat line 0 there.
        block_context(&plane, 24, 16, 3, 8, &mut ctx);
        let n = 8;
        for r in 1..LINES {
            let start: usize = (0..r).map(|s| 4 * n + 2 * s + 1).sum();
            let line = &ctx[start..start + 4 * n + 2 * r + 1];
            let (lx, ty) = (24 - 1 - r, 16 - 1 - r);
            for (i, cy) in (16 - r..16 + 2 * n).rev().enumerate() {
                let want = if cy < 24 { px(lx, cy) } else { px(23, 23) };
                assert_eq!(line[i], want, "line {r} left row {cy}");
            }
            assert_eq!(line[2 * n + r], px(lx, ty), "line {r} corner");
            for (i, cx) in (24 - r..24 + 2 * n).enumerate() {
                let want = if cx < 32 { px(cx, ty) } else { px(31, 15) };
                assert_eq!(line[2 * n + r + 1 + i], want, "line {r} top col {cx}");
            }
        }
        // At the left picture edge nothing left of the block exists: lines 1
        // and 2 repeat line 0's substituted left column.
        block_context(&plane, 0, 16, 3, 8, &mut ctx);
        let line0_left: Vec<u16> = ctx[..2 * n].to_vec();
        let line1 = &ctx[4 * n + 1..];
        assert_eq!(
            &line1[1..2 * n + 1],
            &line0_left[..],
            "line 1 left repeats line 0"
        );
    }

    #[test]
    fn input_is_centred_on_dc() {
        let mut refs = [0u16; context_len(3)];
        for (i, r) in refs.iter_mut().enumerate() {
            *r = (i * 7 % 256) as u16;
        }
        let mut input = [0i16; context_len(3)];
        let dc = network_input(&refs, 3, 8, &mut input);
        // DC of an 8x8 block: top refs[17..25], left refs[8..16].
        let sum: u32 = refs[17..25]
            .iter()
            .chain(&refs[8..16])
            .map(|&v| v as u32)
            .sum();
        assert_eq!(dc as u32, (sum + 8) >> 4);
        for (x, &r) in input.iter().zip(&refs) {
            assert_eq!(*x as i32, (r as i32 - dc).clamp(-128, 127));
        }
    }
}
