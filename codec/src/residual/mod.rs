//! Residual coding (`docs/bitstream.md` 4.5): the coefficient levels of a
//! transform block in 4x4 groups along a scan (the mode-dependent choice of
//! scan, the last position, coded-group and significance flags, greater-1
//! and greater-2 flags, signs and Rice/Exp-Golomb escapes), written once for
//! the encoder (generic over [`BinSink`], so rate estimation runs the same
//! code) and once for the decoder, side by side.

mod scan;

pub use scan::{scan, ScanKind, LAST_GROUP_INDEX, LAST_GROUP_MIN};

use crate::entropy::{BinSink, Context, Contexts, RangeDecoder};

/// Largest coefficient level magnitude a stream may carry.
pub const MAX_LEVEL: i32 = 32767;

/// Longest escape prefix: 3 unary Rice bins plus 16 Exp-Golomb bins.
const MAX_ESCAPE_PREFIX: u32 = 3 + 16;

/// Size class of a `2^log2w x 2^log2h` transform block for the contexts that
/// depend on the block size (significance, coded-block flags): the mean of
/// the two log2 sides rounded up, so a square's class is its log2 side and
/// only 4x4 has class 2.
#[inline]
pub fn size_class(log2w: u32, log2h: u32) -> u32 {
    (log2w + log2h + 1) >> 1
}

/// Mode-dependent coefficient scan: small square intra blocks with
/// near-horizontal or near-vertical prediction leave residual energy along
/// rows or columns. Rectangles always use the diagonal scan.
pub fn scan_for(mode: u8, log2w: u32, log2h: u32, chroma: bool) -> ScanKind {
    if log2w != log2h {
        return ScanKind::Diagonal;
    }
    let log2n = log2w;
    let small = if chroma { log2n == 2 } else { log2n <= 3 };
    if small && (6..=14).contains(&mode) {
        ScanKind::Vertical
    } else if small && (22..=30).contains(&mode) {
        ScanKind::Horizontal
    } else {
        ScanKind::Diagonal
    }
}

