//! mica-train: trains Mica's learned tools with quantisation awareness (feature `torch`).
//!
//! `mica-train filter` reproduces the default loop filter from one command:
//! it encodes the training clips with the learned filter off across the QP
//! range, collects (reconstruction, side information, original) patches,
//! trains the integer restoration network with the engine's exact
//! arithmetic in the forward pass, and writes the `.micanet` model and a
//! checkpoint (`mica-train convert` turns a checkpoint into a model).
//! Fixed seeds: the same command gives the same model on the same machine
//! and libtorch build.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
mod qat;

use mica::internals::learned_intra::{
    block_context, context_len, network_input, traditional_prediction, LINES,
};
use mica::internals::loop_filter::side_info;
use mica::internals::TrainingHooks;
use mica::{EncoderConfig, Frame};
use mica_cli::{encode_for_training, read_clip, training_files};
use qat::{QatIntra, QatRestoration, RestorationShape};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train the in-loop restoration filter.
    Filter(FilterArgs),
    /// Train the learned intra predictor.
    Intra(IntraArgs),
    /// Turn a training checkpoint (the libtorch VarStore `filter` or
    /// `intra` writes) into a `.micanet` model.
    Convert {
        /// The checkpoint.
        checkpoint: PathBuf,
        /// The model to write.
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
struct IntraArgs {
    /// Folder of training y4m files (never the test clips).
    #[arg(long, default_value = "../shared/media/train")]
    train_dir: PathBuf,
    /// Also train on every file downscaled 2x (`mica_train::downscale_half`):
    /// the same scenes with texture at twice the frequency, more varied
    /// material than the folder alone.
    #[arg(long)]
    half_scale: bool,
    /// The model to write.
    #[arg(long, default_value = "models/intra/intra.micanet")]
    out: PathBuf,
    /// The checkpoint to write (libtorch VarStore).
    #[arg(long, default_value = "models/intra/checkpoints/intra.ckpt")]
    checkpoint: PathBuf,
    /// QPs the training material is encoded at (all-intra, learned tools off).
    #[arg(long, value_delimiter = ',', default_value = "22,27,32,37,42")]
    qps: Vec<u8>,
    /// Frames taken per clip (every `frame_step`-th from the start).
    #[arg(long, default_value_t = 4)]
    frames: usize,
    /// Distance between the frames taken.
    #[arg(long, default_value_t = 5)]
    frame_step: usize,
    /// Hidden widths of the 4x4, 8x8 and 16x16 networks (each: widths joined by 'x').
    #[arg(long, value_delimiter = ',', default_value = "64x64,128x128,128x128")]
    hidden: Vec<String>,
    /// Training steps (each: one batch per block size).
    #[arg(long, default_value_t = 20000)]
    steps: usize,
    /// Blocks per batch.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Fraction of the steps trained in float before quantisation-aware training.
    #[arg(long, default_value_t = 0.3)]
    float_fraction: f64,
    /// Peak learning rate (Adam, cosine decay).
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Seed of initialisation and sampling.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Loss: `mse` (every block alike) or `best` (the error that remains
    /// after choosing between the network and the best traditional mode per
    /// block, plus `--mse-weight` times the plain error): `best` lets the
    /// network specialise in the blocks the traditional modes predict badly.
    /// `best-satd` is `best` measured as the encoder ranks modes, by the sum
    /// of absolute Hadamard-transformed differences (a rate proxy: the
    /// residual is coded in a transform domain) instead of squared error.
    #[arg(long, default_value = "mse", value_parser = ["mse", "best", "best-satd"])]
    loss: String,
    /// Weight of the plain squared error in the `best` loss.
    #[arg(long, default_value_t = 0.05)]
    mse_weight: f64,
    /// The traditional mode the network stands in for (`none`: an extra
    /// mode): the `best` losses then choose among the other 34 modes, and the
    /// held-out report compares the network plus those 34 with all 35.
    #[arg(long, default_value = "none", value_parser = ["none", "planar", "dc"])]
    replaces: String,
    /// Start from this checkpoint (same hidden widths) instead of a fresh initialisation.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Train on CUDA when available.
    #[arg(long)]
    cuda: bool,
    /// libtorch threads (0: its default).
    #[arg(long, default_value_t = 0)]
    threads: i32,
}

#[derive(clap::Args, Debug)]
struct FilterArgs {
    /// Folder of training y4m files (never the test clips).
    #[arg(long, default_value = "../shared/media/train")]
    train_dir: PathBuf,
    /// Also train on every file downscaled 2x (`mica_train::downscale_half`):
    /// the same scenes with texture at twice the frequency, more varied
    /// material than the folder alone.
    #[arg(long)]
    half_scale: bool,
    /// The model to write.
    #[arg(long, default_value = "models/loopfilter/loopfilter.micanet")]
    out: PathBuf,
    /// The checkpoint to write (libtorch VarStore).
    #[arg(long, default_value = "target/loopfilter.ckpt")]
    checkpoint: PathBuf,
    /// QPs the training material is encoded at.
    #[arg(long, value_delimiter = ',', default_value = "22,27,32,37,42")]
    qps: Vec<u8>,
    /// Frames encoded per clip (from the start).
    #[arg(long, default_value_t = 17)]
    frames: usize,
    /// Take every this many-th frame of each clip (1: consecutive frames).
    #[arg(long, default_value_t = 1)]
    frame_step: usize,
    /// Encode every frame as a keyframe (collects keyframe material only,
    /// for a keyframe filter).
    #[arg(long)]
    all_intra: bool,
    /// Deblocking offset of every frame of the training encodes (-6..=6),
    /// or `auto`: the encoder's own choice (0, and
    /// `mica::internals::loop_filter::KEYFRAME_DEBLOCK_OFFSET_WITH_NN_FILTER` for keyframes when
    /// `--filter-on`). Recipe steps 1-11 used 0; step 12's keyframe material
    /// uses -2 (what the encoder gives keyframes the learned filter filters).
    #[arg(long, default_value = "0", allow_hyphen_values = true, value_parser = parse_deblock_offset)]
    deblock_offset: DeblockOffset,
    /// Encode the training material with this loop-filter model on (the
    /// network still learns from the frames before the filter): a second
    /// round of training then sees frames predicted from filtered references,
    /// as they are in a stream that uses the filter.
    #[arg(long)]
    filter_on: Option<PathBuf>,
    /// Luma patches taken per frame (half as many per chroma plane).
    #[arg(long, default_value_t = 8)]
    patches: usize,
    /// Patch side (the loss covers it; the network sees a margin around it).
    #[arg(long, default_value_t = 48)]
    patch: usize,
    /// Side-information channels the network takes: 2 (plane QP, chroma) or
    /// 3 (also keyframe).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(2..=3))]
    side_channels: u64,
    /// Patches taken from keyframes are this many times as many as from other frames.
    #[arg(long, default_value_t = 1)]
    key_oversample: usize,
    /// Which planes patches are cut from (luma or chroma: a network for one
    /// kind of plane).
    #[arg(long, value_enum, default_value_t = Planes::All)]
    planes: Planes,
    /// Hidden channels.
    #[arg(long, default_value_t = 24)]
    channels: i64,
    /// 3x3 convolutions.
    #[arg(long, default_value_t = 5)]
    convs: usize,
    /// Half-resolution network: a stride-2 first convolution, the rest on
    /// the half-resolution grid, a pixel shuffle back (see `RestorationShape`).
    #[arg(long)]
    half_res: bool,
    /// Context around each patch the network sees but the loss does not
    /// cover (default: the network's whole reach, so every output of the
    /// loss sees the context it sees in a frame).
    #[arg(long)]
    margin: Option<usize>,
    /// Training steps.
    #[arg(long, default_value_t = 12000)]
    steps: usize,
    /// Patches per step.
    #[arg(long, default_value_t = 24)]
    batch: usize,
    /// Fraction of the steps trained in float before quantisation-aware training.
    #[arg(long, default_value_t = 0.4)]
    float_fraction: f64,
    /// Peak learning rate (Adam, cosine decay).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Loss: `mse` (squared error over all patches: high-QP and busy patches,
    /// whose errors are largest, dominate) or `log-mse` (mean over patches of
    /// the log of each patch's squared error, i.e. the mean PSNR gain per
    /// patch: every QP and kind of content counts alike, as in a BD-rate)
    /// or `best-log` (`log-mse` of the better of filtered and unfiltered).
    #[arg(long, value_enum, default_value_t = FilterLoss::Mse)]
    loss: FilterLoss,
    /// Seed of initialisation and sampling.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Start from this checkpoint instead of a random initialisation: the
    /// same shape, or more hidden channels, which are then pruned to the
    /// `--channels` strongest per layer (by the size of their outgoing weights).
    #[arg(long)]
    init: Option<PathBuf>,
    /// Train on CUDA when available.
    #[arg(long)]
    cuda: bool,
    /// libtorch threads (0: its default).
    #[arg(long, default_value_t = 0)]
    threads: i32,
}

/// What a filter network's training minimises.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum FilterLoss {
    Mse,
    LogMse,
    /// `log-mse` of the better of the filtered and the unfiltered patch
    /// (plus 0.05 times the plain `log-mse`): the encoder switches the
    /// filter off per superblock where it does not help, so the network
    /// may specialise in the patches it can improve.
    BestLog,
}

/// Added to a patch's mean squared error before its log, so that a patch
/// the codec already reconstructs almost exactly does not dominate.
const LOG_MSE_FLOOR: f64 = 0.5;

/// Weight of the plain log loss in `best-log`: small, so that patches the
/// network does not improve still pull it gently towards not harming them.
const BEST_LOG_PLAIN_WEIGHT: f64 = 0.05;

/// The planes a filter network is trained on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Planes {
    All,
    Luma,
    Chroma,
}

