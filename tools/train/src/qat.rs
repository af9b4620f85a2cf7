//! Quantisation-aware training of integer networks with libtorch (feature `torch`).
//!
//! A float network trains while its forward pass computes exactly what the
//! integer engine will: weights and biases are rounded to fixed point with a
//! per-layer power-of-two shift, the accumulator is requantised with round
//! half up and clamped to the output range. Rounding uses straight-through
//! gradients. Exported with [`QatLayer::export`], a trained network becomes a
//! `.micanet` model whose engine output equals this forward pass sample for
//! sample (tested below), because every partial sum is an integer below 2^24
//! and float32 holds it exactly.
//!
//! Fixed point: a layer with shift `s` stores `w_int = round(w * 2^s)` and
//! `b_int = round(b * 2^s)`; the engine's `(acc + 2^(s-1)) >> s` is then
//! `floor(conv(x, w) + b + 0.5)`. `s` is the largest shift that keeps every
//! weight within ±127, recomputed from the current weights at every step.

use mica::internals::learned_intra::context_len;
use mica::internals::nn::{Layer, LayerOp, Model, TensorSpec};
use tch::{nn, Kind, Tensor};

/// Largest shift a trained layer may use (keeps biases far inside i32).
const MAX_SHIFT: u32 = 16;

/// `q` in the forward pass, identity gradient to `x` in the backward pass.
fn straight_through(x: &Tensor, q: &Tensor) -> Tensor {
    x + (q - x).detach()
}

/// A k×k convolution (stride 1 or 2) trained with the engine's integer arithmetic.
pub struct QatConv {
    /// Float weights `[out][in][k][k]`.
    pub w: Tensor,
    /// Float biases `[out]`.
    pub b: Tensor,
    /// Output range (ReLU: lo = 0).
    pub lo: i16,
    /// Output range upper end.
    pub hi: i16,
    /// Integer-unit weight per trained weight (`out_scale / in_scale`): the
    /// trained weights live in normalised units so one learning rate suits every layer.
    pub w_mult: f64,
    /// Integer-unit bias per trained bias (`out_scale`).
    pub b_mult: f64,
    /// Stride (1 or 2); output (y, x) is centred on input (y*stride, x*stride).
    pub stride: i64,
}

