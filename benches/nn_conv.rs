//! Integer network engine throughput: one 3x3 convolution, 32 -> 32 channels,
//! on a 640x480 input, at each CPU level and on 1 and 2 threads.
//! `cargo bench -p mica-benches --bench nn_conv`

use mica::internals::nn::{Engine, Layer, LayerOp, Model, TensorSpec};
use mica::CpuLevel;
use std::time::Instant;

fn main() {
    let (h, w, c) = (480usize, 640usize, 32usize);
    let mut state = 1u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as i64
    };
    let weights: Vec<i8> = (0..c * c * 9).map(|_| (next() % 15 - 7) as i8).collect();
    let layer = Layer {
        operands: vec![0],
        out: TensorSpec {
            channels: c,
            lo: 0,
            hi: 255,
        },
        op: LayerOp::Conv2d {
            kernel: 3,
            stride: 1,
            shift: 8,
            weights,
            bias: vec![64; c],
        },
    };
    let model = Model {
        inputs: vec![TensorSpec {
            channels: c,
            lo: 0,
            hi: 255,
        }],
        layers: vec![layer],
        outputs: vec![1],
    };
    let input: Vec<i16> = (0..c * h * w).map(|_| (next() % 256) as i16).collect();
    let macs = (c * c * 9 * h * w) as f64;
    for cpu in CpuLevel::all_supported() {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut e = Engine::with_cpu(model.clone(), h, w, cpu).unwrap();
            let reps = if cpu == CpuLevel::Scalar { 1 } else { 5 };
            pool.install(|| e.run(&[&input]).unwrap());
            let start = Instant::now();
            for _ in 0..reps {
                pool.install(|| e.run(&[&input]).unwrap());
            }
            let s = start.elapsed().as_secs_f64() / reps as f64;
            println!(
                "{:>6} {threads} thread(s): {:7.1} ms per frame, {:6.2} GMAC/s",
                cpu.name(),
                s * 1e3,
                macs / s / 1e9
            );
        }
    }
}
