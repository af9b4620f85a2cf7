//! The learned in-loop restoration filter (after deblocking).
//!
//! A residual integer network (see `models/loopfilter/README.md`) restores each
//! plane from its deblocked samples and side information: the plane's QP,
//! whether it is a chroma plane and (for models with a third side channel)
//! whether the frame is a keyframe. The encoder switches it per frame and per
//! 64x64 superblock on rate-distortion; filtered frames are the references.

/// Side-information values of one plane, in the network's side input
/// channel order: `[4 * plane_qp, 255 if chroma else 0, 255 if keyframe else 0]`,
/// constant over the plane; a model with two side channels takes the first two.
/// `plane_qp` is the frame QP for luma and the mapped chroma QP for chroma.
pub fn side_info(frame_qp: u8, chroma_qp_offset: i8, plane: usize, key: bool) -> [i16; 3] {
    let key = if key { 255 } else { 0 };
    if plane == 0 {
        [4 * frame_qp as i16, 0, key]
    } else {
        let q = crate::transform::chroma_qp(frame_qp as i32 + chroma_qp_offset as i32);
        [4 * q as i16, 255, key]
    }
}

use crate::bitstream::{FrameHeader, FrameType};
use crate::cpu::CpuLevel;
use crate::entropy::{bin_cost, BinSink, Context, Contexts, RangeDecoder, COST_ONE_BIT};
use crate::nn::{hex, identity, Engine, LayerOp, Model, ModelError};
use crate::picture::{Frame, Plane};
use std::sync::{Arc, Mutex, OnceLock};

/// The default loop filter shipped with Mica (`models/loopfilter/loopfilter.micanet`).
const DEFAULT_MODEL: &[u8] = include_bytes!("../../../models/loopfilter/loopfilter.micanet");

/// Role of the loop filter in the sequence header's model list.
pub const ROLE: u8 = 1;

/// Samples added by edge repetition around a plane before the network runs.
pub const BORDER: usize = 8;

/// Superblock side (luma samples) of the per-block switch.
pub const SB: usize = 64;

/// A loaded loop-filter model with engines kept for reuse.
///
/// The model has one, two, four or eight outputs, each a network of its own,
/// and a frame's plane runs one of them (see [`LoopFilter::network`]): one
/// network filters everything; with two, output 1 filters keyframes (their
/// artefacts differ: no motion-compensated prediction); with four, outputs 0
/// and 1 do so for luma and outputs 2 and 3 for chroma, so that no network
/// spends its capacity on both kinds of plane; with eight, outputs 4..8 are
/// a second **set** of four, and each frame signals per kind of plane which
/// set filters it (the encoder picks the better; e.g. a set trained for low
/// QPs, where one network for every QP gains least).
pub struct LoopFilter {
    model: Model,
    sha256: [u8; 32],
    /// Per output, the network computing it alone.
    nets: Vec<Network>,
}

/// One output's network and its engines by input size, reused across frames
/// (an engine allocates its tensors once).
struct Network {
    model: Model,
    geometry: Geometry,
    /// Engines by input size and CPU level (so a caller asking for one
    /// level never gets an engine built for another).
    engines: Mutex<Vec<(EngineKey, Engine)>>,
}

/// Input width, height and CPU level of a pooled engine.
type EngineKey = (usize, usize, CpuLevel);

impl std::fmt::Debug for LoopFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopFilter")
            .field("sha256", &hex(&self.sha256))
            .finish()
    }
}

/// Values (all of an engine's tensors together) one engine run of the
/// filter may hold: planes larger than that are filtered in horizontal strips
/// (128 MiB of samples; a 1080p luma plane through the default network would
/// take about four times that in one run).
const STRIP_BUDGET: f64 = (1u64 << 26) as f64;

/// Largest extended plane width a frame can have (`MAX_SIDE` plus the border).
const MAX_EXTENDED_WIDTH: usize = crate::bitstream::MAX_SIDE as usize + 2 * BORDER;

/// What filtering a plane in strips needs to know about a network.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    /// Input rows an output row depends on, each side (rounded up to a
    /// multiple of 4, so strips keep every tensor's sampling grid).
    reach: usize,
    /// Values of all the engine's tensors per input sample.
    values_per_sample: f64,
}

/// Checks that a filter network returns a plane of its input's size at
/// every size the decoder gives it, and works out how far each output
/// sample reaches. An edge-extended plane is a multiple of 4 in each
/// dimension (coded luma sizes are multiples of 8, chroma of 4, plus twice
/// [`BORDER`]); with at most two stride-2 convolutions (checked here) and
/// no dense layers (checked by the caller), every tensor dimension is then `P / 2^j`
/// times the input's (`P` the product of the shuffle factors on its path,
/// `j` <= 2 its halvings), computed without rounding. Equal sizes at one
/// input size are therefore equal at all: one test size (20x24) settles
/// every frame.
fn check_network(model: &Model) -> Result<Geometry, ModelError> {
    if let Some((layer, _)) = model
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l.op, LayerOp::Conv2d { stride: 2, .. }))
        .nth(2)
    {
        return Err(ModelError::Shape {
            layer,
            what: "a loop-filter network has at most two stride-2 convolutions",
            h: 0,
            w: 0,
        });
    }
    let (h, w) = (20, 24);
    let engine = Engine::with_cpu(model.clone(), h, w, CpuLevel::Scalar)?;
    if engine.output(0).1 != (1, h, w) {
        return Err(ModelError::Shape {
            layer: model.layers.len() - 1,
            what: "a loop filter's output must have its input's size",
            h,
            w,
        });
    }
    // Per tensor: input samples per tensor sample (scale) and reach, in input
    // samples. Tensor sample j sits at input position j * scale.
    let mut scale: Vec<f64> = vec![1.0; model.inputs.len()];
    let mut reach: Vec<f64> = vec![0.0; model.inputs.len()];
    let mut values = model.inputs.iter().map(|i| i.channels as f64).sum::<f64>();
    for l in &model.layers {
        let a = l.operands[0];
        let (s, r) = match &l.op {
            LayerOp::Conv2d { kernel, stride, .. } => (
                scale[a] * *stride as f64,
                reach[a] + (kernel / 2) as f64 * scale[a],
            ),
            LayerOp::PixelShuffle { factor } => {
                let s = scale[a] / *factor as f64;
                // Output sample y reads operand sample floor(y / f).
                (s, reach[a] + (*factor - 1) as f64 * s)
            }
            _ => (
                scale[a],
                l.operands.iter().map(|&o| reach[o]).fold(0.0, f64::max),
            ),
        };
        values += l.out.channels as f64 / (s * s);
        scale.push(s);
        reach.push(r);
    }
    let out_reach = reach[model.outputs[0]].ceil() as usize;
    let geometry = Geometry {
        reach: out_reach.div_ceil(4) * 4,
        values_per_sample: values,
    };
    // The narrowest strip (4 rows and the reach around them) of the widest
    // frame must fit the budget.
    let narrowest = (4 + 2 * geometry.reach) as f64 * MAX_EXTENDED_WIDTH as f64;
    if geometry.values_per_sample * narrowest > STRIP_BUDGET {
        return Err(ModelError::Shape {
            layer: 0,
            what: "a loop filter's tensors are too large for a strip of the widest frame",
            h: 4 + 2 * geometry.reach,
            w: MAX_EXTENDED_WIDTH,
        });
    }
    Ok(geometry)
}