impl Planes {
    /// Whether plane `p` (0 luma, 1 and 2 chroma) is one of them.
    fn covers(self, p: usize) -> bool {
        match self {
            Planes::All => true,
            Planes::Luma => p == 0,
            Planes::Chroma => p != 0,
        }
    }
}

impl FilterArgs {
    /// The network shape the options ask for.
    fn shape(&self) -> RestorationShape {
        RestorationShape {
            side_channels: self.side_channels as i64,
            channels: self.channels,
            convs: self.convs,
            half_res: self.half_res,
        }
    }
}

/// Cosine decay from `peak` at step 0 to `peak / 100` at the last step.
fn cosine_lr(peak: f64, step: usize, steps: usize) -> f64 {
    let floor = 1e-2 * peak;
    floor + 0.5 * (peak - floor) * (1.0 + (std::f64::consts::PI * step as f64 / steps as f64).cos())
}

/// SplitMix64: a small, fixed, portable generator for sampling.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Whether block `i` (in collection order) is held out: one in 20, by a hash
/// of the index. Every 20th block would fall on the same few picture columns,
/// since blocks are collected in raster order.
fn held_out(i: usize) -> bool {
    Rng(i as u64).next().is_multiple_of(20)
}

/// One training example: a reconstructed and an original patch (with margin)
/// and the plane's side information.
struct Patch {
    rec: Vec<u16>,
    orig: Vec<u16>,
    side: [i16; 3],
}

/// Cuts `count` random patches; with `align` 2 they start at even positions
/// (a half-resolution network's 2x2 grid then sits where it sits in a frame).
#[allow(clippy::too_many_arguments)]
fn take_patches(
    rec: &mica::Plane,
    orig: &mica::Plane,
    side: [i16; 3],
    side_len: usize,
    align: usize,
    count: usize,
    rng: &mut Rng,
    out: &mut Vec<Patch>,
) {
    let (w, h) = (rec.width, rec.height);
    if w < side_len || h < side_len {
        return;
    }
    for _ in 0..count {
        let x0 = rng.below((w - side_len) / align + 1) * align;
        let y0 = rng.below((h - side_len) / align + 1) * align;
        let mut p = Patch {
            rec: Vec::with_capacity(side_len * side_len),
            orig: Vec::with_capacity(side_len * side_len),
            side,
        };
        for y in y0..y0 + side_len {
            p.rec.extend_from_slice(&rec.row(y)[x0..x0 + side_len]);
            p.orig.extend_from_slice(&orig.row(y)[x0..x0 + side_len]);
        }
        out.push(p);
    }
}

