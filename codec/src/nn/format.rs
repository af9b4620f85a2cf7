//! Parsing, validation and writing of `.micanet` files.

use thiserror::Error;

/// Every partial sum of every layer must stay below this magnitude (fp32-exact).
pub const ACC_BOUND: i64 = 1 << 24;

const MAGIC: &[u8; 8] = b"MICANET\0";
const MAX_INPUTS: usize = 8;
const MAX_LAYERS: usize = 256;
const MAX_CHANNELS: usize = 256;
const MAX_WEIGHTS: usize = 1 << 22;

/// A model file that cannot be used, and why.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ModelError {
    /// Not a `.micanet` file.
    #[error("not a .micanet model: bad magic")]
    BadMagic,
    /// A version this build does not read.
    #[error("model format version {0} is not supported (this build reads version 1)")]
    Version(u16),
    /// The file ends inside a field.
    #[error("model file is truncated ({0})")]
    Truncated(&'static str),
    /// Bytes after the outputs.
    #[error("model file has {0} trailing bytes after the output list")]
    Trailing(usize),
    /// A count or value outside its allowed range.
    #[error("layer {layer}: {what} = {value} is not allowed ({allowed})")]
    Invalid {
        /// Layer index (or 0 for the header).
        layer: usize,
        /// The field.
        what: &'static str,
        /// Its value.
        value: i64,
        /// What is allowed.
        allowed: &'static str,
    },
    /// Tensor sizes that do not fit together at the frame size asked for.
    #[error("layer {layer}: {what} at a {h}x{w} input")]
    Shape {
        /// Layer index.
        layer: usize,
        /// What does not fit.
        what: &'static str,
        /// Input height.
        h: usize,
        /// Input width.
        w: usize,
    },
    /// The accumulator bound is broken.
    #[error("layer {layer}, output channel {channel}: sum|w| * max|x| + |bias| = {value} reaches 2^24; partial sums would not be exact in fp32")]
    Bound {
        /// Layer index.
        layer: usize,
        /// Output channel.
        channel: usize,
        /// The bound's value.
        value: i64,
    },
}

/// Channels and value range of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// Number of channels.
    pub channels: usize,
    /// Smallest value.
    pub lo: i16,
    /// Largest value.
    pub hi: i16,
}

impl TensorSpec {
    /// Largest magnitude a value can have.
    pub fn max_abs(&self) -> i64 {
        (self.lo as i64).abs().max((self.hi as i64).abs())
    }
}

/// What a layer computes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerOp {
    /// k×k convolution with zero padding k/2.
    Conv2d {
        /// Kernel side.
        kernel: usize,
        /// 1 or 2.
        stride: usize,
        /// Requantisation shift.
        shift: u32,
        /// `[out][in][k][k]`.
        weights: Vec<i8>,
        /// Per output channel.
        bias: Vec<i32>,
    },
    /// Fully connected over the flattened operand.
    Dense {
        /// Flattened operand size.
        in_features: usize,
        /// Requantisation shift.
        shift: u32,
        /// `[out][in]`.
        weights: Vec<i8>,
        /// Per output.
        bias: Vec<i32>,
    },
    /// Depth to space.
    PixelShuffle {
        /// Upscaling factor.
        factor: usize,
    },
    /// Element-wise sum of two tensors.
    Add,
    /// Channel concatenation.
    Concat,
}

/// One layer: its operands (tensor ids), output spec and operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// Ids of the tensors it reads.
    pub operands: Vec<usize>,
    /// Output channels and range.
    pub out: TensorSpec,
    /// The operation.
    pub op: LayerOp,
}

