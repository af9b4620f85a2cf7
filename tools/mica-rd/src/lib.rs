//! mica-rd as a library: the pieces of the `mica-rd` tool (BD computation,
//! metrics, codec drivers, result files, reports), public so that tests and
//! other tools can use them. See docs/mica-rd.md.
#![warn(missing_docs)]

/// `println!` for a command's output on stdout that returns an error instead
/// of panicking when stdout is gone (e.g. piped into `head` or `grep -q`).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)
            .map_err(|e| anyhow::anyhow!("cannot write the output: {e}"))
    }};
}

pub mod bd;
pub mod codecs;
pub mod compare;
pub mod external;
pub mod metrics;
pub mod plot;
pub mod report;
pub mod results;
pub mod roundtrip;
pub mod runner;
pub mod speed;
