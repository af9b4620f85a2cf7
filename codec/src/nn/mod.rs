//! Integer neural networks: the `.micanet` model format
//! (`docs/model-format.md`), its validating loader, and the CPU engine
//! that defines their results.
//!
//! Lifecycle: [`Model::parse`] (validates, including the accumulator bound)
//! → [`Engine::new`] for a frame size (allocates the tensors) →
//! [`Engine::run`] (no tensor allocation).

#[cfg(target_arch = "x86_64")]
mod avx2;
mod chain;
mod engine;
mod format;
#[cfg(feature = "internals")]
mod peak;
#[cfg(feature = "torch")]
mod torch;
#[cfg(feature = "torch")]
pub use torch::{cuda_available, TorchDevice, TorchEngine, TorchError};

/// Scratch length of the AVX2 convolution (0 where it does not exist).
#[cfg(target_arch = "x86_64")]
fn avx2_scratch_len(c: usize, h: usize, w: usize, k: usize) -> usize {
    avx2::scratch_len(c, h, w, k)
}
#[cfg(not(target_arch = "x86_64"))]
fn avx2_scratch_len(_: usize, _: usize, _: usize, _: usize) -> usize {
    0
}

/// Output channels as the AVX2 convolution stores them.
#[cfg(target_arch = "x86_64")]
fn avx2_padded_out(c: usize) -> usize {
    avx2::padded_out(c)
}
#[cfg(not(target_arch = "x86_64"))]
fn avx2_padded_out(c: usize) -> usize {
    c
}

pub use chain::{Chain, Rect};
pub(crate) use engine::requantise;
pub use engine::Engine;
#[cfg(feature = "internals")]
pub use peak::{measure as measure_peak, Peak};
// Layer, TensorSpec and ACC_BOUND serve the tools (`mica::internals::nn`).
#[cfg_attr(not(feature = "internals"), allow(unused_imports))]
pub use format::{hex, identity, Layer, LayerOp, Model, ModelError, TensorSpec, ACC_BOUND};