impl QatConv {
    /// A new layer under `path` named `name`, He-initialised with `gain`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        path: &nn::Path,
        name: &str,
        (in_ch, out_ch, k): (i64, i64, i64),
        (lo, hi): (i16, i16),
        (in_scale, out_scale): (f64, f64),
        gain: f64,
    ) -> QatConv {
        let stdev = gain * (2.0 / (in_ch * k * k) as f64).sqrt();
        QatConv {
            w: (path / name).var(
                "w",
                &[out_ch, in_ch, k, k],
                nn::Init::Randn { mean: 0.0, stdev },
            ),
            b: (path / name).var("b", &[out_ch], nn::Init::Const(0.0)),
            lo,
            hi,
            w_mult: out_scale / in_scale,
            b_mult: out_scale,
            stride: 1,
        }
    }

    /// The requantisation shift the current weights get.
    pub fn shift(&self) -> u32 {
        let m = tch::no_grad(|| self.w.abs().max().double_value(&[])) * self.w_mult;
        if m.is_nan() || m <= 0.0 || m.is_infinite() {
            return 0;
        }
        ((127.0 / m).log2().floor()).clamp(0.0, MAX_SHIFT as f64) as u32
    }

    fn quantised(&self, shift: u32) -> (Tensor, Tensor) {
        let scale = (1u64 << shift) as f64;
        let ws = &self.w * (scale * self.w_mult);
        let bs = &self.b * (scale * self.b_mult);
        let wq = straight_through(&ws, &ws.round()).clamp(-127.0, 127.0);
        let bq = straight_through(&bs, &bs.round());
        (wq, bq)
    }

    /// The integer layer's output for integer-valued `x` (`[n][c][h][w]`);
    /// with `quantise` false, the float network it approximates (for warm-up).
    pub fn forward(&self, x: &Tensor, quantise: bool) -> Tensor {
        if !quantise {
            let k = self.w.size()[2];
            let w = &self.w * self.w_mult;
            let b = &self.b * self.b_mult;
            let st = [self.stride, self.stride];
            let y = x.conv2d(&w, Some(&b), st, [k / 2, k / 2], [1, 1], 1);
            return y.clamp(self.lo as f64, self.hi as f64);
        }
        let shift = self.shift();
        let (wq, bq) = self.quantised(shift);
        let k = wq.size()[2];
        let st = [self.stride, self.stride];
        let acc = x.conv2d(&wq, Some(&bq), st, [k / 2, k / 2], [1, 1], 1);
        let v = acc / (1u64 << shift) as f64 + 0.5;
        straight_through(&v, &v.floor()).clamp(self.lo as f64, self.hi as f64)
    }

    /// The layer as it goes into a `.micanet` file.
    pub fn export(&self, operand: usize) -> Layer {
        let shift = self.shift();
        let (wq, bq) = tch::no_grad(|| self.quantised(shift));
        let size = wq.size();
        let weights: Vec<f32> = Vec::try_from(wq.to_kind(Kind::Float).flatten(0, -1))
            .expect("weights are a float tensor");
        let bias: Vec<f64> = Vec::try_from(bq.to_kind(Kind::Double).flatten(0, -1))
            .expect("biases are a float tensor");
        Layer {
            operands: vec![operand],
            out: TensorSpec {
                channels: size[0] as usize,
                lo: self.lo,
                hi: self.hi,
            },
            op: LayerOp::Conv2d {
                kernel: size[2] as usize,
                stride: self.stride as usize,
                shift,
                weights: weights.into_iter().map(|v| v as i8).collect(),
                bias: bias.into_iter().map(|v| v as i32).collect(),
            },
        }
    }
}

/// Integer units per unit of the normalised values the network trains on:
/// samples and side information (0..255 ≈ 0..1).
const SAMPLE_SCALE: f64 = 256.0;
/// Hidden activations: 0..255 ≈ 0..4.
const HIDDEN_SCALE: f64 = 64.0;

/// Shape of the residual restoration network (the loop filter's family).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestorationShape {
    /// Channels of the side-information input.
    pub side_channels: i64,
    /// Hidden channels.
    pub channels: i64,
    /// Number of 3x3 convolutions (at least 2).
    pub convs: usize,
    /// Half resolution: the first convolution has stride 2, the others run
    /// on the half-resolution grid, and the last one's 4 channels are the
    /// corrections of each 2x2 block, put back at full resolution by a pixel
    /// shuffle. At a given cost per sample this affords 4 times the work per
    /// position and twice the reach of a full-resolution stack.
    pub half_res: bool,
}

impl RestorationShape {
    /// Input samples an output sample depends on, each side: 1 per 3x3
    /// convolution at full resolution; at half resolution 1 for the stride-2
    /// layer, 2 per later layer and 1 for the sub-sample position.
    pub fn reach(&self) -> usize {
        if self.half_res {
            2 * self.convs
        } else {
            self.convs
        }
    }

    /// The grid the input must be aligned to (2 at half resolution: the 2x2
    /// blocks of training patches then sit where they sit in a frame).
    pub fn alignment(&self) -> usize {
        if self.half_res {
            2
        } else {
            1
        }
    }
}

/// A residual restoration network: `out = clamp(x + f(concat(x, side)), 0, 255)`
/// where `f` is a stack of 3x3 convolutions with ReLU and a signed last layer
/// (at half resolution followed by a pixel shuffle when `shape.half_res`).
///
/// Inputs of the exported model: 0 = the samples (1 channel, 0..=255),
/// 1 = side information (`side_channels`, 0..=255). Output: the restored samples.
pub struct QatRestoration {
    /// The shape.
    pub shape: RestorationShape,
    /// The convolutions in order.
    pub convs: Vec<QatConv>,
}

