//! STUB for integration (replaced by the real module at merge).
#![allow(dead_code)]
use crate::cpu::CpuLevel;
use crate::picture::Frame;

pub(crate) struct Neighbour<'a> {
    pub frame: &'a Frame,
    pub distance: i32,
}
pub(crate) struct Filtered {
    pub frame: Frame,
    pub errors: BlockErrors,
}
pub(crate) struct BlockErrors {
    pub unit: usize,
    pub cols: usize,
    pub rows: usize,
    pub distances: Vec<i32>,
    pub error: Vec<Vec<u32>>,
}
pub(crate) fn filter_frame(
    centre: &Frame,
    neighbours: &[Neighbour],
    _qp: i8,
    _strength: f64,
    _cpu: CpuLevel,
) -> Filtered {
    Filtered {
        frame: centre.clone(),
        errors: BlockErrors {
            unit: 8,
            cols: 0,
            rows: 0,
            distances: neighbours.iter().map(|n| n.distance).collect(),
            error: Vec::new(),
        },
    }
}
