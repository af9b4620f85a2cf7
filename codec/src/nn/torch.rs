//! The libtorch backend (feature `torch`): the same integer network as
//! float32 tensors holding integers, run by libtorch on the CPU or a CUDA
//! GPU. Every partial sum is an integer below 2^24 (checked at load), so
//! float32 arithmetic is exact whatever the summation order; requantisation
//! divides by a power of two (exact) and floors. Convolution algorithms that
//! transform the data could still break exactness, so [`TorchEngine::new`]
//! checks itself against the CPU engine on a probe input and refuses to run
//! on any difference.

use super::engine::Engine;
use super::format::{LayerOp, Model, ModelError};
use tch::{Device, Kind, Tensor};

/// Where the tensors live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TorchDevice {
    /// libtorch on the CPU.
    Cpu,
    /// The first CUDA GPU.
    Cuda,
}

/// Why the libtorch backend cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TorchError {
    /// The model or sizes are invalid.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// libtorch failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// No CUDA device is visible to libtorch.
    #[error("no CUDA device is available to libtorch")]
    NoCuda,
    /// The self-check found a difference: the backend must not be used.
    #[error("libtorch output differs from the CPU engine at output {output}, value {index} ({got} vs {want}); refusing to use it")]
    Mismatch {
        /// Output index.
        output: usize,
        /// Value index.
        index: usize,
        /// libtorch's value.
        got: i64,
        /// The CPU engine's value.
        want: i64,
    },
}

enum Op {
    Conv {
        weight: Tensor,
        bias: Tensor,
        stride: i64,
        pad: i64,
        scale: f64,
        half: f64,
    },
    Dense {
        weight: Tensor,
        bias: Tensor,
        scale: f64,
        half: f64,
    },
    Shuffle(i64),
    Add,
    Concat,
}

/// Loads libtorch's CUDA library once, if the library path has it. A binary
/// linked with `--as-needed` does not load it by itself, so without this
/// `Cuda::is_available()` is false even on a GPU host; loading it at run time
/// lets one binary use a GPU where there is one and the CPU elsewhere.
fn load_cuda_backend() {
    static LOADED: std::sync::Once = std::sync::Once::new();
    LOADED.call_once(|| {
        for name in [c"libtorch_cuda.so", c"libc10_cuda.so"] {
            // SAFETY: dlopen with a valid NUL-terminated name; a failure returns null, which
            // leaves CUDA unavailable (reported as NoCuda). The handle is kept for the process.
            let _ = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        }
    });
}

/// Whether libtorch can use a CUDA device here (loads its CUDA library first).
pub fn cuda_available() -> bool {
    load_cuda_backend();
    tch::Cuda::is_available()
}

/// A model prepared for libtorch.
pub struct TorchEngine {
    model: Model,
    device: Device,
    ops: Vec<Op>,
    h: usize,
    w: usize,
}

fn f32_tensor(values: impl Iterator<Item = f32>, shape: &[i64], device: Device) -> Tensor {
    let v: Vec<f32> = values.collect();
    Tensor::from_slice(&v).reshape(shape).to_device(device)
}