/// How layer `i` of a restoration network is built.
struct LayerPlan {
    out_ch: i64,
    /// Output range (ReLU: lo = 0).
    range: (i16, i16),
    /// (input, output) integer units per trained unit.
    scales: (f64, f64),
    /// Initial weight gain.
    gain: f64,
    stride: i64,
}

/// The plan of layer `i` of `n` of a restoration network of `shape`.
fn layer_plan(i: usize, n: usize, shape: &RestorationShape) -> LayerPlan {
    let in_scale = if i == 0 { SAMPLE_SCALE } else { HIDDEN_SCALE };
    let stride = if i == 0 && shape.half_res { 2 } else { 1 };
    if i + 1 == n {
        // The correction in samples (one per sample of a 2x2 block at half
        // resolution); starts small so the untrained network is near the identity.
        LayerPlan {
            out_ch: if shape.half_res { 4 } else { 1 },
            range: (-128, 127),
            scales: (in_scale, SAMPLE_SCALE),
            gain: 0.1,
            stride,
        }
    } else {
        LayerPlan {
            out_ch: shape.channels,
            range: (0, 255),
            scales: (in_scale, HIDDEN_SCALE),
            gain: 1.0,
            stride,
        }
    }
}

impl QatRestoration {
    /// A freshly initialised network whose variables live under `path`
    /// (named `conv0.w`, `conv0.b`, ...).
    pub fn new(path: &nn::Path, shape: RestorationShape) -> QatRestoration {
        assert!(
            shape.convs >= 2,
            "a restoration network has at least two convolutions"
        );
        let mut convs = Vec::with_capacity(shape.convs);
        for i in 0..shape.convs {
            let in_ch = if i == 0 {
                1 + shape.side_channels
            } else {
                shape.channels
            };
            let plan = layer_plan(i, shape.convs, &shape);
            let mut conv = QatConv::new(
                path,
                &format!("conv{i}"),
                (in_ch, plan.out_ch, 3),
                plan.range,
                plan.scales,
                plan.gain,
            );
            conv.stride = plan.stride;
            convs.push(conv);
        }
        QatRestoration { shape, convs }
    }