impl LoopFilter {
    /// Loads a loop-filter model: inputs `[samples: 1 channel 0..=255, side: 2
    /// or 3 channels]`, one, two, four or eight outputs (see [`LoopFilter::network`])
    /// of 1 channel in 0..=255.
    pub fn from_bytes(bytes: &[u8]) -> Result<LoopFilter, ModelError> {
        let model = Model::parse(bytes)?;
        let ok = model.inputs.len() == 2
            && model.inputs[0].channels == 1
            && model.inputs[0].lo == 0
            && model.inputs[0].hi == 255
            && (2..=3).contains(&model.inputs[1].channels)
            && model.inputs[1].lo <= 0
            && model.inputs[1].hi >= 255
            && matches!(model.outputs.len(), 1 | 2 | 4 | 8)
            && model.outputs.iter().all(|&o| {
                let out = model.spec(o);
                out.channels == 1 && out.lo >= 0 && out.hi <= 255
            })
            && model
                .layers
                .iter()
                .all(|l| !matches!(l.op, LayerOp::Dense { .. }));
        if !ok {
            return Err(ModelError::Shape {
                layer: 0,
                what: "a loop filter takes samples (1 channel, 0..=255) and side information \
                       (2 or 3 channels) and has 1, 2, 4 or 8 outputs of 1 channel in 0..=255, \
                       without dense layers",
                h: 0,
                w: 0,
            });
        }
        let mut nets = Vec::with_capacity(model.outputs.len());
        for k in 0..model.outputs.len() {
            // Each output's network alone (the layers it depends on).
            let model = model.only_output(k);
            nets.push(Network {
                geometry: check_network(&model)?,
                model,
                engines: Mutex::new(Vec::new()),
            });
        }
        Ok(LoopFilter {
            model,
            sha256: identity(bytes),
            nets,
        })
    }

    /// The model shipped with Mica, loaded once.
    pub fn default_model() -> Arc<LoopFilter> {
        static DEFAULT: OnceLock<Arc<LoopFilter>> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                Arc::new(
                    LoopFilter::from_bytes(DEFAULT_MODEL)
                        .expect("the embedded loop filter is valid (tested)"),
                )
            })
            .clone()
    }

    /// The model's identity.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// The network (all its outputs).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Whether keyframes have networks of their own.
    pub fn has_keyframe_network(&self) -> bool {
        self.nets.len() > 1
    }

    /// Multiply-accumulates per luma pixel of filtering a 4:2:0 frame of
    /// the given type with every plane on: the luma network's cost per sample
    /// plus half its chroma network's (two chroma planes of a quarter of the
    /// luma samples each), the larger over the sets. The default model's
    /// budget (20 kMAC per luma pixel, `models/loopfilter/README.md`) applies to this.
    pub fn macs_per_luma_pixel(&self, key: bool) -> f64 {
        (0..self.sets())
            .map(|set| {
                self.network_in_set(key, false, set).cost(1).0
                    + 0.5 * self.network_in_set(key, true, set).cost(1).0
            })
            .fold(0.0, f64::max)
    }

    /// Whether chroma planes have networks of their own.
    pub fn has_chroma_network(&self) -> bool {
        self.nets.len() >= 4
    }

    /// Sets of networks a frame chooses from per kind of plane: 2 for an
    /// eight-output model, else 1.
    pub fn sets(&self) -> usize {
        if self.nets.len() == 8 {
            2
        } else {
            1
        }
    }

    /// Whether the two sets filter a kind of plane of a frame type with
    /// different networks (the encoder tries the second only then).
    pub fn sets_differ(&self, key: bool, chroma: bool) -> bool {
        self.sets() == 2
            && self.network_in_set(key, chroma, 0) != self.network_in_set(key, chroma, 1)
    }

    /// The network that filters a plane of a keyframe (`key`) or an inter
    /// frame, chroma (`chroma`) or luma, in the first set: output
    /// `key + 2 * chroma` of a four- or eight-output model, output `key` of a
    /// two-output one, the only output of a one-output one.
    pub fn network(&self, key: bool, chroma: bool) -> &Model {
        self.network_in_set(key, chroma, 0)
    }

    /// [`LoopFilter::network`] in set `set` (< [`LoopFilter::sets`]): output
    /// `key + 2 * chroma + 4 * set` of an eight-output model.
    pub fn network_in_set(&self, key: bool, chroma: bool, set: usize) -> &Model {
        &self.nets[self.net_index(key, chroma, set)].model
    }

    fn net_index(&self, key: bool, chroma: bool, set: usize) -> usize {
        match self.nets.len() {
            1 => 0,
            2 => key as usize,
            _ => key as usize + 2 * chroma as usize + 4 * set.min(self.sets() - 1),
        }
    }

    /// Runs the network for the frame type and plane kind over a whole
    /// plane; returns the filtered samples.
    ///
    /// The network sees the plane extended by [`BORDER`] samples on every
    /// side by repeating the edge samples (so frame edges look like the
    /// picture interiors it was trained on, not like zeros).
    #[cfg(test)]
    pub(crate) fn filter_plane(
        &self,
        plane: &Plane,
        side: [i16; 3],
        (key, chroma): (bool, bool),
        cpu: CpuLevel,
    ) -> Vec<u8> {
        self.filter_plane_in_set(plane, side, (key, chroma), 0, cpu)
    }

    /// [`Self::filter_plane`] with the network of set `set`.
    #[cfg(test)]
    pub(crate) fn filter_plane_in_set(
        &self,
        plane: &Plane,
        side: [i16; 3],
        (key, chroma): (bool, bool),
        set: usize,
        cpu: CpuLevel,
    ) -> Vec<u8> {
        let whole = [Region::whole(plane)];
        self.filter_regions(plane, side, (key, chroma, set), cpu, STRIP_BUDGET, &whole)
    }

    /// The filtered samples of `regions` (the rest of the returned plane is
    /// 0), with the engine's memory limited to `budget` values: a region
    /// that does not fit is run in horizontal strips, each with the network's
    /// reach of rows above and below it. Every output sample sees exactly
    /// what it sees in one run over the whole plane, so the result is the
    /// same whatever the regions and strips (tested).
    fn filter_regions(
        &self,
        plane: &Plane,
        side: [i16; 3],
        which: (bool, bool, usize),
        cpu: CpuLevel,
        budget: f64,
        regions: &[Region],
    ) -> Vec<u8> {
        let mut out = vec![0u8; plane.width * plane.height];
        for &region in regions {
            self.filter_region(plane, side, which, cpu, budget, region, &mut out);
        }
        out
    }

    /// Filters the samples of `region` (plane coordinates) into `out` (a
    /// whole plane), running the network over the region and its reach
    /// around it (clamped to the edge-extended plane): each sample comes out
    /// exactly as from one run over the whole plane, since it sees exactly
    /// the same inputs (the reach is rounded to a multiple of 4 and regions
    /// start on multiples of 4, so half-resolution networks keep their
    /// sampling grid). Samples outside the region are left as they are.
    #[allow(clippy::too_many_arguments)]
    fn filter_region(
        &self,
        plane: &Plane,
        side: [i16; 3],
        (key, chroma, set): (bool, bool, usize),
        cpu: CpuLevel,
        budget: f64,
        region: Region,
        out: &mut [u8],
    ) {
        let net = &self.nets[self.net_index(key, chroma, set)];
        let (pw, ph) = (plane.width, plane.height);
        let (w, h) = (pw + 2 * BORDER, ph + 2 * BORDER);
        debug_assert!(w % 4 == 0 && h % 4 == 0, "coded planes are multiples of 4");
        let reach = net.geometry.reach;
        // The region in extended coordinates; a region touching the plane's
        // edge takes the border with it (its rows and columns are computed
        // but not output, as in a run over the whole extended plane).
        let extend = |lo: usize, hi: usize, len: usize, ext: usize| {
            let a = if lo == 0 { 0 } else { lo + BORDER };
            let b = if hi == len { ext } else { hi + BORDER };
            (a, b)
        };
        let (cx0, cx1) = extend(region.x0, region.x1, pw, w);
        let (cy0, cy1) = extend(region.y0, region.y1, ph, h);
        debug_assert!(cx0 % 4 == 0 && cy0 % 4 == 0 && cx1 % 4 == 0 && cy1 % 4 == 0);
        let (ia, ib) = (cx0.saturating_sub(reach), (cx1 + reach).min(w));
        let iw = ib - ia;
        let rows_fitting = (budget / (net.geometry.values_per_sample * iw as f64)) as usize;
        let input_rows = (cy1 + reach).min(h) - cy0.saturating_sub(reach);
        let core = if rows_fitting >= input_rows {
            cy1 - cy0
        } else {
            // At least 4 rows: the load check made sure that fits any frame width.
            (rows_fitting.saturating_sub(2 * reach) / 4 * 4).max(4)
        };
        let side_channels = net.model.inputs[1].channels;
        for y0 in (cy0..cy1).step_by(core) {
            let y1 = (y0 + core).min(cy1);
            // Input rows [a, b) of the extended plane: the strip and its reach.
            let (a, b) = (y0.saturating_sub(reach), (y1 + reach).min(h));
            let mut engine = net.engine(iw, b - a, cpu);
            let mut samples = Vec::with_capacity(iw * (b - a));
            for y in a..b {
                let row = plane.row(y.saturating_sub(BORDER).min(ph - 1));
                samples.extend((ia..ib).map(|x| row[x.saturating_sub(BORDER).min(pw - 1)] as i16));
            }
            let mut side_planes = vec![0i16; side_channels * iw * (b - a)];
            for (c, v) in side_planes.chunks_exact_mut(iw * (b - a)).zip(side) {
                c.fill(v);
            }
            engine
                .run(&[&samples, &side_planes])
                .expect("inputs sized for the engine");
            let filtered = engine.output(0).0;
            // The plane's samples in this strip (the border is not output).
            let (ox0, ox1) = (cx0.max(BORDER), cx1.min(BORDER + pw));
            for y in y0.max(BORDER)..y1.min(BORDER + ph) {
                let row = &filtered[(y - a) * iw + ox0 - ia..][..ox1 - ox0];
                let dst = &mut out[(y - BORDER) * pw + ox0 - BORDER..][..ox1 - ox0];
                for (d, &v) in dst.iter_mut().zip(row) {
                    *d = v as u8;
                }
            }
            net.keep_engine(iw, b - a, cpu, engine);
        }
    }
}