/// The `key = value` fields of a model folder's `manifest.toml` (comments
/// and the lines of multi-line arrays left out), for the tests that check
/// each manifest against its model.
#[cfg(test)]
pub(crate) fn manifest_fields(text: &str) -> std::collections::HashMap<String, String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    #[allow(clippy::too_many_arguments)]
    fn conv(
        rng: &mut SmallRng,
        operand: usize,
        in_ch: usize,
        out_ch: usize,
        k: usize,
        stride: usize,
        lo: i16,
        hi: i16,
        wmax: i8,
    ) -> Layer {
        Layer {
            operands: vec![operand],
            out: TensorSpec {
                channels: out_ch,
                lo,
                hi,
            },
            op: LayerOp::Conv2d {
                kernel: k,
                stride,
                shift: rng.gen_range(4..9),
                weights: (0..out_ch * in_ch * k * k)
                    .map(|_| rng.gen_range(-wmax..=wmax))
                    .collect(),
                bias: (0..out_ch).map(|_| rng.gen_range(-4000..4000)).collect(),
            },
        }
    }

    /// A network using every layer type: conv (stride 1 and 2), pixel shuffle, concat, add, dense.
    fn sample_model(rng: &mut SmallRng) -> Model {
        let input = TensorSpec {
            channels: 2,
            lo: 0,
            hi: 255,
        };
        let layers = vec![
            conv(rng, 0, 2, 8, 3, 1, 0, 255, 20),  // 1: 8 x h x w
            conv(rng, 1, 8, 16, 3, 2, 0, 255, 10), // 2: 16 x h/2 x w/2
            Layer {
                operands: vec![2],
                out: TensorSpec {
                    channels: 4,
                    lo: 0,
                    hi: 255,
                },
                op: LayerOp::PixelShuffle { factor: 2 },
            }, // 3: 4 x h x w
            Layer {
                operands: vec![1, 3],
                out: TensorSpec {
                    channels: 12,
                    lo: 0,
                    hi: 255,
                },
                op: LayerOp::Concat,
            }, // 4
            conv(rng, 4, 12, 2, 1, 1, -128, 127, 30), // 5: 2 x h x w, signed
            Layer {
                operands: vec![0, 5],
                out: TensorSpec {
                    channels: 2,
                    lo: 0,
                    hi: 255,
                },
                op: LayerOp::Add,
            }, // 6
        ];
        let mut m = Model {
            inputs: vec![input],
            layers,
            outputs: vec![6],
        };
        // A dense head over the 2 x 4 x 4 input: 32 features -> 3.
        m.layers.push(Layer {
            operands: vec![0],
            out: TensorSpec {
                channels: 3,
                lo: -128,
                hi: 127,
            },
            op: LayerOp::Dense {
                in_features: 32,
                shift: 6,
                weights: (0..96).map(|_| rng.gen_range(-50..=50)).collect(),
                bias: vec![100, -200, 0],
            },
        });
        m.outputs.push(7);
        m
    }

    #[test]
    fn format_round_trip() {
        let mut rng = SmallRng::seed_from_u64(1);
        let m = sample_model(&mut rng);
        let bytes = m.to_bytes();
        assert_eq!(Model::parse(&bytes).unwrap(), m);
    }

    #[test]
    fn join_and_only_output_split_models_exactly() {
        let mut rng = SmallRng::seed_from_u64(11);
        let mut a = sample_model(&mut rng);
        a.layers.pop();
        a.outputs.pop();
        let b = sample_model(&mut rng);
        let joined = a.join(&b).unwrap();
        assert_eq!(joined.outputs.len(), 3);
        assert_eq!(joined.only_output(0), a);
        assert_eq!(joined.only_output(1), b.only_output(0));
        assert_eq!(joined.only_output(2), b.only_output(1));
        // Each part computes what the whole computes for that output.
        let (h, w) = (4, 4);
        let input: Vec<i16> = (0..2 * h * w).map(|_| rng.gen_range(0..=255)).collect();
        let mut whole = Engine::new(joined.clone(), h, w).unwrap();
        whole.run(&[&input]).unwrap();
        for k in 0..3 {
            let part = joined.only_output(k);
            assert!(part.layers.len() < joined.layers.len());
            let mut e = Engine::new(part, h, w).unwrap();
            e.run(&[&input]).unwrap();
            assert_eq!(e.output(0).0, whole.output(k).0, "output {k}");
        }
        // Different inputs cannot be joined.
        let mut c = b.clone();
        c.inputs[0].channels = 3;
        assert!(a.join(&c).is_err());
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_refused() {
        let mut rng = SmallRng::seed_from_u64(2);
        let bytes = sample_model(&mut rng).to_bytes();
        for len in 0..bytes.len() {
            assert!(Model::parse(&bytes[..len]).is_err(), "len {len}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(Model::parse(&long), Err(ModelError::Trailing(1)));
    }

    #[test]
    fn corruption_never_panics() {
        let mut rng = SmallRng::seed_from_u64(3);
        let bytes = sample_model(&mut rng).to_bytes();
        for _ in 0..5000 {
            let mut b = bytes.clone();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..b.len());
                b[i] = rng.gen();
            }
            if let Ok(m) = Model::parse(&b) {
                if let Ok(mut e) = Engine::new(m.clone(), 4, 4) {
                    let inputs: Vec<Vec<i16>> = m
                        .inputs
                        .iter()
                        .map(|s| vec![s.lo; s.channels * 16])
                        .collect();
                    let refs: Vec<&[i16]> = inputs.iter().map(|v| &v[..]).collect();
                    let _ = e.run(&refs);
                }
            }
        }
        assert_eq!(Model::parse(b"NOTAMODEL"), Err(ModelError::BadMagic));
    }

    /// The bound is checked per output channel: the note's worst case (288
    /// taps of 127 on inputs of 255 plus a bias of 4095) passes, one more tap fails.
    #[test]
    fn accumulator_bound() {
        let mut rng = SmallRng::seed_from_u64(4);
        let mut worst = |in_ch: usize, bad_channel: Option<usize>| {
            let mut l = conv(&mut rng, 0, in_ch, 3, 3, 1, 0, 255, 1);
            if let LayerOp::Conv2d { weights, bias, .. } = &mut l.op {
                weights.iter_mut().for_each(|w| *w = 0);
                for (o, b) in bias.iter_mut().enumerate() {
                    *b = 4095;
                    let taps = if Some(o) == bad_channel {
                        in_ch * 9
                    } else {
                        288.min(in_ch * 9)
                    };
                    weights[o * in_ch * 9..o * in_ch * 9 + taps]
                        .iter_mut()
                        .for_each(|w| *w = 127);
                }
            }
            Model {
                inputs: vec![TensorSpec {
                    channels: in_ch,
                    lo: 0,
                    hi: 255,
                }],
                layers: vec![l],
                outputs: vec![1],
            }
        };
        assert!(Model::parse(&worst(32, None).to_bytes()).is_ok());
        // 33 channels x 9 taps = 297 taps of 127 at 255: 9,618,345 + 4095 < 2^24 still; 64 channels break it.
        match Model::parse(&worst(64, Some(2)).to_bytes()) {
            Err(ModelError::Bound {
                layer: 0,
                channel: 2,
                value,
            }) => assert!(value >= ACC_BOUND),
            other => panic!("expected a bound error on channel 2, got {other:?}"),
        }
    }

    /// Independent reference: every layer computed in f64 with floor division,
    /// straight from the format's definition.
    fn reference(m: &Model, input: &[f64], h: usize, w: usize) -> Vec<Vec<f64>> {
        let mut t: Vec<(Vec<f64>, usize, usize, usize)> =
            vec![(input.to_vec(), m.inputs[0].channels, h, w)];
        for l in &m.layers {
            let (x, c, hh, ww) = t[l.operands[0]].clone();
            let clamp = |v: f64| v.max(l.out.lo as f64).min(l.out.hi as f64);
            let requant = |acc: f64, shift: u32| {
                clamp(
                    ((acc
                        + if shift > 0 {
                            (1u64 << (shift - 1)) as f64
                        } else {
                            0.0
                        })
                        / (1u64 << shift) as f64)
                        .floor(),
                )
            };
            let next = match &l.op {
                LayerOp::Conv2d {
                    kernel,
                    stride,
                    shift,
                    weights,
                    bias,
                } => {
                    let (oh, ow) = (hh.div_ceil(*stride), ww.div_ceil(*stride));
                    let mut o = vec![0.0; l.out.channels * oh * ow];
                    let r = (*kernel / 2) as isize;
                    for oc in 0..l.out.channels {
                        for y in 0..oh {
                            for xx in 0..ow {
                                let mut acc = bias[oc] as f64;
                                for ic in 0..c {
                                    for ky in 0..*kernel {
                                        for kx in 0..*kernel {
                                            let (iy, ix) = (
                                                (y * stride) as isize + ky as isize - r,
                                                (xx * stride) as isize + kx as isize - r,
                                            );
                                            if iy >= 0
                                                && ix >= 0
                                                && (iy as usize) < hh
                                                && (ix as usize) < ww
                                            {
                                                acc += weights
                                                    [((oc * c + ic) * kernel + ky) * kernel + kx]
                                                    as f64
                                                    * x[(ic * hh + iy as usize) * ww + ix as usize];
                                            }
                                        }
                                    }
                                }
                                o[(oc * oh + y) * ow + xx] = requant(acc, *shift);
                            }
                        }
                    }
                    (o, l.out.channels, oh, ow)
                }
                LayerOp::Dense {
                    in_features,
                    shift,
                    weights,
                    bias,
                } => {
                    let o = (0..l.out.channels)
                        .map(|oc| {
                            requant(
                                bias[oc] as f64
                                    + (0..*in_features)
                                        .map(|i| weights[oc * in_features + i] as f64 * x[i])
                                        .sum::<f64>(),
                                *shift,
                            )
                        })
                        .collect();
                    (o, l.out.channels, 1, 1)
                }
                LayerOp::PixelShuffle { factor } => {
                    let f = *factor;
                    let oc = c / (f * f);
                    let mut o = vec![0.0; c * hh * ww];
                    for ch in 0..c {
                        let (base, dy, dx) = (ch / (f * f), (ch % (f * f)) / f, ch % f);
                        for y in 0..hh {
                            for xx in 0..ww {
                                o[(base * hh * f + y * f + dy) * ww * f + xx * f + dx] =
                                    x[(ch * hh + y) * ww + xx];
                            }
                        }
                    }
                    (o, oc, hh * f, ww * f)
                }
                LayerOp::Add => {
                    let y = &t[l.operands[1]].0;
                    (
                        x.iter().zip(y).map(|(a, b)| clamp(a + b)).collect(),
                        c,
                        hh,
                        ww,
                    )
                }
                LayerOp::Concat => {
                    let mut o = Vec::new();
                    let mut ch = 0;
                    for &id in &l.operands {
                        o.extend_from_slice(&t[id].0);
                        ch += t[id].1;
                    }
                    (o, ch, hh, ww)
                }
            };
            t.push(next);
        }
        m.outputs.iter().map(|&id| t[id].0.clone()).collect()
    }

    #[test]
    fn engine_matches_independent_reference() {
        let mut rng = SmallRng::seed_from_u64(5);
        for _ in 0..20 {
            let m = sample_model(&mut rng);
            let (h, w) = (4, 4);
            let input: Vec<i16> = (0..2 * h * w).map(|_| rng.gen_range(0..=255)).collect();
            let mut e = Engine::new(m.clone(), h, w).unwrap();
            e.run(&[&input]).unwrap();
            let want = reference(
                &m,
                &input.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                h,
                w,
            );
            for (k, wv) in want.iter().enumerate() {
                let (got, _) = e.output(k);
                assert_eq!(
                    got.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                    *wv,
                    "output {k}"
                );
            }
        }
        // Larger frame without the dense head (its size is fixed).
        let mut m = sample_model(&mut rng);
        m.layers.pop();
        m.outputs.pop();
        let (h, w) = (22, 36);
        let input: Vec<i16> = (0..2 * h * w).map(|_| rng.gen_range(0..=255)).collect();
        let mut e = Engine::new(m.clone(), h, w).unwrap();
        e.run(&[&input]).unwrap();
        let want = reference(
            &m,
            &input.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            h,
            w,
        );
        assert_eq!(
            e.output(0).0.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            want[0]
        );
        assert!(
            Engine::new(sample_model(&mut rng), 5, 4).is_err(),
            "dense size mismatch is refused"
        );
    }
}

