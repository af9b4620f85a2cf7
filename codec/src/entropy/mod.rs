//! Adaptive binary arithmetic coding.
//!
//! Every syntax element is binarised and each bin is coded either with an
//! adaptive [`Context`] or in bypass mode (probability one half). The coder is
//! a 32-bit range coder with carry propagation (the LZMA construction); the
//! probability model keeps two estimates that adapt at different speeds and
//! codes with their mean, as VVC's CABAC does. See `docs/bitstream.md`,
//! section 3, for the normative description. [`Contexts`] holds every
//! context of the block syntax and starts each frame from its trained table.
//!
//! Three back ends implement [`BinSink`]: the real encoder ([`RangeEncoder`]),
//! a bit counter for rate-distortion decisions ([`BitCounter`], which reads
//! contexts without adapting them), and on the decoding side [`RangeDecoder`].
//! The syntax writers are generic over [`BinSink`], so the encoder's rate
//! estimates come from the very code that writes the bitstream.

mod context_init;
mod contexts;
mod cost;
mod range;

pub use contexts::{
    context_qp_class, context_qp_class_range, Contexts, CONTEXT_ELEMENTS, CONTEXT_QP_CLASSES,
};
pub use cost::{bin_cost, BitCounter, COST_ONE_BIT, COST_SHIFT};
pub use range::{RangeDecoder, RangeEncoder};

/// Probabilities are 15-bit fixed point: `PROB_ONE` is probability 1.
pub const PROB_BITS: u32 = 15;
const PROB_ONE: u32 = 1 << PROB_BITS;
/// Adaptation shifts of the fast and the slow estimate.
const FAST_SHIFT: u32 = 4;
const SLOW_SHIFT: u32 = 7;

/// An adaptive binary probability model: two estimates of P(bin = 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    fast: u16,
    slow: u16,
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl Context {
    /// A context starting at probability one half.
    pub const fn new() -> Context {
        Context {
            fast: 1 << (PROB_BITS - 1),
            slow: 1 << (PROB_BITS - 1),
        }
    }

    /// A context starting at probability `p0 / 32768` that the bin is 0,
    /// `p0` clamped to `1..=32767` (the coder needs both symbols possible;
    /// the initialisation tables stay within `768..=32000`).
    pub const fn with_p0(p0: u16) -> Context {
        let p0 = if p0 < 1 {
            1
        } else if p0 > 32767 {
            32767
        } else {
            p0
        };
        Context { fast: p0, slow: p0 }
    }

    /// P(bin = 0) in 15-bit fixed point, always within `1..=32767`.
    #[inline]
    pub fn p0(&self) -> u32 {
        (self.fast as u32 + self.slow as u32 + 1) >> 1
    }

    /// Moves both estimates towards the bin just coded.
    #[inline]
    pub fn update(&mut self, bin: bool) {
        // Both estimates stay within [1, 32767]: the additive step is zero once
        // the estimate is within 2^shift of the bound.
        if bin {
            self.fast -= self.fast >> FAST_SHIFT;
            self.slow -= self.slow >> SLOW_SHIFT;
        } else {
            self.fast += ((PROB_ONE - self.fast as u32) >> FAST_SHIFT) as u16;
            self.slow += ((PROB_ONE - self.slow as u32) >> SLOW_SHIFT) as u16;
        }
    }
}

/// Where binarised syntax goes: a real encoder or a rate estimator.
pub trait BinSink {
    /// Codes one bin with an adaptive context.
    fn encode(&mut self, ctx: &mut Context, bin: bool);
    /// Codes one equiprobable bin.
    fn bypass(&mut self, bin: bool);
    /// Codes the `n` low bits of `value`, most significant first, in bypass mode.
    fn bypass_bits(&mut self, value: u32, n: u32) {
        for i in (0..n).rev() {
            self.bypass((value >> i) & 1 != 0);
        }
    }
}

/// Exp-Golomb code of order `k`.
pub(crate) fn write_exp_golomb<S: BinSink>(s: &mut S, mut value: u32, mut k: u32) {
    while value >= (1 << k) {
        s.bypass(true);
        value -= 1 << k;
        k += 1;
    }
    s.bypass(false);
    s.bypass_bits(value, k);
}

