//! The file formats Mica's tools read and write, kept out of the codec:
//! [`y4m`] (raw 4:2:0 video at 8 or 10 bits, the input and output of
//! `micaenc` and `micadec`, with Mica's own colour and HDR tags), [`colour`]
//! (the text forms of that metadata, shared with the command line) and
//! [`ivf`] (the container that carries Mica packets, so existing demuxers
//! can carry the stream). Both formats treat input as untrusted:
//! every size is bounded before allocating, and a malformed file is a typed
//! error, never a panic.
#![warn(missing_docs)]

pub mod colour;
pub mod ivf;
pub mod join;
pub mod y4m;

#[cfg(test)]
mod test_support;
