//! Merge with motion vector differences (`docs/bitstream.md` 4.6, 4.7): a merge CU may add
//! one of 32 offsets (8 distances x 4 directions) to merge candidate 0 or 1 instead of
//! taking a candidate as it is.

use super::mvp::{scale_mv, RefLists};
use crate::entropy::{BinSink, Contexts, RangeDecoder};
use crate::picture::{Motion, Mv};

/// Number of distances.
pub const DISTANCES: usize = 8;

/// Number of directions: +x, -x, +y, -y.
pub const DIRECTIONS: usize = 4;

/// An offset from a merge candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mmvd {
    /// The merge candidate it starts from (0 or 1).
    pub base: u8,
    /// Distance index: `1 << distance` quarter samples.
    pub distance: u8,
    /// Direction index: +x, -x, +y, -y.
    pub direction: u8,
}

impl Mmvd {
    /// The offset in quarter samples.
    pub fn offset(self) -> Mv {
        let d = 1i16 << self.distance;
        match self.direction {
            0 => Mv { x: d, y: 0 },
            1 => Mv { x: -d, y: 0 },
            2 => Mv { x: 0, y: d },
            _ => Mv { x: 0, y: -d },
        }
    }

    /// The motion of a CU with this offset from merge candidate `base`
    /// (4.7): a list used alone moves by the offset; with both lists, the
    /// list whose picture is farther from the current one moves by it and the
    /// other by the offset scaled to its distance (the same offset at equal
    /// distances, mirrored on opposite sides).
    pub fn apply(self, base: &Motion, lists: &RefLists) -> Motion {
        let offset = self.offset();
        let add = |v: Mv, o: Mv| Mv {
            x: (i32::from(v.x) + i32::from(o.x)).clamp(-32768, 32767) as i16,
            y: (i32::from(v.y) + i32::from(o.y)).clamp(-32768, 32767) as i16,
        };
        let mut m = *base;
        match (base.uses(0), base.uses(1)) {
            (true, true) => {
                let d0 = lists.cur_poc - lists.poc_of(base, 0);
                let d1 = lists.cur_poc - lists.poc_of(base, 1);
                let (o0, o1) = if d0.abs() >= d1.abs() {
                    (offset, scale_mv(offset, d0, d1))
                } else {
                    (scale_mv(offset, d1, d0), offset)
                };
                m.mv = [add(m.mv[0], o0), add(m.mv[1], o1)];
            }
            (true, false) => m.mv[0] = add(m.mv[0], offset),
            (false, true) => m.mv[1] = add(m.mv[1], offset),
            (false, false) => {}
        }
        m
    }
}

/// mmvd_flag.
pub fn write_flag<S: BinSink>(s: &mut S, ctx: &mut Contexts, on: bool) {
    s.encode(&mut ctx.mmvd[0], on);
}

/// Reads mmvd_flag.
pub fn read_flag(d: &mut RangeDecoder, ctx: &mut Contexts) -> bool {
    d.decode(&mut ctx.mmvd[0])
}

/// mmvd_cand_flag, mmvd_distance_idx (truncated unary, cMax 7, first bin context coded)
/// and mmvd_direction_idx (two bypass bins).
pub fn write<S: BinSink>(s: &mut S, ctx: &mut Contexts, m: Mmvd) {
    s.encode(&mut ctx.mmvd[1], m.base == 1);
    for i in 0..DISTANCES - 1 {
        let bin = usize::from(m.distance) > i;
        if i == 0 {
            s.encode(&mut ctx.mmvd[2], bin);
        } else {
            s.bypass(bin);
        }
        if !bin {
            break;
        }
    }
    s.bypass(m.direction >> 1 != 0);
    s.bypass(m.direction & 1 != 0);
}

/// Reads what [`write`] writes.
pub fn read(d: &mut RangeDecoder, ctx: &mut Contexts) -> Mmvd {
    let base = u8::from(d.decode(&mut ctx.mmvd[1]));
    let mut distance = 0;
    while usize::from(distance) < DISTANCES - 1 {
        let bin = if distance == 0 {
            d.decode(&mut ctx.mmvd[2])
        } else {
            d.bypass()
        };
        if !bin {
            break;
        }
        distance += 1;
    }
    let direction = (u8::from(d.bypass()) << 1) | u8::from(d.bypass());
    Mmvd {
        base,
        distance,
        direction,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::RangeEncoder;

    #[test]
    fn syntax_reads_back() {
        let mut all = Vec::new();
        for base in 0..2 {
            for distance in 0..DISTANCES as u8 {
                for direction in 0..DIRECTIONS as u8 {
                    all.push(Mmvd {
                        base,
                        distance,
                        direction,
                    });
                }
            }
        }
        let mut enc = RangeEncoder::new();
        let mut ctx = Contexts::default();
        for (i, &m) in all.iter().enumerate() {
            write_flag(&mut enc, &mut ctx, i % 3 != 0);
            write(&mut enc, &mut ctx, m);
        }
        let bytes = enc.finish();
        let mut dec = RangeDecoder::new(&bytes);
        let mut ctx = Contexts::default();
        for (i, &m) in all.iter().enumerate() {
            assert_eq!(read_flag(&mut dec, &mut ctx), i % 3 != 0);
            assert_eq!(read(&mut dec, &mut ctx), m);
        }
    }

    #[test]
    fn offsets_follow_the_pictures() {
        let lists = RefLists {
            poc: [[4, 0, 0, 0], [12, 16, 0, 0]],
            len: [2, 2],
            cur_poc: 8,
        };
        let o = Mmvd {
            base: 0,
            distance: 3,
            direction: 1,
        }; // -x by 8 quarter samples
        let v = |x: i16, y: i16| Mv { x, y };
        // Equal distances on both sides: mirrored.
        let bi = Motion {
            ref_idx: [0, 0],
            mv: [v(10, 10), v(-10, -10)],
        };
        assert_eq!(o.apply(&bi, &lists).mv, [v(2, 10), v(-2, -10)]);
        // List 1 twice as far (POC 16): it takes the offset, list 0 half of it mirrored.
        let far = Motion {
            ref_idx: [0, 1],
            mv: [v(0, 0), v(0, 0)],
        };
        assert_eq!(o.apply(&far, &lists).mv, [v(4, 0), v(-8, 0)]);
        // Uni-prediction: the offset alone.
        let uni = Motion::uni(1, 0, v(1, 1));
        let m = Mmvd {
            base: 1,
            distance: 0,
            direction: 2,
        };
        assert_eq!(m.apply(&uni, &lists).mv[1], v(1, 2));
        assert_eq!(m.apply(&uni, &lists).ref_idx, uni.ref_idx);
        // Components saturate.
        let edge = Motion::uni(0, 0, v(32767, -32768));
        let big = Mmvd {
            base: 0,
            distance: 7,
            direction: 0,
        };
        assert_eq!(big.apply(&edge, &lists).mv[0], v(32767, -32768));
    }
}