/// Reads an Exp-Golomb code of order `k`; `None` past 16 prefix bins.
pub(crate) fn read_exp_golomb(d: &mut RangeDecoder, mut k: u32) -> Option<u32> {
    let mut base = 0u32;
    while d.bypass() {
        base += 1 << k;
        k += 1;
        if k > 17 {
            return None;
        }
    }
    Some(base + d.bypass_bits(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    #[test]
    fn context_stays_in_range() {
        let mut c = Context::new();
        for _ in 0..10_000 {
            c.update(false);
        }
        assert!(c.p0() < PROB_ONE && c.p0() > 0);
        for _ in 0..10_000 {
            c.update(true);
        }
        assert!(c.p0() < PROB_ONE && c.p0() > 0);
        // Any starting point, extremes included, stays usable.
        for p0 in [0u16, 1, 768, 32000, 32767, 32768, u16::MAX] {
            let mut c = Context::with_p0(p0);
            assert!((1..PROB_ONE).contains(&c.p0()), "start {p0}");
            for bin in [false, true, false] {
                for _ in 0..1000 {
                    c.update(bin);
                    assert!((1..PROB_ONE).contains(&c.p0()), "start {p0}");
                }
            }
        }
    }

    /// Random bins, contexts and bypass bits survive an encode/decode round trip,
    /// and the decoder consumes exactly the bytes the encoder wrote.
    #[test]
    fn round_trip_random() {
        let mut rng = SmallRng::seed_from_u64(7);
        for trial in 0..200 {
            let n = rng.gen_range(0..5000);
            let skew: f64 = rng.gen_range(0.0..1.0);
            let ops: Vec<(u8, bool, usize)> = (0..n)
                .map(|_| {
                    let kind = rng.gen_range(0..4u8);
                    let bin = rng.gen_bool(if kind == 0 { 0.5 } else { skew });
                    (kind, bin, rng.gen_range(0..8))
                })
                .collect();
            let mut enc = RangeEncoder::new();
            let mut ctxs = [Context::new(); 8];
            for &(kind, bin, c) in &ops {
                if kind == 0 {
                    enc.bypass(bin);
                } else {
                    enc.encode(&mut ctxs[c], bin);
                }
            }
            let bytes = enc.finish();
            let mut dec = RangeDecoder::new(&bytes);
            let mut ctxs = [Context::new(); 8];
            for (i, &(kind, bin, c)) in ops.iter().enumerate() {
                let got = if kind == 0 {
                    dec.bypass()
                } else {
                    dec.decode(&mut ctxs[c])
                };
                assert_eq!(got, bin, "trial {trial} op {i}");
            }
            assert_eq!(dec.consumed(), bytes.len(), "trial {trial}");
        }
    }

    /// The bit counter's estimate is close to what the real coder produces.
    #[test]
    fn cost_matches_real_size() {
        let mut rng = SmallRng::seed_from_u64(3);
        let mut enc = RangeEncoder::new();
        let mut counter = BitCounter::default();
        let mut c1 = Context::new();
        let mut c2 = Context::new();
        for _ in 0..200_000 {
            let bin = rng.gen_bool(0.1);
            // The counter does not adapt, so feed it the real coder's state.
            let before = c1;
            enc.encode(&mut c1, bin);
            let mut copy = before;
            counter.encode(&mut copy, bin);
            assert_eq!(copy, before, "the counter must not adapt contexts");
            c2.update(bin);
        }
        assert_eq!(c1, c2);
        let real_bits = enc.finish().len() as f64 * 8.0;
        let est_bits = counter.bits();
        assert!(
            (real_bits - est_bits).abs() / real_bits < 0.01,
            "real {real_bits} est {est_bits}"
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = SmallRng::seed_from_u64(11);
        for len in 0..64 {
            let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let mut dec = RangeDecoder::new(&data);
            let mut c = Context::new();
            for _ in 0..1000 {
                dec.decode(&mut c);
                dec.bypass();
            }
            let _ = dec.consumed();
        }
    }
}