/// The frames taken from one training file (`frames` of them, every
/// `frame_step`-th from the start), named for the log; with `half_scale` the
/// same frames downscaled 2x follow as a second set.
fn training_material(
    file: &std::path::Path,
    frames: usize,
    frame_step: usize,
    half_scale: bool,
) -> Result<Vec<(String, Vec<Frame>)>> {
    let (frames, step) = (frames.max(1), frame_step.max(1));
    let (all, _) = read_clip(file, frames * step)?;
    let taken: Vec<Frame> = all.into_iter().step_by(step).take(frames).collect();
    if taken.is_empty() {
        anyhow::bail!("{} has no frames", file.display());
    }
    let name = file
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let half: Option<Vec<Frame>> =
        half_scale.then(|| taken.iter().map(mica_train::downscale_half).collect());
    let mut sets = vec![(name.clone(), taken)];
    sets.extend(half.map(|h| (format!("{name} (half scale)"), h)));
    Ok(sets)
}

fn collect(args: &FilterArgs, margin: usize, rng: &mut Rng) -> Result<Vec<Patch>> {
    let files = training_files(&args.train_dir)?;
    let filter_on = match &args.filter_on {
        Some(path) => Some(std::sync::Arc::new(mica_cli::load_filter(path)?)),
        None => None,
    };
    let side_len = args.patch + 2 * margin;
    let align = args.shape().alignment();
    let mut patches = Vec::new();
    for file in &files {
        for (name, frames) in
            training_material(file, args.frames, args.frame_step, args.half_scale)?
        {
            for &qp in &args.qps {
                let t = Instant::now();
                // The learned filter off (it is what is being trained), or on
                // with an earlier model when refining one.
                let mut cfg = EncoderConfig::new(frames[0].width(), frames[0].height());
                cfg.qp = qp as i8;
                cfg.nn_filter = filter_on.is_some();
                cfg.nn_filter_model = filter_on.clone();
                // With the filter off the output is the deblocked frame already.
                let hooks = TrainingHooks {
                    keep_deblocked: filter_on.is_some(),
                    ..Default::default()
                };
                cfg.deblock_offset = args.deblock_offset.0;
                if args.all_intra {
                    cfg.gop = mica::GopStructure::IntraOnly;
                }
                let recon = encode_for_training(&frames, cfg, hooks)?;
                for (p, orig) in recon.iter().zip(&frames) {
                    let rec = p.extras.deblocked.as_ref().unwrap_or(&p.packet.recon);
                    let key = p.packet.keyframe;
                    for plane in (0..3).filter(|&p| args.planes.covers(p)) {
                        let mut n = if plane == 0 {
                            args.patches
                        } else {
                            args.patches.div_ceil(2)
                        };
                        if key {
                            n *= args.key_oversample;
                        }
                        let side = side_info(p.packet.qp, 0, plane, key);
                        take_patches(
                            &rec.planes[plane],
                            &orig.planes[plane],
                            side,
                            side_len,
                            align,
                            n,
                            rng,
                            &mut patches,
                        );
                    }
                }
                eprintln!(
                    "collected {name} QP {qp}: {} frames in {:.1} s, {} patches so far",
                    recon.len(),
                    t.elapsed().as_secs_f64(),
                    patches.len()
                );
            }
        }
    }
    Ok(patches)
}

/// A batch as tensors (rec, side, orig), with a random flip/transpose.
fn batch(
    patches: &[&Patch],
    side_channels: usize,
    side_len: usize,
    aug: u64,
    device: Device,
) -> (Tensor, Tensor, Tensor) {
    let n = patches.len() as i64;
    let s = side_len as i64;
    let mut rec = Vec::with_capacity(patches.len() * side_len * side_len);
    let mut orig = Vec::with_capacity(rec.capacity());
    let mut side = Vec::with_capacity(rec.capacity() * 2);
    for p in patches {
        rec.extend(p.rec.iter().map(|&v| v as f32));
        orig.extend(p.orig.iter().map(|&v| v as f32));
        for c in 0..side_channels {
            side.extend(std::iter::repeat_n(p.side[c] as f32, side_len * side_len));
        }
    }
    let mut t = [
        Tensor::from_slice(&rec).reshape([n, 1, s, s]),
        Tensor::from_slice(&side).reshape([n, side_channels as i64, s, s]),
        Tensor::from_slice(&orig).reshape([n, 1, s, s]),
    ];
    for x in t.iter_mut() {
        if aug & 1 != 0 {
            *x = x.flip([3]);
        }
        if aug & 2 != 0 {
            *x = x.flip([2]);
        }
        if aug & 4 != 0 {
            *x = x.transpose(2, 3);
        }
        *x = x.to_device(device);
    }
    let [a, b, c] = t;
    (a, b, c)
}

fn interior(x: &Tensor, margin: i64) -> Tensor {
    let s = x.size()[2];
    x.narrow(2, margin, s - 2 * margin)
        .narrow(3, margin, s - 2 * margin)
}

