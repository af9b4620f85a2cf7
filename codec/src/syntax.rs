//! Block-level syntax: binarisation and context selection of every element
//! below the frame header, written once for the encoder (generic over
//! [`BinSink`], so rate estimation runs the same code) and once for the
//! decoder, side by side so they can be checked against each other and
//! against `docs/bitstream.md`, section "Block syntax".

use crate::context_init::CONTEXT_INIT;
use crate::dsp::intra::{DC, HOR, PLANAR, VER};
use crate::entropy::{BinSink, Context, RangeDecoder};
use crate::mv::{Mv, MERGE_CANDIDATES};
use crate::nn_intra::NN_MODE;
use crate::tables::{scan, ScanKind, LAST_GROUP_INDEX, LAST_GROUP_MIN};

/// Largest coefficient level magnitude a stream may carry.
pub const MAX_LEVEL: i32 = 32767;
/// Longest escape prefix: 3 unary Rice bins plus 16 Exp-Golomb bins.
const MAX_ESCAPE_PREFIX: u32 = 3 + 16;

/// Every context array of the block syntax (named as in `docs/bitstream.md`)
/// and its length, in the order of the initialisation tables
/// (`docs/context-init.md`); `nn_filter[k][c]` is entry `3k + c`.
pub const CONTEXT_ELEMENTS: [(&str, usize); 24] = [
    ("split", 9),
    ("nxn", 1),
    ("mpm", 1),
    ("chroma_mode", 1),
    ("cbf_luma", 4),
    ("cbf_cb", 4),
    ("cbf_cr", 8),
    ("last_x", 18),
    ("last_y", 18),
    ("coded_group", 4),
    ("sig", 42),
    ("gt1", 24),
    ("gt2", 6),
    ("skip", 3),
    ("intra", 1),
    ("merge", 1),
    ("merge_idx", 1),
    ("inter_dir", 5),
    ("ref_idx", 2),
    ("mvd", 2),
    ("mvp", 1),
    ("root_cbf", 1),
    ("nn_filter", 6),
    ("nn_intra", 9),
];

/// Number of adaptive contexts (172).
pub const NUM_CONTEXTS: usize = {
    let (mut n, mut i) = (0, 0);
    while i < CONTEXT_ELEMENTS.len() {
        n += CONTEXT_ELEMENTS[i].1;
        i += 1;
    }
    n
};

/// Every adaptive context of the block syntax.
#[derive(Clone)]
pub struct Contexts {
    /// split_cu_flag: 3 size classes x 3 neighbour counts.
    pub split: [Context; 9],
    /// intra_nxn_flag (8x8 CUs only).
    pub nxn: [Context; 1],
    /// mpm_flag.
    pub mpm: [Context; 1],
    /// First bin of chroma_mode (derived mode or not).
    pub chroma_mode: [Context; 1],
    /// cbf_luma by transform size (4..32).
    pub cbf_luma: [Context; 4],
    /// cbf_cb by transform size.
    pub cbf_cb: [Context; 4],
    /// cbf_cr by transform size and cbf_cb.
    pub cbf_cr: [Context; 8],
    /// last_x_prefix: 15 luma + 3 chroma.
    pub last_x: [Context; 18],
    /// last_y_prefix.
    pub last_y: [Context; 18],
    /// coded_group_flag: 2 luma + 2 chroma.
    pub coded_group: [Context; 4],
    /// sig_coeff_flag: 27 luma + 15 chroma.
    pub sig: [Context; 42],
    /// greater1_flag: 16 luma + 8 chroma.
    pub gt1: [Context; 24],
    /// greater2_flag: 4 luma + 2 chroma.
    pub gt2: [Context; 6],
    /// skip_flag by the number of skipped neighbours (left, above).
    pub skip: [Context; 3],
    /// intra_flag (inter frames).
    pub intra: [Context; 1],
    /// merge_flag.
    pub merge: [Context; 1],
    /// First bin of merge_idx.
    pub merge_idx: [Context; 1],
    /// inter_dir: bi-prediction flag by CU size (8..64), then list-1 flag.
    pub inter_dir: [Context; 5],
    /// First two bins of ref_idx.
    pub ref_idx: [Context; 2],
    /// mvd_greater0 and mvd_greater1.
    pub mvd: [Context; 2],
    /// mvp_flag.
    pub mvp: [Context; 1],
    /// root_cbf.
    pub root_cbf: [Context; 1],
    /// Learned loop filter superblock flags: luma, chroma; by neighbours on.
    pub nn_filter: [[Context; 3]; 2],
    /// nn_intra_flag: 3 block sizes x neighbours using the learned mode.
    pub nn_intra: [Context; 9],
}

/// Number of QP classes of the context initialisation tables.
pub const CONTEXT_QP_CLASSES: usize = 5;

/// The QP class of a frame (`docs/bitstream.md` 3): QP below 25, 25..29,
/// 30..34, 35..39, 40 and above.
pub fn context_qp_class(qp: u8) -> usize {
    ((qp.max(20) - 20) / 5).min(CONTEXT_QP_CLASSES as u8 - 1) as usize
}

/// The lowest and highest QP of a class (for the tables' comments).
pub fn context_qp_class_range(class: usize) -> (u8, u8) {
    let mut qps = (0..=crate::tables::MAX_QP).filter(|&q| context_qp_class(q) == class);
    let first = qps.next().expect("every class holds a QP");
    (first, qps.next_back().unwrap_or(first))
}

