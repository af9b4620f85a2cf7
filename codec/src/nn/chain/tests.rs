//! A chain's result equals the engine's (the definition) on the
//! edge-extended plane, for assorted shapes, tiles and rectangles, at every
//! CPU level this machine has; and its kernels equal the scalar ones.

use super::*;
use crate::nn::{Engine, Layer, TensorSpec};
use rand::{rngs::SmallRng, Rng, SeedableRng};

fn spec(channels: usize, lo: i16, hi: i16) -> TensorSpec {
    TensorSpec { channels, lo, hi }
}

/// A random chain: `[samples, side]` concatenated (when `side_c > 0`),
/// convolutions with `hidden[i]` outputs and kernel `kernels[i]` (ReLU),
/// a one-channel correction, its sum with the samples.
fn random_chain_model(seed: u64, side_c: usize, hidden: &[usize], kernels: &[usize]) -> Model {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut inputs = vec![spec(1, 0, 255)];
    let mut layers = Vec::new();
    let mut c = 1;
    if side_c > 0 {
        inputs.push(spec(side_c, 0, 255));
        layers.push(Layer {
            operands: vec![0, 1],
            out: spec(1 + side_c, 0, 255),
            op: LayerOp::Concat,
        });
        c += side_c;
    }
    let n_in = inputs.len();
    let mut id = if side_c > 0 { n_in } else { 0 };
    let outs: Vec<usize> = hidden.iter().copied().chain([1]).collect();
    for (li, (&o, &k)) in outs.iter().zip(kernels).enumerate() {
        let last = li == hidden.len();
        let (lo, hi) = if last { (-128, 127) } else { (0, 255) };
        // Weights small enough for the accumulator bound; shifts that keep
        // outputs spread over their range.
        let span = (4000 / (c * k * k)).clamp(1, 127) as i8;
        layers.push(Layer {
            operands: vec![id],
            out: spec(o, lo, hi),
            op: LayerOp::Conv2d {
                kernel: k,
                stride: 1,
                shift: rng.gen_range(3..7),
                weights: (0..o * c * k * k)
                    .map(|_| rng.gen_range(-span..=span))
                    .collect(),
                bias: (0..o).map(|_| rng.gen_range(-3000..3000)).collect(),
            },
        });
        id = n_in + layers.len() - 1;
        c = o;
    }
    layers.push(Layer {
        operands: vec![0, id],
        out: spec(1, 0, 255),
        op: LayerOp::Add,
    });
    let output = n_in + layers.len() - 1;
    let model = Model {
        inputs,
        layers,
        outputs: vec![output],
    };
    Model::parse(&model.to_bytes()).expect("a valid random chain")
}

/// The engine's result: one run over the plane extended by `border` on each
/// side (edges repeated), cropped to `rect`.
fn engine_result(
    model: &Model,
    samples: &[u8],
    (w, h): (usize, usize),
    side: &[i16],
    border: usize,
) -> Vec<u8> {
    let (ew, eh) = (w + 2 * border, h + 2 * border);
    let clamp = |v: usize, n: usize| v.saturating_sub(border).min(n - 1);
    let ext: Vec<i16> = (0..eh)
        .flat_map(|y| (0..ew).map(move |x| (y, x)))
        .map(|(y, x)| samples[clamp(y, h) * w + clamp(x, w)] as i16)
        .collect();
    let mut engine = Engine::with_cpu(model.clone(), eh, ew, CpuLevel::Scalar).unwrap();
    let side_planes: Vec<i16> = side
        .iter()
        .flat_map(|&v| std::iter::repeat_n(v, ew * eh))
        .collect();
    let inputs: Vec<&[i16]> = if model.inputs.len() == 2 {
        vec![&ext, &side_planes]
    } else {
        vec![&ext]
    };
    engine.run(&inputs).unwrap();
    let out = engine.output(0).0;
    (0..h)
        .flat_map(|y| (0..w).map(move |x| out[(y + border) * ew + x + border] as u8))
        .collect()
}

fn random_plane(rng: &mut SmallRng, w: usize, h: usize) -> Vec<u8> {
    // Smooth content with noise, so the ReLUs are neither all on nor all off.
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            ((x * 3 + y * 5) % 200) as u8 + rng.gen_range(0..50)
        })
        .collect()
}