#[cfg(test)]
mod identity_tests {
    #[test]
    fn identity_is_sha256() {
        // Known SHA-256 of "abc" (FIPS 180-2 test vector).
        let h = super::identity(b"abc");
        let hex = super::hex(&h);
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

#[cfg(test)]
mod cost_tests {
    use super::*;

    #[test]
    fn macs_and_threads() {
        // 3x3, 32 -> 32 at full resolution: 9216 MACs per pixel.
        let l = Layer {
            operands: vec![0],
            out: TensorSpec {
                channels: 32,
                lo: 0,
                hi: 255,
            },
            op: LayerOp::Conv2d {
                kernel: 3,
                stride: 1,
                shift: 8,
                weights: vec![1; 32 * 32 * 9],
                bias: vec![0; 32],
            },
        };
        let m = Model {
            inputs: vec![TensorSpec {
                channels: 32,
                lo: 0,
                hi: 255,
            }],
            layers: vec![l],
            outputs: vec![1],
        };
        let (macs, params) = m.cost(1);
        assert_eq!((macs, params), (9216.0, 9248));
        assert!(m.bound_margin() > 0.99);
        // The result does not depend on the number of threads.
        let input: Vec<i16> = (0..32 * 9 * 13).map(|i| (i * 7 % 256) as i16).collect();
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut e = Engine::new(m.clone(), 9, 13).unwrap();
                e.run(&[&input]).unwrap();
                e.output(0).0.to_vec()
            })
        };
        assert_eq!(run(1), run(3));
    }
}

