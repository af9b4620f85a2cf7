//! Symmetric motion vector differences (`docs/bitstream.md` 4.6, 4.7): a
//! bi-predicted CU with explicit motion may take the frame's symmetric pair of
//! references (the nearest picture before and the nearest after the current
//! one, one in each list) and code one difference, list 1's being its
//! negation; no reference index is sent.

use super::mvp::RefLists;
use crate::entropy::{BinSink, Contexts, RangeDecoder};
use crate::picture::Mv;

/// The frame's symmetric pair of reference indices `[list 0, list 1]`: in
/// list 0 the nearest picture before the current one and in list 1 the
/// nearest after it; failing that, list 0's nearest after and list 1's
/// nearest before; `None` when neither pair exists (no flag is then coded).
/// Of entries with the same POC the first counts.
pub fn symmetric_pair(lists: &RefLists) -> Option<[usize; 2]> {
    if !lists.is_b() {
        return None;
    }
    // Index of the entry of list `l` nearest the current picture on one side.
    let nearest = |l: usize, before: bool| -> Option<usize> {
        let mut best: Option<(i64, usize)> = None;
        for (i, &poc) in lists.poc[l][..lists.len[l]].iter().enumerate() {
            let d = if before {
                lists.cur_poc - poc
            } else {
                poc - lists.cur_poc
            };
            if d > 0 && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, i));
            }
        }
        best.map(|(_, i)| i)
    };
    if let (Some(r0), Some(r1)) = (nearest(0, true), nearest(1, false)) {
        return Some([r0, r1]);
    }
    match (nearest(0, false), nearest(1, true)) {
        (Some(r0), Some(r1)) => Some([r0, r1]),
        _ => None,
    }
}

/// The two vectors of a symmetric CU: list 0's predictor plus the difference,
/// list 1's minus it (differences in quarter samples, predictors already
/// rounded to the CU's resolution); `None` when a component leaves
/// -32768..=32767.
pub fn vectors(pred: [Mv; 2], mvd: (i64, i64)) -> Option<[Mv; 2]> {
    let v = |p: Mv, sign: i64| -> Option<Mv> {
        let x = i64::from(p.x) + sign * mvd.0;
        let y = i64::from(p.y) + sign * mvd.1;
        Mv::checked(i32::try_from(x).ok()?, i32::try_from(y).ok()?)
    };
    Some([v(pred[0], 1)?, v(pred[1], -1)?])
}

/// sym_mvd_flag.
pub fn write_flag<S: BinSink>(s: &mut S, ctx: &mut Contexts, symmetric: bool) {
    s.encode(&mut ctx.smvd[0], symmetric);
}

/// Reads sym_mvd_flag.
pub fn read_flag(d: &mut RangeDecoder, ctx: &mut Contexts) -> bool {
    d.decode(&mut ctx.smvd[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::RangeEncoder;

    fn lists(l0: &[i64], l1: &[i64], cur: i64) -> RefLists {
        let mut poc = [[0i64; 4]; 2];
        poc[0][..l0.len()].copy_from_slice(l0);
        poc[1][..l1.len()].copy_from_slice(l1);
        RefLists {
            poc,
            len: [l0.len(), l1.len()],
            cur_poc: cur,
        }
    }

    #[test]
    fn pair_is_the_nearest_picture_on_each_side() {
        // Random access: list 0 holds 0 and 8 before 4... and 16 after it.
        assert_eq!(
            symmetric_pair(&lists(&[0, 2, 8], &[8, 16, 2], 4)),
            Some([1, 0])
        );
        // Ties keep the first entry.
        assert_eq!(symmetric_pair(&lists(&[2, 2], &[6, 6], 4)), Some([0, 0]));
        // Nothing after the current picture in list 1, but list 0 has a
        // later picture and list 1 an earlier one: the swapped pair.
        assert_eq!(symmetric_pair(&lists(&[3, 8, 6], &[2, 1], 4)), Some([2, 0]));
        // Low delay: every reference before the current picture.
        assert_eq!(symmetric_pair(&lists(&[3, 2], &[3, 2], 4)), None);
        // P frames have no pair.
        assert_eq!(symmetric_pair(&lists(&[3, 8], &[], 4)), None);
    }

    #[test]
    fn list_one_takes_the_negated_difference() {
        let p = [Mv { x: 10, y: -4 }, Mv { x: -8, y: 12 }];
        assert_eq!(
            vectors(p, (5, -16)),
            Some([Mv { x: 15, y: -20 }, Mv { x: -13, y: 28 }])
        );
        assert_eq!(vectors(p, (40000, 0)), None);
        assert_eq!(vectors([Mv { x: 0, y: 0 }; 2], (-32768, 0)), None);
    }

    #[test]
    fn flag_reads_back() {
        let mut enc = RangeEncoder::new();
        let mut ctx = Contexts::default();
        let seq = [true, false, false, true, true, false];
        for &f in &seq {
            write_flag(&mut enc, &mut ctx, f);
        }
        let bytes = enc.finish();
        let mut dec = RangeDecoder::new(&bytes);
        let mut ctx = Contexts::default();
        for &f in &seq {
            assert_eq!(read_flag(&mut dec, &mut ctx), f);
        }
    }
}