/// Context offset and shift of one last-position coordinate over a block
/// side of `2^log2n` (the same for `last_x` over the width and `last_y` over
/// the height, as in a square of that side).
pub(crate) fn last_ctx_params(log2n: u32, chroma: bool) -> (usize, u32) {
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

/// Context of sig_coeff_flag at (x, y) of a `2^log2w x 2^log2h` block; the
/// size-dependent part uses [`size_class`].
#[inline]
pub fn sig_ctx(
    x: usize,
    y: usize,
    log2w: u32,
    log2h: u32,
    chroma: bool,
    neighbour_groups: u8,
    scan_kind: ScanKind,
) -> usize {
    const MAP_4X4: [u8; 16] = [0, 1, 4, 5, 2, 3, 4, 5, 6, 6, 8, 8, 7, 7, 8, 8];
    let class = size_class(log2w, log2h);
    let c = if class == 2 {
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
            c += if class == 3 { 9 } else { 12 };
        } else {
            if (x >> 2) + (y >> 2) > 0 {
                c += 3;
            }
            c += if class == 3 {
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

/// Bookkeeping of a residual block while it is written or read: which 4x4
/// groups are coded, for the sig_coeff_flag and coded_group_flag contexts.
struct GroupMap {
    gw: usize,
    gh: usize,
    coded: [bool; 64],
}

impl GroupMap {
    fn new(log2w: u32, log2h: u32) -> GroupMap {
        GroupMap {
            gw: 1 << (log2w - 2),
            gh: 1 << (log2h - 2),
            coded: [false; 64],
        }
    }
    fn get(&self, gx: usize, gy: usize) -> bool {
        gx < self.gw && gy < self.gh && self.coded[gy * self.gw + gx]
    }
    fn set(&mut self, gx: usize, gy: usize) {
        self.coded[gy * self.gw + gx] = true;
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

/// Writes a non-empty residual block of levels (`w*h`, row-major, `w =
/// 2^log2w`, `h = 2^log2h`).
pub fn write_residual<S: BinSink>(
    s: &mut S,
    ctx: &mut Contexts,
    levels: &[i16],
    log2w: u32,
    log2h: u32,
    chroma: bool,
    scan_kind: ScanKind,
) {
    let w = 1usize << log2w;
    let sc = scan(scan_kind, log2w, log2h);
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
            if levels[y * w + x] != 0 {
                last = Some((g, p));
                break 'find;
            }
        }
    }
    let (last_g, last_p) = last.expect("write_residual needs a non-zero level");
    let (lx, ly) = at(last_g, last_p);
    // The vertical scan (squares only) codes the coordinates swapped.
    let (cx, cy) = if scan_kind == ScanKind::Vertical {
        (ly, lx)
    } else {
        (lx, ly)
    };
    write_last_coord(s, &mut ctx.last_x, cx as u32, log2w, chroma);
    write_last_coord(s, &mut ctx.last_y, cy as u32, log2h, chroma);

    let mut groups = GroupMap::new(log2w, log2h);
    let mut c1 = 1u32;
    let chroma_off = if chroma { 2 } else { 0 };
    for g in (0..=last_g).rev() {
        let (gx, gy) = (sc.groups[g].0 as usize, sc.groups[g].1 as usize);
        let nb = groups.neighbours(gx, gy);
        let any = (0..16).any(|p| {
            let (x, y) = at(g, p);
            levels[y * w + x] != 0
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
            nz[0] = (y * w + x, levels[y * w + x].unsigned_abs() as u32);
            count = 1;
        }
        for p in (0..top).rev() {
            let (x, y) = at(g, p);
            let v = levels[y * w + x];
            if p == 0 && explicit && count == 0 {
                // Inferred significant: the group was signalled as coded.
                nz[count] = (y * w + x, v.unsigned_abs() as u32);
                count += 1;
                continue;
            }
            s.encode(
                &mut ctx.sig[sig_ctx(x, y, log2w, log2h, chroma, nb, scan_kind)],
                v != 0,
            );
            if v != 0 {
                nz[count] = (y * w + x, v.unsigned_abs() as u32);
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

/// Reads a residual block into `levels` (`w*h`, row-major, zeroed by the
/// caller) and returns the extent of the non-zero region (columns, rows), or
/// `None` on a level that no valid stream contains.
pub fn read_residual(
    d: &mut RangeDecoder,
    ctx: &mut Contexts,
    levels: &mut [i16],
    log2w: u32,
    log2h: u32,
    chroma: bool,
    scan_kind: ScanKind,
) -> Option<(usize, usize)> {
    let w = 1usize << log2w;
    let sc = scan(scan_kind, log2w, log2h);
    let at = |g: usize, p: usize| -> (usize, usize) {
        let (gx, gy) = sc.groups[g];
        let (x, y) = sc.in_group[p];
        (gx as usize * 4 + x as usize, gy as usize * 4 + y as usize)
    };
    let cx = read_last_coord(d, &mut ctx.last_x, log2w, chroma) as usize;
    let cy = read_last_coord(d, &mut ctx.last_y, log2h, chroma) as usize;
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

    let mut groups = GroupMap::new(log2w, log2h);
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
            nz[0] = (ly * w + lx, 1);
            count = 1;
        }
        for p in (0..top).rev() {
            let (x, y) = at(g, p);
            let sig = if p == 0 && explicit && count == 0 {
                true
            } else {
                d.decode(&mut ctx.sig[sig_ctx(x, y, log2w, log2h, chroma, nb, scan_kind)])
            };
            if sig {
                nz[count] = (y * w + x, 1);
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
            max_x = max_x.max(pos % w);
            max_y = max_y.max(pos / w);
        }
    }
    Some((max_x + 1, max_y + 1))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::entropy::{BitCounter, RangeEncoder};

    /// A small portable generator (splitmix64), so hard-coded hashes do not
    /// depend on a library's generator.
    pub(crate) struct Mix(pub u64);

    impl Mix {
        pub fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        pub fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    pub(crate) fn fnv(h: &mut u64, bytes: &[u8]) {
        for &b in bytes {
            *h ^= b as u64;
            *h = h.wrapping_mul(0x100_0000_01B3);
        }
    }

    /// Random levels of a `w x h` block (row-major), at least one non-zero:
    /// significance falling off with x + y, mostly small magnitudes with
    /// occasional large ones, some blocks with only a far coefficient.
    pub(crate) fn random_levels(r: &mut Mix, w: usize, h: usize) -> Vec<i16> {
        let mut v = vec![0i16; w * h];
        let style = r.below(4);
        let reach = 1 + r.below((w + h) as u64) as usize;
        for y in 0..h {
            for x in 0..w {
                let p = match style {
                    0 => 2,
                    1 => 40,
                    _ if x + y < reach => 60 - (50 * (x + y) / reach) as u64,
                    _ => 1,
                };
                if r.below(100) < p {
                    let m = match r.below(20) {
                        0..=11 => 1,
                        12..=15 => 2,
                        16..=17 => 3 + r.below(4),
                        18 => 7 + r.below(60),
                        _ => 1 + r.below(MAX_LEVEL as u64),
                    } as i16;
                    v[y * w + x] = if r.below(2) == 0 { m } else { -m };
                }
            }
        }
        if v.iter().all(|&l| l == 0) {
            let i = r.below((w * h) as u64) as usize;
            v[i] = 1 + r.below(5) as i16;
        }
        v
    }

    /// Square blocks code exactly as before rectangles existed: a hash of the
    /// bytes and bit-counter costs of a fixed set of random blocks, computed
    /// on main at 87b55cf (with the same test there). Contexts start at one
    /// half, so the hash does not move when the trained tables are
    /// regenerated.
    #[test]
    fn squares_unchanged() {
        let mut r = Mix(28);
        let mut enc = RangeEncoder::new();
        let mut ctx = Contexts::for_frame(false, true, 32);
        let mut h = 0xCBF2_9CE4_8422_2325u64;
        for _ in 0..600 {
            let log2n = 2 + r.below(4) as u32;
            let chroma = r.below(3) == 0;
            let kind =
                [ScanKind::Diagonal, ScanKind::Horizontal, ScanKind::Vertical][r.below(3) as usize];
            let n = 1usize << log2n;
            let levels = random_levels(&mut r, n, n);
            let mut bc = BitCounter::default();
            write_residual(&mut bc, &mut ctx, &levels, log2n, log2n, chroma, kind);
            fnv(&mut h, &bc.cost.to_le_bytes());
            write_residual(&mut enc, &mut ctx, &levels, log2n, log2n, chroma, kind);
        }
        fnv(&mut h, &enc.finish());
        assert_eq!(h, 8550320593628932514);
    }

    /// Every shape a transform block can have (sides 4..32, ratios up to 8:1)
    /// with the scans it can use.
    pub(crate) fn shapes() -> Vec<(u32, u32, ScanKind)> {
        let mut v = Vec::new();
        for lw in 2..=5 {
            for lh in 2..=5 {
                v.push((lw, lh, ScanKind::Diagonal));
                if lw == lh {
                    v.push((lw, lh, ScanKind::Horizontal));
                    v.push((lw, lh, ScanKind::Vertical));
                }
            }
        }
        v
    }

    /// Random levels of every shape, luma and chroma, every scan, written
    /// into one stream (contexts adapting across blocks) and read back: the
    /// same levels, the same non-zero extent, exactly the writer's bytes.
    #[test]
    fn round_trip_every_shape() {
        let mut r = Mix(7);
        let mut blocks = Vec::new();
        for _ in 0..12 {
            for (lw, lh, kind) in shapes() {
                for chroma in [false, true] {
                    let levels = random_levels(&mut r, 1 << lw, 1 << lh);
                    blocks.push((lw, lh, kind, chroma, levels));
                }
            }
        }
        let mut enc = RangeEncoder::new();
        let mut ctx = Contexts::for_frame(true, false, 37);
        for (lw, lh, kind, chroma, levels) in &blocks {
            write_residual(&mut enc, &mut ctx, levels, *lw, *lh, *chroma, *kind);
        }
        let written = ctx;
        let bytes = enc.finish();
        let mut dec = RangeDecoder::new(&bytes);
        let mut ctx = Contexts::for_frame(true, false, 37);
        for (i, (lw, lh, kind, chroma, levels)) in blocks.iter().enumerate() {
            let (w, h) = (1usize << lw, 1usize << lh);
            let mut got = vec![0i16; w * h];
            let nz = read_residual(&mut dec, &mut ctx, &mut got, *lw, *lh, *chroma, *kind);
            assert_eq!(&got, levels, "block {i}: {w}x{h} {kind:?} chroma {chroma}");
            let cols = (0..w).filter(|&x| (0..h).any(|y| levels[y * w + x] != 0));
            let rows = (0..h).filter(|&y| (0..w).any(|x| levels[y * w + x] != 0));
            let extent = (cols.max().unwrap() + 1, rows.max().unwrap() + 1);
            assert_eq!(nz, Some(extent), "block {i}");
        }
        assert_eq!(dec.consumed(), bytes.len());
        assert!(
            written.iter().eq(ctx.iter()),
            "contexts end in the same states"
        );
    }

    /// One bin the writer produced: the context it used (by address) or a
    /// bypass bin.
    #[derive(Debug, PartialEq)]
    enum Bin {
        Ctx(usize, bool),
        Bypass(bool),
    }

    #[derive(Default)]
    struct Record(Vec<Bin>);

    impl BinSink for Record {
        fn encode(&mut self, ctx: &mut Context, bin: bool) {
            self.0.push(Bin::Ctx(ctx as *const Context as usize, bin));
        }
        fn bypass(&mut self, bin: bool) {
            self.0.push(Bin::Bypass(bin));
        }
    }

    /// The bins of the last position of a block whose only level is at (x, y).
    fn last_bins(lw: u32, lh: u32, chroma: bool, x: usize, y: usize) -> Vec<String> {
        let w = 1usize << lw;
        let mut levels = vec![0i16; w << lh];
        levels[y * w + x] = 1;
        let mut ctx = Contexts::default();
        let mut rec = Record::default();
        write_residual(
            &mut rec,
            &mut ctx,
            &levels,
            lw,
            lh,
            chroma,
            ScanKind::Diagonal,
        );
        let index = |a: &[Context; 18], addr: usize| {
            a.iter().position(|c| c as *const Context as usize == addr)
        };
        let mut out = Vec::new();
        for b in rec.0 {
            out.push(match b {
                Bin::Ctx(addr, bin) => {
                    if let Some(i) = index(&ctx.last_x, addr) {
                        format!("x{i}:{}", bin as u8)
                    } else if let Some(i) = index(&ctx.last_y, addr) {
                        format!("y{i}:{}", bin as u8)
                    } else {
                        break;
                    }
                }
                Bin::Bypass(bin) => format!("b{}", bin as u8),
            });
        }
        out
    }

    /// The last position: `last_x` over the width and `last_y` over the
    /// height, each binarised with the contexts of a square of that side
    /// (written out by hand from `docs/bitstream.md` 4.5).
    #[test]
    fn last_position_per_dimension() {
        // 32x4 luma, last at (20, 3). x over 32: prefix 8 of at most 9, bin i
        // at context 10 + (i >> 1), then a 3-bit suffix 20 - 16 = 4.
        // y over 4: prefix 3 = the maximum, contexts 0, 1, 2, no terminating zero.
        let want = "x10:1 x10:1 x11:1 x11:1 x12:1 x12:1 x13:1 x13:1 x14:0 b1 b0 b0 y0:1 y1:1 y2:1";
        assert_eq!(last_bins(5, 2, false, 20, 3).join(" "), want);
        // 4x32 luma, last at (3, 20): the same with x and y exchanged.
        let want = "x0:1 x1:1 x2:1 y10:1 y10:1 y11:1 y11:1 y12:1 y12:1 y13:1 y13:1 y14:0 b1 b0 b0";
        assert_eq!(last_bins(2, 5, false, 3, 20).join(" "), want);
        // 8x16 luma, last at (5, 9): x over 8 (offset 3, shift 1): prefix 4 of
        // at most 5, suffix 1 bit 5 - 4 = 1; y over 16 (offset 6, shift 1):
        // prefix 6 of 7, suffix 2 bits 9 - 8 = 1.
        let want = "x3:1 x3:1 x4:1 x4:1 x5:0 b1 y6:1 y6:1 y7:1 y7:1 y8:1 y8:1 y9:0 b0 b1";
        assert_eq!(last_bins(3, 4, false, 5, 9).join(" "), want);
        // 4x16 chroma, last at (1, 9): x over 4 (offset 15, shift 0): prefix 1;
        // y over 16 (offset 15, shift 2): prefix 6 of 7, suffix 01.
        let want = "x15:1 x16:0 y15:1 y15:1 y15:1 y15:1 y16:1 y16:1 y16:0 b0 b1";
        assert_eq!(last_bins(2, 4, true, 1, 9).join(" "), want);
        // 32x8 chroma, last at (31, 0): x over 32 (shift 3): prefix 9 = the
        // maximum, suffix 3 bits 31 - 24 = 7; y over 8: prefix 0, one zero.
        let want = "x15:1 x15:1 x15:1 x15:1 x15:1 x15:1 x15:1 x15:1 x16:1 b1 b1 b1 y15:0";
        assert_eq!(last_bins(5, 3, true, 31, 0).join(" "), want);
    }

    /// Significance contexts of rectangles use the size class: a rectangle's
    /// context is the one a square of side 2^class has at the same position
    /// with the same neighbours (diagonal scan), and no rectangle uses the
    /// 4x4 map.
    #[test]
    fn sig_ctx_size_class() {
        assert_eq!(size_class(2, 3), 3);
        assert_eq!(size_class(3, 2), 3);
        assert_eq!(size_class(2, 4), 3);
        assert_eq!(size_class(2, 5), 4);
        assert_eq!(size_class(3, 5), 4);
        assert_eq!(size_class(4, 5), 5);
        for l in 2..=5 {
            assert_eq!(size_class(l, l), l);
        }
        // Written out: 4x8 luma at (1, 5), group (0, 1) not the first, no
        // coded neighbours: xp + yp = 2 gives 1, + 3 (not the first group) + 9 (class 3).
        assert_eq!(sig_ctx(1, 5, 2, 3, false, 0, ScanKind::Diagonal), 13);
        // 32x4 chroma at (9, 2), right group coded: [2, 1, 0, 0][yp = 2] = 0, + 12, + 27.
        assert_eq!(sig_ctx(9, 2, 5, 2, true, 1, ScanKind::Diagonal), 39);
        for lw in 2..=5u32 {
            for lh in 2..=5u32 {
                let class = size_class(lw, lh);
                for chroma in [false, true] {
                    for nb in 0..4 {
                        for y in 0..1usize << lh {
                            for x in 0..1usize << lw {
                                let c = sig_ctx(x, y, lw, lh, chroma, nb, ScanKind::Diagonal);
                                if class > 2 && x < 1 << class && y < 1 << class {
                                    let sq =
                                        sig_ctx(x, y, class, class, chroma, nb, ScanKind::Diagonal);
                                    assert_eq!(c, sq, "{lw} {lh} ({x}, {y})");
                                }
                                assert!(c < 42);
                                if lw != lh {
                                    // The 4x4 map's own contexts are 0..=8 (luma) and 27..=35.
                                    let base = if chroma { 27 } else { 0 };
                                    assert!(c == base || c >= base + 9, "{lw} {lh} ({x}, {y})");
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
