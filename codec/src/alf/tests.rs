use super::decision::derive;
use super::*;
use crate::entropy::RangeEncoder;
use rand::{rngs::SmallRng, Rng, SeedableRng};

fn random_frame(rng: &mut SmallRng, cols: usize, rows: usize) -> AlfFrame {
    let mut f = AlfFrame::default();
    for p in 0..3 {
        if rng.gen_bool(0.7) {
            let extreme = rng.gen_bool(0.2);
            let filters = if p == 0 {
                [1, 2, 3, 7, 25][rng.gen_range(0..5)]
            } else {
                1
            };
            if p == 0 {
                f.luma_map = std::array::from_fn(|_| rng.gen_range(0..filters) as u8);
            }
            f.coeffs[p] = Some(
                (0..filters * taps(p).len())
                    .map(|_| {
                        if extreme {
                            [-128, 127, 0][rng.gen_range(0..3)]
                        } else {
                            rng.gen_range(-30..=30)
                        }
                    })
                    .collect(),
            );
            f.sb[p] = (0..cols * rows).map(|_| rng.gen_bool(0.6)).collect();
        }
    }
    f
}

/// Random filters and flags are read back as written, and the payload is
/// consumed exactly.
#[test]
fn syntax_round_trip() {
    let mut rng = SmallRng::seed_from_u64(1);
    for _ in 0..200 {
        let (cols, rows) = (rng.gen_range(1..12), rng.gen_range(1..8));
        let f = random_frame(&mut rng, cols, rows);
        let mut enc = RangeEncoder::new();
        write(&mut enc, &f, cols);
        let bytes = enc.finish();
        let mut d = RangeDecoder::new(&bytes);
        assert_eq!(read(&mut d, cols, rows).unwrap(), f);
        assert_eq!(d.consumed(), bytes.len());
    }
}

/// A coefficient outside -128..=127, more than 25 luma filters and a
/// class's filter index beyond them are refused by name, never clamped.
#[test]
fn hostile_coefficients_are_refused() {
    use crate::entropy::write_exp_golomb;
    let refused = |bytes: Vec<u8>, field: &str| {
        let err = read(&mut RangeDecoder::new(&bytes), 2, 2).unwrap_err();
        assert!(err.to_string().contains(field), "{err}");
    };
    // 26 filters.
    let mut enc = RangeEncoder::new();
    enc.bypass(true);
    write_exp_golomb(&mut enc, 25, 0);
    refused(enc.finish(), "alf_luma_filters_minus1");
    // Three filters (two bits per index) and an index 3.
    let mut enc = RangeEncoder::new();
    enc.bypass(true);
    write_exp_golomb(&mut enc, 2, 0);
    enc.bypass_bits(3, 2);
    refused(enc.finish(), "alf_luma_filter_idx");
    for (abs, negative) in [(128u32, false), (129, true), (5000, false), (1 << 20, true)] {
        let mut enc = RangeEncoder::new();
        enc.bypass(true);
        write_exp_golomb(&mut enc, 0, 0);
        write_exp_golomb(&mut enc, abs, 0);
        enc.bypass(negative);
        for _ in 0..40 {
            enc.bypass(false);
        }
        let bytes = enc.finish();
        let err = read(&mut RangeDecoder::new(&bytes), 2, 2).unwrap_err();
        assert!(err.to_string().contains("alf_coeff"), "{err}");
    }
    // -128 itself is allowed.
    let mut enc = RangeEncoder::new();
    enc.bypass(true);
    write_exp_golomb(&mut enc, 0, 0);
    write_exp_golomb(&mut enc, 128, 0);
    enc.bypass(true);
    let bytes = enc.finish();
    let f = read(&mut RangeDecoder::new(&bytes), 1, 1).unwrap();
    assert_eq!(f.coeffs[0].as_ref().unwrap()[0], -128);
}

