//! The loop-filter model: loading and checking a `.micanet` file with one,
//! two, four or eight restoration networks, the default model, and running
//! a network over regions of a plane (in strips within a memory budget).

use super::*;

/// The default loop filter shipped with Mica (`models/loopfilter/loopfilter.micanet`).
pub(super) const DEFAULT_MODEL: &[u8] =
    include_bytes!("../../../models/loopfilter/loopfilter.micanet");

/// Side-information values of one plane, in the network's side input
/// channel order: `[4 * plane_qp, 255 if chroma else 0, 255 if keyframe else 0]`,
/// constant over the plane; a model with two side channels takes the first two.
/// `plane_qp` is the frame QP for luma and the mapped chroma QP for chroma, at
/// least 0 (the QPs below 0 of high bit depths look like 0 to the networks).
pub fn side_info(frame_qp: i8, chroma_qp_offset: i8, plane: usize, key: bool) -> [i16; 3] {
    let key = if key { 255 } else { 0 };
    if plane == 0 {
        [4 * frame_qp.max(0) as i16, 0, key]
    } else {
        // Depth 10 keeps QPs below 0 apart, which `max(0)` then merges: the same
        // value as at depth 8 for every QP.
        let q = crate::transform::chroma_qp(frame_qp as i32 + chroma_qp_offset as i32, 10);
        [4 * q.max(0) as i16, 255, key]
    }
}

/// The network's input sample for a `bit_depth`-bit sample: rounded to 8 bits.
#[inline]
pub(crate) fn network_sample(v: u16, bit_depth: u8) -> u16 {
    let shift = bit_depth - 8;
    if shift == 0 {
        v
    } else {
        ((v + (1 << (shift - 1))) >> shift).min(255)
    }
}

/// Samples added by edge repetition around a plane before the network runs.
pub const BORDER: usize = 8;

/// A loaded loop-filter model with engines kept for reuse.
///
/// The model has one, two, four or eight outputs, each a network of its own,
/// and a frame's plane runs one of them (see `LoopFilter::network_in_set`): one
/// network filters everything; with two, output 1 filters keyframes (their
/// artefacts differ: no motion-compensated prediction); with four, outputs 0
/// and 1 do so for luma and outputs 2 and 3 for chroma, so that no network
/// spends its capacity on both kinds of plane; with eight, outputs 4..8 are
/// a second **set** of four, and each frame signals per kind of plane which
/// set filters it (the encoder picks the better; e.g. a set trained for low
/// QPs, where one network for every QP gains least).
pub struct LoopFilter {
    /// What the file holds, for the tests (the filter runs `nets`).
    #[cfg(test)]
    pub(super) model: Model,
    pub(super) sha256: [u8; 32],
    /// Per output, the network computing it alone.
    pub(super) nets: Vec<Network>,
}

/// One output's network and its engines by input size, reused across frames
/// (an engine allocates its tensors once).
pub(super) struct Network {
    pub(super) model: Model,
    /// The fast path, when the network is a chain whose reach stays within
    /// [`BORDER`] (so repeating the picture's edges equals the engine's run
    /// over the edge-extended plane).
    pub(super) chain: Option<Chain>,
    pub(super) geometry: Geometry,
    /// Engines by input size and CPU level (so a caller asking for one
    /// level never gets an engine built for another).
    pub(super) engines: Mutex<Vec<(EngineKey, Engine)>>,
}

/// Input width, height and CPU level of a pooled engine.
pub(super) type EngineKey = (usize, usize, CpuLevel);

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
pub(super) const STRIP_BUDGET: f64 = (1u64 << 26) as f64;

/// Largest extended plane width a frame can have (`MAX_SIDE` plus the border).
pub(super) const MAX_EXTENDED_WIDTH: usize = crate::bitstream::MAX_SIDE as usize + 2 * BORDER;

