//! The encoder's decisions for the loop filter: per kind of plane whether
//! to filter, with which set and scale, and per superblock whether to keep
//! the filtered samples, by rate-distortion cost with the real flag rates.

use super::process::{sb_rect, scale_eighths, scaled, NUM_SCALES};
use super::syntax::flag_ctx;
use super::*;

/// The encoder's choice: per superblock, the filter where it lowers
/// `SSE + lambda * bits` (rates from the flag contexts as they adapt), and
/// per plane kind, the filter only if the frame gains overall. Returns the
/// flags (set 0).
pub(crate) fn decide(
    orig: &Frame,
    recon: &Frame,
    filtered: &[Option<Vec<u8>>; 3],
    lambda: [f64; 2],
    ctx: &Contexts,
) -> FilterFlags {
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
            let delta = sse_changes(orig, recon, filtered, planes, eighths, None);
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
        }
    }
    f
}

/// Per superblock, the change in SSE against `orig` that filtering
/// `planes` at `eighths` brings (0 outside `only`, where given).
fn sse_changes(
    orig: &Frame,
    recon: &Frame,
    filtered: &[Option<Vec<u8>>; 3],
    planes: &[usize],
    eighths: i32,
    only: Option<&[bool]>,
) -> Vec<i64> {
    let (cols, rows) = sb_grid(recon.planes[0].width, recon.planes[0].height);
    let bd = recon.bit_depth;
    let mut delta = vec![0i64; cols * rows];
    for &p in planes {
        let fp = filtered[p].as_ref().expect("run for this kind");
        let (o, r) = (&orig.planes[p], &recon.planes[p]);
        for (i, d) in delta.iter_mut().enumerate() {
            if only.is_some_and(|only| !only[i]) {
                continue;
            }
            let (x0, y0, x1, y1) = sb_rect(r, p, cols, i);
            for y in y0..y1 {
                let row = y * r.width;
                for x in x0..x1 {
                    let s = o.data[row + x] as i64;
                    let a = s - r.data[row + x] as i64;
                    let b = s - scaled(r.data[row + x], fp[row + x], eighths, bd) as i64;
                    *d += b * b - a * a;
                }
            }
        }
    }
    delta
}

/// The encoder's filtering of a reconstructed frame: runs the networks,
/// decides with [`decide`], and where the model has a second set whose
/// network differs for a kind of plane (and `try_second_set`), chooses the
/// set for that kind first from a sample of its superblocks (every other
/// one on every other row: a quarter), where it runs both, and then runs
/// only the chosen set over the rest (instead of both over every
/// superblock). Returns the flags and the filtered planes they select from.
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
    let key = fh.frame_type == FrameType::Key;
    let differ = [false, true].map(|chroma| try_second_set && filter.sets_differ(key, chroma));
    if !differ.contains(&true) {
        let filtered = filter_frame(filter, recon, [true; 2], [0; 2], None, fh, cpu);
        let flags = decide(orig, recon, &filtered, lambda, ctx);
        return (flags, filtered);
    }
    let (w, h) = (recon.planes[0].width, recon.planes[0].height);
    let (cols, rows) = sb_grid(w, h);
    let sample: Vec<bool> = (0..cols * rows)
        .map(|i| (i % cols) % 2 == 0 && (i / cols) % 2 == 0)
        .collect();
    let rest: Vec<bool> = sample.iter().map(|&b| !b).collect();
    let on_sample = [sample.clone(), sample.clone()];
    let by_set =
        [0, 1].map(|s| filter_frame(filter, recon, differ, [s; 2], Some(&on_sample), fh, cpu));
    let mut set = [0u8; 2];
    for kind in 0..2 {
        if differ[kind] {
            let gain = |f: &[Option<Vec<u8>>; 3]| sampled_gain(orig, recon, f, kind, &sample);
            set[kind] = (gain(&by_set[1]) < gain(&by_set[0])) as u8;
        }
    }
    // The chosen sets over the rest, the sample from its run above; the
    // kinds whose sets do not differ over everything.
    let on_rest = [rest.clone(), rest];
    let mut filtered = filter_frame(filter, recon, differ, set, Some(&on_rest), fh, cpu);
    let plain = differ.map(|d| !d);
    let plain_run = filter_frame(filter, recon, plain, [0; 2], None, fh, cpu);
    for (p, out) in filtered.iter_mut().enumerate() {
        let kind = (p > 0) as usize;
        if plain[kind] {
            *out = plain_run[p].clone();
            continue;
        }
        let plane = out.as_mut().expect("run for the kinds that differ");
        let from = by_set[set[kind] as usize][p].as_ref().expect("sampled");
        let r = &recon.planes[p];
        for i in (0..sample.len()).filter(|&i| sample[i]) {
            let (x0, y0, x1, y1) = sb_rect(r, p, cols, i);
            for y in y0..y1 {
                let at = y * r.width;
                plane[at + x0..at + x1].copy_from_slice(&from[at + x0..at + x1]);
            }
        }
    }
    let mut flags = decide(orig, recon, &filtered, lambda, ctx);
    for kind in 0..2 {
        if flags.on[kind] {
            flags.set[kind] = set[kind];
        }
    }
    (flags, filtered)
}

/// The SSE a kind of plane gains in the sampled superblocks at its best
/// scale, each superblock filtered only where that lowers its error
/// (negative: a gain).
fn sampled_gain(
    orig: &Frame,
    recon: &Frame,
    filtered: &[Option<Vec<u8>>; 3],
    kind: usize,
    sample: &[bool],
) -> i64 {
    let planes: &[usize] = if kind == 0 { &[0] } else { &[1, 2] };
    (0..NUM_SCALES)
        .map(|scale| {
            let delta = sse_changes(
                orig,
                recon,
                filtered,
                planes,
                scale_eighths(scale),
                Some(sample),
            );
            delta.iter().map(|&d| d.min(0)).sum::<i64>()
        })
        .min()
        .unwrap_or(0)
}