fn textured(w: usize, h: usize, bd: u8, seed: u64) -> Frame {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut f = Frame::new_420_at(w, h, bd);
    let max = (1i32 << bd) - 1;
    for p in f.planes.iter_mut() {
        let pw = p.width;
        for (i, v) in p.data.iter_mut().enumerate() {
            let (x, y) = ((i % pw) as f64, (i / pw) as f64);
            let s = 0.5 + 0.3 * (x * 0.21).sin() * (y * 0.13).cos() + 0.1 * (x * 0.9 + y).sin();
            let noise = rng.gen_range(-0.03..0.03);
            *v = (((s + noise) * max as f64).round() as i32).clamp(0, max) as u16;
        }
    }
    f
}

/// A [1 2 1] blur in both directions (edges replicated).
fn blurred(src: &Frame) -> Frame {
    let mut out = src.clone();
    for (o, s) in out.planes.iter_mut().zip(&src.planes) {
        let (w, h) = (s.width, s.height);
        let at = |x: isize, y: isize| {
            s.data[y.clamp(0, h as isize - 1) as usize * w + x.clamp(0, w as isize - 1) as usize]
                as u32
        };
        for y in 0..h as isize {
            for x in 0..w as isize {
                let mut acc = 0;
                for (dy, wy) in [(-1, 1), (0, 2), (1, 1)] {
                    for (dx, wx) in [(-1, 1), (0, 2), (1, 1)] {
                        acc += wy * wx * at(x + dx, y + dy);
                    }
                }
                o.data[y as usize * w + x as usize] = ((acc + 8) / 16) as u16;
            }
        }
    }
    out
}

fn sse(a: &Frame, b: &Frame, p: usize) -> u64 {
    a.planes[p]
        .data
        .iter()
        .zip(&b.planes[p].data)
        .map(|(&x, &y)| (x as i64 - y as i64).pow(2) as u64)
        .sum()
}

/// The derived filter switches on and lowers the SSE of a blurred picture
/// in every plane, at both bit depths; the filtered frame is the same at
/// every CPU level.
#[test]
fn derived_filter_sharpens_a_blurred_picture() {
    for bd in [8u8, 10] {
        let orig = textured(136, 72, bd, 3);
        let blur = blurred(&orig);
        let f = derive(&orig, &blur, [1.0; 3], CpuLevel::runtime());
        let mut outs = Vec::new();
        for cpu in CpuLevel::all_supported() {
            let mut out = blur.clone();
            apply(&mut out, &f, cpu);
            outs.push(out);
        }
        assert!(outs.windows(2).all(|w| w[0] == w[1]));
        for p in 0..3 {
            assert!(f.coeffs[p].is_some(), "plane {p} at {bd} bits stays off");
            let (before, after) = (sse(&orig, &blur, p), sse(&orig, &outs[0], p));
            assert!(
                after * 10 < before * 8,
                "plane {p} at {bd} bits: {before} -> {after}"
            );
        }
    }
}

/// On a picture that equals its source there is nothing to gain: off.
#[test]
fn nothing_to_gain_stays_off() {
    let orig = textured(64, 64, 8, 4);
    let f = derive(&orig, &orig, [10.0; 3], CpuLevel::runtime());
    assert_eq!(f, AlfFrame::default());
}

/// Superblocks that are off are left as they were; those on change.
#[test]
fn superblocks_off_are_untouched() {
    let orig = textured(128, 128, 8, 5);
    let blur = blurred(&orig);
    let mut f = derive(&orig, &blur, [1.0; 3], CpuLevel::runtime());
    f.sb[0] = vec![true, false, false, true];
    let mut out = blur.clone();
    apply(&mut out, &f, CpuLevel::runtime());
    let p = (&out.planes[0], &blur.planes[0]);
    let differs = |x0: usize, y0: usize| {
        (y0..y0 + 64).any(|y| (x0..x0 + 64).any(|x| p.0.data[y * 128 + x] != p.1.data[y * 128 + x]))
    };
    assert!(differs(0, 0) && differs(64, 64));
    assert!(!differs(64, 0) && !differs(0, 64));
}