fn train_filter(args: &FilterArgs) -> Result<()> {
    if args.threads > 0 {
        tch::set_num_threads(args.threads);
    }
    tch::manual_seed(args.seed as i64);
    let device = if args.cuda && tch::Cuda::is_available() {
        Device::Cuda(0)
    } else {
        Device::Cpu
    };
    let margin = args.margin.unwrap_or(args.shape().reach());
    if args.half_res && !args.patch.is_multiple_of(2) {
        bail!("a half-resolution network needs an even --patch");
    }
    let mut rng = Rng(args.seed);
    let t0 = Instant::now();
    let patches = collect(args, margin, &mut rng)?;
    if patches.len() < 64 {
        bail!("too few training patches ({})", patches.len());
    }
    // Every 20th patch is held out to report the gain on unseen material.
    type Numbered<'a> = Vec<(usize, &'a Patch)>;
    let (held, train): (Numbered, Numbered) =
        patches.iter().enumerate().partition(|(i, _)| i % 20 == 0);
    let held: Vec<&Patch> = held.into_iter().map(|(_, p)| p).collect();
    let train: Vec<&Patch> = train.into_iter().map(|(_, p)| p).collect();
    eprintln!(
        "{} training and {} held-out patches ({:.0} s)",
        train.len(),
        held.len(),
        t0.elapsed().as_secs_f64()
    );
    let side_len = args.patch + 2 * margin;
    let vs = nn::VarStore::new(device);
    let net = QatRestoration::new(&vs.root(), args.shape());
    if let Some(init) = &args.init {
        load_restoration(&net, init)
            .with_context(|| format!("cannot start from {}", init.display()))?;
    }
    let mut opt = nn::Adam::default().build(&vs, args.lr)?;
    let evaluate = |net: &QatRestoration| -> (f64, f64, f64, f64) {
        let _g = tch::no_grad_guard();
        let (mut before, mut after, mut patch_db, mut best) = (0.0, 0.0, 0.0, 0.0);
        for chunk in held.chunks(64) {
            let (rec, side, orig) = batch(chunk, args.side_channels as usize, side_len, 0, device);
            let out = net.forward(&rec, &side, true);
            let o = interior(&orig, margin as i64);
            let per_patch = |x: &Tensor| {
                (interior(x, margin as i64) - &o).square().mean_dim(
                    &[1i64, 2, 3][..],
                    false,
                    Kind::Double,
                )
            };
            let (b, a) = (per_patch(&rec), per_patch(&out));
            best += a.minimum(&b).sum(Kind::Double).double_value(&[]);
            before += b.sum(Kind::Double).double_value(&[]);
            after += a.sum(Kind::Double).double_value(&[]);
            patch_db += ((b + LOG_MSE_FLOOR) / (a + LOG_MSE_FLOOR))
                .log10()
                .sum(Kind::Double)
                .double_value(&[])
                * 10.0;
        }
        let n = held.len() as f64;
        (before / n, after / n, patch_db / n, best / n)
    };
    let t1 = Instant::now();
    let mut running = 0.0;
    for step in 0..args.steps {
        let lr = cosine_lr(args.lr, step, args.steps);
        opt.set_lr(lr);
        let chosen: Vec<&Patch> = (0..args.batch)
            .map(|_| train[rng.below(train.len())])
            .collect();
        let (rec, side, orig) = batch(
            &chosen,
            args.side_channels as usize,
            side_len,
            rng.next() & 7,
            device,
        );
        let quantise = step as f64 >= args.float_fraction * args.steps as f64;
        let out = net.forward(&rec, &side, quantise);
        let err = (interior(&out, margin as i64) - interior(&orig, margin as i64)).square();
        let patch_mse = |e: &Tensor| e.mean_dim(&[1i64, 2, 3][..], false, Kind::Float);
        let loss = match args.loss {
            FilterLoss::Mse => err.mean(Kind::Float),
            FilterLoss::LogMse => (patch_mse(&err) + LOG_MSE_FLOOR).log().mean(Kind::Float),
            FilterLoss::BestLog => {
                let unfiltered = patch_mse(
                    &(interior(&rec, margin as i64) - interior(&orig, margin as i64)).square(),
                );
                let filtered = patch_mse(&err);
                (filtered.minimum(&unfiltered) + LOG_MSE_FLOOR)
                    .log()
                    .mean(Kind::Float)
                    + (filtered + LOG_MSE_FLOOR).log().mean(Kind::Float) * BEST_LOG_PLAIN_WEIGHT
            }
        };
        opt.backward_step(&loss);
        running += loss.double_value(&[]);
        if (step + 1) % 100 == 0 || step + 1 == args.steps {
            let (b, a, patch_db, best) = evaluate(&net);
            eprintln!(
                "step {:5}  train loss {:.3}  held-out mse {:.3} -> {:.3} ({:+.3} dB, per patch {:+.3} dB, \
                 filtered only where better {:+.3} dB)  lr {:.2e}  {:.0} s",
                step + 1,
                running / 100.0,
                b,
                a,
                10.0 * (b / a).log10(),
                patch_db,
                10.0 * (b / best).log10(),
                lr,
                t1.elapsed().as_secs_f64()
            );
            running = 0.0;
        }
    }
    vs.save(&args.checkpoint)
        .with_context(|| format!("cannot write {}", args.checkpoint.display()))?;
    let model = net.export();
    let bytes = model.to_bytes();
    // Checks the exported file loads (the accumulator bound too) before writing it.
    let sha = mica_cli::write_model(&args.out, &bytes)?;
    eprintln!(
        "wrote {} ({} bytes, sha256 {sha})",
        args.out.display(),
        bytes.len()
    );
    Ok(())
}

/// Loads a restoration checkpoint into the variables of `net`. A checkpoint
/// with more hidden channels than the network is pruned to it: each hidden
/// layer keeps the channels whose outgoing weights (into the next layer's
/// kept channels, chosen first, from the last layer back) are largest in sum
/// of magnitudes, so a smaller network starts from a trained one's strongest
/// features instead of from random weights. A checkpoint of the same shape
/// is copied exactly.
fn load_restoration(net: &QatRestoration, path: &std::path::Path) -> Result<()> {
    // On the CPU whatever device saved it (the indices below live there).
    let saved: Vec<(String, Tensor)> = Tensor::load_multi(path)?
        .into_iter()
        .map(|(n, t)| (n, t.to_device(Device::Cpu).to_kind(Kind::Float)))
        .collect();
    // Checks the checkpoint is a restoration network (shapes agreeing
    // layer to layer) before anything is indexed.
    let have = QatRestoration::from_variables(&saved).map_err(anyhow::Error::msg)?;
    let want = net.shape;
    if (
        have.shape.side_channels,
        have.shape.convs,
        have.shape.half_res,
    ) != (want.side_channels, want.convs, want.half_res)
        || have.shape.channels < want.channels
        || saved.len() != 2 * want.convs
    {
        bail!(
            "the checkpoint's network ({:?}) cannot start this one ({want:?}): only the hidden \
             channels may differ, and the checkpoint must have as many or more",
            have.shape
        );
    }
    // Kept output channels per layer, from the last back.
    let last = want.convs - 1;
    let outputs = have.convs[last].w.size()[0];
    let mut keep = vec![Tensor::arange(outputs, (Kind::Int64, Device::Cpu))];
    for i in (0..last).rev() {
        let next = have.convs[i + 1].w.index_select(0, &keep[0]);
        let importance = next
            .abs()
            .sum_dim_intlist(&[0i64, 2, 3][..], false, Kind::Float);
        let (_, order) = importance.sort(0, true);
        keep.insert(0, order.narrow(0, 0, want.channels).sort(0, false).0);
    }
    let _g = tch::no_grad_guard();
    for (i, (conv, kept)) in net.convs.iter().zip(&keep).enumerate() {
        let mut w = have.convs[i].w.index_select(0, kept);
        if i > 0 {
            w = w.index_select(1, &keep[i - 1]);
        }
        let b = have.convs[i].b.index_select(0, kept);
        conv.w.shallow_clone().copy_(&w);
        conv.b.shallow_clone().copy_(&b);
    }
    Ok(())
}

