//! Coefficient scans (`docs/bitstream.md` 4.5): diagonal, horizontal and
//! vertical orders of 4x4 groups and of the coefficients inside a group, and
//! the binarisation tables of the last position.

use std::sync::OnceLock;

/// Coefficient scan order inside a transform block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanKind {
    /// Up-right diagonal inside 4x4 groups, groups in up-right diagonal order.
    Diagonal = 0,
    /// Row by row (used for near-vertical intra modes).
    Horizontal = 1,
    /// Column by column (used for near-horizontal intra modes).
    Vertical = 2,
}

/// Position of one coefficient: (x, y) = (column, row).
pub type Pos = (u8, u8);

/// A scan for one block size: the order of 4x4 groups and the order inside a group.
pub struct Scan {
    /// Group positions (in units of 4x4 groups), in coding order from the DC group.
    pub groups: Vec<Pos>,
    /// Positions inside a 4x4 group, in coding order from the group's first sample.
    pub in_group: [Pos; 16],
}

fn diagonal(w: usize, h: usize) -> Vec<Pos> {
    let mut v = Vec::with_capacity(w * h);
    for d in 0..(w + h - 1) {
        // Up-right: start at the bottom of the anti-diagonal, go up.
        for y in (0..h).rev() {
            if d >= y && d - y < w {
                v.push(((d - y) as u8, y as u8));
            }
        }
    }
    v
}

fn raster(w: usize, h: usize, by_rows: bool) -> Vec<Pos> {
    let mut v = Vec::with_capacity(w * h);
    if by_rows {
        for y in 0..h {
            for x in 0..w {
                v.push((x as u8, y as u8));
            }
        }
    } else {
        for x in 0..w {
            for y in 0..h {
                v.push((x as u8, y as u8));
            }
        }
    }
    v
}

/// The scan for a square block of side `1 << log2n` (2..=5).
pub fn scan(kind: ScanKind, log2n: u32) -> &'static Scan {
    static SCANS: OnceLock<Vec<Scan>> = OnceLock::new();
    let all = SCANS.get_or_init(|| {
        let mut v = Vec::new();
        for k in 0..3 {
            for l in 2..=5u32 {
                let g = 1usize << (l - 2);
                let order = |w, h| match k {
                    0 => diagonal(w, h),
                    1 => raster(w, h, true),
                    _ => raster(w, h, false),
                };
                let groups = order(g, g);
                let inner = order(4, 4);
                let mut in_group = [(0, 0); 16];
                in_group.copy_from_slice(&inner);
                v.push(Scan { groups, in_group });
            }
        }
        v
    });
    &all[kind as usize * 4 + (log2n as usize - 2)]
}

/// Last-position binarisation: the prefix group of a coordinate 0..=31.
pub const LAST_GROUP_INDEX: [u8; 32] = [
    0, 1, 2, 3, 4, 4, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9,
];
/// Smallest coordinate in each prefix group.
pub const LAST_GROUP_MIN: [u8; 10] = [0, 1, 2, 3, 4, 6, 8, 12, 16, 24];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_are_permutations() {
        for kind in [ScanKind::Diagonal, ScanKind::Horizontal, ScanKind::Vertical] {
            for l in 2..=5 {
                let s = scan(kind, l);
                let n = 1usize << l;
                let mut seen = vec![false; n * n];
                for &(gx, gy) in &s.groups {
                    for &(x, y) in &s.in_group {
                        let px = gx as usize * 4 + x as usize;
                        let py = gy as usize * 4 + y as usize;
                        assert!(!seen[py * n + px]);
                        seen[py * n + px] = true;
                    }
                }
                assert!(seen.iter().all(|&b| b));
            }
        }
        // Diagonal 4x4 starts (0,0), (0,1), (1,0), (0,2), ...
        let d = scan(ScanKind::Diagonal, 2);
        assert_eq!(&d.in_group[..4], &[(0, 0), (0, 1), (1, 0), (0, 2)]);
    }
}
