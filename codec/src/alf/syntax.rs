//! The adaptive loop filter's syntax (`docs/bitstream.md` 4.9), at the end
//! of a frame's payload: per plane a switch, the coefficients and the
//! superblock flags, whose contexts (from the left and above flags) start
//! every frame at one half.

use super::*;
use crate::dsp::alf::{COEFF_MAX, COEFF_MIN};
use crate::entropy::{read_exp_golomb, write_exp_golomb};

/// Contexts of the superblock flags: per plane, by how many of the left
/// and above neighbours are on. They are the filter's own (not in
/// `entropy::Contexts`) and start each frame at one half.
#[derive(Default)]
struct FlagContexts([[Context; 3]; 3]);

/// Context of superblock `i`'s flag.
pub(super) fn flag_ctx(flags: &[bool], cols: usize, i: usize) -> usize {
    let left = !i.is_multiple_of(cols) && flags[i - 1];
    let above = i >= cols && flags[i - cols];
    left as usize + above as usize
}

/// Writes a coefficient: its magnitude as a 0th-order Exp-Golomb code and,
/// unless 0, its sign (1: negative).
pub(super) fn write_coeff<S: BinSink>(s: &mut S, c: i16) {
    write_exp_golomb(s, c.unsigned_abs() as u32, 0);
    if c != 0 {
        s.bypass(c < 0);
    }
}

/// Writes a frame's filter: for each plane `alf_enabled`, then (when on) the
/// coefficients and the superblock flags.
pub(crate) fn write<S: BinSink>(s: &mut S, f: &AlfFrame, cols: usize) {
    let mut ctx = FlagContexts::default();
    for p in 0..3 {
        s.bypass(f.coeffs[p].is_some());
        let Some(coeffs) = &f.coeffs[p] else {
            continue;
        };
        for &c in coeffs {
            write_coeff(s, c);
        }
        for i in 0..f.sb[p].len() {
            let c = flag_ctx(&f.sb[p], cols, i);
            s.encode(&mut ctx.0[p][c], f.sb[p][i]);
        }
    }
}

/// Reads a frame's filter (`cols` x `rows` superblocks); coefficients
/// outside `-128..=127` are refused by name.
pub(crate) fn read(
    d: &mut RangeDecoder,
    cols: usize,
    rows: usize,
) -> Result<AlfFrame, BitstreamError> {
    let mut ctx = FlagContexts::default();
    let mut f = AlfFrame::default();
    let bad = |value: i64| BitstreamError::InvalidField {
        field: "alf_coeff",
        value,
        allowed: "-128..=127",
    };
    for p in 0..3 {
        if !d.bypass() {
            continue;
        }
        let mut coeffs = Vec::with_capacity(taps(p).len());
        for _ in 0..taps(p).len() {
            let abs = read_exp_golomb(d, 0).ok_or(bad(i64::MAX))? as i64;
            if abs > -(COEFF_MIN as i64) {
                return Err(bad(abs));
            }
            let c = if abs != 0 && d.bypass() { -abs } else { abs };
            if c > COEFF_MAX as i64 {
                return Err(bad(c));
            }
            coeffs.push(c as i16);
        }
        let mut flags = vec![false; cols * rows];
        for i in 0..flags.len() {
            let c = flag_ctx(&flags, cols, i);
            flags[i] = d.decode(&mut ctx.0[p][c]);
        }
        f.coeffs[p] = Some(coeffs);
        f.sb[p] = flags;
    }
    Ok(f)
}
