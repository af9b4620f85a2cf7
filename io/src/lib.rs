//! The file formats Mica's tools read and write, kept out of the codec:
//! [`y4m`] (raw 8-bit 4:2:0 video, the input and output of `micaenc` and
//! `micadec`) and [`ivf`] (the container that carries Mica packets, so
//! existing demuxers can carry the stream). Both treat input as untrusted:
//! every size is bounded before allocating, and a malformed file is a typed
//! error, never a panic.
#![warn(missing_docs)]

pub mod ivf;
pub mod y4m;

#[cfg(test)]
mod test_support;
