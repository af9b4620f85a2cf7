//! The CPU integer engine: the definition of a network's result.
//!
//! This is the scalar reference. It evaluates layer by layer into buffers
//! allocated once per input size; every value is an exact integer.
//! Convolutions run their output channels in parallel (rayon); each value is
//! computed by one thread in a fixed order, so results do not depend on the
//! number of threads.

use super::format::{LayerOp, Model, ModelError};
use rayon::prelude::*;

/// Shape of a tensor at a given input size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    c: usize,
    h: usize,
    w: usize,
}

impl Shape {
    fn len(&self) -> usize {
        self.c * self.h * self.w
    }
}

/// A model bound to an input size, with its buffers.
pub struct Engine {
    model: Model,
    shapes: Vec<Shape>,
    tensors: Vec<Vec<i16>>,
}

impl Engine {
    /// Prepares `model` for inputs of `h` x `w` samples (allocates every tensor).
    pub fn new(model: Model, h: usize, w: usize) -> Result<Engine, ModelError> {
        // The fields of a `Model` are public: validate one built by hand too.
        let model = Model::parse(&model.to_bytes())?;
        let mut shapes: Vec<Shape> = model
            .inputs
            .iter()
            .map(|i| Shape {
                c: i.channels,
                h,
                w,
            })
            .collect();
        for (li, l) in model.layers.iter().enumerate() {
            let a = shapes[l.operands[0]];
            let shape = match &l.op {
                LayerOp::Conv2d { stride, .. } => Shape {
                    c: l.out.channels,
                    h: a.h.div_ceil(*stride),
                    w: a.w.div_ceil(*stride),
                },
                LayerOp::Dense { in_features, .. } => {
                    if a.len() != *in_features {
                        return Err(ModelError::Shape {
                            layer: li,
                            what: "dense in_features differs from the operand's size",
                            h,
                            w,
                        });
                    }
                    Shape {
                        c: l.out.channels,
                        h: 1,
                        w: 1,
                    }
                }
                LayerOp::PixelShuffle { factor } => Shape {
                    c: l.out.channels,
                    h: a.h * factor,
                    w: a.w * factor,
                },
                LayerOp::Add | LayerOp::Concat => {
                    for &o in &l.operands[1..] {
                        let b = shapes[o];
                        if (b.h, b.w) != (a.h, a.w) || (matches!(l.op, LayerOp::Add) && b.c != a.c)
                        {
                            return Err(ModelError::Shape {
                                layer: li,
                                what: "operands of different sizes",
                                h,
                                w,
                            });
                        }
                    }
                    Shape {
                        c: l.out.channels,
                        h: a.h,
                        w: a.w,
                    }
                }
            };
            if shape.len() > 1 << 28 {
                return Err(ModelError::Shape {
                    layer: li,
                    what: "tensor larger than 2^28 values",
                    h,
                    w,
                });
            }
            shapes.push(shape);
        }
        let tensors = shapes.iter().map(|s| vec![0i16; s.len()]).collect();
        Ok(Engine {
            model,
            shapes,
            tensors,
        })
    }