/// Training blocks of one size: references (`4N+1` each) and original samples (`N*N` each).
#[derive(Default)]
struct IntraBlocks {
    refs: Vec<u16>,
    orig: Vec<u16>,
    /// Squared error of the best traditional mode per block.
    best: Vec<f32>,
    /// SATD (as `mica::internals::dsp::dist::satd`) of the best traditional mode per block.
    best_satd: Vec<f32>,
    /// Squared error and SATD of the best of all 35 traditional modes, kept
    /// only when the network replaces a mode (else `best` and `best_satd`).
    best_all: Vec<f32>,
    best_all_satd: Vec<f32>,
}

impl IntraBlocks {
    /// Squared error and SATD of the best of all 35 traditional modes for block `i`.
    fn best_of_all(&self, i: usize) -> (f32, f32) {
        if self.best_all.is_empty() {
            (self.best[i], self.best_satd[i])
        } else {
            (self.best_all[i], self.best_all_satd[i])
        }
    }

    fn len(&self, log2n: u32) -> usize {
        self.orig.len() >> (2 * log2n)
    }
}

const INTRA_SIZES: usize = 3;

/// `--deblock-offset`: -6..=6, or `auto` (`None`: the encoder's choice).
#[derive(Clone, Copy, Debug)]
struct DeblockOffset(Option<i8>);

fn parse_deblock_offset(s: &str) -> std::result::Result<DeblockOffset, String> {
    if s == "auto" {
        return Ok(DeblockOffset(None));
    }
    match s.parse::<i8>() {
        Ok(v) if (-6..=6).contains(&v) => Ok(DeblockOffset(Some(v))),
        _ => Err(format!(
            "'{s}' is not a deblocking offset: use -6..=6 or auto"
        )),
    }
}

/// The traditional mode named by `--replaces` (`None` for an extra mode).
fn replaced_mode(name: &str) -> Option<u8> {
    match name {
        "planar" => Some(mica::internals::dsp::intra::PLANAR),
        "dc" => Some(mica::internals::dsp::intra::DC),
        _ => None,
    }
}

/// Encodes the chosen frames all-intra with deblocking and the learned tools
/// off (so the reconstruction is what intra prediction reads) and collects
/// every aligned luma block of each size with its references.
fn collect_intra(args: &IntraArgs) -> Result<[IntraBlocks; INTRA_SIZES]> {
    let files = training_files(&args.train_dir)?;
    let mut sets: [IntraBlocks; INTRA_SIZES] = Default::default();
    for file in &files {
        for (name, frames) in
            training_material(file, args.frames, args.frame_step, args.half_scale)?
        {
            for &qp in &args.qps {
                let t = Instant::now();
                let mut cfg = EncoderConfig::new(frames[0].width(), frames[0].height());
                cfg.qp = qp as i8;
                cfg.gop = mica::GopStructure::IntraOnly;
                cfg.deblock = false;
                cfg.nn_filter = false;
                cfg.nn_intra = false;
                let recon = encode_for_training(&frames, cfg, TrainingHooks::default())?;
                for (p, orig) in recon.iter().zip(&frames) {
                    let (rec, src) = (&p.packet.recon.planes[0], &orig.planes[0]);
                    for (k, set) in sets.iter_mut().enumerate() {
                        let log2n = 2 + k as u32;
                        let n = 1usize << log2n;
                        let len = context_len(log2n);
                        let mut context = [0u16; 256];
                        for y in (0..rec.height - n + 1).step_by(n) {
                            for x in (0..rec.width - n + 1).step_by(n) {
                                block_context(rec, x, y, log2n, 8, &mut context);
                                set.refs.extend_from_slice(&context[..len]);
                                for r in 0..n {
                                    set.orig.extend_from_slice(&src.row(y + r)[x..x + n]);
                                }
                            }
                        }
                    }
                }
                eprintln!(
                    "collected {name} QP {qp}: {} frames in {:.1} s, blocks {} / {} / {}",
                    recon.len(),
                    t.elapsed().as_secs_f64(),
                    sets[0].len(2),
                    sets[1].len(3),
                    sets[2].len(4)
                );
            }
        }
    }
    for (k, set) in sets.iter_mut().enumerate() {
        let log2n = 2 + k as u32;
        let n = 1usize << log2n;
        let (nr, nn) = (context_len(log2n), n * n);
        let mut pred = [0u16; 256];
        let cpu = mica::CpuLevel::detect();
        let replaced = replaced_mode(&args.replaces);
        let scores: Vec<[f32; 4]> = (0..set.len(log2n))
            .map(|i| {
                let (r, o) = (
                    &set.refs[i * nr..i * nr + 4 * n + 1],
                    &set.orig[i * nn..(i + 1) * nn],
                );
                let (mut sse, mut satd) = (i32::MAX, u32::MAX);
                let (mut sse_all, mut satd_all) = (i32::MAX, u32::MAX);
                for mode in 0..35u8 {
                    traditional_prediction(r, log2n, mode, 8, &mut pred[..nn]);
                    let e = pred[..nn]
                        .iter()
                        .zip(o)
                        .map(|(&p, &v)| (p as i32 - v as i32).pow(2))
                        .sum::<i32>();
                    let t = mica::internals::dsp::dist::satd(&pred[..nn], n, o, n, n, n, cpu);
                    sse_all = sse_all.min(e);
                    satd_all = satd_all.min(t);
                    if Some(mode) != replaced {
                        sse = sse.min(e);
                        satd = satd.min(t);
                    }
                }
                [sse as f32, satd as f32, sse_all as f32, satd_all as f32]
            })
            .collect();
        set.best = scores.iter().map(|s| s[0]).collect();
        set.best_satd = scores.iter().map(|s| s[1]).collect();
        if replaced.is_some() {
            set.best_all = scores.iter().map(|s| s[2]).collect();
            set.best_all_satd = scores.iter().map(|s| s[3]).collect();
        }
    }
    Ok(sets)
}

