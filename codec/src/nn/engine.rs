//! The CPU integer engine: the definition of a network's result.
//!
//! This is the scalar reference. It evaluates layer by layer into buffers
//! allocated once per input size; every value is an exact integer.
//! Convolutions run their output channels in parallel (rayon); each value is
//! computed by one thread in a fixed order, so results do not depend on the
//! number of threads.

use super::format::{LayerOp, Model, ModelError};
use crate::cpu::CpuLevel;
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
    /// AVX2 weight packing per layer (convolutions only, when AVX2 is used).
    #[cfg(target_arch = "x86_64")]
    packed: Vec<Option<super::avx2::Packed>>,
    /// Zero-padded pixel-major copies of a convolution's input: one is read
    /// while a fused convolution writes the next one's input into the other.
    padded: [Vec<i16>; 2],
    /// A convolution's output by rows, pixel-major (`[y][x][channel]`, channels
    /// padded to 8), before it is stored channel-major.
    rows: Vec<i16>,
    /// Per layer: an AVX2 convolution whose only reader is the next layer, an
    /// AVX2 convolution too. It writes its output straight into the next
    /// layer's padded pixel-major input and skips the channel-major tensor,
    /// which nothing reads (the values are the same, only their layout differs).
    #[cfg(target_arch = "x86_64")]
    fuse_next: Vec<bool>,
}

impl Engine {
    /// Prepares `model` for inputs of `h` x `w` samples (allocates every tensor).
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn new(model: Model, h: usize, w: usize) -> Result<Engine, ModelError> {
        Engine::with_cpu(model, h, w, CpuLevel::runtime())
    }

    /// As [`Engine::new`], with the kernel level chosen by the caller (results are identical).
    pub fn with_cpu(model: Model, h: usize, w: usize, cpu: CpuLevel) -> Result<Engine, ModelError> {
        let cpu = cpu.clamp_to_supported();
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
        let n_in = model.inputs.len();
        let (mut padded_len, mut rows_len) = (0, 0);
        #[cfg(target_arch = "x86_64")]
        let mut packed = Vec::with_capacity(model.layers.len());
        for (li, l) in model.layers.iter().enumerate() {
            if let LayerOp::Conv2d {
                kernel,
                weights,
                bias,
                ..
            } = &l.op
            {
                let a = shapes[l.operands[0]];
                if cpu >= CpuLevel::Avx2 {
                    padded_len = padded_len.max(super::avx2_scratch_len(a.c, a.h, a.w, *kernel));
                    let so = shapes[n_in + li];
                    rows_len = rows_len.max(super::avx2_padded_out(so.c) * so.h * so.w);
                    #[cfg(target_arch = "x86_64")]
                    packed.push(Some(super::avx2::pack(
                        weights,
                        bias,
                        l.out.channels,
                        a.c,
                        *kernel,
                    )));
                    continue;
                }
                let _ = (weights, bias);
            }
            #[cfg(target_arch = "x86_64")]
            packed.push(None);
        }
        #[cfg(target_arch = "x86_64")]
        let fuse_next = (0..model.layers.len())
            .map(|li| {
                let id = n_in + li;
                let next = li + 1;
                packed[li].is_some()
                    && next < model.layers.len()
                    && packed[next].is_some()
                    && model.layers[next].operands == [id]
                    && !model.outputs.contains(&id)
                    && model.layers[next + 1..]
                        .iter()
                        .all(|l| !l.operands.contains(&id))
            })
            .collect();
        Ok(Engine {
            model,
            shapes,
            tensors,
            #[cfg(target_arch = "x86_64")]
            packed,
            padded: [vec![0; padded_len], vec![0; padded_len]],
            rows: vec![0; rows_len],
            #[cfg(target_arch = "x86_64")]
            fuse_next,
        })
    }