    /// Rebuilds the network from a checkpoint's variables (`conv{i}.w/b`),
    /// reading the shape from the tensors (a last layer of 4 channels means
    /// a half-resolution network).
    pub fn from_variables(vars: &[(String, Tensor)]) -> Result<QatRestoration, String> {
        let get = |name: &str| {
            vars.iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.shallow_clone())
        };
        let mut convs = Vec::new();
        while let (Some(w), Some(b)) = (
            get(&format!("conv{}.w", convs.len())),
            get(&format!("conv{}.b", convs.len())),
        ) {
            let s = w.size();
            if s.len() != 4 || s[2] != 3 || s[3] != 3 || b.size() != [s[0]] {
                return Err(format!(
                    "conv{}: expected [out][in][3][3] weights and [out] biases, got {:?} and {:?}",
                    convs.len(),
                    s,
                    b.size()
                ));
            }
            convs.push(QatConv {
                w: w.to_kind(Kind::Float),
                b: b.to_kind(Kind::Float),
                lo: 0,
                hi: 0,
                w_mult: 0.0,
                b_mult: 0.0,
                stride: 1,
            });
        }
        if convs.len() < 2 {
            return Err("the checkpoint has fewer than two convolutions conv0, conv1".into());
        }
        let shape = RestorationShape {
            side_channels: convs[0].w.size()[1] - 1,
            channels: convs[0].w.size()[0],
            convs: convs.len(),
            half_res: convs[convs.len() - 1].w.size()[0] == 4,
        };
        let channels = shape.channels;
        for (i, c) in convs.iter().enumerate().skip(1) {
            let s = c.w.size();
            let want_out = layer_plan(i, shape.convs, &shape).out_ch;
            if s[1] != channels || s[0] != want_out {
                return Err(format!(
                    "conv{i}: expected {want_out}x{channels} channels, got {}x{}",
                    s[0], s[1]
                ));
            }
        }
        for (i, c) in convs.iter_mut().enumerate() {
            let plan = layer_plan(i, shape.convs, &shape);
            let ((lo, hi), (si, so)) = (plan.range, plan.scales);
            (c.lo, c.hi, c.w_mult, c.b_mult) = (lo, hi, so / si, so);
            c.stride = plan.stride;
        }
        Ok(QatRestoration { shape, convs })
    }

    /// Restored samples for `x` (`[n][1][h][w]`, 0..255) and `side` (`[n][side][h][w]`);
    /// a half-resolution network needs even `h` and `w`.
    /// With `quantise` false, the float network it approximates (for warm-up).
    pub fn forward(&self, x: &Tensor, side: &Tensor, quantise: bool) -> Tensor {
        let mut h = Tensor::cat(&[x, side], 1);
        for c in &self.convs {
            h = c.forward(&h, quantise);
        }
        if self.shape.half_res {
            h = h.pixel_shuffle(2);
        }
        (x + h).clamp(0.0, 255.0)
    }

    /// The trained network as an integer model.
    pub fn export(&self) -> Model {
        let inputs = vec![
            TensorSpec {
                channels: 1,
                lo: 0,
                hi: 255,
            },
            TensorSpec {
                channels: self.shape.side_channels as usize,
                lo: 0,
                hi: 255,
            },
        ];
        let mut layers = vec![Layer {
            operands: vec![0, 1],
            out: TensorSpec {
                channels: 1 + self.shape.side_channels as usize,
                lo: 0,
                hi: 255,
            },
            op: LayerOp::Concat,
        }];
        for c in &self.convs {
            let operand = inputs.len() + layers.len() - 1;
            layers.push(c.export(operand));
        }
        if self.shape.half_res {
            layers.push(Layer {
                operands: vec![inputs.len() + layers.len() - 1],
                out: TensorSpec {
                    channels: 1,
                    lo: -128,
                    hi: 127,
                },
                op: LayerOp::PixelShuffle { factor: 2 },
            });
        }
        let correction = inputs.len() + layers.len() - 1;
        layers.push(Layer {
            operands: vec![0, correction],
            out: TensorSpec {
                channels: 1,
                lo: 0,
                hi: 255,
            },
            op: LayerOp::Add,
        });
        let out = inputs.len() + layers.len() - 1;
        Model {
            inputs,
            layers,
            outputs: vec![out],
        }
    }
}

/// Sizes served by the learned intra predictor: N = 4, 8, 16.
const INTRA_SIZES: usize = 3;

/// The learned intra predictor's networks (see `mica::IntraPredictor`): per block
/// size N = 4 << k, a stack of dense layers from the `4N+1` references minus
/// their DC value (`-128..=127`) through ReLU hidden layers to the `N*N`
/// prediction minus that value. Dense layers train as 1x1 convolutions on
/// 1x1 inputs, which is the same arithmetic.
pub struct QatIntra {
    /// Per block size, the layers in order.
    pub nets: Vec<Vec<QatConv>>,
}

impl QatIntra {
    /// Fresh networks with `hidden[k]` as the hidden widths of size k
    /// (variables `s{k}.fc{i}.w/b` under `path`).
    pub fn new(path: &nn::Path, hidden: &[Vec<i64>]) -> QatIntra {
        assert_eq!(
            hidden.len(),
            INTRA_SIZES,
            "one hidden-width list per block size"
        );
        let nets = hidden
            .iter()
            .enumerate()
            .map(|(k, widths)| {
                let n = 4i64 << k;
                let mut dims = vec![context_len(2 + k as u32) as i64];
                dims.extend(widths);
                dims.push(n * n);
                let p = path / format!("s{k}");
                (0..dims.len() - 1)
                    .map(|i| {
                        let last = i + 2 == dims.len();
                        let in_scale = if i == 0 { SAMPLE_SCALE } else { HIDDEN_SCALE };
                        let (range, out_scale, gain) = if last {
                            ((-128, 127), SAMPLE_SCALE, 0.5)
                        } else {
                            ((0, 255), HIDDEN_SCALE, 1.0)
                        };
                        QatConv::new(
                            &p,
                            &format!("fc{i}"),
                            (dims[i], dims[i + 1], 1),
                            range,
                            (in_scale, out_scale),
                            gain,
                        )
                    })
                    .collect()
            })
            .collect();
        QatIntra { nets }
    }