/// A batch of blocks of size `log2n`: (network input, DC, original), with
/// blocks transposed when `transpose` (a transposed block's references are
/// the original's in reverse order).
fn intra_batch(
    set: &IntraBlocks,
    ids: &[usize],
    log2n: u32,
    transpose: &[bool],
    device: Device,
) -> (Tensor, Tensor, Tensor, Tensor, Tensor) {
    let n = 1usize << log2n;
    let (nr, nn) = (context_len(log2n), n * n);
    let mut input = Vec::with_capacity(ids.len() * nr);
    let mut dcs = Vec::with_capacity(ids.len());
    let best: Vec<f32> = ids.iter().map(|&i| set.best[i]).collect();
    let best_satd: Vec<f32> = ids.iter().map(|&i| set.best_satd[i]).collect();
    let mut orig = Vec::with_capacity(ids.len() * nn);
    let mut x = [0i16; 256];
    let mut refs = [0u16; 256];
    for (&i, &t) in ids.iter().zip(transpose) {
        let r = &set.refs[i * nr..(i + 1) * nr];
        let o = &set.orig[i * nn..(i + 1) * nn];
        if t {
            // Each line reversed: left column and top row swap places.
            let mut at = 0;
            for line in 0..LINES {
                let len = 4 * n + 2 * line + 1;
                for (d, s) in refs[at..at + len]
                    .iter_mut()
                    .zip(r[at..at + len].iter().rev())
                {
                    *d = *s;
                }
                at += len;
            }
        } else {
            refs[..nr].copy_from_slice(r);
        }
        let dc = network_input(&refs[..nr], log2n, 8, &mut x);
        dcs.push(dc as f32);
        input.extend(x[..nr].iter().map(|&v| v as f32));
        for row in 0..n {
            for col in 0..n {
                let v = if t {
                    o[col * n + row]
                } else {
                    o[row * n + col]
                };
                orig.push(v as f32);
            }
        }
    }
    let b = ids.len() as i64;
    (
        Tensor::from_slice(&input)
            .reshape([b, nr as i64])
            .to_device(device),
        Tensor::from_slice(&dcs).reshape([b, 1]).to_device(device),
        Tensor::from_slice(&orig)
            .reshape([b, nn as i64])
            .to_device(device),
        Tensor::from_slice(&best).to_device(device),
        Tensor::from_slice(&best_satd).to_device(device),
    )
}

/// Per-block SATD of `residual` (`[batch, n*n]`, row-major blocks of side
/// `n`), differentiable, tiled and normalised as `mica::internals::dsp::dist::satd`:
/// 8x8 Hadamard tiles (sum / 4) when `n` is a multiple of 8, else 4x4 (sum / 2).
fn satd_per_block(residual: &Tensor, n: i64) -> Tensor {
    let t: i64 = if n % 8 == 0 { 8 } else { 4 };
    let mut h = vec![0f32; (t * t) as usize];
    for r in 0..t {
        for c in 0..t {
            h[(r * t + c) as usize] = if (r & c).count_ones() % 2 == 0 {
                1.0
            } else {
                -1.0
            };
        }
    }
    let h = Tensor::from_slice(&h)
        .reshape([t, t])
        .to_device(residual.device());
    let b = residual.size()[0];
    let tiles = residual
        .reshape([b, n / t, t, n / t, t])
        .permute([0, 1, 3, 2, 4])
        .reshape([-1, t, t]);
    let coefs = h.matmul(&tiles).matmul(&h.tr());
    let norm = if t == 8 { 4.0 } else { 2.0 };
    coefs
        .abs()
        .reshape([b, -1])
        .sum_dim_intlist(1, false, Kind::Float)
        / norm
}

/// Held-out figures of one block size (per sample, means over the blocks).
struct IntraReport {
    /// Squared error of the network, of planar, of the best traditional
    /// mode per block, and of the better of network and best mode.
    mse_net: f64,
    mse_planar: f64,
    mse_best: f64,
    mse_choice: f64,
    /// The same as SATD (the encoder's ranking of modes).
    satd_net: f64,
    satd_best: f64,
    satd_choice: f64,
    /// Squared error and SATD of the best of all 35 modes (differs from
    /// `mse_best`, `satd_best` when the network replaces a mode).
    mse_best_all: f64,
    satd_best_all: f64,
    /// Share of blocks where the network's squared error beats every mode's.
    wins: f64,
}

