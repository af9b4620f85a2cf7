//! Restoration chains: the fast path for networks of one shape, the loop
//! filter's. A chain is a run of stride-1 convolutions over the samples (and
//! side planes constant over the picture), whose last output, one channel,
//! is added to the samples.
//!
//! The result equals the [`Engine`](super::Engine)'s (tested at every CPU
//! level): only the order and place of the work differ.
//!
//! - **Streamed rows, cache-sized tiles.** A tile of output samples runs
//!   through every layer row by row: each layer keeps only the `k` input rows
//!   its next output row reads (a ring), so a tile's activations stay in the
//!   core's cache instead of whole-frame tensors going through memory.
//!   Convolutions are "valid" (each layer's rows are narrower than its
//!   input's by the kernel's reach); the tile's input is the picture around it
//!   with its edges repeated. That equals the engine's zero-padded run over the
//!   edge-extended plane because no output sample of the picture reaches the
//!   zeros: the caller checks that the chain's reach is within the extension.
//! - **Threads over tiles.** Each output sample is computed by one tile with
//!   the same integer sums whatever the thread count.
//! - **Constant side planes folded into the bias.** The first layer's side
//!   channels are the same at every position a picture sample reads, so their
//!   weighted sum is a per-channel constant, added to the bias once per call.
//! - **Kernels** (`scalar`, `avx2`): pixel-major rows (`[x][channel]`,
//!   channels padded to a multiple of 8 between layers), several pixels and
//!   output groups per register block; the single-channel last layer as dot
//!   products along the row.

use super::format::{LayerOp, Model};
use super::requantise;
use crate::cpu::CpuLevel;
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod scalar;
#[cfg(test)]
mod tests;

/// Spare pixels at the end of every pixel-major row: kernels run whole
/// blocks of pixels and may read and write past a row's used width.
const SLACK_PIXELS: usize = 16;

/// Largest kernel side a chain accepts.
const MAX_KERNEL: usize = 7;

/// Output rows of one tile.
const TILE_ROWS: usize = 64;
/// Output columns of one tile (at most; a region is split into equal stripes).
const TILE_COLS: usize = 256;

/// One convolution of a chain, with its weights in the engine's order and
/// packed for the kernels.
pub(crate) struct ChainConv {
    /// Kernel side (odd).
    pub(crate) k: usize,
    /// Input channels the weights read.
    pub(crate) in_c: usize,
    /// Channels per pixel of the input rows (even; 2 for the samples).
    pub(crate) cp_in: usize,
    /// Output channels.
    pub(crate) out_c: usize,
    /// Channels per pixel of the output rows: `out_c` rounded up to 8
    /// (the padding channels hold values the next layer's zero weights ignore).
    pub(crate) cp_out: usize,
    /// Requantisation shift.
    pub(crate) shift: u32,
    /// Output range.
    pub(crate) lo: i32,
    /// Output range.
    pub(crate) hi: i32,
    /// `[out][in_c][k][k]`.
    pub(crate) weights: Vec<i8>,
    /// Per output channel, padded with zeros to `cp_out`.
    pub(crate) bias: Vec<i32>,
    /// For `vpmaddwd`: `[tap][input pair][group of 8 outputs][8 outputs x 2 inputs]`.
    pub(crate) packed: Vec<i16>,
    /// For a single-output layer, per kernel row: the weights of the
    /// `k * cp_in` values a pixel's `k` neighbours hold along the row,
    /// padded with zeros to a multiple of 16.
    pub(crate) packed_rows: Vec<i16>,
}

impl ChainConv {
    #[allow(clippy::too_many_arguments)]
    fn new(
        k: usize,
        in_c: usize,
        cp_in: usize,
        out_c: usize,
        shift: u32,
        (lo, hi): (i32, i32),
        weights: Vec<i8>,
        bias: &[i32],
    ) -> ChainConv {
        let cp_out = out_c.div_ceil(8) * 8;
        let (pairs, groups) = (cp_in / 2, cp_out / 8);
        let mut packed = vec![0i16; k * k * pairs * groups * 16];
        for t in 0..k * k {
            for p in 0..pairs {
                for o in 0..out_c {
                    for half in 0..2 {
                        let i = 2 * p + half;
                        if i < in_c {
                            let (g, lane) = (o / 8, o % 8);
                            packed[(((t * pairs + p) * groups + g) * 8 + lane) * 2 + half] =
                                weights[(o * in_c + i) * k * k + t] as i16;
                        }
                    }
                }
            }
        }
        let row_len = Self::row_len(k, cp_in);
        let mut packed_rows = Vec::new();
        if out_c == 1 {
            packed_rows = vec![0i16; k * row_len];
            for ky in 0..k {
                for kx in 0..k {
                    for i in 0..in_c {
                        packed_rows[ky * row_len + kx * cp_in + i] =
                            weights[(i * k + ky) * k + kx] as i16;
                    }
                }
            }
        }
        let mut padded_bias = vec![0i32; cp_out];
        padded_bias[..out_c].copy_from_slice(bias);
        ChainConv {
            k,
            in_c,
            cp_in,
            out_c,
            cp_out,
            shift,
            lo,
            hi,
            weights,
            bias: padded_bias,
            packed,
            packed_rows,
        }
    }

