//! Every adaptive context of the block syntax, in one array per syntax
//! element, and their state at the start of a frame (`docs/bitstream.md` 3):
//! the trained initialisation tables per frame type and QP class
//! (`context_init.rs`, `docs/context-init.md`), or one half.
//!
//! The tools own their syntax and choose the context of each bin; the
//! arrays live here together because a frame codes, resets and reports them
//! together.

use super::context_init::CONTEXT_INIT;
use super::Context;
use crate::bitstream::MAX_QP;

/// Every context array of the block syntax (named as in `docs/bitstream.md`)
/// and its length, in the order of the initialisation tables
/// (`docs/context-init.md`); `nn_filter[k][c]` is entry `3k + c`.
pub const CONTEXT_ELEMENTS: [(&str, usize); 31] = [
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
    ("split_qt", 3),
    ("mtt_vertical", 3),
    ("mtt_binary", 4),
    ("cclm", 1),
    ("mmvd", 3),
    ("amvr", 2),
    ("smvd", 1),
];

/// Number of adaptive contexts (189).
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
    /// split_qt_flag (multi-type tree) by the neighbours smaller in both
    /// directions.
    pub split_qt: [Context; 3],
    /// mtt_vertical_flag by the node's shape (square, wide, tall).
    pub mtt_vertical: [Context; 3],
    /// cclm_flag (cross-component chroma prediction, `tool_flags` bit 8).
    pub cclm: [Context; 1],
    /// mtt_binary_flag (ternary splits, `tool_flags` bit 9) by direction
    /// and multi-type depth.
    pub mtt_binary: [Context; 4],
    /// mmvd_flag, mmvd_cand_flag and the first bin of mmvd_distance_idx
    /// (`inter_tool_flags` bit 3).
    pub mmvd: [Context; 3],
    /// amvr_flag and amvr_4pel_flag (`inter_tool_flags` bit 4).
    pub amvr: [Context; 2],
    /// sym_mvd_flag (`inter_tool_flags` bit 5).
    pub smvd: [Context; 1],
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
    let mut qps = (0..=MAX_QP as u8).filter(|&q| context_qp_class(q) == class);
    let first = qps.next().expect("every class holds a QP");
    (first, qps.next_back().unwrap_or(first))
}

impl Contexts {
    /// The contexts at the start of a frame (`docs/bitstream.md` 3): with
    /// `trained`, the initialisation table of its frame type (KEY or INTER)
    /// and QP class (QPs below 0, at high bit depths, in the class of 0);
    /// otherwise every context at one half.
    pub fn for_frame(trained: bool, key: bool, qp: i8) -> Contexts {
        let mut ctx = Contexts::default();
        if !trained {
            return ctx;
        }
        let table = &CONTEXT_INIT[key as usize][context_qp_class(qp.max(0) as u8)];
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
            .chain(&self.split_qt)
            .chain(&self.mtt_vertical)
            .chain(&self.mtt_binary)
            .chain(&self.cclm)
            .chain(&self.mmvd)
            .chain(&self.amvr)
            .chain(&self.smvd)
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
            .chain(&mut self.split_qt)
            .chain(&mut self.mtt_vertical)
            .chain(&mut self.mtt_binary)
            .chain(&mut self.cclm)
            .chain(&mut self.mmvd)
            .chain(&mut self.amvr)
            .chain(&mut self.smvd)
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
            split_qt: [c; 3],
            mtt_vertical: [c; 3],
            cclm: [c; 1],
            mtt_binary: [c; 4],
            mmvd: [c; 3],
            amvr: [c; 2],
            smvd: [c; 1],
        }
    }
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
        assert_eq!(ctx.smvd[0].p0(), 1000 + NUM_CONTEXTS as u32 - 1);
        assert_eq!(ctx.amvr[1].p0(), 1000 + NUM_CONTEXTS as u32 - 2);
        assert_eq!(ctx.cclm[0].p0(), 1000 + NUM_CONTEXTS as u32 - 7);
        assert_eq!(ctx.nn_intra[8].p0(), 1000 + NUM_CONTEXTS as u32 - 18);
        assert_eq!(
            ctx.nn_filter[1][0].p0(),
            1000 + NUM_CONTEXTS as u32 - 17 - 9 - 3
        );
        // Every context is in the tables.
        assert_eq!(std::mem::size_of::<Contexts>(), NUM_CONTEXTS * 4);
        let trained = Contexts::for_frame(true, false, 32);
        assert_eq!(
            trained.mmvd.map(|c| c.p0()),
            std::array::from_fn(|i| u32::from(CONTEXT_INIT[0][2][NUM_CONTEXTS - 6 + i]))
        );
        assert!(Contexts::for_frame(false, false, 32)
            .mmvd
            .iter()
            .all(|c| c.p0() == 16384));
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
            "split_qt" => &mut c.split_qt,
            "mtt_vertical" => &mut c.mtt_vertical,
            "mtt_binary" => &mut c.mtt_binary,
            "cclm" => &mut c.cclm,
            "mmvd" => &mut c.mmvd,
            "amvr" => &mut c.amvr,
            "smvd" => &mut c.smvd,
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
                assert!(Contexts::for_frame(false, key, qp as i8)
                    .iter()
                    .all(|c| c.p0() == 16384));
                let ctx = Contexts::for_frame(true, key, qp as i8);
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
        let spec = include_str!("../../../docs/bitstream.md").replace('\n', " ");
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
        for qp in 0..=MAX_QP as u8 {
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
        let tables = include_str!("../../../docs/context-init.md");
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
        let spec = include_str!("../../../docs/context-init.md");
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