fn check(model: &Model, seed: u64, sizes: &[(usize, usize)]) {
    let chain = Chain::from_model(model).expect("recognised as a chain");
    let mut rng = SmallRng::seed_from_u64(seed);
    let side_c = model.inputs.get(1).map_or(0, |s| s.channels);
    for &(w, h) in sizes {
        let samples = random_plane(&mut rng, w, h);
        let side: Vec<i16> = (0..side_c).map(|_| rng.gen_range(0..=255)).collect();
        let want = engine_result(model, &samples, (w, h), &side, chain.reach() + 3);
        // The whole plane, and a few rectangles (the rest stays untouched).
        let whole = Rect {
            x0: 0,
            y0: 0,
            x1: w,
            y1: h,
        };
        let mut rects = vec![vec![whole]];
        for _ in 0..3 {
            let (x0, y0) = (rng.gen_range(0..w), rng.gen_range(0..h));
            let (x1, y1) = (rng.gen_range(x0 + 1..=w), rng.gen_range(y0 + 1..=h));
            rects.push(vec![Rect { x0, y0, x1, y1 }]);
        }
        for rs in &rects {
            for cpu in CpuLevel::all_supported() {
                let mut got = vec![7u8; w * h];
                chain.filter(&samples, w, h, &side, rs, cpu, &mut got);
                for y in 0..h {
                    for x in 0..w {
                        let inside = rs
                            .iter()
                            .any(|r| (r.x0..r.x1).contains(&x) && (r.y0..r.y1).contains(&y));
                        let expect = if inside { want[y * w + x] } else { 7 };
                        assert_eq!(
                            got[y * w + x],
                            expect,
                            "{w}x{h} at ({x}, {y}), rects {rs:?}, {cpu:?}"
                        );
                    }
                }
            }
        }
    }
}

/// Shapes that exercise every kernel block (1 to 5 groups of 8 outputs,
/// odd channel counts, kernels 1, 3 and 5, no side planes) and tiles
/// (planes narrower than a kernel, wider than a tile, taller than one).
#[test]
fn chains_equal_the_engine() {
    let sizes = [(1, 1), (3, 2), (13, 7), (40, 36), (300, 70)];
    check(
        &random_chain_model(1, 2, &[24, 24, 24, 24], &[3; 5]),
        11,
        &sizes,
    );
    check(
        &random_chain_model(2, 2, &[15, 15, 15], &[3; 4]),
        12,
        &sizes,
    );
    check(
        &random_chain_model(3, 3, &[8, 33, 5], &[3, 5, 1, 3]),
        13,
        &sizes,
    );
    check(&random_chain_model(4, 0, &[40, 17], &[5, 3, 3]), 14, &sizes);
    check(&random_chain_model(5, 1, &[], &[3]), 15, &sizes);
}

/// The loop filter's networks are chains.
#[test]
fn shipped_loop_filter_networks_are_chains() {
    let model = Model::parse(crate::loop_filter::default_model_bytes()).unwrap();
    for k in 0..model.outputs.len() {
        let net = model.only_output(k);
        let chain = Chain::from_model(&net).expect("a chain");
        assert_eq!(chain.reach(), 5);
        assert_eq!(chain.macs_per_sample() as f64, net.cost(1).0, "output {k}");
    }
    check(&model.only_output(0), 21, &[(64, 48), (200, 72)]);
    check(&model.only_output(2), 22, &[(32, 24), (100, 40)]);
}

/// Networks of other shapes are not taken for chains.
#[test]
fn other_shapes_are_not_chains() {
    let chain = random_chain_model(6, 2, &[8], &[3, 3]);
    // Output of a hidden layer: not a sum with the samples.
    let mut m = chain.clone();
    m.outputs = vec![m.inputs.len() + 1];
    assert!(Chain::from_model(&m).is_none());
    // A stride-2 convolution.
    let mut m = chain.clone();
    if let LayerOp::Conv2d { stride, .. } = &mut m.layers[1].op {
        *stride = 2;
    }
    assert!(Chain::from_model(&m).is_none());
    // Concatenation in the other order.
    let mut m = chain;
    m.layers[0].operands = vec![1, 0];
    assert!(Chain::from_model(&m).is_none());
}