    /// Length of one kernel row of `packed_rows`.
    pub(crate) fn row_len(k: usize, cp_in: usize) -> usize {
        (k * cp_in).div_ceil(16) * 16
    }
}

/// A network recognised as a chain (see the module's documentation).
pub struct Chain {
    /// Every convolution; the last has one output channel.
    pub(crate) convs: Vec<ChainConv>,
    /// Per output channel of the first convolution, per side channel: the
    /// sum of its weights over the kernel.
    side_sums: Vec<Vec<i32>>,
    /// Range of the sum of the samples and the correction.
    add_lo: i32,
    add_hi: i32,
    /// Rows (and columns) of input an output sample reads on each side.
    reach: usize,
}

/// A rectangle `[x0, x1) x [y0, y1)` of samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// Left column.
    pub x0: usize,
    /// Top row.
    pub y0: usize,
    /// Column past the right edge.
    pub x1: usize,
    /// Row past the bottom edge.
    pub y1: usize,
}

impl Chain {
    /// Recognises `model` (one output) as a chain: the output is
    /// `samples + correction` (an add of input 0 and a one-channel
    /// convolution), the correction comes from stride-1 convolutions of odd
    /// side up to 7 in a row, the first reading input 0 or the concatenation
    /// of input 0 (one channel) and input 1 (the side planes). Anything
    /// else: `None` (the engine runs it).
    pub fn from_model(model: &Model) -> Option<Chain> {
        let n_in = model.inputs.len();
        let layer_of = |id: usize| id.checked_sub(n_in).map(|li| &model.layers[li]);
        if model.outputs.len() != 1 || model.inputs.first()?.channels != 1 {
            return None;
        }
        let add = layer_of(model.outputs[0])?;
        let LayerOp::Add = add.op else { return None };
        let mut tensor = match add.operands[..] {
            [0, t] | [t, 0] if t != 0 => t,
            _ => return None,
        };
        // Walk back through the convolutions.
        let mut convs_rev = Vec::new();
        let side_c = loop {
            let l = layer_of(tensor)?;
            match &l.op {
                LayerOp::Conv2d {
                    kernel, stride: 1, ..
                } if kernel % 2 == 1 && *kernel <= MAX_KERNEL => {
                    convs_rev.push(l);
                    let a = l.operands[0];
                    if a == 0 {
                        break 0;
                    }
                    if let Some(c) = layer_of(a) {
                        if let LayerOp::Concat = c.op {
                            if c.operands == [0, 1] && n_in == 2 {
                                break model.inputs[1].channels;
                            }
                            return None;
                        }
                    }
                    tensor = a;
                }
                _ => return None,
            }
        };
        convs_rev.reverse();
        let layers = convs_rev;
        let last = layers.last()?;
        if last.out.channels != 1 {
            return None;
        }
        let mut convs = Vec::with_capacity(layers.len());
        let mut side_sums = Vec::new();
        let mut cp_in = 2;
        for (li, l) in layers.iter().enumerate() {
            let LayerOp::Conv2d {
                kernel,
                shift,
                weights,
                bias,
                ..
            } = &l.op
            else {
                unreachable!("only convolutions were collected");
            };
            let k = *kernel;
            let out_c = l.out.channels;
            let full_in = weights.len() / (out_c * k * k);
            let (in_c, weights) = if li == 0 {
                // The sample channel keeps its weights; the side channels'
                // sum over the kernel becomes a per-call bias term.
                side_sums = (0..out_c)
                    .map(|o| {
                        (0..side_c)
                            .map(|c| {
                                let w = &weights[(o * full_in + 1 + c) * k * k..][..k * k];
                                w.iter().map(|&v| v as i32).sum()
                            })
                            .collect()
                    })
                    .collect();
                let sample: Vec<i8> = (0..out_c)
                    .flat_map(|o| weights[o * full_in * k * k..][..k * k].iter().copied())
                    .collect();
                (1, sample)
            } else {
                (full_in, weights.clone())
            };
            let conv = ChainConv::new(
                k,
                in_c,
                cp_in,
                out_c,
                *shift,
                (l.out.lo as i32, l.out.hi as i32),
                weights,
                bias,
            );
            cp_in = conv.cp_out;
            convs.push(conv);
        }
        let reach = convs.iter().map(|c| c.k / 2).sum();
        Some(Chain {
            convs,
            side_sums,
            add_lo: add.out.lo as i32,
            add_hi: add.out.hi as i32,
            reach,
        })
    }

