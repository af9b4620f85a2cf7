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
    /// on main at 87b55cf.
    #[test]
    fn squares_unchanged() {
        let mut r = Mix(28);
        let mut enc = RangeEncoder::new();
        let mut ctx = Contexts::for_frame(true, true, 32);
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
        assert_eq!(h, 15614479351923542174);
    }
}