    /// Rebuilds the networks from a checkpoint's variables.
    pub fn from_variables(vars: &[(String, Tensor)]) -> Result<QatIntra, String> {
        let get = |name: &str| {
            vars.iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.to_kind(Kind::Float))
        };
        let mut nets = Vec::new();
        for k in 0..INTRA_SIZES {
            let n = 4i64 << k;
            let mut layers: Vec<QatConv> = Vec::new();
            while let (Some(w), Some(b)) = (
                get(&format!("s{k}.fc{}.w", layers.len())),
                get(&format!("s{k}.fc{}.b", layers.len())),
            ) {
                let sz = w.size();
                let want_in = layers
                    .last()
                    .map_or(context_len(2 + k as u32) as i64, |l| l.w.size()[0]);
                if sz.len() != 4 || sz[1] != want_in || sz[2] != 1 || sz[3] != 1 {
                    return Err(format!(
                        "s{k}.fc{}: expected [out][{want_in}][1][1] weights, got {sz:?}",
                        layers.len()
                    ));
                }
                layers.push(QatConv {
                    w,
                    b,
                    lo: 0,
                    hi: 255,
                    w_mult: 0.0,
                    b_mult: 0.0,
                    stride: 1,
                });
            }
            if layers.last().map(|l| l.w.size()[0]) != Some(n * n) {
                return Err(format!("s{k}: the last layer must have {} outputs", n * n));
            }
            let count = layers.len();
            for (i, l) in layers.iter_mut().enumerate() {
                let in_scale = if i == 0 { SAMPLE_SCALE } else { HIDDEN_SCALE };
                let (lo, hi, out_scale) = if i + 1 == count {
                    (-128, 127, SAMPLE_SCALE)
                } else {
                    (0, 255, HIDDEN_SCALE)
                };
                (l.lo, l.hi, l.w_mult, l.b_mult) = (lo, hi, out_scale / in_scale, out_scale);
            }
            nets.push(layers);
        }
        Ok(QatIntra { nets })
    }

    /// The network of size `k` on `x` (`[batch][4N+1]`, integer-valued,
    /// -128..=127): `[batch][N*N]`. With `quantise` false, the float network.
    pub fn forward(&self, k: usize, x: &Tensor, quantise: bool) -> Tensor {
        let b = x.size()[0];
        let mut h = x.reshape([b, -1, 1, 1]);
        for l in &self.nets[k] {
            h = l.forward(&h, quantise);
        }
        h.reshape([b, -1])
    }

    /// The trained networks as one integer model (input and output k: size k).
    pub fn export(&self) -> Model {
        let inputs: Vec<TensorSpec> = (0..INTRA_SIZES)
            .map(|k| TensorSpec {
                channels: context_len(2 + k as u32),
                lo: -128,
                hi: 127,
            })
            .collect();
        let mut layers = Vec::new();
        let mut outputs = Vec::new();
        for (k, net) in self.nets.iter().enumerate() {
            let mut operand = k;
            for l in net {
                let mut layer = l.export(operand);
                if let LayerOp::Conv2d {
                    shift,
                    weights,
                    bias,
                    ..
                } = layer.op
                {
                    let in_features = weights.len() / layer.out.channels;
                    layer.op = LayerOp::Dense {
                        in_features,
                        shift,
                        weights,
                        bias,
                    };
                }
                layers.push(layer);
                operand = inputs.len() + layers.len() - 1;
            }
            outputs.push(operand);
        }
        Model {
            inputs,
            layers,
            outputs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mica::internals::learned_intra::run_network;
    use mica::internals::nn::Engine;
    use tch::{nn::VarStore, Device};

    /// The exported intra predictor (dense layers) computes exactly the
    /// training forward pass, through the codec's own predictor.
    #[test]
    fn intra_export_equals_training_forward() {
        tch::manual_seed(11);
        let vs = VarStore::new(Device::Cpu);
        let net = QatIntra::new(&vs.root(), &[vec![16], vec![24, 24], vec![32]]);
        let model = net.export();
        let p = mica::IntraPredictor::from_bytes(&model.to_bytes())
            .expect("exported predictor is valid");
        for k in 0..INTRA_SIZES {
            let n = 4i64 << k;
            let ins = context_len(2 + k as u32);
            let x = Tensor::randint_low(-128, 128, [5, ins as i64], (Kind::Float, Device::Cpu));
            let want: Vec<f32> =
                Vec::try_from(tch::no_grad(|| net.forward(k, &x, true)).flatten(0, -1))
                    .expect("float");
            let xi: Vec<i16> = Vec::<f32>::try_from(x.flatten(0, -1))
                .expect("float")
                .into_iter()
                .map(|v| v as i16)
                .collect();
            let nn = (n * n) as usize;
            let mut nonzero = 0;
            for b in 0..5 {
                let mut out = [0i16; 256];
                run_network(&p, 2 + k as u32, &xi[b * ins..(b + 1) * ins], &mut out);
                for i in 0..nn {
                    assert_eq!(
                        out[i] as f32,
                        want[b * nn + i],
                        "size {k} block {b} sample {i}"
                    );
                    nonzero += (out[i] != 0) as usize;
                }
            }
            assert!(nonzero > 0, "the test network must predict something");
        }
    }

    /// The exported model run by the integer engine equals the training
    /// forward pass exactly, for random weights and inputs.
    #[test]
    fn export_equals_training_forward() {
        export_matches(false, (19, 23));
        export_matches(true, (20, 24));
    }

    fn export_matches(half_res: bool, (h, w): (i64, i64)) {
        tch::manual_seed(7);
        let vs = VarStore::new(Device::Cpu);
        let shape = RestorationShape {
            side_channels: 2,
            channels: 8,
            convs: 3,
            half_res,
        };
        let net = QatRestoration::new(&vs.root(), shape);
        // Bigger last-layer weights than at initialisation, so corrections are not all zero.
        tch::no_grad(|| {
            let w = &net.convs[2].w;
            let _ = w.shallow_clone().g_mul_scalar_(20.0);
        });
        let x = Tensor::randint(256, [1, 1, h, w], (Kind::Float, Device::Cpu));
        let side = Tensor::randint(256, [1, 2, h, w], (Kind::Float, Device::Cpu));
        let want: Vec<f32> =
            Vec::try_from(tch::no_grad(|| net.forward(&x, &side, true)).flatten(0, -1))
                .expect("float");
        let model = net.export();
        let model = Model::parse(&model.to_bytes()).expect("exported model is valid");
        let mut engine = Engine::new(model, h as usize, w as usize).expect("engine");
        let xi: Vec<i16> = Vec::<f32>::try_from(x.flatten(0, -1))
            .expect("float")
            .into_iter()
            .map(|v| v as i16)
            .collect();
        let si: Vec<i16> = Vec::<f32>::try_from(side.flatten(0, -1))
            .expect("float")
            .into_iter()
            .map(|v| v as i16)
            .collect();
        engine.run(&[&xi, &si]).expect("run");
        let got = engine.output(0).0;
        let changed = got.iter().zip(&xi).filter(|(a, b)| a != b).count();
        assert!(changed > 0, "the test network must change some samples");
        // A checkpoint's variables give back the same shape (half-res included).
        let vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        let rebuilt = QatRestoration::from_variables(&vars).expect("rebuilt");
        assert_eq!(rebuilt.shape, shape);
        for (i, (&g, &e)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g as f32, e, "sample {i}");
        }
    }
}