/// A rectangle of a plane, `[x0, x1) x [y0, y1)` in samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Region {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

impl Region {
    fn whole(plane: &Plane) -> Region {
        Region {
            x0: 0,
            y0: 0,
            x1: plane.width,
            y1: plane.height,
        }
    }
}

/// The regions a decoder filters in plane `p`: per row of superblocks, each
/// run of neighbouring superblocks that are on (a run shares the network's
/// reach between its superblocks).
fn regions_on(plane: &Plane, p: usize, sb_on: &[bool], cols: usize) -> Vec<Region> {
    let s = if p == 0 { SB } else { SB / 2 };
    let mut regions = Vec::new();
    for (r, row) in sb_on.chunks(cols).enumerate() {
        let mut c = 0;
        while c < row.len() {
            if !row[c] {
                c += 1;
                continue;
            }
            let start = c;
            while c < row.len() && row[c] {
                c += 1;
            }
            regions.push(Region {
                x0: start * s,
                y0: r * s,
                x1: (c * s).min(plane.width),
                y1: ((r + 1) * s).min(plane.height),
            });
        }
    }
    regions
}

impl Network {
    /// An engine for `w` x `h` inputs, reused when one is free.
    fn engine(&self, w: usize, h: usize, cpu: CpuLevel) -> Engine {
        let taken = {
            let mut pool = self.engines.lock().unwrap_or_else(|e| e.into_inner());
            pool.iter()
                .position(|(s, _)| *s == (w, h, cpu))
                .map(|i| pool.swap_remove(i).1)
        };
        taken.unwrap_or_else(|| {
            Engine::with_cpu(self.model.clone(), h, w, cpu)
                .expect("a loaded filter runs at every multiple-of-4 size within the strip budget")
        })
    }

    fn keep_engine(&self, w: usize, h: usize, cpu: CpuLevel, engine: Engine) {
        let mut pool = self.engines.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < 8 {
            pool.push(((w, h, cpu), engine));
        }
    }
}

/// Where the filter applies in one frame: per plane kind (0 luma, 1 both
/// chroma planes) a frame switch, the set of networks (eight-output models)
/// and one flag per superblock (raster order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FilterFlags {
    pub on: [bool; 2],
    /// Correction scale index per kind (the frame header's `nn_filter_scale`).
    pub scale: [u8; 2],
    /// Set of networks per kind (`nn_filter_set`; 0 unless the model has two).
    pub set: [u8; 2],
    pub sb: [Vec<bool>; 2],
}

/// Number of correction scales.
pub const NUM_SCALES: u8 = 8;

/// Scale `scale_idx` in eighths: 3/8 .. 10/8 (`scale_idx = 5` is the network's own output).
pub fn scale_eighths(scale_idx: u8) -> i32 {
    scale_idx as i32 + 3
}

/// The deblocked sample `r` moved towards the network's output `f` by the scale.
#[inline]
fn scaled(r: u8, f: u8, eighths: i32) -> u8 {
    let corr = f as i32 - r as i32;
    (r as i32 + ((eighths * corr + 4) >> 3)).clamp(0, 255) as u8
}

/// Superblock columns and rows of a `w` x `h` (luma) frame.
pub(crate) fn sb_grid(w: usize, h: usize) -> (usize, usize) {
    (w.div_ceil(SB), h.div_ceil(SB))
}

/// Context of a superblock's flag: how many of its left and above neighbours are on.
fn flag_ctx(flags: &[bool], cols: usize, i: usize) -> usize {
    let left = !i.is_multiple_of(cols) && flags[i - 1];
    let above = i >= cols && flags[i - cols];
    left as usize + above as usize
}

fn contexts(ctx: &mut Contexts, kind: usize) -> &mut [Context; 3] {
    &mut ctx.nn_filter[kind]
}

/// Writes the set (when the model has two) and the superblock flags of the
/// plane kinds that are on.
pub(crate) fn write_flags<S: BinSink>(
    s: &mut S,
    ctx: &mut Contexts,
    f: &FilterFlags,
    sets: usize,
    cols: usize,
) {
    for kind in 0..2 {
        if f.on[kind] {
            if sets == 2 {
                s.bypass(f.set[kind] == 1);
            }
            for i in 0..f.sb[kind].len() {
                let c = flag_ctx(&f.sb[kind], cols, i);
                s.encode(&mut contexts(ctx, kind)[c], f.sb[kind][i]);
            }
        }
    }
}