#[cfg(test)]
mod level_tests {
    use super::*;
    use crate::cpu::CpuLevel;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// Random convolution stacks (odd channel counts, up to 5 groups of 8
    /// output channels, kernels 1/3/5, stride 1 and 2, a layer read by two
    /// others or also a model output, so that the AVX2 engine's fusion of one
    /// convolution into the next is taken and declined) give identical
    /// outputs at every CPU level and thread count, including the worst case
    /// at the accumulator bound.
    #[test]
    fn levels_and_threads_agree() {
        let mut rng = SmallRng::seed_from_u64(9);
        for trial in 0..20 {
            let worst = trial % 4 == 0;
            let c0 = rng.gen_range(1..6);
            let mut inputs = vec![TensorSpec {
                channels: c0,
                lo: 0,
                hi: 255,
            }];
            let mut layers = Vec::new();
            let mut channels = vec![c0];
            for l in 0..4 {
                // Mostly a chain; sometimes an earlier tensor, so one tensor has two readers.
                let operand = if l > 1 && rng.gen_bool(0.3) {
                    rng.gen_range(0..l)
                } else {
                    l
                };
                let ch = channels[operand];
                let out_ch = rng.gen_range(1..41);
                let k = [1, 3, 5][rng.gen_range(0..3)];
                let stride = if l == 1 { 2 } else { 1 };
                let taps = ch * k * k;
                // Largest weight keeping sum|w| * 255 + |bias| under 2^24.
                let wmax = ((((1i64 << 24) - 5000) / (255 * taps as i64)).min(127)) as i8;
                let weights: Vec<i8> = (0..out_ch * taps)
                    .map(|_| {
                        if worst {
                            if rng.gen_bool(0.5) {
                                wmax
                            } else {
                                -wmax
                            }
                        } else {
                            rng.gen_range(-wmax..=wmax)
                        }
                    })
                    .collect();
                let bias: Vec<i32> = (0..out_ch).map(|_| rng.gen_range(-4000..4000)).collect();
                let (lo, hi) = if l == 3 { (-128, 127) } else { (0, 255) };
                layers.push(Layer {
                    operands: vec![operand],
                    out: TensorSpec {
                        channels: out_ch,
                        lo,
                        hi,
                    },
                    op: LayerOp::Conv2d {
                        kernel: k,
                        stride,
                        shift: rng.gen_range(0..12),
                        weights,
                        bias,
                    },
                });
                channels.push(out_ch);
            }
            inputs.truncate(1);
            // Sometimes an inner layer's output is a model output too.
            let outputs = if rng.gen_bool(0.3) {
                vec![4, rng.gen_range(1..4)]
            } else {
                vec![4]
            };
            let m = Model {
                inputs,
                layers,
                outputs,
            };
            let (h, w) = (rng.gen_range(1..30), rng.gen_range(1..40));
            let input: Vec<i16> = (0..c0 * h * w)
                .map(|_| if worst { 255 } else { rng.gen_range(0..=255) })
                .collect();
            let run = |cpu: CpuLevel, threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                    let mut e = Engine::with_cpu(m.clone(), h, w, cpu).unwrap();
                    e.run(&[&input]).unwrap();
                    (0..m.outputs.len())
                        .map(|k| e.output(k).0.to_vec())
                        .collect::<Vec<_>>()
                })
            };
            let reference = run(CpuLevel::Scalar, 1);
            for cpu in CpuLevel::all_supported() {
                for threads in [1, 2] {
                    assert_eq!(
                        run(cpu, threads),
                        reference,
                        "trial {trial} {cpu:?} {threads} threads"
                    );
                }
            }
        }
    }
}

