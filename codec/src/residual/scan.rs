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

/// The scan of a `2^log2w x 2^log2h` block (each side 4..=32). Rectangles
/// have only the diagonal scan (their groups in up-right diagonal order over
/// the `(w/4) x (h/4)` grid of groups); the horizontal and vertical scans
/// exist for squares.
pub fn scan(kind: ScanKind, log2w: u32, log2h: u32) -> &'static Scan {
    static SCANS: OnceLock<Vec<Scan>> = OnceLock::new();
    let all = SCANS.get_or_init(|| {
        let build = |k: ScanKind, lw: u32, lh: u32| {
            let order = |w, h| match k {
                ScanKind::Diagonal => diagonal(w, h),
                ScanKind::Horizontal => raster(w, h, true),
                ScanKind::Vertical => raster(w, h, false),
            };
            let groups = order(1usize << (lw - 2), 1usize << (lh - 2));
            let mut in_group = [(0, 0); 16];
            in_group.copy_from_slice(&order(4, 4));
            Scan { groups, in_group }
        };
        // 16 diagonal shapes (width-major), then the 4 horizontal and the 4
        // vertical squares.
        let mut v = Vec::with_capacity(24);
        for lw in 2..=5 {
            for lh in 2..=5 {
                v.push(build(ScanKind::Diagonal, lw, lh));
            }
        }
        for k in [ScanKind::Horizontal, ScanKind::Vertical] {
            for l in 2..=5 {
                v.push(build(k, l, l));
            }
        }
        v
    });
    debug_assert!((2..=5).contains(&log2w) && (2..=5).contains(&log2h));
    match kind {
        ScanKind::Diagonal => &all[(log2w as usize - 2) * 4 + (log2h as usize - 2)],
        _ => {
            assert_eq!(log2w, log2h, "{kind:?} scan of a rectangle");
            &all[16 + 4 * (kind as usize - 1) + (log2w as usize - 2)]
        }
    }
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

    /// Every scan visits every position of its block once, group by group.
    #[test]
    fn scans_are_permutations() {
        let mut shapes = Vec::new();
        for lw in 2..=5 {
            for lh in 2..=5 {
                shapes.push((ScanKind::Diagonal, lw, lh));
            }
        }
        for l in 2..=5 {
            shapes.push((ScanKind::Horizontal, l, l));
            shapes.push((ScanKind::Vertical, l, l));
        }
        for (kind, lw, lh) in shapes {
            let s = scan(kind, lw, lh);
            let (w, h) = (1usize << lw, 1usize << lh);
            assert_eq!(s.groups.len(), w * h / 16);
            let mut seen = vec![false; w * h];
            for &(gx, gy) in &s.groups {
                for &(x, y) in &s.in_group {
                    let px = gx as usize * 4 + x as usize;
                    let py = gy as usize * 4 + y as usize;
                    assert!(px < w && py < h, "{kind:?} {w}x{h}");
                    assert!(!seen[py * w + px], "{kind:?} {w}x{h}");
                    seen[py * w + px] = true;
                }
            }
            assert!(seen.iter().all(|&b| b));
        }
        // Diagonal 4x4 starts (0,0), (0,1), (1,0), (0,2), ...
        let d = scan(ScanKind::Diagonal, 2, 2);
        assert_eq!(&d.in_group[..4], &[(0, 0), (0, 1), (1, 0), (0, 2)]);
    }

    /// The group order of rectangles, written out: up-right diagonals over the
    /// group grid, each from its lowest group up.
    #[test]
    fn rectangular_group_order() {
        // 16x8: a 4x2 grid of groups.
        let s = scan(ScanKind::Diagonal, 4, 3);
        let want: [Pos; 8] = [
            (0, 0),
            (0, 1),
            (1, 0),
            (1, 1),
            (2, 0),
            (2, 1),
            (3, 0),
            (3, 1),
        ];
        assert_eq!(s.groups, want);
        // 8x16: a 2x4 grid.
        let s = scan(ScanKind::Diagonal, 3, 4);
        let want: [Pos; 8] = [
            (0, 0),
            (0, 1),
            (1, 0),
            (0, 2),
            (1, 1),
            (0, 3),
            (1, 2),
            (1, 3),
        ];
        assert_eq!(s.groups, want);
        // 4x32 and 32x4: a column and a row of groups, in order.
        let col: Vec<Pos> = (0..8).map(|i| (0, i)).collect();
        let row: Vec<Pos> = (0..8).map(|i| (i, 0)).collect();
        assert_eq!(scan(ScanKind::Diagonal, 2, 5).groups, col);
        assert_eq!(scan(ScanKind::Diagonal, 5, 2).groups, row);
        // Every rectangle: diagonals (gx + gy) never decrease, and within a
        // diagonal gy decreases; inside a group the 4x4 diagonal scan.
        for lw in 2..=5u32 {
            for lh in 2..=5u32 {
                let s = scan(ScanKind::Diagonal, lw, lh);
                for p in s.groups.windows(2) {
                    let (a, b) = (p[0], p[1]);
                    let (da, db) = (a.0 + a.1, b.0 + b.1);
                    assert!(db == da + 1 || (db == da && b.1 < a.1), "{lw} {lh}");
                }
                assert_eq!(s.in_group, scan(ScanKind::Diagonal, 2, 2).in_group);
            }
        }
    }

    /// Squares keep the scans they had: the same orders as before rectangles.
    #[test]
    fn square_scans_unchanged() {
        for l in 2..=5u32 {
            let g = 1usize << (l - 2);
            let d = scan(ScanKind::Diagonal, l, l);
            assert_eq!(d.groups, diagonal(g, g));
            assert_eq!(scan(ScanKind::Horizontal, l, l).groups, raster(g, g, true));
            assert_eq!(scan(ScanKind::Vertical, l, l).groups, raster(g, g, false));
            assert_eq!(
                scan(ScanKind::Vertical, l, l).in_group[..5],
                [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]
            );
            assert_eq!(
                scan(ScanKind::Horizontal, l, l).in_group[..5],
                [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1)]
            );
        }
    }
}