impl Contexts {
    /// The contexts at the start of a frame (`docs/bitstream.md` 3): with
    /// `trained`, the initialisation table of its frame type (KEY or INTER)
    /// and QP class; otherwise every context at one half.
    pub fn for_frame(trained: bool, key: bool, qp: u8) -> Contexts {
        let mut ctx = Contexts::default();
        if !trained {
            return ctx;
        }
        let table = &CONTEXT_INIT[key as usize][context_qp_class(qp)];
        for (c, &p0) in ctx.iter_mut().zip(table) {
            *c = Context::with_p0(p0);
        }
        ctx
    }

    /// Every context, in the order of [`CONTEXT_ELEMENTS`].
    pub fn iter(&self) -> impl Iterator<Item = &Context> {
        self.split
            .iter()
            .chain(&self.nxn)
            .chain(&self.mpm)
            .chain(&self.chroma_mode)
            .chain(&self.cbf_luma)
            .chain(&self.cbf_cb)
            .chain(&self.cbf_cr)
            .chain(&self.last_x)
            .chain(&self.last_y)
            .chain(&self.coded_group)
            .chain(&self.sig)
            .chain(&self.gt1)
            .chain(&self.gt2)
            .chain(&self.skip)
            .chain(&self.intra)
            .chain(&self.merge)
            .chain(&self.merge_idx)
            .chain(&self.inter_dir)
            .chain(&self.ref_idx)
            .chain(&self.mvd)
            .chain(&self.mvp)
            .chain(&self.root_cbf)
            .chain(self.nn_filter.iter().flatten())
            .chain(&self.nn_intra)
    }

    /// Every context, mutably, in the order of [`CONTEXT_ELEMENTS`].
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Context> {
        self.split
            .iter_mut()
            .chain(&mut self.nxn)
            .chain(&mut self.mpm)
            .chain(&mut self.chroma_mode)
            .chain(&mut self.cbf_luma)
            .chain(&mut self.cbf_cb)
            .chain(&mut self.cbf_cr)
            .chain(&mut self.last_x)
            .chain(&mut self.last_y)
            .chain(&mut self.coded_group)
            .chain(&mut self.sig)
            .chain(&mut self.gt1)
            .chain(&mut self.gt2)
            .chain(&mut self.skip)
            .chain(&mut self.intra)
            .chain(&mut self.merge)
            .chain(&mut self.merge_idx)
            .chain(&mut self.inter_dir)
            .chain(&mut self.ref_idx)
            .chain(&mut self.mvd)
            .chain(&mut self.mvp)
            .chain(&mut self.root_cbf)
            .chain(self.nn_filter.iter_mut().flatten())
            .chain(&mut self.nn_intra)
    }
}

/// Every context at probability one half (tests; streams start from
/// [`Contexts::for_frame`]).
impl Default for Contexts {
    fn default() -> Self {
        let c = Context::new();
        Contexts {
            split: [c; 9],
            nxn: [c; 1],
            mpm: [c; 1],
            chroma_mode: [c; 1],
            cbf_luma: [c; 4],
            cbf_cb: [c; 4],
            cbf_cr: [c; 8],
            last_x: [c; 18],
            last_y: [c; 18],
            coded_group: [c; 4],
            sig: [c; 42],
            gt1: [c; 24],
            gt2: [c; 6],
            skip: [c; 3],
            intra: [c; 1],
            merge: [c; 1],
            merge_idx: [c; 1],
            inter_dir: [c; 5],
            ref_idx: [c; 2],
            mvd: [c; 2],
            mvp: [c; 1],
            root_cbf: [c; 1],
            nn_filter: [[c; 3]; 2],
            nn_intra: [c; 9],
        }
    }
}