/// Reads the sets (`sets` 2: the model has two) and superblock flags after
/// a frame's blocks.
pub(crate) fn read_flags(
    d: &mut RangeDecoder,
    ctx: &mut Contexts,
    on: [bool; 2],
    scale: [u8; 2],
    sets: usize,
    cols: usize,
    rows: usize,
) -> FilterFlags {
    let mut f = FilterFlags {
        on,
        scale,
        set: [0; 2],
        sb: [Vec::new(), Vec::new()],
    };
    for kind in 0..2 {
        if on[kind] {
            if sets == 2 {
                f.set[kind] = d.bypass() as u8;
            }
            let mut flags = vec![false; cols * rows];
            for i in 0..flags.len() {
                let c = flag_ctx(&flags, cols, i);
                flags[i] = d.decode(&mut contexts(ctx, kind)[c]);
            }
            f.sb[kind] = flags;
        }
    }
    f
}

/// Runs the filter on the planes whose kind is switched on (`on`), each
/// kind with its set of networks (`set`), returning the filtered planes
/// (None where off).
/// The filtered planes of the kinds that are `on`, whole (what the encoder
/// needs to decide where the filter pays) or, given the superblock flags
/// `sb_on`, only in the superblocks that are on (what a decoder needs; the
/// rest of each plane is 0).
pub(crate) fn filter_frame(
    filter: &LoopFilter,
    recon: &Frame,
    on: [bool; 2],
    set: [u8; 2],
    sb_on: Option<&[Vec<bool>; 2]>,
    fh: &FrameHeader,
    cpu: CpuLevel,
) -> [Option<Vec<u8>>; 3] {
    let mut out: [Option<Vec<u8>>; 3] = Default::default();
    let key = fh.frame_type == FrameType::Key;
    let (cols, _) = sb_grid(recon.planes[0].width, recon.planes[0].height);
    for (p, o) in out.iter_mut().enumerate() {
        let kind = (p > 0) as usize;
        if on[kind] {
            let offset = if p == 0 {
                0
            } else {
                fh.chroma_qp_offset[p - 1]
            };
            let side = side_info(fh.qp, offset, p, key);
            let plane = &recon.planes[p];
            let regions = match sb_on {
                None => vec![Region::whole(plane)],
                Some(sb_on) => regions_on(plane, p, &sb_on[kind], cols),
            };
            let which = (key, p > 0, set[kind] as usize);
            *o = Some(filter.filter_regions(plane, side, which, cpu, STRIP_BUDGET, &regions));
        }
    }
    out
}

/// Rectangle of superblock `i` in plane `p` (chroma halves the luma sizes).
fn sb_rect(plane: &Plane, p: usize, cols: usize, i: usize) -> (usize, usize, usize, usize) {
    let s = if p == 0 { SB } else { SB / 2 };
    let (x0, y0) = ((i % cols) * s, (i / cols) * s);
    let x1 = (x0 + s).min(plane.width);
    let y1 = (y0 + s).min(plane.height);
    (x0, y0, x1, y1)
}

/// Copies the filtered samples of the superblocks that are on into `recon`.
pub(crate) fn apply(recon: &mut Frame, filtered: &[Option<Vec<u8>>; 3], f: &FilterFlags) {
    let (cols, _) = sb_grid(recon.planes[0].width, recon.planes[0].height);
    for (p, fp) in filtered.iter().enumerate() {
        let (Some(fp), kind) = (fp, (p > 0) as usize) else {
            continue;
        };
        if !f.on[kind] {
            continue;
        }
        let plane = &mut recon.planes[p];
        for (i, &on) in f.sb[kind].iter().enumerate() {
            if !on {
                continue;
            }
            let (x0, y0, x1, y1) = sb_rect(plane, p, cols, i);
            let w = plane.width;
            let eighths = scale_eighths(f.scale[kind]);
            for y in y0..y1 {
                let (dst, src) = (
                    &mut plane.data[y * w + x0..y * w + x1],
                    &fp[y * w + x0..y * w + x1],
                );
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = scaled(*d, v, eighths);
                }
            }
        }
    }
}

/// The encoder's choice: per superblock, the filter where it lowers
/// `SSE + lambda * bits` (rates from the flag contexts as they adapt), and
/// per plane kind, the filter only if the frame gains overall. Returns the
/// flags (set 0) and per kind the change in cost they bring (0 when off).
pub(crate) fn decide(
    orig: &Frame,
    recon: &Frame,
    filtered: &[Option<Vec<u8>>; 3],
    lambda: [f64; 2],
    ctx: &Contexts,
) -> (FilterFlags, [f64; 2]) {
    let mut gain = [0.0; 2];
    let (w, h) = (recon.planes[0].width, recon.planes[0].height);
    let (cols, rows) = sb_grid(w, h);
    let mut f = FilterFlags::default();
    for kind in 0..2 {
        let planes: &[usize] = if kind == 0 { &[0] } else { &[1, 2] };
        if planes.iter().any(|&p| filtered[p].is_none()) {
            continue;
        }
        let mut best: Option<(f64, u8, Vec<bool>)> = None;
        for scale in 0..NUM_SCALES {
            let eighths = scale_eighths(scale);
            // SSE change per superblock when filtered at this scale.
            let mut delta = vec![0i64; cols * rows];
            for &p in planes {
                let fp = filtered[p].as_ref().expect("checked");
                let (o, r) = (&orig.planes[p], &recon.planes[p]);
                for (i, d) in delta.iter_mut().enumerate() {
                    let (x0, y0, x1, y1) = sb_rect(r, p, cols, i);
                    for y in y0..y1 {
                        let row = y * r.width;
                        for x in x0..x1 {
                            let s = o.data[row + x] as i64;
                            let a = s - r.data[row + x] as i64;
                            let b = s - scaled(r.data[row + x], fp[row + x], eighths) as i64;
                            *d += b * b - a * a;
                        }
                    }
                }
            }
            let mut c = ctx.nn_filter[kind];
            let mut flags = vec![false; cols * rows];
            // The frame header's scale costs 3 bits.
            let mut total = lambda[kind] * 3.0;
            for i in 0..flags.len() {
                let ci = flag_ctx(&flags, cols, i);
                let bits = |bin| bin_cost(&c[ci], bin) as f64 / COST_ONE_BIT as f64;
                let on_cost = delta[i] as f64 + lambda[kind] * bits(true);
                let off_cost = lambda[kind] * bits(false);
                flags[i] = on_cost < off_cost;
                total += on_cost.min(off_cost);
                c[ci].update(flags[i]);
            }
            if best.as_ref().is_none_or(|b| total < b.0) {
                best = Some((total, scale, flags));
            }
        }
        let (total, scale, flags) = best.expect("at least one scale");
        if total < 0.0 && flags.iter().any(|&b| b) {
            f.on[kind] = true;
            f.scale[kind] = scale;
            f.sb[kind] = flags;
            gain[kind] = total;
        }
    }
    (f, gain)
}