#[cfg(all(test, feature = "torch"))]
mod torch_tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn model(rng: &mut SmallRng, worst: bool) -> Model {
        let c0 = 3;
        let mut layers = Vec::new();
        let mut ch = c0;
        for l in 0..4 {
            let out_ch = rng.gen_range(2..17);
            let k = [1, 3, 5][l % 3];
            let stride = if l == 1 { 2 } else { 1 };
            let taps = ch * k * k;
            let wmax = ((((1i64 << 24) - 5000) / (255 * taps as i64)).min(127)) as i8;
            let weights = (0..out_ch * taps)
                .map(|_| {
                    if worst {
                        wmax
                    } else {
                        rng.gen_range(-wmax..=wmax)
                    }
                })
                .collect();
            let bias = (0..out_ch).map(|_| rng.gen_range(-4000..4000)).collect();
            layers.push(Layer {
                operands: vec![l],
                out: TensorSpec {
                    channels: out_ch,
                    lo: 0,
                    hi: 255,
                },
                op: LayerOp::Conv2d {
                    kernel: k,
                    stride,
                    shift: rng.gen_range(0..14),
                    weights,
                    bias,
                },
            });
            ch = out_ch;
        }
        // Upsample back and add a residual on a 1x1 projection.
        layers.push(Layer {
            operands: vec![4],
            out: TensorSpec {
                channels: 12,
                lo: -128,
                hi: 127,
            },
            op: LayerOp::Conv2d {
                kernel: 3,
                stride: 1,
                shift: 9,
                weights: (0..12 * ch * 9).map(|_| rng.gen_range(-20..=20)).collect(),
                bias: vec![7; 12],
            },
        });
        layers.push(Layer {
            operands: vec![5],
            out: TensorSpec {
                channels: 3,
                lo: -128,
                hi: 127,
            },
            op: LayerOp::PixelShuffle { factor: 2 },
        });
        layers.push(Layer {
            operands: vec![0, 6],
            out: TensorSpec {
                channels: 3,
                lo: 0,
                hi: 255,
            },
            op: LayerOp::Add,
        });
        Model {
            inputs: vec![TensorSpec {
                channels: c0,
                lo: 0,
                hi: 255,
            }],
            layers,
            outputs: vec![7, 2],
        }
    }

    /// libtorch on the CPU gives the CPU engine's values exactly, random and
    /// worst-case weights and inputs (the constructor's self-check must pass,
    /// and a second input agrees too).
    #[test]
    fn libtorch_cpu_equals_engine() {
        let mut rng = SmallRng::seed_from_u64(11);
        for trial in 0..6 {
            let worst = trial % 2 == 1;
            let m = model(&mut rng, worst);
            let (h, w) = (2 * rng.gen_range(4..20), 2 * rng.gen_range(4..20));
            let t = TorchEngine::new(m.clone(), h, w, TorchDevice::Cpu).expect("self-check passes");
            let input: Vec<i16> = (0..3 * h * w)
                .map(|_| if worst { 255 } else { rng.gen_range(0..=255) })
                .collect();
            let mut e = Engine::new(m, h, w).unwrap();
            e.run(&[&input]).unwrap();
            let got = t.run(&[&input]).unwrap();
            for (k, g) in got.iter().enumerate() {
                assert_eq!(&g[..], e.output(k).0, "trial {trial} output {k}");
            }
        }
    }

    #[test]
    fn cuda_equals_engine_when_present() {
        if !cuda_available() {
            eprintln!("no CUDA device: skipped");
            return;
        }
        let mut rng = SmallRng::seed_from_u64(12);
        let m = model(&mut rng, true);
        TorchEngine::new(m, 64, 48, TorchDevice::Cuda).expect("CUDA self-check passes");
    }
}