/// Context index of split_cu_flag: size class and how many of the left and
/// above CUs are smaller than this node.
pub fn split_ctx(log2: u32, left_smaller: bool, above_smaller: bool) -> usize {
    let class = (6 - log2.clamp(4, 6)) as usize; // 64 -> 0, 32 -> 1, 16 -> 2
    class * 3 + left_smaller as usize + above_smaller as usize
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
/// derived mode (the luma mode itself).
pub fn chroma_candidates(luma_mode: u8) -> [u8; 5] {
    // The learned luma mode derives planar for chroma.
    let luma_mode = if luma_mode == NN_MODE {
        PLANAR
    } else {
        luma_mode
    };
    let mut c = [PLANAR, VER, HOR, DC, luma_mode];
    for m in c.iter_mut().take(4) {
        if *m == luma_mode {
            *m = 34;
        }
    }
    c
}

/// Mode-dependent coefficient scan: small intra blocks with near-horizontal or
/// near-vertical prediction leave residual energy along rows or columns.
pub fn scan_for(mode: u8, log2n: u32, chroma: bool) -> ScanKind {
    let small = if chroma { log2n == 2 } else { log2n <= 3 };
    if small && (6..=14).contains(&mode) {
        ScanKind::Vertical
    } else if small && (22..=30).contains(&mode) {
        ScanKind::Horizontal
    } else {
        ScanKind::Diagonal
    }
}

// ---------------------------------------------------------------- writers

/// split_cu_flag.
pub fn write_split<S: BinSink>(s: &mut S, ctx: &mut Contexts, ctx_idx: usize, split: bool) {
    s.encode(&mut ctx.split[ctx_idx], split);
}

/// intra_nxn_flag.
pub fn write_nxn<S: BinSink>(s: &mut S, ctx: &mut Contexts, nxn: bool) {
    s.encode(&mut ctx.nxn[0], nxn);
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

/// A luma intra mode, preceded by nn_intra_flag where it is coded
/// (`nn_ctx`: its context, from [`crate::recon::PicState::nn_intra_ctx`]).
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

/// The chroma mode as an index into [`chroma_candidates`] (4 = derived).
pub fn write_chroma_mode<S: BinSink>(s: &mut S, ctx: &mut Contexts, index: u8) {
    s.encode(&mut ctx.chroma_mode[0], index != 4);
    if index != 4 {
        s.bypass_bits(index as u32, 2);
    }
}

/// Coded-block flags. `plane`: 0 luma, 1 Cb, 2 Cr; `cb_coded` is Cb's flag (for Cr).
pub fn write_cbf<S: BinSink>(
    s: &mut S,
    ctx: &mut Contexts,
    plane: usize,
    log2n: u32,
    cb_coded: bool,
    cbf: bool,
) {
    let c = cbf_context(ctx, plane, log2n, cb_coded);
    s.encode(c, cbf);
}

fn cbf_context(ctx: &mut Contexts, plane: usize, log2n: u32, cb_coded: bool) -> &mut Context {
    let size = log2n as usize - 2;
    match plane {
        0 => &mut ctx.cbf_luma[size],
        1 => &mut ctx.cbf_cb[size],
        _ => &mut ctx.cbf_cr[size + 4 * cb_coded as usize],
    }
}

fn last_ctx_params(log2n: u32, chroma: bool) -> (usize, u32) {
    if chroma {
        (15, log2n - 2)
    } else {
        (
            3 * (log2n as usize - 2) + ((log2n as usize - 1) >> 2),
            (log2n + 1) >> 2,
        )
    }
}

fn write_last_coord<S: BinSink>(
    s: &mut S,
    ctxs: &mut [Context; 18],
    pos: u32,
    log2n: u32,
    chroma: bool,
) {
    let (offset, shift) = last_ctx_params(log2n, chroma);
    let prefix = LAST_GROUP_INDEX[pos as usize] as u32;
    let max_prefix = LAST_GROUP_INDEX[(1usize << log2n) - 1] as u32;
    for i in 0..prefix {
        s.encode(&mut ctxs[offset + (i >> shift) as usize], true);
    }
    if prefix < max_prefix {
        s.encode(&mut ctxs[offset + (prefix >> shift) as usize], false);
    }
    if prefix > 3 {
        let len = (prefix >> 1) - 1;
        s.bypass_bits(pos - LAST_GROUP_MIN[prefix as usize] as u32, len);
    }
}

/// Context of sig_coeff_flag at (x, y) of a block.
#[inline]
pub fn sig_ctx(
    x: usize,
    y: usize,
    log2n: u32,
    chroma: bool,
    neighbour_groups: u8,
    scan_kind: ScanKind,
) -> usize {
    const MAP_4X4: [u8; 16] = [0, 1, 4, 5, 2, 3, 4, 5, 6, 6, 8, 8, 7, 7, 8, 8];
    let c = if log2n == 2 {
        MAP_4X4[(y << 2) + x] as usize
    } else if x + y == 0 {
        0
    } else {
        let (xp, yp) = (x & 3, y & 3);
        let mut c = match neighbour_groups {
            0 => match xp + yp {
                0 => 2,
                1 | 2 => 1,
                _ => 0,
            },
            1 => [2, 1, 0, 0][yp],
            2 => [2, 1, 0, 0][xp],
            _ => 2,
        };
        if chroma {
            c += if log2n == 3 { 9 } else { 12 };
        } else {
            if (x >> 2) + (y >> 2) > 0 {
                c += 3;
            }
            c += if log2n == 3 {
                if scan_kind == ScanKind::Diagonal {
                    9
                } else {
                    15
                }
            } else {
                21
            };
        }
        c
    };
    if chroma {
        27 + c
    } else {
        c
    }
}

/// Writes the Rice/Exp-Golomb escape of a level remainder.
pub fn write_escape<S: BinSink>(s: &mut S, value: u32, rice: u32) {
    if value < (3 << rice) {
        let prefix = value >> rice;
        for _ in 0..prefix {
            s.bypass(true);
        }
        s.bypass(false);
        s.bypass_bits(value & ((1 << rice) - 1), rice);
    } else {
        let mut rest = value - (3 << rice);
        let mut len = rice;
        while rest >= (1 << len) {
            rest -= 1 << len;
            len += 1;
        }
        for _ in 0..(3 + len - rice) {
            s.bypass(true);
        }
        s.bypass(false);
        s.bypass_bits(rest, len);
    }
}

/// Bookkeeping of a residual block while it is written or read: which 4x4
/// groups are coded, for the sig_coeff_flag and coded_group_flag contexts.
struct GroupMap {
    side: usize,
    coded: [bool; 64],
}

impl GroupMap {
    fn new(log2n: u32) -> GroupMap {
        GroupMap {
            side: 1 << (log2n - 2),
            coded: [false; 64],
        }
    }
    fn get(&self, gx: usize, gy: usize) -> bool {
        gx < self.side && gy < self.side && self.coded[gy * self.side + gx]
    }
    fn set(&mut self, gx: usize, gy: usize) {
        self.coded[gy * self.side + gx] = true;
    }
    /// Bit 0: group to the right is coded; bit 1: group below is coded.
    fn neighbours(&self, gx: usize, gy: usize) -> u8 {
        self.get(gx + 1, gy) as u8 | (self.get(gx, gy + 1) as u8) << 1
    }
}

/// Rice parameter update after coding an escape for a coefficient of `abs`.
#[inline]
pub fn next_rice(rice: u32, abs: u32) -> u32 {
    if abs > 3 * (1 << rice) {
        (rice + 1).min(4)
    } else {
        rice
    }
}

/// Writes a non-empty residual block of levels (`n*n`, row-major).
pub fn write_residual<S: BinSink>(
    s: &mut S,
    ctx: &mut Contexts,
    levels: &[i16],
    log2n: u32,
    chroma: bool,
    scan_kind: ScanKind,
) {
    let n = 1usize << log2n;
    let sc = scan(scan_kind, log2n);
    let at = |g: usize, p: usize| -> (usize, usize) {
        let (gx, gy) = sc.groups[g];
        let (x, y) = sc.in_group[p];
        (gx as usize * 4 + x as usize, gy as usize * 4 + y as usize)
    };
    // Last significant coefficient in scan order.
    let mut last = None;
    'find: for g in (0..sc.groups.len()).rev() {
        for p in (0..16).rev() {
            let (x, y) = at(g, p);
            if levels[y * n + x] != 0 {
                last = Some((g, p));
                break 'find;
            }
        }
    }
    let (last_g, last_p) = last.expect("write_residual needs a non-zero level");
    let (lx, ly) = at(last_g, last_p);
    let (cx, cy) = if scan_kind == ScanKind::Vertical {
        (ly, lx)
    } else {
        (lx, ly)
    };
    write_last_coord(s, &mut ctx.last_x, cx as u32, log2n, chroma);
    write_last_coord(s, &mut ctx.last_y, cy as u32, log2n, chroma);

    let mut groups = GroupMap::new(log2n);
    let mut c1 = 1u32;
    let chroma_off = if chroma { 2 } else { 0 };
    for g in (0..=last_g).rev() {
        let (gx, gy) = (sc.groups[g].0 as usize, sc.groups[g].1 as usize);
        let nb = groups.neighbours(gx, gy);
        let any = (0..16).any(|p| {
            let (x, y) = at(g, p);
            levels[y * n + x] != 0
        });
        let explicit = g < last_g && g > 0;
        if explicit {
            s.encode(&mut ctx.coded_group[chroma_off + (nb != 0) as usize], any);
            if !any {
                continue;
            }
        }
        groups.set(gx, gy);
        // Significance, from the highest scan position down.
        let top = if g == last_g { last_p } else { 16 };
        let mut nz: [(usize, u32); 16] = [(0, 0); 16];
        let mut count = 0;
        if g == last_g {
            let (x, y) = at(g, last_p);
            nz[0] = (y * n + x, levels[y * n + x].unsigned_abs() as u32);
            count = 1;
        }
        for p in (0..top).rev() {
            let (x, y) = at(g, p);
            let v = levels[y * n + x];
            if p == 0 && explicit && count == 0 {
                // Inferred significant: the group was signalled as coded.
                nz[count] = (y * n + x, v.unsigned_abs() as u32);
                count += 1;
                continue;
            }
            s.encode(
                &mut ctx.sig[sig_ctx(x, y, log2n, chroma, nb, scan_kind)],
                v != 0,
            );
            if v != 0 {
                nz[count] = (y * n + x, v.unsigned_abs() as u32);
                count += 1;
            }
        }
        // Levels.
        let mut ctx_set = if g > 0 && !chroma { 2 } else { 0 };
        if c1 == 0 {
            ctx_set += 1;
        }
        c1 = 1;
        let gt1_base = ctx_set * 4 + if chroma { 16 } else { 0 };
        let mut first_gt2 = None;
        for (i, &(_, abs)) in nz[..count.min(8)].iter().enumerate() {
            s.encode(&mut ctx.gt1[gt1_base + c1 as usize], abs > 1);
            if abs > 1 {
                c1 = 0;
                if first_gt2.is_none() {
                    first_gt2 = Some(i);
                }
            } else if c1 > 0 && c1 < 3 {
                c1 += 1;
            }
        }
        if let Some(i) = first_gt2 {
            s.encode(
                &mut ctx.gt2[ctx_set + if chroma { 4 } else { 0 }],
                nz[i].1 > 2,
            );
        }
        for &(pos, _) in &nz[..count] {
            s.bypass(levels[pos] < 0);
        }
        let mut rice = 0;
        for (i, &(_, abs)) in nz[..count].iter().enumerate() {
            let base = base_level(i, first_gt2);
            if abs >= base && escape_coded(i, first_gt2, &nz[..count]) {
                write_escape(s, abs - base, rice);
                rice = next_rice(rice, abs);
            }
        }
    }
}

/// The level a coefficient is known to reach from its flags.
#[inline]
fn base_level(i: usize, first_gt2: Option<usize>) -> u32 {
    if i >= 8 {
        1
    } else if Some(i) == first_gt2 {
        3
    } else {
        2
    }
}

/// Whether coefficient `i` of a group carries an escape: every flag coded for
/// it was one (always for coefficients past the eighth).
#[inline]
fn escape_coded(i: usize, first_gt2: Option<usize>, nz: &[(usize, u32)]) -> bool {
    let abs = nz[i].1;
    if i >= 8 {
        true
    } else if Some(i) == first_gt2 {
        abs > 2
    } else {
        // gt1 must be 1; after the first gt1 coefficient no gt2 is coded.
        abs > 1 && first_gt2.is_some_and(|f| f < i)
    }
}

/// skip_flag; `ctx_idx` counts skipped left and above neighbours.
pub fn write_skip<S: BinSink>(s: &mut S, ctx: &mut Contexts, ctx_idx: usize, skip: bool) {
    s.encode(&mut ctx.skip[ctx_idx], skip);
}

/// intra_flag of a CU in an inter frame.
pub fn write_intra<S: BinSink>(s: &mut S, ctx: &mut Contexts, intra: bool) {
    s.encode(&mut ctx.intra[0], intra);
}

/// merge_flag.
pub fn write_merge<S: BinSink>(s: &mut S, ctx: &mut Contexts, merge: bool) {
    s.encode(&mut ctx.merge[0], merge);
}

/// merge_idx: truncated unary, first bin context coded.
pub fn write_merge_idx<S: BinSink>(s: &mut S, ctx: &mut Contexts, idx: usize) {
    for i in 0..MERGE_CANDIDATES - 1 {
        let bin = idx > i;
        if i == 0 {
            s.encode(&mut ctx.merge_idx[0], bin);
        } else {
            s.bypass(bin);
        }
        if !bin {
            break;
        }
    }
}

/// Prediction direction of a B-frame CU: 0 list 0, 1 list 1, 2 both.
pub fn write_inter_dir<S: BinSink>(s: &mut S, ctx: &mut Contexts, log2: u32, dir: u8) {
    s.encode(
        &mut ctx.inter_dir[(log2.clamp(3, 6) - 3) as usize],
        dir == 2,
    );
    if dir != 2 {
        s.encode(&mut ctx.inter_dir[4], dir == 1);
    }
}

/// ref_idx among `count` (>= 2) references: truncated unary.
pub fn write_ref_idx<S: BinSink>(s: &mut S, ctx: &mut Contexts, idx: usize, count: usize) {
    for i in 0..count - 1 {
        let bin = idx > i;
        if i < 2 {
            s.encode(&mut ctx.ref_idx[i], bin);
        } else {
            s.bypass(bin);
        }
        if !bin {
            break;
        }
    }
}

/// Exp-Golomb code of order `k`.
fn write_exp_golomb<S: BinSink>(s: &mut S, mut value: u32, mut k: u32) {
    while value >= (1 << k) {
        s.bypass(true);
        value -= 1 << k;
        k += 1;
    }
    s.bypass(false);
    s.bypass_bits(value, k);
}

/// A motion vector difference.
pub fn write_mvd<S: BinSink>(s: &mut S, ctx: &mut Contexts, mvd: Mv) {
    let (ax, ay) = (mvd.x.unsigned_abs() as u32, mvd.y.unsigned_abs() as u32);
    s.encode(&mut ctx.mvd[0], ax > 0);
    s.encode(&mut ctx.mvd[0], ay > 0);
    if ax > 0 {
        s.encode(&mut ctx.mvd[1], ax > 1);
    }
    if ay > 0 {
        s.encode(&mut ctx.mvd[1], ay > 1);
    }
    for (a, neg) in [(ax, mvd.x < 0), (ay, mvd.y < 0)] {
        if a > 0 {
            if a > 1 {
                write_exp_golomb(s, a - 2, 1);
            }
            s.bypass(neg);
        }
    }
}

/// mvp_flag: which of the two predictors.
pub fn write_mvp<S: BinSink>(s: &mut S, ctx: &mut Contexts, idx: usize) {
    s.encode(&mut ctx.mvp[0], idx == 1);
}

/// root_cbf: whether an inter CU has any residual.
pub fn write_root_cbf<S: BinSink>(s: &mut S, ctx: &mut Contexts, cbf: bool) {
    s.encode(&mut ctx.root_cbf[0], cbf);
}

// ---------------------------------------------------------------- readers

/// Reads skip_flag.
pub fn read_skip(d: &mut RangeDecoder, ctx: &mut Contexts, ctx_idx: usize) -> bool {
    d.decode(&mut ctx.skip[ctx_idx])
}

/// Reads intra_flag.
pub fn read_intra(d: &mut RangeDecoder, ctx: &mut Contexts) -> bool {
    d.decode(&mut ctx.intra[0])
}

/// Reads merge_flag.
pub fn read_merge(d: &mut RangeDecoder, ctx: &mut Contexts) -> bool {
    d.decode(&mut ctx.merge[0])
}

/// Reads merge_idx.
pub fn read_merge_idx(d: &mut RangeDecoder, ctx: &mut Contexts) -> usize {
    let mut idx = 0;
    while idx < MERGE_CANDIDATES - 1 {
        let bin = if idx == 0 {
            d.decode(&mut ctx.merge_idx[0])
        } else {
            d.bypass()
        };
        if !bin {
            break;
        }
        idx += 1;
    }
    idx
}

/// Reads the prediction direction (0 list 0, 1 list 1, 2 both).
pub fn read_inter_dir(d: &mut RangeDecoder, ctx: &mut Contexts, log2: u32) -> u8 {
    if d.decode(&mut ctx.inter_dir[(log2.clamp(3, 6) - 3) as usize]) {
        2
    } else {
        d.decode(&mut ctx.inter_dir[4]) as u8
    }
}

/// Reads ref_idx among `count` (>= 2) references.
pub fn read_ref_idx(d: &mut RangeDecoder, ctx: &mut Contexts, count: usize) -> usize {
    let mut idx = 0;
    while idx < count - 1 {
        let bin = if idx < 2 {
            d.decode(&mut ctx.ref_idx[idx])
        } else {
            d.bypass()
        };
        if !bin {
            break;
        }
        idx += 1;
    }
    idx
}

/// Reads an Exp-Golomb code of order `k`; `None` past 16 prefix bins.
fn read_exp_golomb(d: &mut RangeDecoder, mut k: u32) -> Option<u32> {
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

/// Reads a motion vector difference (components as i32; the caller checks range).
pub fn read_mvd(d: &mut RangeDecoder, ctx: &mut Contexts) -> Option<(i32, i32)> {
    let gx = d.decode(&mut ctx.mvd[0]);
    let gy = d.decode(&mut ctx.mvd[0]);
    let g1x = gx && d.decode(&mut ctx.mvd[1]);
    let g1y = gy && d.decode(&mut ctx.mvd[1]);
    let mut out = [0i32; 2];
    for (i, (g0, g1)) in [(gx, g1x), (gy, g1y)].into_iter().enumerate() {
        if g0 {
            let a = if g1 {
                2 + read_exp_golomb(d, 1)? as i32
            } else {
                1
            };
            out[i] = if d.bypass() { -a } else { a };
        }
    }
    Some((out[0], out[1]))
}

/// Reads mvp_flag.
pub fn read_mvp(d: &mut RangeDecoder, ctx: &mut Contexts) -> usize {
    d.decode(&mut ctx.mvp[0]) as usize
}

/// Reads root_cbf.
pub fn read_root_cbf(d: &mut RangeDecoder, ctx: &mut Contexts) -> bool {
    d.decode(&mut ctx.root_cbf[0])
}

/// Reads split_cu_flag.
pub fn read_split(d: &mut RangeDecoder, ctx: &mut Contexts, ctx_idx: usize) -> bool {
    d.decode(&mut ctx.split[ctx_idx])
}

/// Reads intra_nxn_flag.
pub fn read_nxn(d: &mut RangeDecoder, ctx: &mut Contexts) -> bool {
    d.decode(&mut ctx.nxn[0])
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

/// Reads the chroma mode index (4 = derived).
pub fn read_chroma_mode(d: &mut RangeDecoder, ctx: &mut Contexts) -> u8 {
    if d.decode(&mut ctx.chroma_mode[0]) {
        d.bypass_bits(2) as u8
    } else {
        4
    }
}

/// Reads a coded-block flag.
pub fn read_cbf(
    d: &mut RangeDecoder,
    ctx: &mut Contexts,
    plane: usize,
    log2n: u32,
    cb_coded: bool,
) -> bool {
    d.decode(cbf_context(ctx, plane, log2n, cb_coded))
}

fn read_last_coord(
    d: &mut RangeDecoder,
    ctxs: &mut [Context; 18],
    log2n: u32,
    chroma: bool,
) -> u32 {
    let (offset, shift) = last_ctx_params(log2n, chroma);
    let max_prefix = LAST_GROUP_INDEX[(1usize << log2n) - 1] as u32;
    let mut prefix = 0;
    while prefix < max_prefix && d.decode(&mut ctxs[offset + (prefix >> shift) as usize]) {
        prefix += 1;
    }
    if prefix > 3 {
        let len = (prefix >> 1) - 1;
        LAST_GROUP_MIN[prefix as usize] as u32 + d.bypass_bits(len)
    } else {
        prefix
    }
}

/// Reads an escape remainder; `None` if its prefix is longer than any valid stream's.
pub fn read_escape(d: &mut RangeDecoder, rice: u32) -> Option<u32> {
    let mut prefix = 0;
    while d.bypass() {
        prefix += 1;
        if prefix > MAX_ESCAPE_PREFIX {
            return None;
        }
    }
    Some(if prefix < 3 {
        (prefix << rice) + d.bypass_bits(rice)
    } else {
        let len = prefix - 3 + rice;
        (((1 << (prefix - 3)) + 2) << rice) + d.bypass_bits(len)
    })
}

/// Reads a residual block into `levels` (`n*n`, zeroed by the caller) and
/// returns the extent of the non-zero region (columns, rows), or `None` on a
/// level that no valid stream contains.
pub fn read_residual(
    d: &mut RangeDecoder,
    ctx: &mut Contexts,
    levels: &mut [i16],
    log2n: u32,
    chroma: bool,
    scan_kind: ScanKind,
) -> Option<(usize, usize)> {
    let n = 1usize << log2n;
    let sc = scan(scan_kind, log2n);
    let at = |g: usize, p: usize| -> (usize, usize) {
        let (gx, gy) = sc.groups[g];
        let (x, y) = sc.in_group[p];
        (gx as usize * 4 + x as usize, gy as usize * 4 + y as usize)
    };
    let cx = read_last_coord(d, &mut ctx.last_x, log2n, chroma) as usize;
    let cy = read_last_coord(d, &mut ctx.last_y, log2n, chroma) as usize;
    let (lx, ly) = if scan_kind == ScanKind::Vertical {
        (cy, cx)
    } else {
        (cx, cy)
    };
    // Locate the last position in the scan.
    let (lgx, lgy) = ((lx / 4) as u8, (ly / 4) as u8);
    let last_g = sc.groups.iter().position(|&g| g == (lgx, lgy))?;
    let last_p = sc
        .in_group
        .iter()
        .position(|&p| p == ((lx % 4) as u8, (ly % 4) as u8))?;

    let mut groups = GroupMap::new(log2n);
    let mut c1 = 1u32;
    let chroma_off = if chroma { 2 } else { 0 };
    let (mut max_x, mut max_y) = (0, 0);
    for g in (0..=last_g).rev() {
        let (gx, gy) = (sc.groups[g].0 as usize, sc.groups[g].1 as usize);
        let nb = groups.neighbours(gx, gy);
        let explicit = g < last_g && g > 0;
        if explicit && !d.decode(&mut ctx.coded_group[chroma_off + (nb != 0) as usize]) {
            continue;
        }
        groups.set(gx, gy);
        let top = if g == last_g { last_p } else { 16 };
        let mut nz: [(usize, u32); 16] = [(0, 0); 16];
        let mut count = 0;
        if g == last_g {
            nz[0] = (ly * n + lx, 1);
            count = 1;
        }
        for p in (0..top).rev() {
            let (x, y) = at(g, p);
            let sig = if p == 0 && explicit && count == 0 {
                true
            } else {
                d.decode(&mut ctx.sig[sig_ctx(x, y, log2n, chroma, nb, scan_kind)])
            };
            if sig {
                nz[count] = (y * n + x, 1);
                count += 1;
            }
        }
        let mut ctx_set = if g > 0 && !chroma { 2 } else { 0 };
        if c1 == 0 {
            ctx_set += 1;
        }
        c1 = 1;
        let gt1_base = ctx_set * 4 + if chroma { 16 } else { 0 };
        let mut first_gt2 = None;
        for (i, item) in nz[..count.min(8)].iter_mut().enumerate() {
            if d.decode(&mut ctx.gt1[gt1_base + c1 as usize]) {
                item.1 = 2;
                c1 = 0;
                if first_gt2.is_none() {
                    first_gt2 = Some(i);
                }
            } else if c1 > 0 && c1 < 3 {
                c1 += 1;
            }
        }
        if let Some(i) = first_gt2 {
            if d.decode(&mut ctx.gt2[ctx_set + if chroma { 4 } else { 0 }]) {
                nz[i].1 = 3;
            }
        }
        let mut negative = [false; 16];
        for neg in negative[..count].iter_mut() {
            *neg = d.bypass();
        }
        let mut rice = 0;
        for i in 0..count {
            let base = base_level(i, first_gt2);
            // The flags read so far reached the base level: an escape follows.
            if nz[i].1 == base || (i >= 8) {
                let rem = read_escape(d, rice)?;
                let abs = base.checked_add(rem)?;
                if abs > MAX_LEVEL as u32 {
                    return None;
                }
                nz[i].1 = abs;
                rice = next_rice(rice, abs);
            }
        }
        for i in 0..count {
            let (pos, abs) = nz[i];
            levels[pos] = if negative[i] {
                -(abs as i16)
            } else {
                abs as i16
            };
            max_x = max_x.max(pos % n);
            max_y = max_y.max(pos / n);
        }
    }
    Some((max_x + 1, max_y + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_order_covers_every_context_once() {
        let listed: usize = CONTEXT_ELEMENTS.iter().map(|e| e.1).sum();
        assert_eq!(listed, NUM_CONTEXTS);
        let mut ctx = Contexts::default();
        assert_eq!(ctx.iter().count(), NUM_CONTEXTS);
        // Same order for reading and writing; every field reached exactly
        // once (a field chained twice would take two values, then fail here).
        for (i, c) in ctx.iter_mut().enumerate() {
            *c = Context::with_p0(1000 + i as u16);
        }
        for (i, c) in ctx.iter().enumerate() {
            assert_eq!(c.p0(), 1000 + i as u32);
        }
        assert_eq!(ctx.split[0].p0(), 1000);
        assert_eq!(ctx.nn_intra[8].p0(), 1000 + NUM_CONTEXTS as u32 - 1);
        assert_eq!(ctx.nn_filter[1][0].p0(), 1000 + NUM_CONTEXTS as u32 - 9 - 3);
        assert_eq!(std::mem::size_of::<Contexts>(), NUM_CONTEXTS * 4);
    }

    /// The contexts of each named array, reached by field name (a listing
    /// independent of `iter`, so a swap of two equal-sized arrays there fails).
    fn by_name<'a>(c: &'a mut Contexts, name: &str) -> &'a mut [Context] {
        match name {
            "split" => &mut c.split,
            "nxn" => &mut c.nxn,
            "mpm" => &mut c.mpm,
            "chroma_mode" => &mut c.chroma_mode,
            "cbf_luma" => &mut c.cbf_luma,
            "cbf_cb" => &mut c.cbf_cb,
            "cbf_cr" => &mut c.cbf_cr,
            "last_x" => &mut c.last_x,
            "last_y" => &mut c.last_y,
            "coded_group" => &mut c.coded_group,
            "sig" => &mut c.sig,
            "gt1" => &mut c.gt1,
            "gt2" => &mut c.gt2,
            "skip" => &mut c.skip,
            "intra" => &mut c.intra,
            "merge" => &mut c.merge,
            "merge_idx" => &mut c.merge_idx,
            "inter_dir" => &mut c.inter_dir,
            "ref_idx" => &mut c.ref_idx,
            "mvd" => &mut c.mvd,
            "mvp" => &mut c.mvp,
            "root_cbf" => &mut c.root_cbf,
            "nn_filter" => c.nn_filter.as_flattened_mut(),
            "nn_intra" => &mut c.nn_intra,
            other => panic!("unknown context array {other}"),
        }
    }

    #[test]
    fn each_array_sits_where_the_tables_list_it() {
        let mut ctx = Contexts::default();
        let mut at = 0u32;
        for &(name, count) in &CONTEXT_ELEMENTS {
            let field = by_name(&mut ctx, name);
            assert_eq!(field.len(), count, "{name}");
            for (j, c) in field.iter_mut().enumerate() {
                *c = Context::with_p0((100 + at + j as u32) as u16);
            }
            at += count as u32;
        }
        for (i, c) in ctx.iter().enumerate() {
            assert_eq!(c.p0(), 100 + i as u32, "context {i}");
        }
        // nn_filter[k][c] is entry 3k + c of its array.
        let nn = CONTEXT_ELEMENTS.iter().take_while(|e| e.0 != "nn_filter");
        let first = 100 + nn.map(|e| e.1 as u32).sum::<u32>();
        assert_eq!(ctx.nn_filter[1][2].p0(), first + 5);
    }

    #[test]
    fn frames_start_from_their_table() {
        for key in [false, true] {
            for qp in 0..52u8 {
                assert!(Contexts::for_frame(false, key, qp)
                    .iter()
                    .all(|c| c.p0() == 16384));
                let ctx = Contexts::for_frame(true, key, qp);
                let table = &CONTEXT_INIT[key as usize][context_qp_class(qp)];
                for (c, &p0) in ctx.iter().zip(table) {
                    assert_eq!(c.p0(), p0 as u32);
                    assert!(
                        (768..=32000).contains(&p0),
                        "{p0} outside the allowed range"
                    );
                }
            }
        }
        assert_eq!(context_qp_class(0), 0);
        assert_eq!(context_qp_class(24), 0);
        assert_eq!(context_qp_class(25), 1);
        assert_eq!(context_qp_class(39), 3);
        assert_eq!(context_qp_class(40), 4);
        assert_eq!(context_qp_class(51), 4);
        let ranges: Vec<_> = (0..CONTEXT_QP_CLASSES)
            .map(context_qp_class_range)
            .collect();
        assert_eq!(ranges, [(0, 24), (25, 29), (30, 34), (35, 39), (40, 51)]);
    }

    /// The specification's QP-class formula and ranges (docs/bitstream.md 3,
    /// the headings of docs/context-init.md) say what `context_qp_class` does.
    #[test]
    fn qp_classes_match_the_specification() {
        let spec = include_str!("../../docs/bitstream.md").replace('\n', " ");
        let formula = spec
            .split("`QpClass = min(")
            .nth(1)
            .and_then(|r| r.split(")`").next())
            .expect("the QP class formula in docs/bitstream.md");
        // "A, (max(qp, B) - C) / D" with numbers A, B, C, D.
        let n: Vec<i32> = formula
            .split(|c: char| !c.is_ascii_digit())
            .filter(|t| !t.is_empty())
            .map(|t| t.parse().unwrap())
            .collect();
        assert_eq!(
            formula,
            format!("{}, (max(qp, {}) - {}) / {}", n[0], n[1], n[2], n[3]),
            "formula shape"
        );
        for qp in 0..=crate::tables::MAX_QP {
            let by_spec = n[0].min(((qp as i32).max(n[1]) - n[2]) / n[3]);
            assert_eq!(by_spec as usize, context_qp_class(qp), "QP {qp}");
        }
        let listed = spec
            .split(formula)
            .nth(1)
            .and_then(|r| r.strip_prefix(")` (QP "))
            .and_then(|r| r.split(')').next())
            .expect("the QP ranges right after the formula");
        let ranges: Vec<(u8, u8)> = listed
            .split(", ")
            .map(|r| {
                let (a, b) = r.trim().split_once("..").expect("a..b");
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect();
        let want: Vec<_> = (0..CONTEXT_QP_CLASSES)
            .map(context_qp_class_range)
            .collect();
        assert_eq!(ranges, want, "docs/bitstream.md ranges");
        // Every table heading: "## KEY|INTER frames, QP class N (QP a-b)".
        let tables = include_str!("../../docs/context-init.md");
        let mut headings = 0;
        for h in tables.lines().filter_map(|l| l.strip_prefix("## ")) {
            let (class, range) = h
                .split_once(", QP class ")
                .and_then(|(_, r)| r.split_once(" (QP "))
                .expect("a class and its range");
            let (a, b) = range
                .strip_suffix(')')
                .and_then(|r| r.split_once('-'))
                .expect("(QP a-b)");
            let class: usize = class.parse().unwrap();
            let range = (a.parse().unwrap(), b.parse().unwrap());
            assert_eq!(
                range,
                context_qp_class_range(class),
                "docs/context-init.md: {h}"
            );
            headings += 1;
        }
        assert_eq!(headings, 2 * CONTEXT_QP_CLASSES);
    }

    /// `docs/context-init.md` is normative: it must list exactly the tables
    /// the decoder uses.
    #[test]
    fn context_tables_match_the_specification() {
        let spec = include_str!("../../docs/context-init.md");
        let mut section: Option<(usize, usize)> = None;
        let mut at = 0;
        let mut seen = Vec::new();
        for line in spec.lines() {
            if let Some(h) = line.strip_prefix("## ") {
                let key = h.starts_with("KEY frames");
                assert!(key || h.starts_with("INTER frames"), "{h}");
                let class: usize = h
                    .split("QP class ")
                    .nth(1)
                    .and_then(|r| r.split(' ').next())
                    .and_then(|c| c.parse().ok())
                    .expect("a QP class");
                if let Some(s) = section {
                    assert_eq!(at, NUM_CONTEXTS, "section {s:?} incomplete");
                }
                section = Some((key as usize, class));
                seen.push((key as usize, class));
                at = 0;
                continue;
            }
            let Some((key, class)) = section else {
                continue;
            };
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() != 5 || cells[1] == "context array" || cells[1].starts_with("---") {
                continue;
            }
            let element = CONTEXT_ELEMENTS
                .iter()
                .scan(0, |start, e| {
                    let s = *start;
                    *start += e.1;
                    Some((s, e))
                })
                .find(|(s, _)| *s == at)
                .expect("rows in element order");
            assert_eq!(cells[1], element.1 .0, "element at context {at}");
            let values: Vec<u16> = cells[3].split(' ').map(|v| v.parse().unwrap()).collect();
            assert_eq!(values.len(), element.1 .1, "{}", cells[1]);
            assert_eq!(
                values[..],
                CONTEXT_INIT[key][class][at..at + values.len()],
                "{} ({key}, {class})",
                cells[1]
            );
            at += values.len();
        }
        assert_eq!(at, NUM_CONTEXTS);
        seen.sort();
        let all: Vec<(usize, usize)> = (0..2)
            .flat_map(|k| (0..CONTEXT_QP_CLASSES).map(move |c| (k, c)))
            .collect();
        assert_eq!(seen, all, "one section per frame type and QP class");
    }
}