impl TorchEngine {
    /// Prepares `model` for `h` x `w` inputs on `device` and checks it
    /// against the CPU engine on a probe input (random values covering the
    /// input ranges, plus the extremes).
    pub fn new(
        model: Model,
        h: usize,
        w: usize,
        device: TorchDevice,
    ) -> Result<TorchEngine, TorchError> {
        let device = match device {
            TorchDevice::Cpu => Device::Cpu,
            TorchDevice::Cuda => {
                load_cuda_backend();
                if !tch::Cuda::is_available() {
                    return Err(TorchError::NoCuda);
                }
                Device::Cuda(0)
            }
        };
        // Validates the model and the sizes.
        let mut cpu = Engine::new(model.clone(), h, w)?;
        let mut ops = Vec::with_capacity(model.layers.len());
        for l in &model.layers {
            let a = model.spec(l.operands[0]);
            ops.push(match &l.op {
                LayerOp::Conv2d {
                    kernel,
                    stride,
                    shift,
                    weights,
                    bias,
                } => {
                    let k = *kernel as i64;
                    Op::Conv {
                        weight: f32_tensor(
                            weights.iter().map(|&v| v as f32),
                            &[l.out.channels as i64, a.channels as i64, k, k],
                            device,
                        ),
                        bias: f32_tensor(
                            bias.iter().map(|&v| v as f32),
                            &[l.out.channels as i64],
                            device,
                        ),
                        stride: *stride as i64,
                        pad: k / 2,
                        scale: (1u64 << shift) as f64,
                        half: if *shift == 0 {
                            0.0
                        } else {
                            (1u64 << (shift - 1)) as f64
                        },
                    }
                }
                LayerOp::Dense {
                    in_features,
                    shift,
                    weights,
                    bias,
                } => Op::Dense {
                    weight: f32_tensor(
                        weights.iter().map(|&v| v as f32),
                        &[l.out.channels as i64, *in_features as i64],
                        device,
                    ),
                    bias: f32_tensor(
                        bias.iter().map(|&v| v as f32),
                        &[l.out.channels as i64],
                        device,
                    ),
                    scale: (1u64 << shift) as f64,
                    half: if *shift == 0 {
                        0.0
                    } else {
                        (1u64 << (shift - 1)) as f64
                    },
                },
                LayerOp::PixelShuffle { factor } => Op::Shuffle(*factor as i64),
                LayerOp::Add => Op::Add,
                LayerOp::Concat => Op::Concat,
            });
        }
        let engine = TorchEngine {
            model,
            device,
            ops,
            h,
            w,
        };
        // Self-check on a probe.
        let mut seed = 0x9e3779b97f4a7c15u64;
        let probe: Vec<Vec<i16>> = engine
            .model
            .inputs
            .iter()
            .map(|s| {
                (0..s.channels * h * w)
                    .map(|i| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        match i % 17 {
                            0 => s.lo,
                            1 => s.hi,
                            _ => s.lo + ((seed >> 33) % ((s.hi - s.lo) as u64 + 1)) as i16,
                        }
                    })
                    .collect()
            })
            .collect();
        let refs: Vec<&[i16]> = probe.iter().map(|v| &v[..]).collect();
        cpu.run(&refs)?;
        let got = engine.run(&refs)?;
        for (k, g) in got.iter().enumerate() {
            let want = cpu.output(k).0;
            if let Some(i) = (0..want.len()).find(|&i| g[i] != want[i]) {
                return Err(TorchError::Mismatch {
                    output: k,
                    index: i,
                    got: g[i] as i64,
                    want: want[i] as i64,
                });
            }
        }
        Ok(engine)
    }

    /// Runs the network; returns each output's values, channel-major.
    pub fn run(&self, inputs: &[&[i16]]) -> Result<Vec<Vec<i16>>, TorchError> {
        let _guard = tch::no_grad_guard();
        let (h, w) = (self.h as i64, self.w as i64);
        let mut t: Vec<Tensor> = Vec::with_capacity(self.model.inputs.len() + self.ops.len());
        for (spec, data) in self.model.inputs.iter().zip(inputs) {
            t.push(f32_tensor(
                data.iter().map(|&v| v as f32),
                &[1, spec.channels as i64, h, w],
                self.device,
            ));
        }
        for (l, op) in self.model.layers.iter().zip(&self.ops) {
            let (lo, hi) = (l.out.lo as f64, l.out.hi as f64);
            let x = &t[l.operands[0]];
            let y = match op {
                Op::Conv {
                    weight,
                    bias,
                    stride,
                    pad,
                    scale,
                    half,
                } => {
                    let acc = x.f_conv2d(
                        weight,
                        Some(bias),
                        [*stride, *stride],
                        [*pad, *pad],
                        [1, 1],
                        1,
                    )?;
                    ((acc + *half) / *scale).floor().clamp(lo, hi)
                }
                Op::Dense {
                    weight,
                    bias,
                    scale,
                    half,
                } => {
                    let flat = x.reshape([1, -1]);
                    let acc = flat.f_linear(weight, Some(bias))?;
                    ((acc + *half) / *scale)
                        .floor()
                        .clamp(lo, hi)
                        .reshape([1, -1, 1, 1])
                }
                Op::Shuffle(f) => x.pixel_shuffle(*f),
                Op::Add => (x + &t[l.operands[1]]).clamp(lo, hi),
                Op::Concat => {
                    let parts: Vec<&Tensor> = l.operands.iter().map(|&i| &t[i]).collect();
                    Tensor::cat(&parts, 1)
                }
            };
            t.push(y);
        }
        let mut out = Vec::with_capacity(self.model.outputs.len());
        for &id in &self.model.outputs {
            let v: Vec<f32> = Vec::<f32>::try_from(
                t[id]
                    .to_device(Device::Cpu)
                    .to_kind(Kind::Float)
                    .flatten(0, -1),
            )?;
            out.push(v.into_iter().map(|x| x as i16).collect());
        }
        Ok(out)
    }
}
