//! mica-rd as a library: the pieces of the `mica-rd` tool (BD computation,
//! metrics, codec drivers, result files, reports), public so that tests and
//! other tools can use them. See docs/mica-rd.md.
#![warn(missing_docs)]

pub mod bd;
pub mod codecs;
pub mod external;
pub mod metrics;
pub mod plot;
pub mod report;
pub mod results;
pub mod runner;