    /// Runs the network on `inputs` (one slice per model input, channel-major
    /// `c * h * w`, values within the input's declared range). No tensor is allocated (only a short list of row-block slices per AVX2 convolution).
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
        // Which padded buffer holds the current convolution's input when the
        // layer before wrote it there (fused).
        #[cfg(target_arch = "x86_64")]
        let mut fused_input: Option<usize> = None;
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
                } => {
                    #[cfg(target_arch = "x86_64")]
                    if let Some(p) = &self.packed[li] {
                        let sa = self.shapes[a];
                        let shape = super::avx2::ConvShape {
                            in_c: sa.c,
                            in_h: sa.h,
                            in_w: sa.w,
                            out_c: s_out.c,
                            out_h: s_out.h,
                            out_w: s_out.w,
                            k: *kernel,
                            stride: *stride,
                            shift: *shift,
                            lo,
                            hi,
                        };
                        let cur = match fused_input.take() {
                            Some(cur) => cur,
                            None => {
                                super::avx2::to_padded(&before[a], &shape, &mut self.padded[0]);
                                0
                            }
                        };
                        let (first, second) = self.padded.split_at_mut(1);
                        let (input, next_input) = if cur == 0 {
                            (&first[0], &mut second[0])
                        } else {
                            (&second[0], &mut first[0])
                        };
                        if self.fuse_next[li] {
                            let next_kernel = match &self.model.layers[li + 1].op {
                                LayerOp::Conv2d { kernel, .. } => *kernel,
                                _ => unreachable!("fused only into a convolution"),
                            };
                            conv2d_avx2_into_padded(
                                input,
                                &shape,
                                p,
                                bias,
                                next_kernel,
                                next_input,
                            );
                            fused_input = Some(1 - cur);
                        } else {
                            conv2d_avx2(input, &shape, p, bias, out, &mut self.rows);
                        }
                        continue;
                    }
                    conv2d(
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
                    )
                }
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

/// The AVX2 convolution of the padded input: compute output rows in
/// parallel, store them channel-major.
#[cfg(target_arch = "x86_64")]
fn conv2d_avx2(
    padded: &[i16],
    s: &super::avx2::ConvShape,
    packed: &super::avx2::Packed,
    bias: &[i32],
    out: &mut [i16],
    rows: &mut [i16],
) {
    let oc = super::avx2::padded_out(s.out_c);
    let row_len = oc * s.out_w;
    rows[..row_len * s.out_h]
        .par_chunks_mut(row_len)
        .enumerate()
        .for_each(|(oy, row)| {
            // SAFETY: this path is taken only when the engine's level is AVX2,
            // which `clamp_to_supported` grants only on CPUs reporting AVX2.
            unsafe { super::avx2::conv_row(padded, s, packed, bias, oy, row) }
        });
    // Rows are pixel-major: store channel-major. Each task takes a block of
    // rows of every output plane, so the pixel-major rows are read once, in order.
    let rows = &*rows;
    let plane_len = s.out_h * s.out_w;
    const BLOCK_ROWS: usize = 8;
    let mut blocks: Vec<Vec<&mut [i16]>> = (0..s.out_h.div_ceil(BLOCK_ROWS))
        .map(|_| Vec::with_capacity(s.out_c))
        .collect();
    for plane in out[..s.out_c * plane_len].chunks_mut(plane_len) {
        for (b, chunk) in plane.chunks_mut(BLOCK_ROWS * s.out_w).enumerate() {
            blocks[b].push(chunk);
        }
    }
    blocks
        .into_par_iter()
        .enumerate()
        .for_each(|(b, mut planes)| {
            let y0 = b * BLOCK_ROWS;
            let n = planes[0].len() / s.out_w;
            for dy in 0..n {
                let src = &rows[(y0 + dy) * row_len..][..row_len];
                for (ox, px) in src.chunks_exact(oc).enumerate() {
                    for (o, plane) in planes.iter_mut().enumerate() {
                        plane[dy * s.out_w + ox] = px[o];
                    }
                }
            }
        });
}

