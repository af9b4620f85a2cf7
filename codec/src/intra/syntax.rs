//! Intra mode syntax (`docs/bitstream.md` 4.1-4.3): the 4x4 split flag of
//! 8x8 CUs, the luma mode with its three most probable modes and the
//! learned mode's flag, and the chroma mode with its candidates.

use super::cclm::{LM_INDEX, LM_MODE};
use super::learned::{IntraPredictor, MIN_LOG2, NN_MODE};
use crate::dsp::intra::{DC, HOR, PLANAR, VER};
use crate::entropy::{BinSink, Contexts, RangeDecoder};
use crate::picture::{PicState, SB_LOG2};

/// The luma modes of the left and above neighbours of (`x`, `y`) that
/// mode coding reads: the above one only inside the same superblock row
/// (so decoders keep no line buffer of modes).
fn neighbour_modes(st: &PicState, x: usize, y: usize) -> [Option<u8>; 2] {
    let w4 = st.w / 4;
    let left = (x > 0).then(|| st.luma_modes[(y / 4) * w4 + x / 4 - 1]);
    let above = (y > 0 && ((y - 1) >> SB_LOG2) == (y >> SB_LOG2))
        .then(|| st.luma_modes[(y / 4 - 1) * w4 + x / 4]);
    [left, above]
}

/// The three most probable modes for a luma block at (`x`, `y`): the left
/// and above neighbours' modes, with the above one only inside the same
/// superblock row (so decoders keep no line buffer of modes).
pub fn mpm(st: &PicState, x: usize, y: usize) -> [u8; 3] {
    // Missing neighbours count as DC, the learned mode as planar.
    let plain = |m: Option<u8>| match m {
        None => DC,
        Some(NN_MODE) => PLANAR,
        Some(m) => m,
    };
    let [left, above] = neighbour_modes(st, x, y);
    mpm_list(plain(left), plain(above))
}

/// Context index of the learned-mode flag of the luma block of side
/// `1 << log2n` at (`x`, `y`), or `None` where the flag is not coded (the
/// stream has no predictor: `learned` false, or the size has no network):
/// the size class times 3 plus how many of the left and above neighbours
/// (as for the most probable modes) use the learned mode.
pub fn nn_intra_ctx(st: &PicState, learned: bool, x: usize, y: usize, log2n: u32) -> Option<usize> {
    if !learned || !IntraPredictor::supports(log2n) {
        return None;
    }
    let [left, above] = neighbour_modes(st, x, y);
    let is_learned = |m: Option<u8>| (m == Some(NN_MODE)) as usize;
    Some((log2n - MIN_LOG2) as usize * 3 + is_learned(left) + is_learned(above))
}

/// The three most probable luma modes from the left and above neighbours' modes.
pub fn mpm_list(left: u8, above: u8) -> [u8; 3] {
    if left == above {
        if left < 2 {
            [PLANAR, DC, VER]
        } else {
            [left, 2 + ((left + 29) % 32), 2 + ((left - 2 + 1) % 32)]
        }
    } else {
        let third = if left != PLANAR && above != PLANAR {
            PLANAR
        } else if left != DC && above != DC {
            DC
        } else {
            VER
        };
        [left, above, third]
    }
}

/// The four explicit chroma candidates for a given luma mode; index 4 is the
/// derived mode (the luma mode itself), index 5 ([`LM_INDEX`]) the
/// cross-component mode LM, coded only with `tool_flags` bit 8.
pub fn chroma_candidates(luma_mode: u8) -> [u8; 6] {
    // The learned luma mode derives planar for chroma.
    let luma_mode = if luma_mode == NN_MODE {
        PLANAR
    } else {
        luma_mode
    };
    let mut c = [PLANAR, VER, HOR, DC, luma_mode, LM_MODE];
    for m in c.iter_mut().take(4) {
        if *m == luma_mode {
            *m = 34;
        }
    }
    c
}

/// intra_nxn_flag.
pub fn write_nxn<S: BinSink>(s: &mut S, ctx: &mut Contexts, nxn: bool) {
    s.encode(&mut ctx.nxn[0], nxn);
}

/// Reads intra_nxn_flag.
pub fn read_nxn(d: &mut RangeDecoder, ctx: &mut Contexts) -> bool {
    d.decode(&mut ctx.nxn[0])
}

/// A luma intra mode given its most probable modes.
pub fn write_luma_mode<S: BinSink>(s: &mut S, ctx: &mut Contexts, mode: u8, mpm: &[u8; 3]) {
    if let Some(i) = mpm.iter().position(|&m| m == mode) {
        s.encode(&mut ctx.mpm[0], true);
        s.bypass(i > 0);
        if i > 0 {
            s.bypass(i > 1);
        }
    } else {
        s.encode(&mut ctx.mpm[0], false);
        let below = mpm.iter().filter(|&&m| m < mode).count() as u8;
        s.bypass_bits((mode - below) as u32, 5);
    }
}

