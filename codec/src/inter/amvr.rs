//! Adaptive motion vector resolution (`docs/bitstream.md` 4.6): a CU with explicit motion
//! may code its vector differences in whole or four-sample units, its vectors then being
//! the rounded predictors plus the scaled differences.

use crate::entropy::{BinSink, Contexts, RangeDecoder};
use crate::picture::Mv;

/// Left shift of the coded differences per precision index: quarter, whole and four
/// samples.
pub const SHIFTS: [u32; 3] = [0, 2, 4];

/// `v` rounded to a multiple of `1 << shift` quarter samples, halves toward zero.
pub fn round_mv(v: Mv, shift: u32) -> Mv {
    if shift == 0 {
        return v;
    }
    let r = |c: i16| {
        let c = i32::from(c);
        let q = (c + (1 << (shift - 1)) - i32::from(c >= 0)) >> shift;
        (q << shift).clamp(-32768, 32767) as i16
    };
    Mv {
        x: r(v.x),
        y: r(v.y),
    }
}

/// amvr_flag and, when set, amvr_4pel_flag for precision index 0, 1 or 2.
pub fn write<S: BinSink>(s: &mut S, ctx: &mut Contexts, precision: u8) {
    s.encode(&mut ctx.amvr[0], precision > 0);
    if precision > 0 {
        s.encode(&mut ctx.amvr[1], precision == 2);
    }
}

/// Reads what [`write`] writes.
pub fn read(d: &mut RangeDecoder, ctx: &mut Contexts) -> u8 {
    if !d.decode(&mut ctx.amvr[0]) {
        return 0;
    }
    1 + u8::from(d.decode(&mut ctx.amvr[1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::RangeEncoder;

    #[test]
    fn rounding_halves_toward_zero() {
        let v = |x: i16, y: i16| Mv { x, y };
        assert_eq!(round_mv(v(5, -5), 0), v(5, -5));
        assert_eq!(round_mv(v(2, -2), 2), v(0, 0));
        assert_eq!(round_mv(v(3, -3), 2), v(4, -4));
        assert_eq!(round_mv(v(6, -6), 2), v(4, -4));
        assert_eq!(round_mv(v(8, -8), 4), v(0, 0));
        assert_eq!(round_mv(v(9, -9), 4), v(16, -16));
        assert_eq!(round_mv(v(32767, -32768), 4), v(32767, -32768));
    }

    #[test]
    fn syntax_reads_back() {
        let mut enc = RangeEncoder::new();
        let mut ctx = Contexts::default();
        let seq = [0u8, 1, 2, 2, 0, 1, 0, 0, 2];
        for &p in &seq {
            write(&mut enc, &mut ctx, p);
        }
        let bytes = enc.finish();
        let mut dec = RangeDecoder::new(&bytes);
        let mut ctx = Contexts::default();
        for &p in &seq {
            assert_eq!(read(&mut dec, &mut ctx), p);
        }
    }
}