/// The AVX2 convolution of the padded input, its output written as the
/// zero-padded pixel-major input of a following `next_kernel` convolution
/// (what [`super::avx2::to_padded`] would make of the channel-major output).
#[cfg(target_arch = "x86_64")]
fn conv2d_avx2_into_padded(
    padded: &[i16],
    s: &super::avx2::ConvShape,
    packed: &super::avx2::Packed,
    bias: &[i32],
    next_kernel: usize,
    next_padded: &mut [i16],
) {
    let r = next_kernel / 2;
    let cp = s.out_c.div_ceil(2) * 2;
    let oc = super::avx2::padded_out(s.out_c);
    let pw = s.out_w + 2 * r;
    let len = super::avx2::scratch_len(s.out_c, s.out_h, s.out_w, next_kernel);
    next_padded[..len]
        .par_chunks_mut(pw * cp)
        .enumerate()
        .for_each_init(
            || vec![0i16; oc * s.out_w],
            |row, (py, dst)| {
                if py < r || py >= s.out_h + r {
                    dst.fill(0);
                    return;
                }
                // SAFETY: this path is taken only when the engine's level is
                // AVX2, which `clamp_to_supported` grants only on CPUs reporting AVX2.
                unsafe { super::avx2::conv_row(padded, s, packed, bias, py - r, row) };
                dst[..r * cp].fill(0);
                dst[(r + s.out_w) * cp..].fill(0);
                // Channels beyond `out_c` (to the even `cp`) meet zero weights
                // in the next layer, so whatever they hold adds nothing.
                for (d, px) in dst[r * cp..(r + s.out_w) * cp]
                    .chunks_exact_mut(cp)
                    .zip(row.chunks_exact(oc))
                {
                    d.copy_from_slice(&px[..cp]);
                }
            },
        );
}

/// `(acc + 2^(shift-1)) >> shift`, clamped: round half up.
#[inline]
pub(crate) fn requantise(acc: i32, shift: u32, lo: i32, hi: i32) -> i16 {
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
    if stride == 1 {
        return conv2d_stride1(x, sa, out, so, k, shift, weights, bias, lo, hi);
    }
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

/// Stride-1 convolution, the same sums in another order: a row of
/// accumulators gains one weight times a shifted input row at a time (the
/// inner loop is contiguous, so the compiler vectorises it). Integer sums
/// below 2^24 do not depend on their order.
#[allow(clippy::too_many_arguments)]
fn conv2d_stride1(
    x: &[i16],
    sa: Shape,
    out: &mut [i16],
    so: Shape,
    k: usize,
    shift: u32,
    weights: &[i8],
    bias: &[i32],
    lo: i32,
    hi: i32,
) {
    const CHUNK: usize = 256;
    let r = k / 2;
    let plane = so.h * so.w;
    out.par_chunks_mut(plane).enumerate().for_each(|(o, out)| {
        let mut acc = [0i32; CHUNK];
        for oy in 0..so.h {
            for x0 in (0..so.w).step_by(CHUNK) {
                let n = CHUNK.min(so.w - x0);
                let acc = &mut acc[..n];
                acc.fill(bias[o]);
                for i in 0..sa.c {
                    let wbase = (o * sa.c + i) * k * k;
                    for ky in 0..k {
                        let iy = oy as isize + ky as isize - r as isize;
                        if iy < 0 || iy >= sa.h as isize {
                            continue;
                        }
                        let row = &x[(i * sa.h + iy as usize) * sa.w..][..sa.w];
                        for kx in 0..k {
                            let w = weights[wbase + ky * k + kx] as i32;
                            if w == 0 {
                                continue;
                            }
                            // Output ox reads input ox + kx - r: keep it inside the row.
                            let lo_x = (r.saturating_sub(kx)).max(x0);
                            let hi_x = (sa.w + r).saturating_sub(kx).min(x0 + n);
                            if lo_x >= hi_x {
                                continue;
                            }
                            let src = &row[lo_x + kx - r..hi_x + kx - r];
                            for (a, &v) in acc[lo_x - x0..hi_x - x0].iter_mut().zip(src) {
                                *a += w * v as i32;
                            }
                        }
                    }
                }
                let dst = &mut out[oy * so.w + x0..][..n];
                for (d, &a) in dst.iter_mut().zip(acc.iter()) {
                    *d = requantise(a, shift, lo, hi);
                }
            }
        }
    });
}