/// What filtering a plane in strips needs to know about a network.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    /// Input rows an output row depends on, each side (rounded up to a
    /// multiple of 4, so strips keep every tensor's sampling grid).
    pub(super) reach: usize,
    /// Values of all the engine's tensors per input sample.
    pub(super) values_per_sample: f64,
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
pub(super) fn check_network(model: &Model) -> Result<Geometry, ModelError> {
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
    /// or 3 channels]`, one, two, four or eight outputs (see `LoopFilter::network_in_set`)
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
                chain: Chain::from_model(&model).filter(|c| c.reach() <= BORDER),
                model,
                engines: Mutex::new(Vec::new()),
            });
        }
        Ok(LoopFilter {
            #[cfg(test)]
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
    #[cfg(test)]
    pub(crate) fn model(&self) -> &Model {
        &self.model
    }

    /// Whether keyframes have networks of their own.
    #[cfg(test)]
    pub(crate) fn has_keyframe_network(&self) -> bool {
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
    #[cfg(test)]
    pub(crate) fn has_chroma_network(&self) -> bool {
        self.nets.len() >= 4
    }

    /// Sets of networks a frame chooses from per kind of plane: 2 for an
    /// eight-output model, else 1.
    pub(crate) fn sets(&self) -> usize {
        if self.nets.len() == 8 {
            2
        } else {
            1
        }
    }

    /// Whether the two sets filter a kind of plane of a frame type with
    /// different networks (the encoder tries the second only then).
    pub(crate) fn sets_differ(&self, key: bool, chroma: bool) -> bool {
        self.sets() == 2
            && self.network_in_set(key, chroma, 0) != self.network_in_set(key, chroma, 1)
    }

    /// The network that filters a plane of a keyframe (`key`) or an inter
    /// frame, chroma (`chroma`) or luma, in set `set` (< [`LoopFilter::sets`]):
    /// output `key + 2 * chroma + 4 * set` of an eight-output model, output
    /// `key + 2 * chroma` of a four-output one, output `key` of a two-output
    /// one, the only output of a one-output one.
    pub(crate) fn network_in_set(&self, key: bool, chroma: bool, set: usize) -> &Model {
        &self.nets[self.net_index(key, chroma, set)].model
    }

    pub(super) fn net_index(&self, key: bool, chroma: bool, set: usize) -> usize {
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
        self.filter_regions_by_engine(
            plane,
            8,
            side,
            (key, chroma, set),
            cpu,
            STRIP_BUDGET,
            &whole,
        )
    }

    /// The filtered samples of `regions` (the rest of the returned plane is
    /// 0), with the engine's memory limited to `budget` values: a region
    /// that does not fit is run in horizontal strips, each with the network's
    /// reach of rows above and below it. Every output sample sees exactly
    /// what it sees in one run over the whole plane, so the result is the
    /// same whatever the regions and strips (tested). The network sees the
    /// samples rounded to 8 bits ([`network_sample`]) and its output is at 8 bits.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn filter_regions(
        &self,
        plane: &Plane,
        bit_depth: u8,
        side: [i16; 3],
        which: (bool, bool, usize),
        cpu: CpuLevel,
        budget: f64,
        regions: &[Region],
    ) -> Vec<u8> {
        let net = &self.nets[self.net_index(which.0, which.1, which.2)];
        let Some(chain) = &net.chain else {
            return self
                .filter_regions_by_engine(plane, bit_depth, side, which, cpu, budget, regions);
        };
        let (w, h) = (plane.width, plane.height);
        let samples: Vec<u8> = plane
            .data
            .iter()
            .map(|&v| network_sample(v, bit_depth) as u8)
            .collect();
        let rects: Vec<Rect> = regions
            .iter()
            .map(|r| Rect {
                x0: r.x0,
                y0: r.y0,
                x1: r.x1,
                y1: r.y1,
            })
            .collect();
        let side_channels = net.model.inputs.get(1).map_or(0, |s| s.channels);
        let mut out = vec![0u8; w * h];
        chain.filter(
            &samples,
            w,
            h,
            &side[..side_channels],
            &rects,
            cpu,
            &mut out,
        );
        out
    }

    /// [`Self::filter_regions`] through the engine (the definition, and the
    /// path of networks that are not chains).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn filter_regions_by_engine(
        &self,
        plane: &Plane,
        bit_depth: u8,
        side: [i16; 3],
        which: (bool, bool, usize),
        cpu: CpuLevel,
        budget: f64,
        regions: &[Region],
    ) -> Vec<u8> {
        let mut out = vec![0u8; plane.width * plane.height];
        for &region in regions {
            self.filter_region(plane, bit_depth, side, which, cpu, budget, region, &mut out);
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
    pub(super) fn filter_region(
        &self,
        plane: &Plane,
        bit_depth: u8,
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
                samples.extend((ia..ib).map(|x| {
                    network_sample(row[x.saturating_sub(BORDER).min(pw - 1)], bit_depth) as i16
                }));
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
pub(super) struct Region {
    pub(super) x0: usize,
    pub(super) y0: usize,
    pub(super) x1: usize,
    pub(super) y1: usize,
}

impl Region {
    pub(super) fn whole(plane: &Plane) -> Region {
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
pub(super) fn regions_on(plane: &Plane, p: usize, sb_on: &[bool], cols: usize) -> Vec<Region> {
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
    pub(super) fn engine(&self, w: usize, h: usize, cpu: CpuLevel) -> Engine {
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

    pub(super) fn keep_engine(&self, w: usize, h: usize, cpu: CpuLevel, engine: Engine) {
        let mut pool = self.engines.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < 8 {
            pool.push(((w, h, cpu), engine));
        }
    }
}
