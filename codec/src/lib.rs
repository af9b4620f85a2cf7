//! Mica: a hybrid learned-plus-traditional video codec.
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod cpu;
