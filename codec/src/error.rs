//! Typed errors of the library.

use thiserror::Error;

/// Everything that can go wrong inside the library.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// An encoder or decoder setting is outside its valid range.
    // The message includes the inner error, so it is not also a `source`
    // (error reporters would print it twice).
    #[error("invalid setting: {0}")]
    Config(ConfigError),
    /// The bitstream is malformed, truncated or uses something this decoder does not support.
    #[error("invalid bitstream: {0}")]
    Bitstream(BitstreamError),
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Error {
        Error::Config(e)
    }
}

impl From<BitstreamError> for Error {
    fn from(e: BitstreamError) -> Error {
        Error::Bitstream(e)
    }
}

/// A setting outside its valid range; the message names the valid range.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// QP outside `min..=51` (min = 0 at 8 bits, -12 at 10 bits).
    #[error("QP {qp} is out of range: valid QPs at {bit_depth} bits are {min}..=51")]
    Qp {
        /// QP asked for.
        qp: i32,
        /// Coded bit depth.
        bit_depth: u8,
        /// Lowest QP at that depth.
        min: i32,
    },
    /// A bit depth other than 8 or 10.
    #[error("{what} bit depth {depth} is not supported: Mica codes 8- and 10-bit video")]
    BitDepth {
        /// Which depth: "coded", "input".
        what: &'static str,
        /// The depth asked for.
        depth: u8,
    },
    /// A frame handed to the encoder is not at the configured input bit depth, or holds a
    /// sample above it.
    #[error("frame {what}")]
    FrameSamples {
        /// What is wrong with it.
        what: String,
    },
    /// More frames than frame numbers (2^32, counted from the first frame's).
    #[error("frame number {0} would pass 2^32 - 1: frames are numbered in 32 bits")]
    FrameNumber(u64),
    /// Malformed HDR metadata.
    #[error("mastering display metadata: {0}")]
    MasteringDisplay(&'static str),
    /// More worker threads than [`crate::cpu::MAX_THREADS`].
    #[error("{0} worker threads is out of range: valid counts are 0 (one per core) ..= 256")]
    Threads(usize),
    /// Chroma QP offset outside -12..=12.
    #[error("chroma QP offset {0} is out of range: valid offsets are -12..=12")]
    ChromaQpOffset(i32),
    /// Deblocking offsets outside -6..=6.
    #[error("deblocking offset {0} is out of range: valid offsets are -6..=6")]
    DeblockOffset(i32),
    /// Picture dimensions that are zero or too large.
    #[error("picture size {width}x{height} is not supported: each side must be 1..={max_side} and width*height at most {max_pixels}")]
    Dimensions {
        /// Width asked for.
        width: usize,
        /// Height asked for.
        height: usize,
        /// Largest side.
        max_side: usize,
        /// Largest sample count.
        max_pixels: usize,
    },
    /// A frame handed to the encoder does not have the configured size.
    #[error("frame size {got_w}x{got_h} differs from the configured {want_w}x{want_h}")]
    FrameSize {
        /// Configured width.
        want_w: usize,
        /// Configured height.
        want_h: usize,
        /// Width of the frame given.
        got_w: usize,
        /// Height of the frame given.
        got_h: usize,
    },
    /// Hierarchical group size outside 1..=32.
    #[error("GOP size {0} is out of range: valid sizes are 1..=32")]
    GopSize(usize),
    /// Frame rate with a zero numerator or denominator.
    #[error("frame rate {0}/{1} is invalid: both terms must be positive")]
    FrameRate(u32, u32),
    /// A target bit rate that is not a number within 1..=1000000 kbit/s.
    #[error("target bit rate {0} kbit/s is out of range: valid rates are 1..=1000000 kbit/s")]
    Bitrate(String),
    /// First-pass statistics that cannot drive a second pass.
    #[error("first-pass statistics {0}")]
    FirstPass(String),
    /// A constant-quality level outside the coded depth's QP range.
    #[error(
        "constant quality {crf} is out of range at {bit_depth} bits: valid levels are {min}..=51"
    )]
    Quality {
        /// The level asked for.
        crf: String,
        /// The coded bit depth.
        bit_depth: u8,
        /// The lowest level at that depth.
        min: i32,
    },
    /// A buffer model that is out of range or cannot be kept.
    #[error("buffer model: {0}")]
    Buffer(String),
}

/// A malformed or unsupported bitstream.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BitstreamError {
    /// The packet ended inside a header.
    #[error("packet is truncated inside the {0} header")]
    TruncatedHeader(&'static str),
    /// A field holds a value the specification does not allow.
    #[error("{field} = {value} is not allowed ({allowed})")]
    InvalidField {
        /// The syntax element.
        field: &'static str,
        /// The value read.
        value: i64,
        /// What is allowed.
        allowed: &'static str,
    },
    /// Dimensions above the decoder's limits.
    #[error("coded size {width}x{height} exceeds the decoder limit ({max_side} per side, {max_pixels} samples)")]
    TooLarge {
        /// Coded width.
        width: u32,
        /// Coded height.
        height: u32,
        /// Largest side.
        max_side: u32,
        /// Largest sample count.
        max_pixels: u64,
    },
    /// A packet before any packet carrying a sequence header (a stream starts at a
    /// random access point: a keyframe with the sequence header).
    #[error("the stream does not start with a keyframe carrying a sequence header")]
    MissingSequenceHeader,
    /// The entropy-coded payload did not end where the packet ends.
    #[error("frame {frame}: the coded data {what} (payload {len} bytes, decoder used {used})")]
    PayloadMismatch {
        /// Frame number from the frame header.
        frame: u32,
        /// "is truncated or corrupt" / "has trailing bytes".
        what: &'static str,
        /// Payload size.
        len: usize,
        /// Bytes the arithmetic decoder read.
        used: usize,
    },
    /// A coefficient or level outside the representable range.
    #[error("frame {frame}: a coefficient level escape is too long (corrupt data)")]
    LevelOverflow {
        /// Frame number.
        frame: u32,
    },
    /// The stream needs a learned model the decoder does not have.
    #[error("the stream needs model {0}, which this decoder does not have")]
    MissingModel(String),
    /// An empty packet.
    #[error("empty packet")]
    EmptyPacket,
    /// An error in a frame's payload (the frame number says which, as a
    /// decoder with frame threads may report it after later packets).
    #[error("frame {frame}: {error}")]
    InFrame {
        /// Frame number from the frame header.
        frame: u32,
        /// What is wrong.
        error: Box<BitstreamError>,
    },
}

impl BitstreamError {
    /// This error, naming frame `frame` if it does not already.
    pub(crate) fn in_frame(self, frame: u32) -> BitstreamError {
        match self {
            BitstreamError::PayloadMismatch { .. }
            | BitstreamError::LevelOverflow { .. }
            | BitstreamError::InFrame { .. } => self,
            error => BitstreamError::InFrame {
                frame,
                error: Box::new(error),
            },
        }
    }
}