/// A parsed and validated model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    /// Input tensors (ids 0..inputs.len()).
    pub inputs: Vec<TensorSpec>,
    /// Layers; layer i produces tensor `inputs.len() + i`.
    pub layers: Vec<Layer>,
    /// Ids of the output tensors.
    pub outputs: Vec<usize>,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ModelError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or(ModelError::Truncated(what))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, ModelError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, ModelError> {
        Ok(u16::from_le_bytes(
            self.take(2, what)?.try_into().expect("2 bytes"),
        ))
    }
    fn i16(&mut self, what: &'static str) -> Result<i16, ModelError> {
        Ok(i16::from_le_bytes(
            self.take(2, what)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }
}

fn invalid(layer: usize, what: &'static str, value: i64, allowed: &'static str) -> ModelError {
    ModelError::Invalid {
        layer,
        what,
        value,
        allowed,
    }
}

fn range(layer: usize, lo: i16, hi: i16) -> Result<(), ModelError> {
    if !(-128..=255).contains(&lo) || !(-128..=255).contains(&hi) || lo > hi {
        return Err(invalid(
            layer,
            "range",
            ((lo as i64) << 16) | (hi as i64 & 0xffff),
            "-128 <= lo <= hi <= 255",
        ));
    }
    Ok(())
}

impl Model {
    /// Parses and validates a model file.
    pub fn parse(data: &[u8]) -> Result<Model, ModelError> {
        let mut r = Reader { data, pos: 0 };
        if r.take(8, "magic").map_err(|_| ModelError::BadMagic)? != MAGIC {
            return Err(ModelError::BadMagic);
        }
        let version = r.u16("version")?;
        if version != 1 {
            return Err(ModelError::Version(version));
        }
        let reserved = r.u16("header")?;
        if reserved != 0 {
            return Err(invalid(0, "reserved", reserved as i64, "0"));
        }
        let n_in = r.u8("header")? as usize;
        if !(1..=MAX_INPUTS).contains(&n_in) {
            return Err(invalid(0, "num_inputs", n_in as i64, "1..=8"));
        }
        let n_layers = r.u16("header")? as usize;
        if !(1..=MAX_LAYERS).contains(&n_layers) {
            return Err(invalid(0, "num_layers", n_layers as i64, "1..=256"));
        }
        let mut specs = Vec::with_capacity(n_in + n_layers);
        for _ in 0..n_in {
            let channels = r.u16("input")? as usize;
            if !(1..=MAX_CHANNELS).contains(&channels) {
                return Err(invalid(0, "input channels", channels as i64, "1..=256"));
            }
            let (lo, hi) = (r.i16("input")?, r.i16("input")?);
            range(0, lo, hi)?;
            specs.push(TensorSpec { channels, lo, hi });
        }
        let mut layers = Vec::with_capacity(n_layers);
        for li in 0..n_layers {
            let op = r.u8("layer")?;
            let n_ops = r.u8("layer")? as usize;
            let want = match op {
                1..=3 => 1..=1,
                4 => 2..=2,
                5 => 2..=8,
                _ => {
                    return Err(invalid(
                        li,
                        "op",
                        op as i64,
                        "1 conv2d, 2 dense, 3 pixel_shuffle, 4 add, 5 concat",
                    ))
                }
            };
            if !want.contains(&n_ops) {
                return Err(invalid(
                    li,
                    "num_operands",
                    n_ops as i64,
                    "1 (conv2d, dense, pixel_shuffle), 2 (add), 2..=8 (concat)",
                ));
            }
            let mut operands = Vec::with_capacity(n_ops);
            for _ in 0..n_ops {
                let id = r.u16("layer")? as usize;
                if id >= specs.len() {
                    return Err(invalid(li, "operand", id as i64, "an earlier tensor"));
                }
                operands.push(id);
            }
            let (lo, hi) = (r.i16("layer")?, r.i16("layer")?);
            range(li, lo, hi)?;
            let a = specs[operands[0]];
            let (out_ch, op) = match op {
                1 | 2 => {
                    let (in_ch, out_ch, kernel, stride, in_features) = if op == 1 {
                        let in_ch = r.u16("conv2d")? as usize;
                        let out_ch = r.u16("conv2d")? as usize;
                        let kernel = r.u8("conv2d")? as usize;
                        let stride = r.u8("conv2d")? as usize;
                        if in_ch != a.channels {
                            return Err(invalid(
                                li,
                                "in_ch",
                                in_ch as i64,
                                "the operand's channel count",
                            ));
                        }
                        if ![1, 3, 5, 7].contains(&kernel) {
                            return Err(invalid(li, "kernel", kernel as i64, "1, 3, 5 or 7"));
                        }
                        if ![1, 2].contains(&stride) {
                            return Err(invalid(li, "stride", stride as i64, "1 or 2"));
                        }
                        (in_ch, out_ch, kernel, stride, in_ch * kernel * kernel)
                    } else {
                        let in_features = r.u32("dense")? as usize;
                        let out_ch = r.u16("dense")? as usize;
                        if !(1..=MAX_WEIGHTS).contains(&in_features) {
                            return Err(invalid(
                                li,
                                "in_features",
                                in_features as i64,
                                "1..=4194304",
                            ));
                        }
                        (a.channels, out_ch, 0, 0, in_features)
                    };
                    let _ = in_ch;
                    if !(1..=MAX_CHANNELS).contains(&out_ch) {
                        return Err(invalid(li, "out_ch", out_ch as i64, "1..=256"));
                    }
                    let shift = r.u8("layer")? as u32;
                    if shift > 31 {
                        return Err(invalid(li, "shift", shift as i64, "0..=31"));
                    }
                    let count = out_ch * in_features;
                    if count > MAX_WEIGHTS {
                        return Err(invalid(
                            li,
                            "weights",
                            count as i64,
                            "at most 4194304 per layer",
                        ));
                    }
                    let weights: Vec<i8> =
                        r.take(count, "weights")?.iter().map(|&b| b as i8).collect();
                    if let Some(&w) = weights.iter().find(|&&w| w == i8::MIN) {
                        return Err(invalid(li, "weight", w as i64, "-127..=127"));
                    }
                    let mut bias = Vec::with_capacity(out_ch);
                    for _ in 0..out_ch {
                        bias.push(r.u32("bias")? as i32);
                    }
                    // The accumulator bound, per output channel.
                    for (o, b) in bias.iter().enumerate() {
                        let sum: i64 = weights[o * in_features..(o + 1) * in_features]
                            .iter()
                            .map(|&w| (w as i64).abs())
                            .sum();
                        let value = sum * a.max_abs() + (*b as i64).abs();
                        if value >= ACC_BOUND {
                            return Err(ModelError::Bound {
                                layer: li,
                                channel: o,
                                value,
                            });
                        }
                    }
                    let op = if op == 1 {
                        LayerOp::Conv2d {
                            kernel,
                            stride,
                            shift,
                            weights,
                            bias,
                        }
                    } else {
                        LayerOp::Dense {
                            in_features,
                            shift,
                            weights,
                            bias,
                        }
                    };
                    (out_ch, op)
                }
                3 => {
                    let factor = r.u8("pixel_shuffle")? as usize;
                    if !(2..=4).contains(&factor) || a.channels % (factor * factor) != 0 {
                        return Err(invalid(
                            li,
                            "factor",
                            factor as i64,
                            "2..=4 dividing the channels by factor^2",
                        ));
                    }
                    if lo > a.lo || hi < a.hi {
                        return Err(invalid(
                            li,
                            "range",
                            hi as i64,
                            "containing the operand's range",
                        ));
                    }
                    (
                        a.channels / (factor * factor),
                        LayerOp::PixelShuffle { factor },
                    )
                }
                4 => {
                    let b = specs[operands[1]];
                    if b.channels != a.channels {
                        return Err(invalid(
                            li,
                            "channels",
                            b.channels as i64,
                            "equal for both operands of add",
                        ));
                    }
                    (a.channels, LayerOp::Add)
                }
                _ => {
                    let mut ch = 0;
                    for &id in &operands {
                        let s = specs[id];
                        if lo > s.lo || hi < s.hi {
                            return Err(invalid(
                                li,
                                "range",
                                hi as i64,
                                "containing every operand's range",
                            ));
                        }
                        ch += s.channels;
                    }
                    if ch > MAX_CHANNELS {
                        return Err(invalid(li, "channels", ch as i64, "1..=256"));
                    }
                    (ch, LayerOp::Concat)
                }
            };
            let out = TensorSpec {
                channels: out_ch,
                lo,
                hi,
            };
            specs.push(out);
            layers.push(Layer { operands, out, op });
        }
        let n_out = r.u8("outputs")? as usize;
        if !(1..=8).contains(&n_out) {
            return Err(invalid(0, "num_outputs", n_out as i64, "1..=8"));
        }
        let mut outputs = Vec::with_capacity(n_out);
        for _ in 0..n_out {
            let id = r.u16("outputs")? as usize;
            if id >= specs.len() {
                return Err(invalid(0, "output", id as i64, "a tensor id"));
            }
            outputs.push(id);
        }
        if r.pos != data.len() {
            return Err(ModelError::Trailing(data.len() - r.pos));
        }
        Ok(Model {
            inputs: specs[..n_in].to_vec(),
            layers,
            outputs,
        })
    }

    /// Multiply-accumulates per input pixel, and the parameters, of the model.
    /// Convolutions after a stride-2 layer count at their reduced resolution;
    /// dense layers count once per call (divided by `pixels`).
    pub fn cost(&self, pixels: usize) -> (f64, usize) {
        let mut scale = vec![1.0f64; self.inputs.len() + self.layers.len()];
        let (mut macs, mut params) = (0.0, 0usize);
        for (li, l) in self.layers.iter().enumerate() {
            let s_in = scale[l.operands[0]];
            let (s_out, m) = match &l.op {
                LayerOp::Conv2d {
                    stride,
                    weights,
                    bias,
                    ..
                } => {
                    params += weights.len() + bias.len();
                    let s = s_in / (stride * stride) as f64;
                    (s, s * weights.len() as f64)
                }
                LayerOp::Dense { weights, bias, .. } => {
                    params += weights.len() + bias.len();
                    (0.0, weights.len() as f64 / pixels.max(1) as f64)
                }
                LayerOp::PixelShuffle { factor } => (s_in * (factor * factor) as f64, 0.0),
                LayerOp::Add | LayerOp::Concat => (s_in, 0.0),
            };
            scale[self.inputs.len() + li] = s_out;
            macs += m;
        }
        (macs, params)
    }

    /// Smallest margin of the accumulator bound over all channels: how far
    /// below 2^24 the worst channel's `sum|w| * max|x| + |bias|` stays (as a fraction of 2^24).
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn bound_margin(&self) -> f64 {
        let mut worst = 0i64;
        for l in &self.layers {
            let a = self.spec(l.operands[0]);
            let (weights, bias, per) = match &l.op {
                LayerOp::Conv2d { weights, bias, .. } | LayerOp::Dense { weights, bias, .. } => {
                    (weights, bias, weights.len() / bias.len())
                }
                _ => continue,
            };
            for (o, b) in bias.iter().enumerate() {
                let sum: i64 = weights[o * per..(o + 1) * per]
                    .iter()
                    .map(|&w| (w as i64).abs())
                    .sum();
                worst = worst.max(sum * a.max_abs() + (*b as i64).abs());
            }
        }
        1.0 - worst as f64 / ACC_BOUND as f64
    }

    /// A model computing this model's outputs and then `other`'s, from the
    /// same inputs (both must take identical inputs). It is how two networks
    /// that serve one tool ship as one file, under one identity.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn join(&self, other: &Model) -> Result<Model, ModelError> {
        if self.inputs != other.inputs {
            return Err(invalid(
                0,
                "inputs",
                other.inputs.len() as i64,
                "the same inputs in both models",
            ));
        }
        let n_in = self.inputs.len();
        let offset = self.layers.len();
        let moved = |id: usize| if id < n_in { id } else { id + offset };
        let mut layers = self.layers.clone();
        layers.extend(other.layers.iter().map(|l| Layer {
            operands: l.operands.iter().map(|&o| moved(o)).collect(),
            ..l.clone()
        }));
        let mut outputs = self.outputs.clone();
        outputs.extend(other.outputs.iter().map(|&o| moved(o)));
        let joined = Model {
            inputs: self.inputs.clone(),
            layers,
            outputs,
        };
        // The format's limits (layer and output counts) hold for the result.
        Model::parse(&joined.to_bytes())
    }

    /// The part of the model that computes output `k` alone: the layers it
    /// depends on, renumbered, with that single output.
    ///
    /// # Panics
    /// If `k` is not an output index.
    pub fn only_output(&self, k: usize) -> Model {
        let n_in = self.inputs.len();
        let mut needed = vec![false; n_in + self.layers.len()];
        needed[self.outputs[k]] = true;
        for li in (0..self.layers.len()).rev() {
            if needed[n_in + li] {
                for &o in &self.layers[li].operands {
                    needed[o] = true;
                }
            }
        }
        let mut new_id: Vec<usize> = (0..n_in).collect();
        let mut layers = Vec::new();
        for (li, l) in self.layers.iter().enumerate() {
            if needed[n_in + li] {
                new_id.push(n_in + layers.len());
                layers.push(Layer {
                    operands: l.operands.iter().map(|&o| new_id[o]).collect(),
                    ..l.clone()
                });
            } else {
                // Never read: only needed layers refer to needed tensors.
                new_id.push(usize::MAX);
            }
        }
        Model {
            inputs: self.inputs.clone(),
            layers,
            outputs: vec![new_id[self.outputs[k]]],
        }
    }

    /// The spec of tensor `id`.
    pub fn spec(&self, id: usize) -> TensorSpec {
        if id < self.inputs.len() {
            self.inputs[id]
        } else {
            self.layers[id - self.inputs.len()].out
        }
    }

    /// Serialises the model (the inverse of [`Model::parse`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(MAGIC);
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        v.push(self.inputs.len() as u8);
        v.extend_from_slice(&(self.layers.len() as u16).to_le_bytes());
        for i in &self.inputs {
            v.extend_from_slice(&(i.channels as u16).to_le_bytes());
            v.extend_from_slice(&i.lo.to_le_bytes());
            v.extend_from_slice(&i.hi.to_le_bytes());
        }
        for l in &self.layers {
            let code = match l.op {
                LayerOp::Conv2d { .. } => 1,
                LayerOp::Dense { .. } => 2,
                LayerOp::PixelShuffle { .. } => 3,
                LayerOp::Add => 4,
                LayerOp::Concat => 5,
            };
            v.push(code);
            v.push(l.operands.len() as u8);
            for &o in &l.operands {
                v.extend_from_slice(&(o as u16).to_le_bytes());
            }
            v.extend_from_slice(&l.out.lo.to_le_bytes());
            v.extend_from_slice(&l.out.hi.to_le_bytes());
            match &l.op {
                LayerOp::Conv2d {
                    kernel,
                    stride,
                    shift,
                    weights,
                    bias,
                } => {
                    let in_ch = self.spec(l.operands[0]).channels;
                    v.extend_from_slice(&(in_ch as u16).to_le_bytes());
                    v.extend_from_slice(&(l.out.channels as u16).to_le_bytes());
                    v.push(*kernel as u8);
                    v.push(*stride as u8);
                    v.push(*shift as u8);
                    v.extend(weights.iter().map(|&w| w as u8));
                    bias.iter()
                        .for_each(|b| v.extend_from_slice(&b.to_le_bytes()));
                }
                LayerOp::Dense {
                    in_features,
                    shift,
                    weights,
                    bias,
                } => {
                    v.extend_from_slice(&(*in_features as u32).to_le_bytes());
                    v.extend_from_slice(&(l.out.channels as u16).to_le_bytes());
                    v.push(*shift as u8);
                    v.extend(weights.iter().map(|&w| w as u8));
                    bias.iter()
                        .for_each(|b| v.extend_from_slice(&b.to_le_bytes()));
                }
                LayerOp::PixelShuffle { factor } => v.push(*factor as u8),
                LayerOp::Add | LayerOp::Concat => {}
            }
        }
        v.push(self.outputs.len() as u8);
        for &o in &self.outputs {
            v.extend_from_slice(&(o as u16).to_le_bytes());
        }
        v
    }
}

/// A model's identity: the SHA-256 of its file, as streams name it.
pub fn identity(file: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(file).into()
}

/// Lower-case hexadecimal of a digest, as model identities are printed.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
