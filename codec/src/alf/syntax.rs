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

/// Bits of a luma filter index among `filters`.
pub(super) fn map_bits(filters: usize) -> u32 {
    usize::BITS - (filters - 1).leading_zeros()
}

/// Writes the number of luma filters (less one, Exp-Golomb) and, when
/// there are several, each class's filter index in `map_bits` bypass bins.
pub(super) fn write_luma_map<S: BinSink>(s: &mut S, filters: usize, map: &[u8; CLASSES]) {
    write_exp_golomb(s, filters as u32 - 1, 0);
    if filters > 1 {
        for &m in map {
            s.bypass_bits(m as u32, map_bits(filters));
        }
    }
}

/// Writes a frame's filter: for each plane `alf_enabled`, then (when on,
/// for luma) the filter count and class map, the coefficients and the
/// superblock flags.
pub(crate) fn write<S: BinSink>(s: &mut S, f: &AlfFrame, cols: usize) {
    let mut ctx = FlagContexts::default();
    for p in 0..3 {
        s.bypass(f.coeffs[p].is_some());
        let Some(coeffs) = &f.coeffs[p] else {
            continue;
        };
        if p == 0 {
            write_luma_map(s, coeffs.len() / taps(0).len(), &f.luma_map);
        }
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
/// outside `-128..=127`, more than 25 luma filters and filter indices
/// beyond them are refused by name.
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
        let mut filters = 1;
        if p == 0 {
            let n = read_exp_golomb(d, 0).map_or(u32::MAX, |v| v.saturating_add(1));
            if n as usize > CLASSES {
                return Err(BitstreamError::InvalidField {
                    field: "alf_luma_filters_minus1",
                    value: n as i64 - 1,
                    allowed: "0..=24",
                });
            }
            filters = n as usize;
            if filters > 1 {
                for m in f.luma_map.iter_mut() {
                    let v = d.bypass_bits(map_bits(filters));
                    if v as usize >= filters {
                        return Err(BitstreamError::InvalidField {
                            field: "alf_luma_filter_idx",
                            value: v as i64,
                            allowed: "below the number of luma filters",
                        });
                    }
                    *m = v as u8;
                }
            }
        }
        let mut coeffs = Vec::with_capacity(filters * taps(p).len());
        for _ in 0..filters * taps(p).len() {
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