/// Held-out report of size `log2n` (see [`IntraReport`]).
fn intra_report(
    net: &QatIntra,
    set: &IntraBlocks,
    ids: &[usize],
    log2n: u32,
    device: Device,
) -> IntraReport {
    let _g = tch::no_grad_guard();
    let k = (log2n - 2) as usize;
    let n = 1usize << log2n;
    let (nr, nn) = (context_len(log2n), n * n);
    let (mut e_net, mut e_planar, mut e_best, mut wins) = (0.0, 0.0, 0.0, 0usize);
    let mut e_choice = 0.0;
    let (mut s_net, mut s_best, mut s_choice) = (0.0, 0.0, 0.0);
    let (mut e_best_all, mut s_best_all) = (0.0, 0.0);
    let mut pred = [0u16; 256];
    for chunk in ids.chunks(512) {
        let flags = vec![false; chunk.len()];
        let (x, dc, orig, _, _) = intra_batch(set, chunk, log2n, &flags, device);
        let out = (net.forward(k, &x, true) + &dc).clamp(0.0, 255.0);
        let err: Vec<f64> = Vec::try_from(
            (&out - &orig)
                .square()
                .sum_dim_intlist(1, false, Kind::Double)
                .to_device(Device::Cpu),
        )
        .expect("float");
        // Within one per tile of the codec's SATD (it rounds each tile's normalisation).
        let satd: Vec<f64> = Vec::try_from(
            satd_per_block(&(out - &orig), n as i64)
                .to_kind(Kind::Double)
                .to_device(Device::Cpu),
        )
        .expect("float");
        for ((&i, &en), &sn) in chunk.iter().zip(&err).zip(&satd) {
            let r = &set.refs[i * nr..i * nr + 4 * n + 1];
            let o = &set.orig[i * nn..(i + 1) * nn];
            // The best mode's error was found when the blocks were collected
            // (exact in f32: a 16x16 block's error is below 2^24).
            let best = set.best[i] as f64;
            traditional_prediction(
                r,
                log2n,
                mica::internals::dsp::intra::PLANAR,
                8,
                &mut pred[..nn],
            );
            e_planar += pred[..nn]
                .iter()
                .zip(o)
                .map(|(&p, &v)| (p as f64 - v as f64).powi(2))
                .sum::<f64>();
            e_best += best;
            e_net += en;
            e_choice += en.min(best);
            wins += (en < best) as usize;
            let sb = set.best_satd[i] as f64;
            s_best += sb;
            s_net += sn;
            s_choice += sn.min(sb);
            let (e_all, s_all) = set.best_of_all(i);
            e_best_all += e_all as f64;
            s_best_all += s_all as f64;
        }
    }
    let count = (ids.len() * nn) as f64;
    IntraReport {
        mse_net: e_net / count,
        mse_planar: e_planar / count,
        mse_best: e_best / count,
        mse_choice: e_choice / count,
        satd_net: s_net / count,
        satd_best: s_best / count,
        satd_choice: s_choice / count,
        mse_best_all: e_best_all / count,
        satd_best_all: s_best_all / count,
        wins: wins as f64 / ids.len() as f64,
    }
}