/// Reads a luma intra mode.
pub fn read_luma_mode(d: &mut RangeDecoder, ctx: &mut Contexts, mpm: &[u8; 3]) -> u8 {
    if d.decode(&mut ctx.mpm[0]) {
        let i = if !d.bypass() {
            0
        } else if !d.bypass() {
            1
        } else {
            2
        };
        mpm[i]
    } else {
        let mut sorted = *mpm;
        sorted.sort_unstable();
        let mut mode = d.bypass_bits(5) as u8;
        for m in sorted {
            if mode >= m {
                mode += 1;
            }
        }
        mode
    }
}

/// A luma intra mode, preceded by nn_intra_flag where it is coded
/// (`nn_ctx`: its context, from [`nn_intra_ctx`]).
pub fn write_intra_luma<S: BinSink>(
    s: &mut S,
    ctx: &mut Contexts,
    mode: u8,
    mpm: &[u8; 3],
    nn_ctx: Option<usize>,
) {
    if let Some(c) = nn_ctx {
        s.encode(&mut ctx.nn_intra[c], mode == NN_MODE);
        if mode == NN_MODE {
            return;
        }
    }
    debug_assert!(mode != NN_MODE, "the learned mode where it cannot be coded");
    write_luma_mode(s, ctx, mode, mpm);
}

/// Reads a luma intra mode with its nn_intra_flag where that is coded.
pub fn read_intra_luma(
    d: &mut RangeDecoder,
    ctx: &mut Contexts,
    mpm: &[u8; 3],
    nn_ctx: Option<usize>,
) -> u8 {
    if let Some(c) = nn_ctx {
        if d.decode(&mut ctx.nn_intra[c]) {
            return NN_MODE;
        }
    }
    read_luma_mode(d, ctx, mpm)
}

/// The chroma mode as an index into [`chroma_candidates`] (4 = derived,
/// 5 = LM), preceded by cclm_flag where the stream allows LM (`cclm`).
pub fn write_chroma_mode<S: BinSink>(s: &mut S, ctx: &mut Contexts, index: u8, cclm: bool) {
    if cclm {
        s.encode(&mut ctx.cclm[0], index == LM_INDEX);
        if index == LM_INDEX {
            return;
        }
    }
    debug_assert!(index < LM_INDEX, "LM where it cannot be coded");
    s.encode(&mut ctx.chroma_mode[0], index != 4);
    if index != 4 {
        s.bypass_bits(index as u32, 2);
    }
}

/// Reads the chroma mode index (4 = derived, 5 = LM), with its cclm_flag
/// where the stream allows LM (`cclm`).
pub fn read_chroma_mode(d: &mut RangeDecoder, ctx: &mut Contexts, cclm: bool) -> u8 {
    if cclm && d.decode(&mut ctx.cclm[0]) {
        return LM_INDEX;
    }
    if d.decode(&mut ctx.chroma_mode[0]) {
        d.bypass_bits(2) as u8
    } else {
        4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mode map starts at DC (`picture` keeps its own copy of the
    /// number, since it imports no tool), and missing neighbours count as DC.
    #[test]
    fn a_fresh_picture_reads_as_dc() {
        let st = PicState::new(64, 64, 8);
        assert!(st.luma_modes.iter().all(|&m| m == DC));
        assert_eq!(mpm(&st, 0, 0), mpm_list(DC, DC));
        assert_eq!(mpm(&st, 0, 0), [PLANAR, DC, VER]);
    }

    /// The above neighbour counts only inside the superblock row; the
    /// learned mode reads as planar.
    #[test]
    fn most_probable_modes_read_the_neighbours() {
        let mut st = PicState::new(128, 128, 8);
        st.set_mode(60, 64, 4, 4, HOR);
        st.set_mode(64, 60, 4, 4, 30);
        assert_eq!(mpm(&st, 64, 64), mpm_list(HOR, DC), "above is another row");
        st.set_mode(64, 68, 4, 4, NN_MODE);
        assert_eq!(mpm(&st, 64, 72), mpm_list(DC, PLANAR));
        assert_eq!(nn_intra_ctx(&st, true, 64, 72, 2), Some(1));
        assert_eq!(nn_intra_ctx(&st, false, 64, 72, 2), None);
        assert_eq!(nn_intra_ctx(&st, true, 64, 72, 5), None, "no 32x32 network");
    }

    /// Every chroma index survives a round trip with and without LM; with
    /// LM off the syntax is the old one (cclm_flag absent, its context untouched).
    #[test]
    fn chroma_modes_round_trip() {
        use crate::entropy::RangeEncoder;
        for cclm in [false, true] {
            let indices: Vec<u8> = (0..40u32)
                .map(|i| ((i * 7 + 3) % (5 + cclm as u32)) as u8)
                .collect();
            let mut enc = RangeEncoder::new();
            let mut ctx = Contexts::default();
            for &i in &indices {
                write_chroma_mode(&mut enc, &mut ctx, i, cclm);
            }
            assert_eq!(ctx.cclm[0] != Contexts::default().cclm[0], cclm);
            let bytes = enc.finish();
            let mut dec = RangeDecoder::new(&bytes);
            let mut ctx = Contexts::default();
            for &i in &indices {
                assert_eq!(read_chroma_mode(&mut dec, &mut ctx, cclm), i);
            }
            assert_eq!(dec.consumed(), bytes.len());
        }
        assert_eq!(chroma_candidates(HOR)[LM_INDEX as usize], LM_MODE);
    }
}