/// The encoder's filtering of a reconstructed frame: runs the networks,
/// decides with [`decide`], and where the model has a second set whose
/// network differs for a kind of plane (and `try_second_set`), runs that
/// too and keeps, per kind, the set that lowers the cost more. Returns the
/// flags and the filtered planes they select from.
#[allow(clippy::too_many_arguments)]
pub(crate) fn filter_and_decide(
    filter: &LoopFilter,
    orig: &Frame,
    recon: &Frame,
    fh: &FrameHeader,
    lambda: [f64; 2],
    ctx: &Contexts,
    try_second_set: bool,
    cpu: CpuLevel,
) -> (FilterFlags, [Option<Vec<u8>>; 3]) {
    let mut filtered = filter_frame(filter, recon, [true; 2], [0; 2], None, fh, cpu);
    let (mut flags, gain) = decide(orig, recon, &filtered, lambda, ctx);
    let key = fh.frame_type == FrameType::Key;
    let differ = [false, true].map(|chroma| try_second_set && filter.sets_differ(key, chroma));
    if differ.contains(&true) {
        let mut other = filter_frame(filter, recon, differ, [1; 2], None, fh, cpu);
        let (mut other_flags, other_gain) = decide(orig, recon, &other, lambda, ctx);
        for kind in 0..2 {
            if differ[kind] && other_flags.on[kind] && other_gain[kind] < gain[kind] {
                flags.on[kind] = true;
                flags.scale[kind] = other_flags.scale[kind];
                flags.set[kind] = 1;
                flags.sb[kind] = std::mem::take(&mut other_flags.sb[kind]);
                let planes: &[usize] = if kind == 0 { &[0] } else { &[1, 2] };
                for &p in planes {
                    filtered[p] = other[p].take();
                }
            }
        }
    }
    (flags, filtered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitstream::read_packet_headers;
    use crate::encoder::training::{TrainingEncoder, TrainingHooks, TrainingPacket};
    use crate::nn::{Layer, LayerOp, TensorSpec};
    use crate::{Decoder, DecoderConfig, Encoder, EncoderConfig, Error};

    /// A hand-made filter: `x + round((sum of the 8 neighbours - 8x) / 16)`, a mild blur.
    fn blur_filter() -> LoopFilter {
        LoopFilter::from_bytes(&blur_model(1).to_bytes()).expect("valid filter")
    }

    /// `x + round(strength * (sum of the 8 neighbours - 8x) / 16)`: a blur
    /// for positive `strength`, a sharpening for negative.
    fn blur_model(strength: i8) -> Model {
        let spec = |channels, lo, hi| TensorSpec { channels, lo, hi };
        let mut weights = vec![0i8; 3 * 9];
        for (i, w) in weights[..9].iter_mut().enumerate() {
            *w = if i == 4 { -8 * strength } else { strength };
        }
        Model {
            inputs: vec![spec(1, 0, 255), spec(2, 0, 255)],
            layers: vec![
                Layer {
                    operands: vec![0, 1],
                    out: spec(3, 0, 255),
                    op: LayerOp::Concat,
                },
                Layer {
                    operands: vec![2],
                    out: spec(1, -128, 127),
                    op: LayerOp::Conv2d {
                        kernel: 3,
                        stride: 1,
                        shift: 4,
                        weights,
                        bias: vec![0],
                    },
                },
                Layer {
                    operands: vec![0, 3],
                    out: spec(1, 0, 255),
                    op: LayerOp::Add,
                },
            ],
            outputs: vec![4],
        }
    }

    /// A half-resolution filter: a stride-2 3x3 convolution gives the 4
    /// corrections of each 2x2 block (each pulls its sample towards the mean
    /// of the 3x3 window, a mild blur), a pixel shuffle puts them back at
    /// full size, the sum with the samples is the output. Each extra halving
    /// chains a stride-2 / shuffle pair in front that keeps one sample of
    /// each 2x2 block (the others become 0): a size-preserving detour.
    /// Without `shuffle_back` the network ends at half size (invalid).
    fn half_res_model(halvings: usize, shuffle_back: bool) -> Model {
        let spec = |channels, lo, hi| TensorSpec { channels, lo, hi };
        let conv = |operand, out: TensorSpec, weights: Vec<i8>| Layer {
            operands: vec![operand],
            op: LayerOp::Conv2d {
                kernel: 3,
                stride: 2,
                shift: 4,
                bias: vec![0; out.channels],
                weights,
            },
            out,
        };
        let mut layers = vec![Layer {
            operands: vec![0, 1],
            out: spec(3, 0, 255),
            op: LayerOp::Concat,
        }];
        for _ in 1..halvings {
            // Channel 4c + k of the half-size tensor is input channel c at
            // sub-sample k = 0 (the window centre, tap 4): the others are zero.
            let mut w = vec![0i8; 12 * 3 * 9];
            for c in 0..3 {
                w[(4 * c * 3 + c) * 9 + 4] = 16;
            }
            let at = layers.len() + 1;
            layers.push(conv(at, spec(12, 0, 255), w));
            layers.push(Layer {
                operands: vec![at + 1],
                out: spec(3, 0, 255),
                op: LayerOp::PixelShuffle { factor: 2 },
            });
        }
        let at = layers.len() + 1;
        if !shuffle_back {
            let mut w = vec![0i8; 3 * 9];
            w[4] = 16;
            layers.push(conv(at, spec(1, 0, 255), w));
            return Model {
                inputs: vec![spec(1, 0, 255), spec(2, 0, 255)],
                outputs: vec![1 + layers.len()],
                layers,
            };
        }
        let mut weights = vec![0i8; 4 * 3 * 9];
        for (c, centre) in [4, 5, 7, 8].into_iter().enumerate() {
            let w = &mut weights[c * 27..c * 27 + 9];
            w.fill(1);
            w[centre] = -8;
        }
        layers.push(conv(at, spec(4, -128, 127), weights));
        layers.push(Layer {
            operands: vec![at + 1],
            out: spec(1, -128, 127),
            op: LayerOp::PixelShuffle { factor: 2 },
        });
        let at = layers.len() + 1;
        layers.push(Layer {
            operands: vec![0, at],
            out: spec(1, 0, 255),
            op: LayerOp::Add,
        });
        Model {
            inputs: vec![spec(1, 0, 255), spec(2, 0, 255)],
            outputs: vec![1 + layers.len()],
            layers,
        }
    }

    /// A half-resolution network filters every plane size alike at every
    /// CPU level; networks that would change a plane's size are refused at load.
    /// `models/loopfilter/manifest.toml` describes the embedded default:
    /// identity, size, parameters, outputs, cost, role, and the checkpoints
    /// that rebuild it are in the folder.
    #[test]
    fn manifest_describes_the_shipped_model() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/loopfilter");
        let text = std::fs::read_to_string(dir.join("manifest.toml")).expect("manifest");
        let m = crate::nn::manifest_fields(&text);
        let f = LoopFilter::default_model();
        assert_eq!(m["sha256"], hex(&f.sha256()));
        assert_eq!(m["bytes"], DEFAULT_MODEL.len().to_string());
        assert_eq!(m["role"], ROLE.to_string());
        assert_eq!(m["outputs"], f.model().outputs.len().to_string());
        assert_eq!(m["parameters"], f.model().cost(1).1.to_string());
        for key in [false, true] {
            let macs = format!("{:.0}", f.macs_per_luma_pixel(key));
            assert_eq!(m["macs_per_luma_pixel"], macs, "keyframes {key}");
        }
        assert_eq!(std::fs::read(dir.join(&m["file"])).unwrap(), DEFAULT_MODEL);
        let listed: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("\"checkpoints/"))
            .collect();
        assert_eq!(
            listed.len(),
            f.model().outputs.len(),
            "one checkpoint per output"
        );
        for name in listed {
            let file = name.trim_end_matches(['"', ',']);
            assert!(dir.join("checkpoints").join(file).is_file(), "{file}");
        }
    }

    #[test]
    fn half_resolution_filters_load_and_run_exactly() {
        let f = LoopFilter::from_bytes(&half_res_model(1, true).to_bytes()).expect("valid");
        let two = LoopFilter::from_bytes(&half_res_model(2, true).to_bytes()).expect("valid");
        let frame = &smooth_frames()[0];
        for (p, plane) in frame.planes.iter().enumerate() {
            let side = side_info(30, 0, p, false);
            let which = (false, p > 0);
            let want = f.filter_plane(plane, side, which, CpuLevel::Scalar);
            assert_ne!(want, plane.data, "plane {p} unchanged");
            assert_eq!(
                two.filter_plane(plane, side, which, CpuLevel::Scalar).len(),
                want.len()
            );
            for cpu in CpuLevel::all_supported() {
                assert_eq!(f.filter_plane(plane, side, which, cpu), want, "{cpu:?}");
            }
        }
        // Half-size output (no shuffle back): refused.
        let half = half_res_model(1, false);
        assert!(matches!(
            LoopFilter::from_bytes(&half.to_bytes()),
            Err(ModelError::Shape { .. })
        ));
        // Three stride-2 layers: sizes would no longer divide exactly.
        assert!(matches!(
            LoopFilter::from_bytes(&half_res_model(3, true).to_bytes()),
            Err(ModelError::Shape { .. })
        ));
        // The limit is per network: four networks of two halvings each join.
        let two_halvings = half_res_model(2, true);
        let mut joined = two_halvings.clone();
        for _ in 0..3 {
            joined = joined.join(&two_halvings).unwrap();
        }
        let four = LoopFilter::from_bytes(&joined.to_bytes()).expect("four half-res networks");
        let plane = &frame.planes[1];
        let side = side_info(30, 0, 1, true);
        assert_eq!(
            four.filter_plane(plane, side, (true, true), CpuLevel::Scalar),
            two.filter_plane(plane, side, (true, true), CpuLevel::Scalar)
        );
    }

    /// Filtering in strips (each with the network's reach of rows around it)
    /// gives exactly the one-run result, for both default networks and a
    /// half-resolution one, at strip heights down to 4 rows, at every CPU level.
    #[test]
    fn strips_equal_one_run() {
        let frame = &smooth_frames()[1];
        let half = LoopFilter::from_bytes(&half_res_model(2, true).to_bytes()).unwrap();
        for f in [&*LoopFilter::default_model(), &half] {
            for (key, set) in [false, true]
                .into_iter()
                .flat_map(|k| (0..f.sets()).map(move |s| (k, s)))
            {
                for (p, plane) in frame.planes.iter().enumerate() {
                    let which = (key, p > 0, set);
                    let g = f.nets[f.net_index(key, p > 0, set)].geometry;
                    let side = side_info(40, 0, p, key);
                    let whole = [Region::whole(plane)];
                    let one_run = f.filter_regions(
                        plane,
                        side,
                        which,
                        CpuLevel::Scalar,
                        f64::INFINITY,
                        &whole,
                    );
                    assert_ne!(one_run, plane.data, "plane {p} unchanged");
                    let row_values = g.values_per_sample * (plane.width + 2 * BORDER) as f64;
                    for core in [4, 8, 20] {
                        let budget = row_values * ((core + 2 * g.reach) as f64 + 0.5);
                        for cpu in CpuLevel::all_supported() {
                            let strips = f.filter_regions(plane, side, which, cpu, budget, &whole);
                            assert!(strips == one_run, "plane {p}, {core}-row strips, {cpu:?}");
                        }
                    }
                }
            }
        }
    }

    /// A decoder filters only the superblocks that are on (each run of them
    /// with the network's reach around it): every sample of those comes out
    /// as from one run over the whole plane, for every pattern of flags on a
    /// frame with partial superblocks, for the default networks and a
    /// half-resolution one, at every CPU level.
    #[test]
    fn superblocks_that_are_on_equal_the_whole_plane() {
        let frame = &smooth_frames()[1];
        let half = LoopFilter::from_bytes(&half_res_model(2, true).to_bytes()).unwrap();
        let (cols, rows) = sb_grid(frame.planes[0].width, frame.planes[0].height);
        assert_eq!((cols, rows), (2, 2), "partial superblocks on both axes");
        for f in [&*LoopFilter::default_model(), &half] {
            for (p, plane) in frame.planes.iter().enumerate() {
                let side = side_info(40, 0, p, true);
                let whole = f.filter_plane_in_set(plane, side, (true, p > 0), 0, CpuLevel::Scalar);
                for mask in 0..1u32 << (cols * rows) {
                    let sb_on: Vec<bool> = (0..cols * rows).map(|i| mask & (1 << i) != 0).collect();
                    let regions = regions_on(plane, p, &sb_on, cols);
                    // Runs of neighbours are merged: two on in a row make one region.
                    let runs = sb_on
                        .chunks(cols)
                        .map(|r| r.windows(2).filter(|w| !w[0] && w[1]).count() + r[0] as usize)
                        .sum::<usize>();
                    assert_eq!(regions.len(), runs, "mask {mask:#b}");
                    for cpu in CpuLevel::all_supported() {
                        let part = f.filter_regions(
                            plane,
                            side,
                            (true, p > 0, 0),
                            cpu,
                            STRIP_BUDGET,
                            &regions,
                        );
                        for (i, &on) in sb_on.iter().enumerate() {
                            let (x0, y0, x1, y1) = sb_rect(plane, p, cols, i);
                            for y in y0..y1 {
                                let at = y * plane.width;
                                let (got, want) =
                                    (&part[at + x0..at + x1], &whole[at + x0..at + x1]);
                                if on {
                                    assert_eq!(
                                        got, want,
                                        "plane {p}, mask {mask:#b}, row {y}, {cpu:?}"
                                    );
                                } else {
                                    assert!(
                                        got.iter().all(|&v| v == 0),
                                        "plane {p}: an off superblock was filtered"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// A network too wide to filter even 4-row strips of the widest frame
    /// within the budget is refused when loaded, not when a frame arrives.
    #[test]
    fn oversized_networks_are_refused_at_load() {
        let spec = |channels, lo, hi| TensorSpec { channels, lo, hi };
        let conv = |operand, in_ch: usize, out: TensorSpec| Layer {
            operands: vec![operand],
            op: LayerOp::Conv2d {
                kernel: 3,
                stride: 1,
                shift: 0,
                weights: vec![0; out.channels * in_ch * 9],
                bias: vec![0; out.channels],
            },
            out,
        };
        let layers = vec![
            Layer {
                operands: vec![0, 1],
                out: spec(3, 0, 255),
                op: LayerOp::Concat,
            },
            conv(2, 3, spec(256, 0, 255)),
            conv(3, 256, spec(256, 0, 255)),
            conv(4, 256, spec(256, 0, 255)),
            conv(5, 256, spec(1, -128, 127)),
            Layer {
                operands: vec![0, 6],
                out: spec(1, 0, 255),
                op: LayerOp::Add,
            },
        ];
        let model = Model {
            inputs: vec![spec(1, 0, 255), spec(2, 0, 255)],
            outputs: vec![7],
            layers,
        };
        match LoopFilter::from_bytes(&model.to_bytes()) {
            Err(ModelError::Shape { what, .. }) => assert!(what.contains("too large"), "{what}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn keyframes_use_the_second_network() {
        let (blur, sharpen) = (blur_model(1), blur_model(-1));
        let both = LoopFilter::from_bytes(&blur.join(&sharpen).unwrap().to_bytes()).unwrap();
        let blur_only = LoopFilter::from_bytes(&blur.to_bytes()).unwrap();
        let sharpen_only = LoopFilter::from_bytes(&sharpen.to_bytes()).unwrap();
        assert!(both.has_keyframe_network() && !blur_only.has_keyframe_network());
        assert!(!both.has_chroma_network());
        let frame = &smooth_frames()[0];
        for cpu in CpuLevel::all_supported() {
            for (p, plane) in frame.planes.iter().enumerate() {
                let side = side_info(30, 0, p, false);
                let chroma = p > 0;
                let blurred = blur_only.filter_plane(plane, side, (false, chroma), cpu);
                let sharpened = sharpen_only.filter_plane(plane, side, (false, chroma), cpu);
                assert_ne!(blurred, sharpened);
                assert_eq!(
                    both.filter_plane(plane, side, (false, chroma), cpu),
                    blurred
                );
                assert_eq!(
                    both.filter_plane(plane, side, (true, chroma), cpu),
                    sharpened
                );
                // A single network serves keyframes too.
                assert_eq!(
                    blur_only.filter_plane(plane, side, (true, chroma), cpu),
                    blurred
                );
            }
        }
        let three = blur.join(&sharpen).unwrap().join(&blur).unwrap();
        assert!(LoopFilter::from_bytes(&three.to_bytes()).is_err());
    }

    /// A four-output model runs output `key + 2 * chroma`: networks of their
    /// own for luma and chroma, inter frames and keyframes.
    #[test]
    fn four_networks_split_frame_types_and_planes() {
        // Four different networks: blur and sharpen, at two strengths.
        let nets = [blur_model(1), blur_model(-1), blur_model(2), blur_model(-2)];
        let four = LoopFilter::from_bytes(&joined(&nets).to_bytes()).unwrap();
        assert!(four.has_keyframe_network() && four.has_chroma_network());
        let singles = each_alone(&nets);
        let frame = &smooth_frames()[0];
        for cpu in CpuLevel::all_supported() {
            for (p, plane) in frame.planes.iter().enumerate() {
                for key in [false, true] {
                    let side = side_info(30, 0, p, key);
                    let which = (key, p > 0);
                    let k = key as usize + 2 * (p > 0) as usize;
                    let want = singles[k].filter_plane(plane, side, which, cpu);
                    for (j, other) in singles.iter().enumerate().filter(|&(j, _)| j != k) {
                        let theirs = other.filter_plane(plane, side, which, cpu);
                        assert_ne!(want, theirs, "networks {k} and {j} alike on plane {p}");
                    }
                    assert_eq!(
                        four.filter_plane(plane, side, which, cpu),
                        want,
                        "plane {p}"
                    );
                }
            }
        }
    }

    /// Each of `nets` loaded as a filter of its own.
    fn each_alone(nets: &[Model]) -> Vec<LoopFilter> {
        nets.iter()
            .map(|n| LoopFilter::from_bytes(&n.to_bytes()).unwrap())
            .collect()
    }

    /// `nets` joined into one model, outputs in order.
    fn joined(nets: &[Model]) -> Model {
        let mut all = nets[0].clone();
        for n in &nets[1..] {
            all = all.join(n).unwrap();
        }
        all
    }

    /// An eight-output model is two sets of four: set `s` runs output
    /// `key + 2 * chroma + 4 * s`. Other output counts are refused.
    #[test]
    fn eight_networks_form_two_sets() {
        let nets = [1, -1, 2, -2, 3, -3, 4, 0].map(blur_model);
        let eight = LoopFilter::from_bytes(&joined(&nets).to_bytes()).unwrap();
        assert_eq!(eight.sets(), 2);
        let four = LoopFilter::from_bytes(&joined(&nets[..4]).to_bytes()).unwrap();
        assert_eq!(four.sets(), 1);
        let singles = each_alone(&nets);
        let frame = &smooth_frames()[0];
        for cpu in CpuLevel::all_supported() {
            for (p, plane) in frame.planes.iter().enumerate() {
                for key in [false, true] {
                    let side = side_info(30, 0, p, key);
                    let which = (key, p > 0);
                    assert!(eight.sets_differ(key, p > 0) && !four.sets_differ(key, p > 0));
                    for set in 0..2 {
                        let k = key as usize + 2 * (p > 0) as usize + 4 * set;
                        let want = singles[k].filter_plane(plane, side, which, cpu);
                        let got = eight.filter_plane_in_set(plane, side, which, set, cpu);
                        assert_eq!(got, want, "plane {p}, key {key}, set {set}");
                    }
                }
            }
        }
        // A second set equal to the first is no choice.
        let same = [1, -1, 2, -2, 1, -1, 2, -2].map(blur_model);
        let same = LoopFilter::from_bytes(&joined(&same).to_bytes()).unwrap();
        assert!(!same.sets_differ(false, false) && !same.sets_differ(true, true));
        for n in [3, 5, 6, 7] {
            assert!(
                LoopFilter::from_bytes(&joined(&nets[..n]).to_bytes()).is_err(),
                "{n} outputs accepted"
            );
        }
    }

    /// A smooth moving pattern, 3 frames of 96x72 (coarse quantisation
    /// without deblocking leaves block edges the blur softens).
    fn smooth_frames() -> Vec<Frame> {
        (0..3)
            .map(|t| {
                let mut f = Frame::new_420(96, 72);
                for (p, plane) in f.planes.iter_mut().enumerate() {
                    let w = plane.width;
                    let s = if p == 0 { 1.0 } else { 2.0 };
                    for (i, v) in plane.data.iter_mut().enumerate() {
                        let (x, y) = ((i % w) as f64 * s, (i / w) as f64 * s);
                        let a = (x * 0.11 + t as f64 * 0.3).sin() * (y * 0.07).cos();
                        *v = (128.0 + 90.0 * a + p as f64 * 5.0) as u8;
                    }
                }
                f
            })
            .collect()
    }

    #[test]
    fn filter_used_in_loop_and_decoded_exactly() {
        used_in_loop_and_decoded_exactly(Arc::new(blur_filter()));
        let half = LoopFilter::from_bytes(&half_res_model(1, true).to_bytes()).unwrap();
        used_in_loop_and_decoded_exactly(Arc::new(half));
        // Two sets, the first doing nothing: a frame that uses the filter
        // chose the second, and the decoder reads which.
        let sets = joined(&[0, 0, 0, 0, 1, 1, 1, 1].map(blur_model));
        used_in_loop_and_decoded_exactly(Arc::new(
            LoopFilter::from_bytes(&sets.to_bytes()).unwrap(),
        ));
    }

    /// The fast preset filters with the first set only: with a first set
    /// that does nothing, it never switches the filter on.
    #[test]
    fn fast_preset_keeps_to_the_first_set() {
        let sets = joined(&[0, 0, 0, 0, 1, 1, 1, 1].map(blur_model));
        let mut cfg = EncoderConfig::new(96, 72);
        cfg.qp = 46;
        cfg.deblock = false;
        cfg.preset = crate::Preset::Fast;
        cfg.nn_filter_model = Some(Arc::new(LoopFilter::from_bytes(&sets.to_bytes()).unwrap()));
        let packets = encode_smooth_frames(cfg);
        assert_eq!(packets.len(), 3);
        for p in &packets {
            let fh = read_packet_headers(&p.data).expect("headers").frame;
            assert_eq!(fh.nn_filter, [false; 2], "frame {}", fh.frame_number);
        }
    }

    /// Keyframes deblock less when the learned filter is on
    /// (`KEYFRAME_DEBLOCK_OFFSET_WITH_NN_FILTER`), inter frames and streams
    /// without the filter keep offset 0, and an explicit offset applies to
    /// every frame; each stream decodes exactly.
    #[test]
    fn keyframe_deblocking_offset_follows_the_learned_filter() {
        let offsets = |nn_filter: bool, explicit: Option<i8>| -> Vec<(bool, i8, i8)> {
            let mut cfg = EncoderConfig::new(96, 72);
            cfg.qp = 46;
            cfg.nn_filter = nn_filter;
            cfg.nn_filter_model = Some(Arc::new(blur_filter()));
            cfg.deblock_offset = explicit;
            let packets = encode_smooth_frames(cfg.clone());
            let mut dec = Decoder::new(DecoderConfig {
                filters: vec![Arc::new(blur_filter())],
                ..Default::default()
            });
            for p in &packets {
                dec.send_packet(&p.data).expect("decodes");
            }
            dec.flush();
            let mut recon: Vec<_> = packets.iter().map(|p| (p.frame_number, &p.recon)).collect();
            recon.sort_by_key(|r| r.0);
            for (want, got) in recon.iter().zip(std::iter::from_fn(|| dec.receive_frame())) {
                assert_eq!((want.0, want.1), (got.frame_number, &got.frame));
            }
            packets
                .iter()
                .map(|p| {
                    let fh = read_packet_headers(&p.data).expect("headers").frame;
                    assert!(fh.deblock);
                    (p.keyframe, fh.deblock_beta_offset, fh.deblock_tc_offset)
                })
                .collect()
        };
        let key = crate::encoder::KEYFRAME_DEBLOCK_OFFSET_WITH_NN_FILTER;
        assert!(key < 0, "deblocks less");
        let with_filter = offsets(true, None);
        assert!(with_filter.iter().any(|f| !f.0), "an inter frame");
        for (keyframe, beta, tc) in with_filter {
            let want = if keyframe { key } else { 0 };
            assert_eq!((beta, tc), (want, want));
        }
        assert!(offsets(false, None).iter().all(|f| (f.1, f.2) == (0, 0)));
        assert!(offsets(true, Some(3)).iter().all(|f| (f.1, f.2) == (3, 3)));
        let mut bad = EncoderConfig::new(96, 72);
        bad.deblock_offset = Some(7);
        assert!(matches!(
            Encoder::new(bad),
            Err(Error::Config(crate::ConfigError::DeblockOffset(7)))
        ));
    }

    fn encode_smooth_frames(cfg: EncoderConfig) -> Vec<crate::Packet> {
        encode_smooth_frames_keeping(cfg, TrainingHooks::default())
            .into_iter()
            .map(|p| p.packet)
            .collect()
    }

    fn encode_smooth_frames_keeping(
        cfg: EncoderConfig,
        hooks: TrainingHooks,
    ) -> Vec<TrainingPacket> {
        let mut enc = TrainingEncoder::new(cfg, hooks).expect("config");
        let mut packets = Vec::new();
        for f in smooth_frames() {
            enc.send_frame(f).expect("frame");
            packets.extend(std::iter::from_fn(|| enc.receive()));
        }
        enc.flush();
        packets.extend(std::iter::from_fn(|| enc.receive()));
        packets
    }

    fn used_in_loop_and_decoded_exactly(filter: Arc<LoopFilter>) {
        let mut cfg = EncoderConfig::new(96, 72);
        cfg.qp = 46;
        cfg.deblock = false;
        cfg.nn_filter_model = Some(filter.clone());
        let hooks = TrainingHooks {
            keep_deblocked: true,
            ..Default::default()
        };
        let kept = encode_smooth_frames_keeping(cfg, hooks);
        let packets: Vec<_> = kept.iter().map(|p| p.packet.clone()).collect();
        let used = packets
            .iter()
            .filter(|p| {
                read_packet_headers(&p.data)
                    .expect("headers")
                    .frame
                    .nn_filter
                    != [false; 2]
            })
            .count();
        assert!(used > 0, "the encoder chose the filter in no frame");
        // The kept pre-filter frames are the filter's input: they differ from
        // the output exactly where the filter was used.
        for kept in &kept {
            let p = &kept.packet;
            let on = read_packet_headers(&p.data).unwrap().frame.nn_filter != [false; 2];
            let deblocked = kept.extras.deblocked.as_ref().expect("kept");
            assert_eq!(deblocked != &p.recon, on, "frame {}", p.frame_number);
        }
        let seq = read_packet_headers(&packets[0].data)
            .expect("headers")
            .sequence
            .expect("keyframe");
        assert!(seq.tools.nn_filter);
        assert_eq!(seq.models[0].sha256, filter.sha256());

        // A decoder with the model reproduces the reconstruction exactly.
        let mut dec = Decoder::new(DecoderConfig {
            filters: vec![filter.clone()],
            ..Default::default()
        });
        for p in &packets {
            dec.send_packet(&p.data).expect("decodes");
        }
        dec.flush();
        let mut n = 0;
        while let Some(d) = dec.receive_frame() {
            let r = &packets
                .iter()
                .find(|p| p.frame_number == d.frame_number)
                .expect("packet")
                .recon;
            assert_eq!(&d.frame, r, "frame {}", d.frame_number);
            n += 1;
        }
        assert_eq!(n, packets.len());

        // One without it refuses the stream, naming the model.
        let mut dec = Decoder::new(DecoderConfig::default());
        match dec.send_packet(&packets[0].data) {
            Err(Error::Bitstream(crate::BitstreamError::MissingModel(name))) => {
                assert_eq!(name, hex(&filter.sha256()))
            }
            other => panic!("expected MissingModel, got {other:?}"),
        }
    }

    #[test]
    fn embedded_model_loads_within_budget() {
        let f = LoopFilter::default_model();
        for key in [false, true] {
            let per_pixel = f.macs_per_luma_pixel(key);
            assert!(
                per_pixel <= 20_000.0,
                "{per_pixel} MAC per luma pixel (key {key})"
            );
            // Counted independently, from the layers' channel counts: a 3x3
            // convolution at full resolution costs 9 * in * out per sample;
            // output 1 + key of the four-output model filters luma, output
            // 3 + key chroma; two chroma planes of a quarter of the samples.
            let model = f.model();
            let by_hand = |output: usize| -> f64 {
                let net = model.only_output(output);
                net.layers
                    .iter()
                    .map(|l| match &l.op {
                        LayerOp::Conv2d {
                            kernel: 3,
                            stride: 1,
                            ..
                        } => 9.0 * (net.spec(l.operands[0]).channels * l.out.channels) as f64,
                        LayerOp::Conv2d { .. } => panic!("the default filter is full resolution"),
                        _ => 0.0,
                    })
                    .sum()
            };
            // An eight-output model's second set (outputs 4..8) counts too:
            // the budget holds for whichever set a frame chooses.
            let key = key as usize;
            let sets = model.outputs.len() / 4;
            let worst = (0..sets)
                .map(|s| by_hand(4 * s + key) + 2.0 * 0.25 * by_hand(4 * s + 2 + key))
                .fold(0.0, f64::max);
            assert_eq!(per_pixel, worst);
        }
    }

    #[test]
    fn flags_round_trip_through_the_range_coder() {
        let (cols, rows) = (5, 3);
        for (sets, set) in [(1, [0, 0]), (2, [1, 0]), (2, [0, 1])] {
            let f = FilterFlags {
                on: [true, true],
                scale: [2, 7],
                set,
                sb: [
                    (0..15).map(|i| i % 3 != 0).collect(),
                    (0..15).map(|i| i % 4 == 1).collect(),
                ],
            };
            let mut enc = crate::entropy::RangeEncoder::new();
            write_flags(&mut enc, &mut Contexts::default(), &f, sets, cols);
            let bytes = enc.finish();
            let mut dec = RangeDecoder::new(&bytes);
            let got = read_flags(
                &mut dec,
                &mut Contexts::default(),
                [true, true],
                [2, 7],
                sets,
                cols,
                rows,
            );
            assert_eq!(got, f, "{sets} sets");
        }
    }
}