fn train_intra(args: &IntraArgs) -> Result<()> {
    if args.threads > 0 {
        tch::set_num_threads(args.threads);
    }
    tch::manual_seed(args.seed as i64);
    let device = if args.cuda && tch::Cuda::is_available() {
        Device::Cuda(0)
    } else {
        Device::Cpu
    };
    let hidden: Vec<Vec<i64>> = args
        .hidden
        .iter()
        .map(|h| {
            h.split('x')
                .map(|w| w.trim().parse::<i64>())
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()
        .context("--hidden: widths are numbers joined by 'x'")?;
    if hidden.len() != INTRA_SIZES || hidden.iter().flatten().any(|&w| !(1..=256).contains(&w)) {
        bail!("--hidden takes 3 lists (4x4, 8x8, 16x16) of widths in 1..=256");
    }
    let t0 = Instant::now();
    let sets = collect_intra(args)?;
    let mut rng = Rng(args.seed);
    // One block in 20, chosen by a hash of its index, is held out; the report
    // uses up to 3000 of them per size.
    let mut train_ids: Vec<Vec<usize>> = Vec::new();
    let mut held_ids: Vec<Vec<usize>> = Vec::new();
    for (k, set) in sets.iter().enumerate() {
        let count = set.len(2 + k as u32);
        if count < 1000 {
            bail!("too few {0}x{0} training blocks ({count})", 4 << k);
        }
        let (held, train): (Vec<usize>, Vec<usize>) = (0..count).partition(|&i| held_out(i));
        let stride = held.len().div_ceil(3000);
        held_ids.push(held.into_iter().step_by(stride).collect());
        train_ids.push(train);
    }
    eprintln!(
        "{} / {} / {} training blocks ({:.0} s)",
        train_ids[0].len(),
        train_ids[1].len(),
        train_ids[2].len(),
        t0.elapsed().as_secs_f64()
    );
    let vs = nn::VarStore::new(device);
    let net = QatIntra::new(&vs.root(), &hidden);
    let mut vs = vs;
    if let Some(init) = &args.init {
        vs.load(init)
            .with_context(|| format!("cannot start from {}", init.display()))?;
    }
    let mut opt = nn::Adam::default().build(&vs, args.lr)?;
    let t1 = Instant::now();
    let mut running = [0.0f64; INTRA_SIZES];
    let best_loss = args.loss == "best";
    let satd_loss = args.loss == "best-satd";
    for step in 0..args.steps {
        let lr = cosine_lr(args.lr, step, args.steps);
        opt.set_lr(lr);
        let quantise = step as f64 >= args.float_fraction * args.steps as f64;
        let mut loss = Tensor::zeros([], (Kind::Float, device));
        for k in 0..INTRA_SIZES {
            let ids: Vec<usize> = (0..args.batch)
                .map(|_| train_ids[k][rng.below(train_ids[k].len())])
                .collect();
            let flips: Vec<bool> = (0..args.batch).map(|_| rng.next() & 1 == 1).collect();
            let (x, dc, orig, best, best_satd) =
                intra_batch(&sets[k], &ids, 2 + k as u32, &flips, device);
            let out = (net.forward(k, &x, quantise) + &dc).clamp(0.0, 255.0);
            let nn = (16i64 << (2 * k)) as f64;
            let residual = &out - &orig;
            let sse = residual.square().sum_dim_intlist(1, false, Kind::Float);
            running[k] += sse.mean(Kind::Float).double_value(&[]) / nn;
            let l = if satd_loss {
                let satd = satd_per_block(&residual, 4 << k);
                (satd.minimum(&best_satd).mean(Kind::Float)
                    + satd.mean(Kind::Float) * args.mse_weight)
                    / nn
            } else if best_loss {
                (sse.minimum(&best).mean(Kind::Float) + sse.mean(Kind::Float) * args.mse_weight)
                    / nn
            } else {
                sse.mean(Kind::Float) / nn
            };
            // A new tensor, not `+=`: an in-place add would change the
            // autograd graph the optimiser steps on.
            #[allow(clippy::assign_op_pattern)]
            {
                loss = loss + l;
            }
        }
        opt.backward_step(&loss);
        if (step + 1) % 1000 == 0 || step + 1 == args.steps {
            eprintln!(
                "step {:5}  train mse 4x4 {:.2}  8x8 {:.2}  16x16 {:.2}  lr {:.2e}  {:.0} s",
                step + 1,
                running[0] / 1000.0,
                running[1] / 1000.0,
                running[2] / 1000.0,
                lr,
                t1.elapsed().as_secs_f64()
            );
            running = [0.0; INTRA_SIZES];
        }
    }
    for k in 0..INTRA_SIZES {
        let r = intra_report(&net, &sets[k], &held_ids[k], 2 + k as u32, device);
        eprintln!(
            "held-out {0}x{0}: mse network {1:.2}, planar {2:.2}, best of 35 modes {3:.2}, \
             best of network and modes {4:.2} ({5:+.1} %); network better than every mode on \
             {6:.1} % of blocks; satd network {7:.2}, best of modes {8:.2}, best of both {9:.2} \
             ({10:+.1} %)",
            4 << k,
            r.mse_net,
            r.mse_planar,
            r.mse_best,
            r.mse_choice,
            100.0 * (r.mse_choice / r.mse_best - 1.0),
            100.0 * r.wins,
            r.satd_net,
            r.satd_best,
            r.satd_choice,
            100.0 * (r.satd_choice / r.satd_best - 1.0),
        );
        if args.replaces != "none" {
            eprintln!(
                "held-out {0}x{0}, network in place of {1}: against the best of all 35 modes \
                 mse {2:.2} -> {3:.2} ({4:+.1} %), satd {5:.2} -> {6:.2} ({7:+.1} %)",
                4 << k,
                args.replaces,
                r.mse_best_all,
                r.mse_choice,
                100.0 * (r.mse_choice / r.mse_best_all - 1.0),
                r.satd_best_all,
                r.satd_choice,
                100.0 * (r.satd_choice / r.satd_best_all - 1.0),
            );
        }
    }
    vs.save(&args.checkpoint)
        .with_context(|| format!("cannot write {}", args.checkpoint.display()))?;
    let bytes = net.export().to_bytes();
    let sha = mica_cli::write_model(&args.out, &bytes)?;
    eprintln!(
        "wrote {} ({} bytes, sha256 {sha})",
        args.out.display(),
        bytes.len()
    );
    Ok(())
}

/// Converts a training checkpoint (loop filter or intra predictor) into a model file.
fn convert(checkpoint: &Path, output: &Path) -> Result<()> {
    if !checkpoint.is_file() {
        bail!(
            "cannot read checkpoint {}: no such file",
            checkpoint.display()
        );
    }
    let vars = tch::Tensor::load_multi(checkpoint)
        .with_context(|| format!("cannot read checkpoint {}", checkpoint.display()))?;
    // Intra-predictor checkpoints name their layers s{size}.fc{i}.
    let intra = vars.iter().any(|(name, _)| name.starts_with("s0.fc0."));
    let model = if intra {
        QatIntra::from_variables(&vars).map(|n| n.export())
    } else {
        QatRestoration::from_variables(&vars).map(|n| n.export())
    }
    .map_err(|e| anyhow::anyhow!("{}: {e}", checkpoint.display()))?;
    let bytes = model.to_bytes();
    let id = mica_cli::write_model(output, &bytes)?;
    mica_cli::outln!("{} ({} bytes, sha256 {id})", output.display(), bytes.len())?;
    Ok(())
}

fn main() {
    let args = Args::parse();
    let r = match &args.command {
        Command::Filter(a) => train_filter(a),
        Command::Intra(a) => train_intra(a),
        Command::Convert { checkpoint, output } => convert(checkpoint, output),
    };
    if let Err(e) = r {
        eprintln!("mica-train: error: {e:#}");
        std::process::exit(mica_cli::EXIT_FAILURE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--deblock-offset` takes `auto` or -6..=6 and nothing else.
    #[test]
    fn deblock_offset_parses_auto_and_the_valid_range() {
        assert_eq!(parse_deblock_offset("auto").unwrap().0, None);
        assert_eq!(parse_deblock_offset("-2").unwrap().0, Some(-2));
        assert_eq!(parse_deblock_offset("6").unwrap().0, Some(6));
        for bad in ["7", "-7", "x", ""] {
            assert!(parse_deblock_offset(bad).is_err(), "{bad}");
        }
    }

    /// About one block in 20 is held out, spread over every column of a
    /// raster-ordered picture (every 20th index would miss most of them).
    #[test]
    fn held_out_blocks_spread_over_columns() {
        let (cols, rows) = (128usize, 800usize);
        let held: Vec<usize> = (0..cols * rows).filter(|&i| held_out(i)).collect();
        let share = held.len() as f64 / (cols * rows) as f64;
        assert!((0.045..0.055).contains(&share), "held-out share {share}");
        let mut per_col = vec![0usize; cols];
        for i in held {
            per_col[i % cols] += 1;
        }
        // Expected 40 per column; a column-aligned split gives 0 or 160.
        assert!(
            per_col.iter().all(|&n| (15..=70).contains(&n)),
            "{per_col:?}"
        );
    }

    /// The training loss's SATD is the codec's (`mica::internals::dsp::dist::satd`, which ranks
    /// modes in the encoder) up to the codec's per-tile rounding of the normalisation.
    #[test]
    fn satd_per_block_matches_the_codec() {
        let mut rng = Rng(7);
        for n in [4usize, 8, 16] {
            let blocks = 20;
            let (mut a, mut b) = (vec![0u16; blocks * n * n], vec![0u16; blocks * n * n]);
            for (p, q) in a.iter_mut().zip(b.iter_mut()) {
                *p = rng.below(256) as u16;
                *q = rng.below(256) as u16;
            }
            let residual: Vec<f32> = a
                .iter()
                .zip(&b)
                .map(|(&p, &q)| p as f32 - q as f32)
                .collect();
            let got: Vec<f32> = Vec::try_from(satd_per_block(
                &Tensor::from_slice(&residual).reshape([blocks as i64, (n * n) as i64]),
                n as i64,
            ))
            .expect("float");
            let tiles = if n % 8 == 0 {
                (n / 8) * (n / 8)
            } else {
                (n / 4) * (n / 4)
            };
            for (i, &g) in got.iter().enumerate() {
                let (pa, pb) = (&a[i * n * n..][..n * n], &b[i * n * n..][..n * n]);
                let want =
                    mica::internals::dsp::dist::satd(pa, n, pb, n, n, n, mica::CpuLevel::Scalar);
                assert!(
                    (g as f64 - want as f64).abs() <= tiles as f64,
                    "{n}x{n} block {i}: {g} against the codec's {want}"
                );
            }
        }
    }
}