    /// Runs the network on `inputs` (one slice per model input, channel-major
    /// `c * h * w`, values within the input's declared range). Allocates nothing.
    pub fn run(&mut self, inputs: &[&[i16]]) -> Result<(), ModelError> {
        for (i, (spec, data)) in self.model.inputs.iter().zip(inputs).enumerate() {
            if data.len() != self.shapes[i].len() {
                return Err(ModelError::Shape {
                    layer: 0,
                    what: "input slice of the wrong length",
                    h: self.shapes[i].h,
                    w: self.shapes[i].w,
                });
            }
            if let Some(&v) = data.iter().find(|&&v| v < spec.lo || v > spec.hi) {
                return Err(ModelError::Invalid {
                    layer: 0,
                    what: "input value",
                    value: v as i64,
                    allowed: "within the input's declared range",
                });
            }
            self.tensors[i].copy_from_slice(data);
        }
        let n_in = self.model.inputs.len();
        for li in 0..self.model.layers.len() {
            let (before, after) = self.tensors.split_at_mut(n_in + li);
            let out = &mut after[0];
            let layer = &self.model.layers[li];
            let s_out = self.shapes[n_in + li];
            let a = layer.operands[0];
            let (lo, hi) = (layer.out.lo as i32, layer.out.hi as i32);
            match &layer.op {
                LayerOp::Conv2d {
                    kernel,
                    stride,
                    shift,
                    weights,
                    bias,
                } => conv2d(
                    &before[a],
                    self.shapes[a],
                    out,
                    s_out,
                    *kernel,
                    *stride,
                    *shift,
                    weights,
                    bias,
                    lo,
                    hi,
                ),
                LayerOp::Dense {
                    in_features,
                    shift,
                    weights,
                    bias,
                } => {
                    let x = &before[a];
                    for (o, y) in out.iter_mut().enumerate() {
                        let row = &weights[o * in_features..(o + 1) * in_features];
                        let acc: i32 = bias[o]
                            + row
                                .iter()
                                .zip(x.iter())
                                .map(|(&w, &v)| w as i32 * v as i32)
                                .sum::<i32>();
                        *y = requantise(acc, *shift, lo, hi);
                    }
                }
                LayerOp::PixelShuffle { factor } => {
                    let (x, sa) = (&before[a], self.shapes[a]);
                    let f = *factor;
                    for c in 0..s_out.c {
                        for y in 0..sa.h {
                            for xx in 0..sa.w {
                                for dy in 0..f {
                                    for dx in 0..f {
                                        let src =
                                            ((c * f * f + dy * f + dx) * sa.h + y) * sa.w + xx;
                                        let dst =
                                            (c * s_out.h + y * f + dy) * s_out.w + xx * f + dx;
                                        out[dst] = x[src];
                                    }
                                }
                            }
                        }
                    }
                }
                LayerOp::Add => {
                    let (x, y) = (&before[a], &before[layer.operands[1]]);
                    for ((o, &p), &q) in out.iter_mut().zip(x.iter()).zip(y.iter()) {
                        *o = (p as i32 + q as i32).clamp(lo, hi) as i16;
                    }
                }
                LayerOp::Concat => {
                    let mut at = 0;
                    for &id in &layer.operands {
                        let t = &before[id];
                        out[at..at + t.len()].copy_from_slice(t);
                        at += t.len();
                    }
                }
            }
        }
        Ok(())
    }

    /// Output `k` after [`Engine::run`]: channel-major values and (channels, height, width).
    pub fn output(&self, k: usize) -> (&[i16], (usize, usize, usize)) {
        let id = self.model.outputs[k];
        let s = self.shapes[id];
        (&self.tensors[id], (s.c, s.h, s.w))
    }
}

/// `(acc + 2^(shift-1)) >> shift`, clamped: round half up.
#[inline]
fn requantise(acc: i32, shift: u32, lo: i32, hi: i32) -> i16 {
    let v = if shift == 0 {
        acc
    } else {
        (acc + (1 << (shift - 1))) >> shift
    };
    v.clamp(lo, hi) as i16
}

#[allow(clippy::too_many_arguments)]
fn conv2d(
    x: &[i16],
    sa: Shape,
    out: &mut [i16],
    so: Shape,
    k: usize,
    stride: usize,
    shift: u32,
    weights: &[i8],
    bias: &[i32],
    lo: i32,
    hi: i32,
) {
    let r = (k / 2) as isize;
    let plane = so.h * so.w;
    // Output channels are independent: computed in parallel, the result does
    // not depend on the thread count.
    out.par_chunks_mut(plane).enumerate().for_each(|(o, out)| {
        for oy in 0..so.h {
            for ox in 0..so.w {
                let mut acc = bias[o];
                for i in 0..sa.c {
                    let wbase = (o * sa.c + i) * k * k;
                    for ky in 0..k {
                        let iy = (oy * stride) as isize + ky as isize - r;
                        if iy < 0 || iy >= sa.h as isize {
                            continue;
                        }
                        for kx in 0..k {
                            let ix = (ox * stride) as isize + kx as isize - r;
                            if ix < 0 || ix >= sa.w as isize {
                                continue;
                            }
                            let v = x[(i * sa.h + iy as usize) * sa.w + ix as usize];
                            acc += weights[wbase + ky * k + kx] as i32 * v as i32;
                        }
                    }
                }
                out[oy * so.w + ox] = requantise(acc, shift, lo, hi);
            }
        }
    });
}
