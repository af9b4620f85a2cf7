//! Bin costs for rate estimation.

use super::{BinSink, Context, PROB_BITS};
use std::sync::OnceLock;

/// Costs are in units of 2^-COST_SHIFT bits.
pub const COST_SHIFT: u32 = 16;
/// The cost of one bypass bin.
pub const COST_ONE_BIT: u32 = 1 << COST_SHIFT;

/// Table resolution: probabilities are looked up in steps of 2^(15 - TABLE_BITS).
const TABLE_BITS: u32 = 10;

fn cost_table() -> &'static [u32; 1 << TABLE_BITS] {
    static TABLE: OnceLock<[u32; 1 << TABLE_BITS]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0u32; 1 << TABLE_BITS];
        for (i, v) in t.iter_mut().enumerate() {
            // Centre of the probability bucket.
            let p = (i as f64 + 0.5) / (1u32 << TABLE_BITS) as f64;
            *v = (-p.log2() * COST_ONE_BIT as f64).round() as u32;
        }
        t
    })
}

/// Cost of coding `bin` with `ctx` (without adapting it), in 2^-16 bits.
#[inline]
pub fn bin_cost(ctx: &Context, bin: bool) -> u32 {
    let p0 = ctx.p0();
    let p = if bin { (1 << PROB_BITS) - p0 } else { p0 };
    cost_table()[(p >> (PROB_BITS - TABLE_BITS)) as usize]
}

/// Accumulates the cost of bins; contexts are read, not adapted.
#[derive(Default, Clone, Copy, Debug)]
pub struct BitCounter {
    /// Total cost in 2^-16 bits.
    pub cost: u64,
}

impl BitCounter {
    /// The accumulated cost in bits.
    #[cfg(test)]
    pub fn bits(&self) -> f64 {
        self.cost as f64 / COST_ONE_BIT as f64
    }
}

impl BinSink for BitCounter {
    #[inline]
    fn encode(&mut self, ctx: &mut Context, bin: bool) {
        self.cost += bin_cost(ctx, bin) as u64;
    }

    #[inline]
    fn bypass(&mut self, _bin: bool) {
        self.cost += COST_ONE_BIT as u64;
    }

    #[inline]
    fn bypass_bits(&mut self, _value: u32, n: u32) {
        self.cost += (COST_ONE_BIT * n) as u64;
    }
}