    /// Input rows (and columns) an output sample reads on each side.
    pub fn reach(&self) -> usize {
        self.reach
    }

    /// Multiply-accumulates per output sample (the network's own count).
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn macs_per_sample(&self) -> u64 {
        self.convs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let in_c = if i == 0 {
                    1 + self.side_sums.first().map_or(0, |s| s.len())
                } else {
                    c.in_c
                };
                (c.k * c.k * in_c * c.out_c) as u64
            })
            .sum()
    }

    /// Filters the samples of `rects` of a `width` x `height` plane of 8-bit
    /// `samples` (the picture beyond its edges repeats the edge samples),
    /// with side values `side` (one per side channel the network reads),
    /// into `out` (a whole plane; samples outside `rects` are left alone).
    /// Tiles run on the current rayon pool.
    #[allow(clippy::too_many_arguments)]
    pub fn filter(
        &self,
        samples: &[u8],
        width: usize,
        height: usize,
        side: &[i16],
        rects: &[Rect],
        cpu: CpuLevel,
        out: &mut [u8],
    ) {
        assert_eq!(samples.len(), width * height);
        assert_eq!(out.len(), width * height);
        let cpu = cpu.clamp_to_supported();
        // The first layer's bias with the side planes' constant contribution.
        let first = &self.convs[0];
        let mut first_bias = first.bias.clone();
        for (o, sums) in self.side_sums.iter().enumerate() {
            first_bias[o] += sums
                .iter()
                .zip(side)
                .map(|(&s, &v)| s * v as i32)
                .sum::<i32>();
        }
        let mut tiles = Vec::new();
        for r in rects {
            assert!(r.x0 <= r.x1 && r.x1 <= width && r.y0 <= r.y1 && r.y1 <= height);
            let (w, h) = (r.x1 - r.x0, r.y1 - r.y0);
            if w == 0 || h == 0 {
                continue;
            }
            let stripes = w.div_ceil(TILE_COLS);
            let cols = w.div_ceil(stripes);
            for y0 in (r.y0..r.y1).step_by(TILE_ROWS) {
                for x0 in (r.x0..r.x1).step_by(cols) {
                    tiles.push(Rect {
                        x0,
                        y0,
                        x1: (x0 + cols).min(r.x1),
                        y1: (y0 + TILE_ROWS).min(r.y1),
                    });
                }
            }
        }
        let plane = Plane {
            samples,
            width,
            height,
        };
        let done: Vec<(Rect, Vec<u8>)> = tiles
            .par_iter()
            .map_init(
                || Scratch::new(self, TILE_COLS),
                |scratch, &tile| {
                    let mut tile_out = vec![0u8; (tile.x1 - tile.x0) * (tile.y1 - tile.y0)];
                    self.tile(&plane, &first_bias, tile, cpu, scratch, &mut tile_out);
                    (tile, tile_out)
                },
            )
            .collect();
        for (t, v) in done {
            let tw = t.x1 - t.x0;
            for (y, row) in (t.y0..t.y1).zip(v.chunks_exact(tw)) {
                out[y * width + t.x0..][..tw].copy_from_slice(row);
            }
        }
    }

    /// One tile: its input rows stream through every layer (see the module's documentation).
    fn tile(
        &self,
        plane: &Plane,
        first_bias: &[i32],
        t: Rect,
        cpu: CpuLevel,
        scratch: &mut Scratch,
        out: &mut [u8],
    ) {
        let tw = t.x1 - t.x0;
        scratch.fit(self, tw);
        let n = self.convs.len();
        // Reach still ahead after layer l (its output rows extend this far
        // beyond the tile).
        let mut rest = vec![0isize; n];
        let mut acc = 0;
        for l in (0..n).rev() {
            rest[l] = acc;
            acc += (self.convs[l].k / 2) as isize;
        }
        let reach = self.reach as isize;
        let (ty0, ty1) = (t.y0 as isize, t.y1 as isize);
        let x_start = t.x0 as isize - reach;
        let in_w = tw + 2 * self.reach;
        let Scratch { rings, corr, .. } = scratch;
        for r in ty0 - reach..ty1 + reach {
            // The input row: samples (edges repeated), channel 1 zero.
            let k0 = self.convs[0].k as isize;
            let ring0 = &mut rings[0];
            let row_len = ring0.len() / k0 as usize;
            let dst = &mut ring0[r.rem_euclid(k0) as usize * row_len..][..row_len];
            let src = plane.row(r);
            for (x, px) in dst[..in_w * 2].chunks_exact_mut(2).enumerate() {
                px[0] = plane.at(src, x_start + x as isize) as i16;
                px[1] = 0;
            }
            // Each layer computes the row its newest input row completes.
            let mut newest = r;
            for l in 0..n {
                let conv = &self.convs[l];
                let h = (conv.k / 2) as isize;
                let c = newest - h;
                if c < ty0 - rest[l] {
                    break;
                }
                let w_out = (tw as isize + 2 * rest[l]) as usize;
                let bias = if l == 0 { first_bias } else { &conv.bias[..] };
                let (before, after) = rings.split_at_mut(l + 1);
                let ring = &before[l];
                let in_len = ring.len() / conv.k;
                let mut rows: [&[i16]; MAX_KERNEL] = [&[]; MAX_KERNEL];
                for (j, row) in rows[..conv.k].iter_mut().enumerate() {
                    let y = (c - h + j as isize).rem_euclid(conv.k as isize) as usize;
                    *row = &ring[y * in_len..][..in_len];
                }
                let rows = &rows[..conv.k];
                if l + 1 < n {
                    let next = &mut after[0];
                    let kn = self.convs[l + 1].k;
                    let out_len = next.len() / kn;
                    let dst = &mut next[c.rem_euclid(kn as isize) as usize * out_len..][..out_len];
                    conv_row(conv, rows, bias, w_out, dst, cpu);
                    newest = c;
                } else {
                    last_row(conv, rows, bias[0], w_out, &mut corr[..], cpu);
                    let y = (c - ty0) as usize;
                    let src = plane.row(c);
                    for (x, (o, &d)) in out[y * tw..][..tw].iter_mut().zip(corr.iter()).enumerate()
                    {
                        let s = src[t.x0 + x] as i32;
                        *o = (s + d).clamp(self.add_lo, self.add_hi) as u8;
                    }
                }
            }
        }
    }
}

/// One convolution's output row (`w_out` pixels) from its `k` input rows.
fn conv_row(
    conv: &ChainConv,
    rows: &[&[i16]],
    bias: &[i32],
    w_out: usize,
    out: &mut [i16],
    cpu: CpuLevel,
) {
    #[cfg(target_arch = "x86_64")]
    if cpu >= CpuLevel::Avx2 {
        // SAFETY: `cpu` was clamped to what the CPU supports, so AVX2 is there;
        // rows carry `SLACK_PIXELS` spare pixels (`Scratch::fit`).
        unsafe { avx2::conv_row(conv, rows, bias, w_out, out) };
        return;
    }
    let _ = cpu;
    scalar::conv_row(conv, rows, bias, w_out, out);
}

/// The last (one-channel) convolution's requantised output row.
fn last_row(
    conv: &ChainConv,
    rows: &[&[i16]],
    bias: i32,
    w_out: usize,
    out: &mut [i32],
    cpu: CpuLevel,
) {
    #[cfg(target_arch = "x86_64")]
    if cpu >= CpuLevel::Avx2 {
        // SAFETY: as in `conv_row`.
        unsafe { avx2::last_row(conv, rows, bias, w_out, out) };
        return;
    }
    let _ = cpu;
    scalar::last_row(conv, rows, bias, w_out, out);
}

/// A plane of 8-bit samples whose edges repeat beyond it.
struct Plane<'a> {
    samples: &'a [u8],
    width: usize,
    height: usize,
}

impl Plane<'_> {
    fn row(&self, y: isize) -> &[u8] {
        let y = y.clamp(0, self.height as isize - 1) as usize;
        &self.samples[y * self.width..][..self.width]
    }

    fn at(&self, row: &[u8], x: isize) -> u8 {
        row[x.clamp(0, self.width as isize - 1) as usize]
    }
}

/// A thread's rings of rows, one per convolution (its `k` input rows), and
/// the last layer's output row.
struct Scratch {
    rings: Vec<Vec<i16>>,
    corr: Vec<i32>,
    /// Tile width the buffers hold.
    width: usize,
}

impl Scratch {
    fn new(chain: &Chain, width: usize) -> Scratch {
        let mut s = Scratch {
            rings: Vec::new(),
            corr: Vec::new(),
            width: 0,
        };
        s.fit(chain, width);
        s
    }

    /// Makes the buffers hold tiles `width` wide.
    fn fit(&mut self, chain: &Chain, width: usize) {
        if width <= self.width {
            return;
        }
        self.width = width;
        let mut w = width + 2 * chain.reach;
        self.rings = chain
            .convs
            .iter()
            .map(|c| {
                let ring = vec![0i16; c.k * (w + SLACK_PIXELS) * c.cp_in];
                w -= c.k - 1;
                ring
            })
            .collect();
        self.corr = vec![0; width + SLACK_PIXELS];
    }
}

/// `requantise` for the kernels.
#[inline]
fn finish(acc: i32, conv: &ChainConv) -> i32 {
    requantise(acc, conv.shift, conv.lo, conv.hi) as i32
}
