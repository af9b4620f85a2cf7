//! YUV4MPEG2 (`.y4m`) reading and writing: 4:2:0 at 8 or 10 bits.
//!
//! A y4m file is one ASCII header line (`YUV4MPEG2 W.. H.. F.. ...\n`) and then,
//! per frame, a `FRAME` line followed by the raw Y, U and V planes. Mica codes
//! 4:2:0 at 8 and 10 bits:
//!
//! | `C` tag | samples | `XYSCSS` (ffmpeg's tag, written and checked) |
//! |---|---|---|
//! | none, `C420`, `C420jpeg`, `C420mpeg2`, `C420paldv` | 8 bits, one byte each | none, `420JPEG`, `420MPEG2`, `420PALDV` |
//! | `C420p10` | 10 bits in a little-endian `u16` each (as ffmpeg writes them) | `420P10` |
//!
//! Every other sample format (`C420p12`, `C444p10`, `Cmono`, ...) is refused up
//! front with an error that names it, instead of being misread as 4:2:0 later.
//! An `XYSCSS` that names another depth or subsampling than `C` is refused;
//! with no `C` tag, `XYSCSS=420P10` means 10-bit 4:2:0 (as ffmpeg reads it).
//! Frames come out as [`Frame`]s with `bit_depth` 8 or 10; a 10-bit sample
//! above 1023 is an error naming the frame, plane and position.
//!
//! y4m has no standard tags for colour or HDR metadata, so Mica defines its own
//! extension tags (other readers ignore `X` tags they do not know), whose
//! values use the text forms of [`crate::colour`]:
//!
//! | tag | value | example |
//! |---|---|---|
//! | `XMICA_COLOUR` | `<primaries>,<transfer>,<matrix>`, ITU-T H.273 code points | `XMICA_COLOUR=9,16,9` (BT.2020, PQ, BT.2020 non-constant) |
//! | `XMICA_MASTERING` | `G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)`, x265's `--master-display` syntax and units | `XMICA_MASTERING=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)` |
//! | `XMICA_CLL` | `<max_cll>,<max_fall>` in cd/m² | `XMICA_CLL=1000,400` |
//!
//! They are written after `XCOLORRANGE`, in this order, when the stream has
//! the metadata. A malformed value (not numbers, the wrong shape, a
//! chromaticity above 50000, a minimum luminance not below the maximum) and
//! an unknown `XMICA_` tag are refused with an error naming the tag.
//!
//! Input is treated as untrusted: the header line is length-limited, sizes are
//! checked against [`MAX_DIMENSION`] and [`MAX_PIXELS`] before any frame buffer
//! is allocated, and a short file gives [`Y4mError::TruncatedFrame`] rather than
//! a half-filled frame.

use std::io::{self, BufRead, BufReader, Read, Write};

use thiserror::Error;

use mica::{ColourDescription, ContentLight, Frame, MasteringDisplay, SequenceHeader, VideoInfo};

use crate::colour::{self, MetadataError};

/// Size of each chroma plane of a 4:2:0 picture (rounded up, as y4m stores odd sizes).
/// Appends a frame's samples to `out` as a y4m file stores them: Y, U, V plane
/// by plane, one byte per sample at 8 bits, a little-endian 16-bit word at 10.
/// (Also what `micadec --md5` hashes.)
pub fn append_sample_bytes(frame: &Frame, out: &mut Vec<u8>) {
    for plane in &frame.planes {
        if frame.bit_depth == 8 {
            out.extend(plane.data.iter().map(|&s| s as u8));
        } else {
            out.extend(plane.data.iter().flat_map(|s| s.to_le_bytes()));
        }
    }
}

fn chroma_420_size(width: usize, height: usize) -> (usize, usize) {
    (width.div_ceil(2), height.div_ceil(2))
}

/// Largest accepted width or height, in luma samples.
pub const MAX_DIMENSION: usize = 16384;
/// Largest accepted luma area (width x height): bounds one frame to 192 MiB
/// in memory (16-bit samples), 192 MiB in a 10-bit file.
pub const MAX_PIXELS: usize = 8192 * 8192;
/// Longest accepted header or `FRAME` line, in bytes, not counting its `'\n'`.
/// Real headers are under 100 bytes; the limit stops a file with no newline
/// from being read into memory whole.
pub const MAX_LINE_LEN: usize = 1024;

const MAGIC: &[u8; 10] = b"YUV4MPEG2 ";
const FRAME_TAG: &[u8] = b"FRAME";
/// The `C` values that mean 8-bit 4:2:0 (they differ only in chroma siting,
/// which does not change the memory layout). `"420"` also stands for "no `C` tag".
const COLORSPACES_8BIT: [&str; 4] = ["420", "420jpeg", "420mpeg2", "420paldv"];
/// The `C` value of 10-bit 4:2:0 (little-endian 16-bit samples).
pub const COLORSPACE_10BIT: &str = "420p10";
/// What the errors say Mica reads.
const SUPPORTED: &str = "Mica reads 4:2:0 at 8 bits (C420, C420jpeg, C420mpeg2, C420paldv \
                         or no C tag) and at 10 bits (C420p10)";
/// Mica's own extension tags (after the `X`), in the order they are written.
const MICA_TAGS: [&str; 3] = ["XMICA_COLOUR", "XMICA_MASTERING", "XMICA_CLL"];
/// Plane names for messages.
const PLANE_NAMES: [&str; 3] = ["Y", "U", "V"];
const INTERLACE_MODES: [char; 5] = ['p', 't', 'b', 'm', '?'];
/// How many bytes of a bad magic or marker to quote in an error message.
const QUOTE_LEN: usize = 16;

/// Everything that can be wrong with a y4m stream, or with a frame or header
/// handed to [`Y4mWriter`].
#[derive(Debug, Error)]
pub enum Y4mError {
    /// Reading or writing failed; the cause is in the message too, so a plain
    /// `{}` tells the user what failed.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What was being read or written.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The input has no bytes at all.
    #[error("empty input: no y4m header")]
    EmptyInput,
    /// The input does not start with `YUV4MPEG2 `.
    #[error("not a y4m file: it starts with \"{found}\", expected \"YUV4MPEG2 \"")]
    BadMagic {
        /// The first bytes of the input, escaped.
        found: String,
    },
    /// No newline within the first [`MAX_LINE_LEN`] bytes.
    #[error("y4m header line is longer than the {MAX_LINE_LEN} bytes allowed (no newline found)")]
    HeaderTooLong,
    /// The input ends before the header line's newline.
    #[error("y4m header line has no terminating newline: the input ends after {len} bytes")]
    HeaderMissingNewline {
        /// Bytes of input there were.
        len: usize,
    },
    /// The header line holds non-ASCII bytes.
    #[error("y4m header is not text (it must be ASCII)")]
    HeaderNotText,
    /// A tag that is neither a standard one nor an `X` extension.
    #[error("y4m header tag \"{tag}\" is unknown: allowed tags are W, H, F, I, A, C and X...")]
    UnknownTag {
        /// The whole tag, escaped.
        tag: String,
    },
    /// A tag given twice (which value to believe is unclear).
    #[error("y4m header gives the {tag} tag twice")]
    DuplicateTag {
        /// The tag's name.
        tag: String,
    },
    /// `W` or `H` is absent.
    #[error("y4m header has no {tag} tag: W (width) and H (height) are required")]
    MissingDimension {
        /// `'W'` or `'H'`.
        tag: char,
    },
    /// `W0` or `H0`.
    #[error("{tag}0 is not a valid size: W and H must be from 1 to {MAX_DIMENSION}")]
    ZeroDimension {
        /// `'W'` or `'H'`.
        tag: char,
    },
    /// `W` or `H` is not a plain decimal number.
    #[error(
        "{tag}{value} is not a valid size: W and H must be whole numbers from 1 to {MAX_DIMENSION}"
    )]
    NonNumericDimension {
        /// `'W'` or `'H'`.
        tag: char,
        /// The value as given, escaped.
        value: String,
    },
    /// `W` or `H` above [`MAX_DIMENSION`].
    #[error("{tag}{value} is too large: W and H may be at most {MAX_DIMENSION}")]
    DimensionTooLarge {
        /// `'W'` or `'H'`.
        tag: char,
        /// The value as given.
        value: String,
    },
    /// Each side is within limits but the area is above [`MAX_PIXELS`].
    #[error("{width}x{height} is {} pixels: at most {MAX_PIXELS} (8192x8192) are allowed", *width as u64 * *height as u64)]
    TooManyPixels {
        /// Width in luma samples.
        width: usize,
        /// Height in luma samples.
        height: usize,
    },
    /// `F` is not `<num>:<den>`.
    #[error("F{value} is not a valid frame rate: expected F<num>:<den> with whole numbers")]
    InvalidFrameRate {
        /// The value as given, escaped.
        value: String,
    },
    /// `F` with a zero term (no timing can be derived from it).
    #[error(
        "F{num}:{den} is not a valid frame rate: numerator and denominator must both be non-zero"
    )]
    ZeroFrameRate {
        /// Frame rate numerator.
        num: u32,
        /// Frame rate denominator.
        den: u32,
    },
    /// `I` is not one of `p`, `t`, `b`, `m`, `?`.
    #[error("I{value} is not a valid interlace mode: allowed are Ip, It, Ib, Im and I?")]
    InvalidInterlace {
        /// The value as given, escaped.
        value: String,
    },
    /// `A` is not `<num>:<den>`.
    #[error("A{value} is not a valid aspect ratio: expected A<num>:<den> with whole numbers (A0:0 = unknown)")]
    InvalidAspect {
        /// The value as given, escaped.
        value: String,
    },
    /// A `C` tag (or, with no `C`, an `XYSCSS` tag) naming a sample format
    /// other than 4:2:0 (4:2:2, 4:4:4, mono, ...).
    #[error("unsupported colorspace {tag}: {SUPPORTED}")]
    UnsupportedColorspace {
        /// The tag as given (`C444`, `XYSCSS=444P10`), escaped.
        tag: String,
    },
    /// 4:2:0 at a bit depth other than 8 or 10 (`C420p12`, `C420p16`, ...).
    #[error("unsupported bit depth: {tag} has {depth}-bit samples; {SUPPORTED}")]
    UnsupportedBitDepth {
        /// The tag as given (`C420p12`, `XYSCSS=420P12`), escaped.
        tag: String,
        /// Its bits per sample.
        depth: u32,
    },
    /// `C` and `XYSCSS` name different sample formats.
    #[error("y4m header tags disagree: C{colorspace} is {c_format} but XYSCSS={yscss} is {yscss_format}")]
    InconsistentYscss {
        /// The `C` value.
        colorspace: String,
        /// The `XYSCSS` value, escaped.
        yscss: String,
        /// What `C` names, e.g. "8-bit 4:2:0".
        c_format: String,
        /// What `XYSCSS` names, e.g. "10-bit 4:2:0".
        yscss_format: String,
    },
    /// A malformed `XMICA_COLOUR`, `XMICA_MASTERING` or `XMICA_CLL` value.
    #[error("{tag}={value} is not valid: {reason}")]
    InvalidMetadata {
        /// The tag (`XMICA_MASTERING`, ...).
        tag: &'static str,
        /// The value as given, escaped.
        value: String,
        /// What is wrong with it.
        reason: MetadataError,
    },
    /// An `XMICA_` tag Mica does not define (most likely a misspelt one).
    #[error("unknown Mica tag {tag}: Mica's tags are XMICA_COLOUR, XMICA_MASTERING and XMICA_CLL")]
    UnknownMicaTag {
        /// The whole tag, escaped.
        tag: String,
    },
    /// An `XCOLORRANGE` value that would break the header line.
    #[error(
        "XCOLORRANGE={value} is not valid: the value must not contain spaces or control characters"
    )]
    InvalidColorRange {
        /// The value, escaped.
        value: String,
    },
    /// A frame does not start with a `FRAME` line.
    #[error("frame {frame}: expected a FRAME marker line, found \"{found}\"")]
    BadFrameMarker {
        /// Frame index, from 0.
        frame: u64,
        /// The first bytes found instead, escaped.
        found: String,
    },
    /// A `FRAME` line with no newline within [`MAX_LINE_LEN`] bytes.
    #[error("frame {frame}: FRAME marker line is longer than {MAX_LINE_LEN} bytes")]
    FrameMarkerTooLong {
        /// Frame index, from 0.
        frame: u64,
    },
    /// The input ends inside a `FRAME` line.
    #[error("frame {frame} is truncated: the input ends inside its FRAME marker line")]
    TruncatedFrameMarker {
        /// Frame index, from 0.
        frame: u64,
    },
    /// The input ends inside a frame's samples.
    #[error("frame {frame} is truncated: expected {expected} bytes of samples, got {got}")]
    TruncatedFrame {
        /// Frame index, from 0.
        frame: u64,
        /// Sample bytes a frame has.
        expected: usize,
        /// Sample bytes there were.
        got: usize,
    },
    /// A sample above the stream's bit depth (a 10-bit sample above 1023 in a
    /// file; or a frame handed to [`Y4mWriter::write_frame`]).
    #[error("frame {frame}: sample {value} at (x {x}, y {y}) of plane {plane} is above the {depth}-bit maximum {max}", plane = PLANE_NAMES[*plane], max = (1u32 << depth) - 1)]
    SampleOutOfRange {
        /// Frame index, from 0.
        frame: u64,
        /// Plane index (0 = Y, 1 = U, 2 = V).
        plane: usize,
        /// Column in the plane.
        x: usize,
        /// Row in the plane.
        y: usize,
        /// The sample.
        value: u16,
        /// The stream's bits per sample.
        depth: u8,
    },
    /// [`Y4mWriter::write_frame`] got a frame of another bit depth than the header's.
    #[error("frame {frame} has {depth}-bit samples but the y4m stream is {expected}-bit")]
    FrameDepthMismatch {
        /// Frame index, from 0.
        frame: u64,
        /// The frame's bit depth.
        depth: u8,
        /// The header's bit depth.
        expected: u8,
    },
    /// [`Y4mWriter::write_frame`] got a frame of another size than the header's.
    #[error("frame {frame} is {width}x{height} but the y4m stream is {expected_width}x{expected_height}")]
    FrameSizeMismatch {
        /// Frame index, from 0.
        frame: u64,
        /// The frame's width.
        width: usize,
        /// The frame's height.
        height: usize,
        /// The header's width.
        expected_width: usize,
        /// The header's height.
        expected_height: usize,
    },
    /// [`Y4mWriter::write_frame`] got a frame whose plane sizes or buffers do
    /// not match 4:2:0 at the header's size.
    #[error("frame {frame}: plane {plane} is {width}x{height} holding {len} samples, but a 4:2:0 frame of this stream needs {expected_width}x{expected_height} ({} samples)", expected_width * expected_height)]
    BadPlane {
        /// Frame index, from 0.
        frame: u64,
        /// Plane index (0 = Y, 1 = U, 2 = V).
        plane: usize,
        /// The plane's width.
        width: usize,
        /// The plane's height.
        height: usize,
        /// The plane's buffer length in samples.
        len: usize,
        /// The width it must have.
        expected_width: usize,
        /// The height it must have.
        expected_height: usize,
    },
}

impl Y4mError {
    fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Y4mError {
        let context = context.into();
        move |source| Y4mError::Io { context, source }
    }
}

/// The stream header: everything Mica keeps from a y4m header line.
///
/// The writer writes these fields back, so decoded output carries the
/// source's frame rate, interlace, aspect, chroma siting, range and colour
/// tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Y4mHeader {
    /// Width in luma samples.
    pub width: usize,
    /// Height in luma samples.
    pub height: usize,
    /// Frame rate numerator (`F<num>:<den>`; 25:1 when the header has no `F` tag).
    pub fps_num: u32,
    /// Frame rate denominator.
    pub fps_den: u32,
    /// `'p'` progressive, `'t'` top field first, `'b'` bottom field first,
    /// `'m'` mixed, `'?'` unknown (also used when the header has no `I` tag).
    pub interlace: char,
    /// Pixel aspect ratio; `(0, 0)` means unknown (also used when there is no `A` tag).
    pub aspect: (u32, u32),
    /// The `C` value, e.g. `"420jpeg"`, or [`COLORSPACE_10BIT`] for 10-bit
    /// samples; `"420"` when the header has no `C` tag. It sets the bit depth
    /// ([`Y4mHeader::bit_depth`]).
    pub colorspace: String,
    /// The `XCOLORRANGE` value (`"LIMITED"` or `"FULL"` from ffmpeg), if given.
    pub color_range: Option<String>,
    /// `XMICA_COLOUR`: primaries, transfer and matrix, if given.
    pub colour: Option<ColourDescription>,
    /// `XMICA_MASTERING`: the mastering display, if given.
    pub mastering_display: Option<MasteringDisplay>,
    /// `XMICA_CLL`: content light levels, if given.
    pub content_light: Option<ContentLight>,
}

/// The subsampling and bits per sample a `C` value (or a lower-cased `XYSCSS`
/// value) names, as ffmpeg spells them: `420jpeg`, `420p10`, `444`, `mono16`...
/// `None` for a value that names no format ffmpeg knows.
fn sample_format(value: &str) -> Option<(&'static str, u32)> {
    let (sub, rest) = [
        ("420", "4:2:0"),
        ("422", "4:2:2"),
        ("444", "4:4:4"),
        ("411", "4:1:1"),
        ("mono", "mono"),
    ]
    .into_iter()
    .find_map(|(prefix, sub)| value.strip_prefix(prefix).map(|rest| (sub, rest)))?;
    let digits = |d: &str| -> Option<u32> {
        (!d.is_empty() && d.len() <= 2 && d.bytes().all(|b| b.is_ascii_digit()))
            .then(|| d.parse().ok())
            .flatten()
    };
    match (sub, rest) {
        (_, "") => Some((sub, 8)),
        ("4:2:0", "jpeg" | "mpeg2" | "paldv") => Some((sub, 8)),
        ("4:4:4", "alpha") => Some(("4:4:4 with alpha", 8)),
        ("mono", d) => Some((sub, digits(d)?)),
        ("4:2:0" | "4:2:2" | "4:4:4", p) => Some((sub, digits(p.strip_prefix('p')?)?)),
        _ => None,
    }
}

/// The bits per sample of a `C` value Mica reads; the error for any other
/// (`tag` is how the value appeared: `C420p12`, `XYSCSS=420P12`).
fn colorspace_depth(value: &str, tag: String) -> Result<u8, Y4mError> {
    if COLORSPACES_8BIT.contains(&value) {
        return Ok(8);
    }
    if value == COLORSPACE_10BIT {
        return Ok(10);
    }
    Err(match sample_format(value) {
        Some(("4:2:0", depth)) => Y4mError::UnsupportedBitDepth { tag, depth },
        _ => Y4mError::UnsupportedColorspace { tag },
    })
}

impl Y4mHeader {
    /// A progressive, square-pixel 8-bit 4:2:0 header with no chroma-siting,
    /// range or colour claims, for output that has no source header to copy
    /// ([`Y4mHeader::with_bit_depth`] for 10 bits).
    pub fn new(width: usize, height: usize, fps_num: u32, fps_den: u32) -> Y4mHeader {
        Y4mHeader {
            width,
            height,
            fps_num,
            fps_den,
            interlace: 'p',
            aspect: (1, 1),
            colorspace: "420".to_string(),
            color_range: None,
            colour: None,
            mastering_display: None,
            content_light: None,
        }
    }

    /// Bits per sample the `C` tag names: 8, or 10 for [`COLORSPACE_10BIT`]
    /// (for a header that has not been validated, the `N` of `C420pN`).
    pub fn bit_depth(&self) -> u8 {
        match sample_format(&self.colorspace) {
            Some((_, depth)) => depth.min(u8::MAX as u32) as u8,
            None => 8,
        }
    }

    /// The same header for 4:2:0 samples of `bit_depth` bits: `C420p10` at 10
    /// bits (y4m has no chroma siting variants of it); at 8 bits the `C` tag
    /// is kept if it is already 8-bit, else `C420`. Other depths give a `C`
    /// tag that [`Y4mHeader::validate`] refuses.
    pub fn with_bit_depth(mut self, bit_depth: u8) -> Y4mHeader {
        if bit_depth != self.bit_depth() {
            self.colorspace = if bit_depth == 8 {
                "420".to_string()
            } else {
                format!("420p{bit_depth}")
            };
        }
        self
    }

    /// Checks that the header describes a stream Mica can read or write:
    /// sizes within the limits, non-zero frame rate, a known interlace mode,
    /// 4:2:0 at 8 or 10 bits, a valid mastering display, and tag values that
    /// fit on the header line.
    pub fn validate(&self) -> Result<(), Y4mError> {
        for (tag, size) in [('W', self.width), ('H', self.height)] {
            if size == 0 {
                return Err(Y4mError::ZeroDimension { tag });
            }
            if size > MAX_DIMENSION {
                return Err(Y4mError::DimensionTooLarge {
                    tag,
                    value: size.to_string(),
                });
            }
        }
        if self.width * self.height > MAX_PIXELS {
            return Err(Y4mError::TooManyPixels {
                width: self.width,
                height: self.height,
            });
        }
        if self.fps_num == 0 || self.fps_den == 0 {
            return Err(Y4mError::ZeroFrameRate {
                num: self.fps_num,
                den: self.fps_den,
            });
        }
        if !INTERLACE_MODES.contains(&self.interlace) {
            return Err(Y4mError::InvalidInterlace {
                value: self.interlace.to_string(),
            });
        }
        colorspace_depth(
            &self.colorspace,
            format!("C{}", self.colorspace.escape_debug()),
        )?;
        if let Some(range) = &self.color_range {
            if range.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Y4mError::InvalidColorRange {
                    value: range.escape_debug().to_string(),
                });
            }
        }
        if let Some(m) = &self.mastering_display {
            if let Some(problem) = m.problem() {
                return Err(Y4mError::InvalidMetadata {
                    tag: "XMICA_MASTERING",
                    value: colour::format_mastering_display(m),
                    reason: MetadataError::Values(problem),
                });
            }
        }
        Ok(())
    }

    /// Bytes of samples in one frame (Y + U + V), not counting the `FRAME`
    /// line: one byte per sample at 8 bits, two at 10.
    pub fn frame_bytes(&self) -> usize {
        let (cw, ch) = chroma_420_size(self.width, self.height);
        (self.width * self.height + 2 * cw * ch) * bytes_per_sample(self.bit_depth())
    }

    /// The header line, newline included, in ffmpeg's tag order, then Mica's
    /// colour tags.
    ///
    /// `XYSCSS` is written as ffmpeg writes it (derived from `C`, so the two
    /// cannot disagree): ffmpeg-written sources then round-trip byte for byte,
    /// and ffmpeg reads the tag when it picks the pixel format.
    pub fn header_line(&self) -> String {
        let mut line = format!(
            "YUV4MPEG2 W{} H{} F{}:{} I{} A{}:{} C{}",
            self.width,
            self.height,
            self.fps_num,
            self.fps_den,
            self.interlace,
            self.aspect.0,
            self.aspect.1,
            self.colorspace
        );
        let yscss = match self.colorspace.as_str() {
            "420jpeg" => Some("420JPEG"),
            "420mpeg2" => Some("420MPEG2"),
            "420paldv" => Some("420PALDV"),
            COLORSPACE_10BIT => Some("420P10"),
            _ => None,
        };
        if let Some(yscss) = yscss {
            line.push_str(" XYSCSS=");
            line.push_str(yscss);
        }
        if let Some(range) = &self.color_range {
            line.push_str(" XCOLORRANGE=");
            line.push_str(range);
        }
        let values = [
            self.colour.as_ref().map(colour::format_colour),
            self.mastering_display
                .as_ref()
                .map(colour::format_mastering_display),
            self.content_light
                .as_ref()
                .map(colour::format_content_light),
        ];
        for (tag, value) in MICA_TAGS.iter().zip(values) {
            if let Some(value) = value {
                line.push_str(&format!(" {tag}={value}"));
            }
        }
        line.push('\n');
        line
    }

    /// Parses the tags of a header line (after the magic, without the newline).
    fn parse(tags: &[u8]) -> Result<Y4mHeader, Y4mError> {
        if !tags.is_ascii() {
            return Err(Y4mError::HeaderNotText);
        }
        let tags = std::str::from_utf8(tags).expect("ASCII is valid UTF-8");
        let mut width = None;
        let mut height = None;
        let mut rate = None;
        let mut interlace = None;
        let mut aspect = None;
        let mut colorspace = None;
        let mut yscss = None;
        let mut color_range = None;
        let mut colour = None;
        let mut mastering_display = None;
        let mut content_light = None;
        // Repeated spaces are tolerated (empty tokens skipped), as ffmpeg does.
        for token in tags.split(' ').filter(|t| !t.is_empty()) {
            let (tag, value) = token.split_at(1);
            let tag_char = tag.as_bytes()[0] as char;
            match tag_char {
                'W' => set_once(&mut width, "W", parse_dimension('W', value)?)?,
                'H' => set_once(&mut height, "H", parse_dimension('H', value)?)?,
                'F' => {
                    let (num, den) =
                        parse_ratio(value).ok_or_else(|| Y4mError::InvalidFrameRate {
                            value: value.escape_debug().to_string(),
                        })?;
                    set_once(&mut rate, "F", (num, den))?;
                }
                'I' => {
                    let mut chars = value.chars();
                    let mode = match (chars.next(), chars.next()) {
                        (Some(c), None) if INTERLACE_MODES.contains(&c) => c,
                        _ => {
                            return Err(Y4mError::InvalidInterlace {
                                value: value.escape_debug().to_string(),
                            })
                        }
                    };
                    set_once(&mut interlace, "I", mode)?;
                }
                'A' => {
                    let ratio = parse_ratio(value).ok_or_else(|| Y4mError::InvalidAspect {
                        value: value.escape_debug().to_string(),
                    })?;
                    set_once(&mut aspect, "A", ratio)?;
                }
                'C' => {
                    colorspace_depth(value, format!("C{}", value.escape_debug()))?;
                    set_once(&mut colorspace, "C", value.to_string())?;
                }
                'X' => {
                    // Extension tags carry optional metadata; Mica reads the
                    // range, ffmpeg's sample format and its own colour tags.
                    // (`XCOLORRANGE` or `XYSCSS` with no `=` are ignored, as before;
                    // Mica's tags with no value are malformed.)
                    let (name, tag_value, has_value) = match token.split_once('=') {
                        Some((name, v)) => (name, v, true),
                        None => (token, "", false),
                    };
                    let metadata =
                        |tag: &'static str, e: MetadataError| Y4mError::InvalidMetadata {
                            tag,
                            value: tag_value.escape_debug().to_string(),
                            reason: e,
                        };
                    match name {
                        "XCOLORRANGE" if has_value => {
                            set_once(&mut color_range, name, tag_value.to_string())?
                        }
                        "XYSCSS" if has_value => set_once(&mut yscss, name, tag_value.to_string())?,
                        "XMICA_COLOUR" => {
                            let c = colour::parse_colour(tag_value)
                                .map_err(|e| metadata("XMICA_COLOUR", e))?;
                            set_once(&mut colour, name, c)?;
                        }
                        "XMICA_MASTERING" => {
                            let m = colour::parse_mastering_display(tag_value)
                                .map_err(|e| metadata("XMICA_MASTERING", e))?;
                            set_once(&mut mastering_display, name, m)?;
                        }
                        "XMICA_CLL" => {
                            let l = colour::parse_content_light(tag_value)
                                .map_err(|e| metadata("XMICA_CLL", e))?;
                            set_once(&mut content_light, name, l)?;
                        }
                        _ if name.starts_with("XMICA_") => {
                            return Err(Y4mError::UnknownMicaTag {
                                tag: token.escape_debug().to_string(),
                            })
                        }
                        _ => {}
                    }
                }
                _ => {
                    return Err(Y4mError::UnknownTag {
                        tag: token.escape_debug().to_string(),
                    })
                }
            }
        }
        let colorspace = check_yscss(colorspace, yscss)?;
        // ffmpeg assumes 25 fps when F is absent; do the same rather than refuse
        // a file every other tool reads.
        let (fps_num, fps_den) = rate.unwrap_or((25, 1));
        let header = Y4mHeader {
            width: width.ok_or(Y4mError::MissingDimension { tag: 'W' })?,
            height: height.ok_or(Y4mError::MissingDimension { tag: 'H' })?,
            fps_num,
            fps_den,
            interlace: interlace.unwrap_or('?'),
            aspect: aspect.unwrap_or((0, 0)),
            colorspace,
            color_range,
            colour,
            mastering_display,
            content_light,
        };
        header.validate()?;
        Ok(header)
    }
}

/// The `C` value of a header from its `C` and `XYSCSS` tags (either may be
/// absent). An `XYSCSS` naming another sample format than `C` is refused; one
/// naming no format ffmpeg knows is ignored (ffmpeg ignores it too). With no
/// `C` tag, the format comes from `XYSCSS` as ffmpeg reads it, else 8-bit 4:2:0.
fn check_yscss(colorspace: Option<String>, yscss: Option<String>) -> Result<String, Y4mError> {
    let named = yscss
        .as_ref()
        .and_then(|y| sample_format(&y.to_ascii_lowercase()).map(|f| (y, f)));
    let describe = |(sub, depth): (&str, u32)| format!("{depth}-bit {sub}");
    match (colorspace, named) {
        (Some(c), Some((y, yf))) => {
            let cf = sample_format(&c).expect("a C value Mica reads names a format");
            if cf != yf {
                return Err(Y4mError::InconsistentYscss {
                    c_format: describe(cf),
                    yscss_format: describe(yf),
                    colorspace: c,
                    yscss: y.escape_debug().to_string(),
                });
            }
            Ok(c)
        }
        (Some(c), None) => Ok(c),
        (None, Some((y, yf))) => {
            let tag = format!("XYSCSS={}", y.escape_debug());
            match yf {
                ("4:2:0", 8) => Ok("420".to_string()),
                ("4:2:0", 10) => Ok(COLORSPACE_10BIT.to_string()),
                ("4:2:0", depth) => Err(Y4mError::UnsupportedBitDepth { tag, depth }),
                _ => Err(Y4mError::UnsupportedColorspace { tag }),
            }
        }
        (None, None) => Ok("420".to_string()),
    }
}

/// Bytes one sample takes in a y4m file.
fn bytes_per_sample(bit_depth: u8) -> usize {
    if bit_depth > 8 {
        2
    } else {
        1
    }
}

fn set_once<T>(slot: &mut Option<T>, tag: &str, value: T) -> Result<(), Y4mError> {
    if slot.is_some() {
        return Err(Y4mError::DuplicateTag {
            tag: tag.to_string(),
        });
    }
    *slot = Some(value);
    Ok(())
}

/// Parses a `W`/`H` value. Range checks are left to [`Y4mHeader::validate`],
/// except for numbers too long for `usize`, which are too large by definition.
fn parse_dimension(tag: char, value: &str) -> Result<usize, Y4mError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Y4mError::NonNumericDimension {
            tag,
            value: value.escape_debug().to_string(),
        });
    }
    value.parse().map_err(|_| Y4mError::DimensionTooLarge {
        tag,
        value: value.to_string(),
    })
}

/// Parses `<num>:<den>` made of plain decimal digits (no signs, no spaces).
fn parse_ratio(value: &str) -> Option<(u32, u32)> {
    let (num, den) = value.split_once(':')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(num) || !digits(den) {
        return None;
    }
    Some((num.parse().ok()?, den.parse().ok()?))
}

/// The first bytes of `bytes`, escaped, for quoting untrusted input in messages.
fn quote(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(QUOTE_LEN)];
    let ellipsis = if bytes.len() > QUOTE_LEN { "..." } else { "" };
    format!("{}{ellipsis}", shown.escape_ascii())
}

/// Reads one line of at most [`MAX_LINE_LEN`] bytes plus its newline into `line`.
/// Stops early (without a newline) at end of input or when the limit is passed.
fn read_line_limited<R: BufRead>(reader: &mut R, line: &mut Vec<u8>) -> io::Result<()> {
    line.clear();
    reader
        .take(MAX_LINE_LEN as u64 + 1)
        .read_until(b'\n', line)?;
    Ok(())
}

/// Fills as much of `buf` as the input has; returns the bytes read (short only at end of input).
pub(crate) fn read_full<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads 4:2:0 frames (8 or 10 bits) from a y4m stream.
///
/// The input is wrapped in a [`BufReader`] (header and `FRAME` lines are read
/// line by line), so pass a plain `File` or `Stdin`.
pub struct Y4mReader<R: Read> {
    reader: BufReader<R>,
    header: Y4mHeader,
    /// Index of the next frame, for error messages (counts from 0).
    next_frame: u64,
    /// Reused buffer for `FRAME` lines.
    line: Vec<u8>,
    /// Reused buffer for one plane's sample bytes.
    bytes: Vec<u8>,
}

impl<R: Read> Y4mReader<R> {
    /// Reads and validates the header line. No frame is read yet.
    pub fn new(reader: R) -> Result<Self, Y4mError> {
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        read_line_limited(&mut reader, &mut line)
            .map_err(Y4mError::io("reading the y4m header"))?;
        if line.is_empty() {
            return Err(Y4mError::EmptyInput);
        }
        let checked = line.len().min(MAGIC.len());
        if line[..checked] != MAGIC[..checked] {
            return Err(Y4mError::BadMagic {
                found: quote(&line[..checked]),
            });
        }
        if line.last() != Some(&b'\n') {
            return Err(if line.len() > MAX_LINE_LEN {
                Y4mError::HeaderTooLong
            } else {
                Y4mError::HeaderMissingNewline { len: line.len() }
            });
        }
        let header = Y4mHeader::parse(&line[MAGIC.len()..line.len() - 1])?;
        Ok(Y4mReader {
            reader,
            header,
            next_frame: 0,
            line,
            bytes: Vec::new(),
        })
    }

    /// The stream header.
    pub fn header(&self) -> &Y4mHeader {
        &self.header
    }

    /// Reads the next frame, at the header's bit depth; `Ok(None)` when the
    /// input ends cleanly between frames. A 10-bit sample above 1023 is
    /// [`Y4mError::SampleOutOfRange`].
    pub fn read_frame(&mut self) -> Result<Option<Frame>, Y4mError> {
        let frame = self.next_frame;
        read_line_limited(&mut self.reader, &mut self.line).map_err(Y4mError::io(format!(
            "reading the FRAME marker of frame {frame}"
        )))?;
        if self.line.is_empty() {
            return Ok(None);
        }
        let line = &self.line;
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        // A marker is `FRAME`, optionally followed by space-separated parameters
        // (per-frame overrides Mica ignores).
        let looks_like_marker = match content.strip_prefix(FRAME_TAG) {
            Some(rest) => rest.is_empty() || rest[0] == b' ',
            None => FRAME_TAG.starts_with(content) && content.len() == line.len(),
        };
        if !looks_like_marker {
            return Err(Y4mError::BadFrameMarker {
                frame,
                found: quote(content),
            });
        }
        if content.len() == line.len() {
            return Err(if line.len() > MAX_LINE_LEN {
                Y4mError::FrameMarkerTooLong { frame }
            } else {
                Y4mError::TruncatedFrameMarker { frame }
            });
        }
        let depth = self.header.bit_depth();
        let mut out = Frame::new_420_at(self.header.width, self.header.height, depth);
        let max = out.max_value();
        let mut got = 0;
        for (p, plane) in out.planes.iter_mut().enumerate() {
            let bytes = &mut self.bytes;
            bytes.resize(plane.data.len() * bytes_per_sample(depth), 0);
            let n = read_full(&mut self.reader, bytes).map_err(Y4mError::io(format!(
                "reading the samples of frame {frame}"
            )))?;
            got += n;
            if n < bytes.len() {
                return Err(Y4mError::TruncatedFrame {
                    frame,
                    expected: self.header.frame_bytes(),
                    got,
                });
            }
            if depth == 8 {
                for (s, &b) in plane.data.iter_mut().zip(bytes.iter()) {
                    *s = b as u16;
                }
            } else {
                for (s, b) in plane.data.iter_mut().zip(bytes.chunks_exact(2)) {
                    *s = u16::from_le_bytes([b[0], b[1]]);
                }
                if let Some(i) = plane.data.iter().position(|&v| v > max) {
                    return Err(Y4mError::SampleOutOfRange {
                        frame,
                        plane: p,
                        x: i % plane.width,
                        y: i / plane.width,
                        value: plane.data[i],
                        depth,
                    });
                }
            }
        }
        self.next_frame += 1;
        Ok(Some(out))
    }
}

/// Writes 4:2:0 frames as a y4m stream: one byte per sample at 8 bits, a
/// little-endian `u16` per sample at 10.
///
/// Each frame goes to `W` in one write; wrap a file or stdout in a
/// `BufWriter` if the frames are small.
pub struct Y4mWriter<W: Write> {
    writer: W,
    width: usize,
    height: usize,
    bit_depth: u8,
    /// Index of the next frame, for error messages (counts from 0).
    next_frame: u64,
    /// Reused buffer for one frame's bytes, `FRAME` line included.
    bytes: Vec<u8>,
}

impl<W: Write> Y4mWriter<W> {
    /// Validates `header` and writes the header line.
    pub fn new(mut writer: W, header: &Y4mHeader) -> Result<Self, Y4mError> {
        header.validate()?;
        writer
            .write_all(header.header_line().as_bytes())
            .map_err(Y4mError::io("writing the y4m header"))?;
        Ok(Y4mWriter {
            writer,
            width: header.width,
            height: header.height,
            bit_depth: header.bit_depth(),
            next_frame: 0,
            bytes: Vec::new(),
        })
    }

    /// Writes one frame. It must have the header's size and bit depth, with
    /// every plane tight and of 4:2:0 size and every sample within the depth,
    /// so the file stays readable.
    pub fn write_frame(&mut self, frame: &Frame) -> Result<(), Y4mError> {
        let index = self.next_frame;
        if (frame.width(), frame.height()) != (self.width, self.height) {
            return Err(Y4mError::FrameSizeMismatch {
                frame: index,
                width: frame.width(),
                height: frame.height(),
                expected_width: self.width,
                expected_height: self.height,
            });
        }
        let (cw, ch) = chroma_420_size(self.width, self.height);
        for (i, plane) in frame.planes.iter().enumerate() {
            let (ew, eh) = if i == 0 {
                (self.width, self.height)
            } else {
                (cw, ch)
            };
            if plane.width != ew || plane.height != eh || plane.data.len() != ew * eh {
                return Err(Y4mError::BadPlane {
                    frame: index,
                    plane: i,
                    width: plane.width,
                    height: plane.height,
                    len: plane.data.len(),
                    expected_width: ew,
                    expected_height: eh,
                });
            }
        }
        if frame.bit_depth != self.bit_depth {
            return Err(Y4mError::FrameDepthMismatch {
                frame: index,
                depth: frame.bit_depth,
                expected: self.bit_depth,
            });
        }
        if let Some((p, i)) = frame.first_out_of_range() {
            let plane = &frame.planes[p];
            return Err(Y4mError::SampleOutOfRange {
                frame: index,
                plane: p,
                x: i % plane.width,
                y: i / plane.width,
                value: plane.data[i],
                depth: self.bit_depth,
            });
        }
        let bytes = &mut self.bytes;
        bytes.clear();
        bytes.extend_from_slice(b"FRAME\n");
        append_sample_bytes(frame, bytes);
        self.writer
            .write_all(bytes)
            .map_err(|source| Y4mError::Io {
                context: format!("writing frame {index}"),
                source,
            })?;
        self.next_frame += 1;
        Ok(())
    }

    /// Flushes and returns the underlying writer. Returns a `Result` because
    /// a failed flush (e.g. a full disk behind a `BufWriter`) must not be lost.
    pub fn into_inner(mut self) -> Result<W, Y4mError> {
        self.writer
            .flush()
            .map_err(Y4mError::io("flushing the y4m output"))?;
        Ok(self.writer)
    }
}

/// Between a y4m header and the codec's description of a stream.
impl Y4mHeader {
    /// How this y4m header describes the video, for the encoder to carry to
    /// the decoder's output: chroma siting, interlace, aspect, range and
    /// Mica's colour tags (checked when the header was read or validated).
    /// Aspect ratios that do not fit 16 bits after reduction are recorded as
    /// unknown (0:0). The bit depth is not part of it: [`Y4mHeader::bit_depth`].
    pub fn video_info(&self) -> VideoInfo {
        let h = self;
        let chroma_siting = match h.colorspace.as_str() {
            "420jpeg" => 1,
            "420mpeg2" => 2,
            "420paldv" => 3,
            _ => 0,
        };
        let interlace = match h.interlace {
            'p' => 0,
            't' => 1,
            'b' => 2,
            'm' => 3,
            _ => 4,
        };
        let color_range = match h.color_range.as_deref().map(|s| s.to_ascii_uppercase()) {
            Some(ref s) if s == "LIMITED" => 1,
            Some(ref s) if s == "FULL" => 2,
            _ => 0,
        };
        let (mut a, mut b) = h.aspect;
        let g = gcd(a, b);
        if g > 1 {
            a /= g;
            b /= g;
        }
        let (aspect_num, aspect_den) = if a <= u16::MAX as u32 && b <= u16::MAX as u32 {
            (a as u16, b as u16)
        } else {
            (0, 0)
        };
        VideoInfo {
            chroma_siting,
            interlace,
            aspect_num,
            aspect_den,
            color_range,
            colour: h.colour,
            mastering_display: h.mastering_display,
            content_light: h.content_light,
        }
    }

    /// The y4m header a decoder writes for a stream at its coded bit depth
    /// (`seq.bit_depth`): [`Y4mHeader::for_stream_at`] with that depth.
    pub fn for_stream(seq: &SequenceHeader) -> Y4mHeader {
        Y4mHeader::for_stream_at(seq, seq.bit_depth)
    }

    /// The y4m header a decoder writes for a stream (and the encoder for its
    /// reconstruction) whose frames it outputs at `bit_depth` bits: the
    /// stream's coded depth (`seq.bit_depth`) or its source's
    /// (`seq.source_bit_depth`). It has the stream's size, frame rate and the
    /// source's description, colour and HDR metadata included. At 10 bits the
    /// `C` tag is `C420p10`, which cannot say the chroma siting.
    pub fn for_stream_at(seq: &SequenceHeader, bit_depth: u8) -> Y4mHeader {
        let v = &seq.video_info;
        let mut h = Y4mHeader::new(
            seq.width as usize,
            seq.height as usize,
            seq.fps_num,
            seq.fps_den,
        );
        h.colorspace =
            ["420", "420jpeg", "420mpeg2", "420paldv"][v.chroma_siting as usize & 3].to_string();
        h.interlace = ['p', 't', 'b', 'm', '?'][(v.interlace as usize).min(4)];
        h.aspect = (v.aspect_num as u32, v.aspect_den as u32);
        h.color_range = match v.color_range {
            1 => Some("LIMITED".to_string()),
            2 => Some("FULL".to_string()),
            _ => None,
        };
        h.colour = v.colour;
        h.mastering_display = v.mastering_display;
        h.content_light = v.content_light;
        h.with_bit_depth(bit_depth)
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{mutate, Rng};
    use std::io::Cursor;
    use std::path::{Path, PathBuf};

    /// Shared media folder; in the Mica crate the manifest is `codec/`.
    const MEDIA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/media");

    fn media_files(dir: &Path) -> Option<Vec<PathBuf>> {
        if !dir.is_dir() {
            eprintln!(
                "note: {} not found, skipping the real-media test for it",
                dir.display()
            );
            return None;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "y4m"))
            .collect();
        files.sort();
        Some(files)
    }

    fn read_err(input: &[u8]) -> Y4mError {
        match Y4mReader::new(input) {
            Err(e) => e,
            Ok(mut r) => loop {
                match r.read_frame() {
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("input was accepted: {:?}", String::from_utf8_lossy(input)),
                    Err(e) => break e,
                }
            },
        }
    }

    /// A small valid stream: `frames` frames of `w` x `h` with distinct sample values.
    fn synthetic(header_line: &str, w: usize, h: usize, frames: usize) -> Vec<u8> {
        let mut v = header_line.as_bytes().to_vec();
        let (cw, ch) = chroma_420_size(w, h);
        for f in 0..frames {
            v.extend_from_slice(b"FRAME\n");
            v.extend((0..w * h + 2 * cw * ch).map(|i| (i * 7 + f * 13) as u8));
        }
        v
    }

    fn patterned_frame(w: usize, h: usize, seed: usize) -> Frame {
        patterned_frame_at(w, h, seed, 8)
    }

    /// A frame whose samples cover the whole range of `depth` bits.
    fn patterned_frame_at(w: usize, h: usize, seed: usize, depth: u8) -> Frame {
        let mut f = Frame::new_420_at(w, h, depth);
        let max = f.max_value() as usize;
        for (p, plane) in f.planes.iter_mut().enumerate() {
            for (i, s) in plane.data.iter_mut().enumerate() {
                *s = ((i * 31 + p * 101 + seed * 7) % (max + 1)) as u16;
            }
        }
        f
    }

    /// A small valid 10-bit stream: `frames` frames of `w` x `h`, samples
    /// little-endian, values spread over 0..=1023.
    fn synthetic10(header_line: &str, w: usize, h: usize, frames: usize) -> Vec<u8> {
        let mut v = header_line.as_bytes().to_vec();
        let (cw, ch) = chroma_420_size(w, h);
        for f in 0..frames {
            v.extend_from_slice(b"FRAME\n");
            for i in 0..w * h + 2 * cw * ch {
                v.extend_from_slice(&(((i * 37 + f * 13) % 1024) as u16).to_le_bytes());
            }
        }
        v
    }

    const HDR10_MASTERING: &str =
        "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)";

    #[test]
    fn reads_every_shared_media_file() {
        let media = Path::new(MEDIA_DIR);
        let mut checked = 0;
        for dir in [media.to_path_buf(), media.join("train")] {
            let Some(files) = media_files(&dir) else {
                continue;
            };
            for path in files {
                let name = path.display();
                let file_len = std::fs::metadata(&path).unwrap().len() as usize;
                let mut first_line = Vec::new();
                BufReader::new(std::fs::File::open(&path).unwrap())
                    .read_until(b'\n', &mut first_line)
                    .unwrap();
                let mut reader = Y4mReader::new(std::fs::File::open(&path).unwrap())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                let h = reader.header().clone();
                let per_frame = b"FRAME\n".len() + h.frame_bytes();
                let body = file_len - first_line.len();
                assert_eq!(body % per_frame, 0, "{name}: not a whole number of frames");
                let mut frames = 0;
                while let Some(f) = reader
                    .read_frame()
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
                {
                    assert_eq!((f.width(), f.height()), (h.width, h.height));
                    frames += 1;
                }
                assert_eq!(frames, body / per_frame, "{name}");
                // ffmpeg-written headers (they carry XYSCSS) are written back unchanged.
                if first_line.windows(7).any(|w| w == b"XYSCSS=") {
                    assert_eq!(h.header_line().as_bytes(), &first_line[..], "{name}");
                }
                checked += 1;
            }
        }
        eprintln!("checked {checked} media files");
    }

    #[test]
    fn real_clip_round_trips_byte_for_byte() {
        let path = Path::new(MEDIA_DIR).join("box_640x480_30fps_48f.y4m");
        if !path.is_file() {
            eprintln!("note: {} not found, skipping", path.display());
            return;
        }
        let bytes = std::fs::read(&path).unwrap();
        let mut reader = Y4mReader::new(&bytes[..]).unwrap();
        let header = reader.header().clone();
        let mut writer = Y4mWriter::new(Vec::new(), &header).unwrap();
        for _ in 0..2 {
            writer
                .write_frame(&reader.read_frame().unwrap().unwrap())
                .unwrap();
        }
        let out = writer.into_inner().unwrap();
        let header_len = header.header_line().len();
        assert_eq!(out.len(), header_len + 2 * (6 + header.frame_bytes()));
        assert!(
            out == bytes[..out.len()],
            "round trip differs from the source file"
        );
    }

    #[test]
    fn odd_sizes_round_trip() {
        for (w, h) in [(645, 363), (1, 1), (3, 2), (2, 5)] {
            let mut header = Y4mHeader::new(w, h, 30000, 1001);
            header.colorspace = "420mpeg2".into();
            header.color_range = Some("FULL".into());
            let frames = [patterned_frame(w, h, 1), patterned_frame(w, h, 2)];
            let mut writer = Y4mWriter::new(Vec::new(), &header).unwrap();
            for f in &frames {
                writer.write_frame(f).unwrap();
            }
            let bytes = writer.into_inner().unwrap();
            let (cw, ch) = chroma_420_size(w, h);
            assert_eq!(
                bytes.len(),
                header.header_line().len() + 2 * (6 + w * h + 2 * cw * ch)
            );
            let mut reader = Y4mReader::new(&bytes[..]).unwrap();
            assert_eq!(reader.header(), &header);
            assert_eq!(reader.read_frame().unwrap().as_ref(), Some(&frames[0]));
            assert_eq!(reader.read_frame().unwrap().as_ref(), Some(&frames[1]));
            assert!(reader.read_frame().unwrap().is_none());
        }
    }

    #[test]
    fn parses_all_header_fields() {
        let input = synthetic(
            "YUV4MPEG2 W4 H2 F30000:1001 It A128:117 C420paldv XFOO=bar XCOLORRANGE=FULL\n",
            4,
            2,
            1,
        );
        let mut r = Y4mReader::new(&input[..]).unwrap();
        let h = r.header().clone();
        assert_eq!(
            (h.width, h.height, h.fps_num, h.fps_den),
            (4, 2, 30000, 1001)
        );
        assert_eq!((h.interlace, h.aspect), ('t', (128, 117)));
        assert_eq!(h.colorspace, "420paldv");
        assert_eq!(h.color_range.as_deref(), Some("FULL"));
        assert!(r.read_frame().unwrap().is_some());
        assert!(r.read_frame().unwrap().is_none());
    }

    #[test]
    fn minimal_header_gets_defaults() {
        let input = synthetic("YUV4MPEG2 W2 H2\n", 2, 2, 1);
        let r = Y4mReader::new(&input[..]).unwrap();
        let h = r.header();
        assert_eq!(
            (h.fps_num, h.fps_den, h.interlace, h.aspect),
            (25, 1, '?', (0, 0))
        );
        assert_eq!(h.colorspace, "420");
        assert_eq!(h.color_range, None);
    }

    #[test]
    fn accepts_every_420_variant_and_x_tags() {
        for c in ["", " C420", " C420jpeg", " C420mpeg2", " C420paldv"] {
            let line = format!("YUV4MPEG2 W2 H2 F25:1{c} XYSCSS=WHATEVER X XUNKNOWN=1\n");
            let input = synthetic(&line, 2, 2, 2);
            let mut r = Y4mReader::new(&input[..]).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert!(r.read_frame().unwrap().is_some());
            assert!(r.read_frame().unwrap().is_some());
            assert!(r.read_frame().unwrap().is_none());
        }
    }

    #[test]
    fn frame_marker_parameters_are_ignored() {
        let mut input = b"YUV4MPEG2 W2 H2 F25:1\nFRAME Ixyz XFOO\n".to_vec();
        input.extend_from_slice(&[9; 6]);
        let mut r = Y4mReader::new(&input[..]).unwrap();
        assert_eq!(r.read_frame().unwrap().unwrap().planes[0].data, vec![9; 4]);
        assert!(r.read_frame().unwrap().is_none());
    }

    #[test]
    fn refuses_malformed_headers() {
        let long = format!("YUV4MPEG2 W2 H2 X{}\n", "a".repeat(1100));
        /// Recognises the error variant a case must produce.
        type Check = fn(&Y4mError) -> bool;
        let cases: Vec<(&[u8], Check)> = vec![
            (b"", |e| matches!(e, Y4mError::EmptyInput)),
            (b"YUV4MPEG1 W2 H2\n", |e| {
                matches!(e, Y4mError::BadMagic { .. })
            }),
            (b"RIFF\x00\x00\x00\x00WAVE", |e| {
                matches!(e, Y4mError::BadMagic { .. })
            }),
            (b"YUV4MPEG2\n", |e| matches!(e, Y4mError::BadMagic { .. })),
            (b"YUV4MPEG2 W2 H2 F25:1", |e| {
                matches!(e, Y4mError::HeaderMissingNewline { len: 21 })
            }),
            (long.as_bytes(), |e| matches!(e, Y4mError::HeaderTooLong)),
            (b"YUV4MPEG2 W2 H2 C444\n", |e| {
                matches!(e, Y4mError::UnsupportedColorspace { .. })
            }),
            (b"YUV4MPEG2 W2 H2 C422\n", |e| {
                matches!(e, Y4mError::UnsupportedColorspace { .. })
            }),
            (b"YUV4MPEG2 W2 H2 Cmono\n", |e| {
                matches!(e, Y4mError::UnsupportedColorspace { .. })
            }),
            (b"YUV4MPEG2 W2 H2 C420p12\n", |e| {
                matches!(e, Y4mError::UnsupportedBitDepth { depth: 12, .. })
            }),
            (b"YUV4MPEG2 W2 H2 C420p14 XYSCSS=420P14\n", |e| {
                matches!(e, Y4mError::UnsupportedBitDepth { depth: 14, .. })
            }),
            (b"YUV4MPEG2 W2 H2 C420p16\n", |e| {
                matches!(e, Y4mError::UnsupportedBitDepth { depth: 16, .. })
            }),
            (b"YUV4MPEG2 W2 H2 C420p9\n", |e| {
                matches!(e, Y4mError::UnsupportedBitDepth { depth: 9, .. })
            }),
            (b"YUV4MPEG2 W2 H2 C444p10\n", |e| {
                matches!(e, Y4mError::UnsupportedColorspace { .. })
            }),
            (b"YUV4MPEG2 W2 H2 C422p10\n", |e| {
                matches!(e, Y4mError::UnsupportedColorspace { .. })
            }),
            (b"YUV4MPEG2 W2 H2 Cmono16\n", |e| {
                matches!(e, Y4mError::UnsupportedColorspace { .. })
            }),
            (b"YUV4MPEG2 W2 H2 C420P10\n", |e| {
                matches!(e, Y4mError::UnsupportedColorspace { .. })
            }),
            (b"YUV4MPEG2 W2 H2 XYSCSS=420P12\n", |e| {
                matches!(e, Y4mError::UnsupportedBitDepth { depth: 12, .. })
            }),
            (b"YUV4MPEG2 W2 H2 XYSCSS=444P10\n", |e| {
                matches!(e, Y4mError::UnsupportedColorspace { .. })
            }),
            (b"YUV4MPEG2 W2 H2 C420 XYSCSS=420P10\n", |e| {
                matches!(e, Y4mError::InconsistentYscss { .. })
            }),
            (b"YUV4MPEG2 W2 H2 C420jpeg XYSCSS=420P10\n", |e| {
                matches!(e, Y4mError::InconsistentYscss { .. })
            }),
            (b"YUV4MPEG2 W2 H2 C420p10 XYSCSS=420JPEG\n", |e| {
                matches!(e, Y4mError::InconsistentYscss { .. })
            }),
            (b"YUV4MPEG2 W2 H2 C420p10 XYSCSS=444P10\n", |e| {
                matches!(e, Y4mError::InconsistentYscss { .. })
            }),
            (b"YUV4MPEG2 W2 H2 C420mpeg2 XYSCSS=422\n", |e| {
                matches!(e, Y4mError::InconsistentYscss { .. })
            }),
            (
                b"YUV4MPEG2 W2 H2 C420p10 XYSCSS=420P10 XYSCSS=420P10\n",
                |e| matches!(e, Y4mError::DuplicateTag { .. }),
            ),
            (b"YUV4MPEG2 W2 H2 XMICA_CLL=1,1 XMICA_CLL=1,1\n", |e| {
                matches!(e, Y4mError::DuplicateTag { .. })
            }),
            (b"YUV4MPEG2 W2 H2 XMICA_COLOR=9,16,9\n", |e| {
                matches!(e, Y4mError::UnknownMicaTag { .. })
            }),
            (b"YUV4MPEG2 H2\n", |e| {
                matches!(e, Y4mError::MissingDimension { tag: 'W' })
            }),
            (b"YUV4MPEG2 W2\n", |e| {
                matches!(e, Y4mError::MissingDimension { tag: 'H' })
            }),
            (b"YUV4MPEG2 W0 H2\n", |e| {
                matches!(e, Y4mError::ZeroDimension { tag: 'W' })
            }),
            (b"YUV4MPEG2 W2 H0\n", |e| {
                matches!(e, Y4mError::ZeroDimension { tag: 'H' })
            }),
            (b"YUV4MPEG2 Wabc H2\n", |e| {
                matches!(e, Y4mError::NonNumericDimension { tag: 'W', .. })
            }),
            (b"YUV4MPEG2 W+2 H2\n", |e| {
                matches!(e, Y4mError::NonNumericDimension { tag: 'W', .. })
            }),
            (b"YUV4MPEG2 W2 H\n", |e| {
                matches!(e, Y4mError::NonNumericDimension { tag: 'H', .. })
            }),
            (b"YUV4MPEG2 W99999 H2\n", |e| {
                matches!(e, Y4mError::DimensionTooLarge { tag: 'W', .. })
            }),
            (b"YUV4MPEG2 W2 H99999999999999999999999\n", |e| {
                matches!(e, Y4mError::DimensionTooLarge { tag: 'H', .. })
            }),
            (b"YUV4MPEG2 W16384 H16384\n", |e| {
                matches!(e, Y4mError::TooManyPixels { .. })
            }),
            (b"YUV4MPEG2 W2 H2 F0:1\n", |e| {
                matches!(e, Y4mError::ZeroFrameRate { .. })
            }),
            (b"YUV4MPEG2 W2 H2 F25:0\n", |e| {
                matches!(e, Y4mError::ZeroFrameRate { .. })
            }),
            (b"YUV4MPEG2 W2 H2 F25\n", |e| {
                matches!(e, Y4mError::InvalidFrameRate { .. })
            }),
            (b"YUV4MPEG2 W2 H2 Ix\n", |e| {
                matches!(e, Y4mError::InvalidInterlace { .. })
            }),
            (b"YUV4MPEG2 W2 H2 A1-1\n", |e| {
                matches!(e, Y4mError::InvalidAspect { .. })
            }),
            (b"YUV4MPEG2 W2 H2 Z9\n", |e| {
                matches!(e, Y4mError::UnknownTag { .. })
            }),
            (b"YUV4MPEG2 W2 H2 W4\n", |e| {
                matches!(e, Y4mError::DuplicateTag { .. })
            }),
            (b"YUV4MPEG2 W2 H2 X\xff\n", |e| {
                matches!(e, Y4mError::HeaderNotText)
            }),
        ];
        for (input, is_expected) in cases {
            let e = read_err(input);
            assert!(
                is_expected(&e),
                "{:?} gave {e:?}",
                String::from_utf8_lossy(input)
            );
        }
        // Mica's metadata tags: malformed values are refused naming the tag.
        let metadata: [(&[u8], &str); 10] = [
            (b"YUV4MPEG2 W2 H2 XMICA_COLOUR=9,16\n", "XMICA_COLOUR"),
            (
                b"YUV4MPEG2 W2 H2 XMICA_COLOUR=bt2020,pq,9\n",
                "XMICA_COLOUR",
            ),
            (b"YUV4MPEG2 W2 H2 XMICA_COLOUR=256,1,1\n", "XMICA_COLOUR"),
            (b"YUV4MPEG2 W2 H2 XMICA_COLOUR\n", "XMICA_COLOUR"),
            (
                b"YUV4MPEG2 W2 H2 XMICA_MASTERING=G(50001,0)B(0,0)R(0,0)WP(0,0)L(10,1)\n",
                "XMICA_MASTERING",
            ),
            (
                b"YUV4MPEG2 W2 H2 XMICA_MASTERING=G(1,1)B(1,1)R(1,1)WP(1,1)L(10,10)\n",
                "XMICA_MASTERING",
            ),
            (
                b"YUV4MPEG2 W2 H2 XMICA_MASTERING=G(1,1)B(1,1)R(1,1)L(10,1)\n",
                "XMICA_MASTERING",
            ),
            (b"YUV4MPEG2 W2 H2 XMICA_CLL=1000\n", "XMICA_CLL"),
            (b"YUV4MPEG2 W2 H2 XMICA_CLL=1000,x\n", "XMICA_CLL"),
            (b"YUV4MPEG2 W2 H2 XMICA_CLL=70000,1\n", "XMICA_CLL"),
        ];
        for (input, tag) in metadata {
            let e = read_err(input);
            assert!(
                matches!(&e, Y4mError::InvalidMetadata { tag: t, .. } if *t == tag),
                "{:?} gave {e:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn refuses_malformed_frames() {
        let good = synthetic("YUV4MPEG2 W4 H4 F25:1\n", 4, 4, 2);
        let per_frame = 6 + 24;
        let header_len = good.len() - 2 * per_frame;

        // Truncated in the samples of the second frame (frame 1).
        let e = read_err(&good[..good.len() - 5]);
        assert!(
            matches!(
                e,
                Y4mError::TruncatedFrame {
                    frame: 1,
                    expected: 24,
                    got: 19
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "frame 1 is truncated: expected 24 bytes of samples, got 19"
        );
        // Truncated inside the marker and right after it.
        let e = read_err(&good[..header_len + per_frame + 3]);
        assert!(
            matches!(e, Y4mError::TruncatedFrameMarker { frame: 1 }),
            "{e:?}"
        );
        let e = read_err(&good[..header_len + 5]);
        assert!(
            matches!(e, Y4mError::TruncatedFrameMarker { frame: 0 }),
            "{e:?}"
        );
        let e = read_err(&good[..header_len + 6]);
        assert!(
            matches!(
                e,
                Y4mError::TruncatedFrame {
                    frame: 0,
                    got: 0,
                    ..
                }
            ),
            "{e:?}"
        );

        for bad in [
            &b"FRAMX\n"[..],
            b"FRAMES\n",
            b"frame\n",
            b"\n",
            b"FRAME\r\n",
        ] {
            let mut input = good[..header_len].to_vec();
            input.extend_from_slice(bad);
            input.extend_from_slice(&[0; 24]);
            let e = read_err(&input);
            assert!(
                matches!(e, Y4mError::BadFrameMarker { frame: 0, .. }),
                "{bad:?} gave {e:?}"
            );
        }
        let mut input = good[..header_len].to_vec();
        input.extend_from_slice(format!("FRAME {}\n", "x".repeat(2000)).as_bytes());
        assert!(matches!(
            read_err(&input),
            Y4mError::FrameMarkerTooLong { frame: 0 }
        ));
    }

    #[test]
    fn error_messages_name_the_problem() {
        let e = read_err(b"YUV4MPEG2 W2 H2 C444\n");
        assert_eq!(
            e.to_string(),
            "unsupported colorspace C444: Mica reads 4:2:0 at 8 bits (C420, C420jpeg, \
             C420mpeg2, C420paldv or no C tag) and at 10 bits (C420p10)"
        );
        let e = read_err(b"YUV4MPEG2 W2 H2 C420p12 XYSCSS=420P12\n");
        assert_eq!(
            e.to_string(),
            "unsupported bit depth: C420p12 has 12-bit samples; Mica reads 4:2:0 at 8 bits \
             (C420, C420jpeg, C420mpeg2, C420paldv or no C tag) and at 10 bits (C420p10)"
        );
        let e = read_err(b"YUV4MPEG2 W2 H2 C420jpeg XYSCSS=420P10\n");
        assert_eq!(
            e.to_string(),
            "y4m header tags disagree: C420jpeg is 8-bit 4:2:0 but XYSCSS=420P10 is 10-bit 4:2:0"
        );
        let e = read_err(b"YUV4MPEG2 W2 H2 XMICA_MASTERING=G(1,1)B(1,1)R(1,1)WP(1,1)L(5,9)\n");
        assert_eq!(
            e.to_string(),
            "XMICA_MASTERING=G(1,1)B(1,1)R(1,1)WP(1,1)L(5,9) is not valid: \
             the minimum luminance must be below a non-zero maximum"
        );
        let e = read_err(b"YUV4MPEG2 W2 H2 XMICA_CLL=1000;400\n");
        assert_eq!(
            e.to_string(),
            "XMICA_CLL=1000;400 is not valid: expected <max_cll>,<max_fall> (cd/m2, 0..=65535)"
        );
        let e = read_err(b"GIF89a....");
        assert_eq!(
            e.to_string(),
            "not a y4m file: it starts with \"GIF89a....\", expected \"YUV4MPEG2 \""
        );
        let e = read_err(b"YUV4MPEG2 W99999 H2\n");
        assert_eq!(
            e.to_string(),
            "W99999 is too large: W and H may be at most 16384"
        );
    }

    #[test]
    fn writer_refuses_bad_frames_and_headers() {
        let header = Y4mHeader::new(4, 4, 25, 1);
        let mut w = Y4mWriter::new(Vec::new(), &header).unwrap();
        let e = w.write_frame(&Frame::new_420(4, 2)).unwrap_err();
        assert!(
            matches!(
                e,
                Y4mError::FrameSizeMismatch {
                    frame: 0,
                    height: 2,
                    ..
                }
            ),
            "{e:?}"
        );
        let mut f = Frame::new_420(4, 4);
        f.planes[2].data.pop();
        let e = w.write_frame(&f).unwrap_err();
        assert!(
            matches!(
                e,
                Y4mError::BadPlane {
                    frame: 0,
                    plane: 2,
                    ..
                }
            ),
            "{e:?}"
        );
        w.write_frame(&Frame::new_420(4, 4)).unwrap();
        assert_eq!(
            w.into_inner().unwrap().len(),
            header.header_line().len() + 6 + 24
        );

        let mut bad = header.clone();
        bad.colorspace = "444".into();
        assert!(matches!(
            Y4mWriter::new(Vec::new(), &bad),
            Err(Y4mError::UnsupportedColorspace { .. })
        ));
        let mut bad = header.clone();
        bad.fps_den = 0;
        assert!(matches!(
            Y4mWriter::new(Vec::new(), &bad),
            Err(Y4mError::ZeroFrameRate { .. })
        ));
        let mut bad = header.clone();
        bad.color_range = Some("LIMITED\nFRAME".into());
        assert!(matches!(
            Y4mWriter::new(Vec::new(), &bad),
            Err(Y4mError::InvalidColorRange { .. })
        ));
        let mut bad = header;
        bad.width = MAX_DIMENSION + 1;
        assert!(matches!(
            Y4mWriter::new(Vec::new(), &bad),
            Err(Y4mError::DimensionTooLarge { tag: 'W', .. })
        ));
    }

    #[test]
    fn io_errors_carry_context() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let Err(e) = Y4mReader::new(Failing) else {
            panic!("read from a failing reader")
        };
        assert_eq!(
            e.to_string(),
            "I/O error while reading the y4m header: disk on fire"
        );
        let input = synthetic("YUV4MPEG2 W2 H2\n", 2, 2, 1);
        let mut r = Y4mReader::new(Cursor::new(input).chain(Failing)).unwrap();
        assert!(r.read_frame().unwrap().is_some());
        let e = r.read_frame().unwrap_err();
        assert!(e.to_string().contains("frame 1"), "{e}");
    }

    #[test]
    fn random_mutations_never_panic() {
        let valid = synthetic(
            "YUV4MPEG2 W6 H3 F30000:1001 Ip A1:1 C420jpeg XCOLORRANGE=LIMITED\n",
            6,
            3,
            3,
        );
        let mut rng = Rng::new(0x5934_6d21);
        let (mut ok, mut err) = (0, 0);
        for _ in 0..2000 {
            let input = mutate(&valid, &mut rng);
            let result = Y4mReader::new(&input[..]).and_then(|mut r| {
                let mut frames = Vec::new();
                while let Some(f) = r.read_frame()? {
                    frames.push(f);
                }
                // Whatever parses must also be writable.
                let mut w = Y4mWriter::new(Vec::new(), r.header())?;
                for f in &frames {
                    w.write_frame(f)?;
                }
                w.into_inner()
            });
            match result {
                Ok(_) => ok += 1,
                Err(_) => err += 1,
            }
        }
        eprintln!("y4m mutations: {ok} accepted, {err} refused");
        assert!(err > 0);
    }

    #[test]
    fn ten_bit_samples_are_little_endian() {
        let mut input = b"YUV4MPEG2 W2 H2 F25:1 C420p10 XYSCSS=420P10\nFRAME\n".to_vec();
        for v in [0u16, 1, 0x203, 1023, 512, 700] {
            input.extend_from_slice(&v.to_le_bytes());
        }
        let mut r = Y4mReader::new(&input[..]).unwrap();
        assert_eq!(r.header().bit_depth(), 10);
        assert_eq!(r.header().frame_bytes(), 12);
        let f = r.read_frame().unwrap().unwrap();
        assert_eq!(f.bit_depth, 10);
        assert_eq!(f.planes[0].data, [0, 1, 0x203, 1023]);
        assert_eq!((f.planes[1].data[0], f.planes[2].data[0]), (512, 700));
        assert!(r.read_frame().unwrap().is_none());
        // 8-bit frames come out at depth 8.
        let input = synthetic("YUV4MPEG2 W2 H2\n", 2, 2, 1);
        let f = Y4mReader::new(&input[..])
            .unwrap()
            .read_frame()
            .unwrap()
            .unwrap();
        assert_eq!(f.bit_depth, 8);
    }

    /// ffmpeg's 10-bit header (`-pix_fmt yuv420p10le -strict -1`), and one
    /// with only its `XYSCSS` tag, read as 10-bit; the first writes back byte
    /// for byte.
    #[test]
    fn ten_bit_round_trips_byte_for_byte() {
        let line = "YUV4MPEG2 W6 H4 F25:1 Ip A1:1 C420p10 XYSCSS=420P10 XCOLORRANGE=LIMITED\n";
        let bytes = synthetic10(line, 6, 4, 3);
        let mut reader = Y4mReader::new(&bytes[..]).unwrap();
        let header = reader.header().clone();
        assert_eq!(
            (header.bit_depth(), header.colorspace.as_str()),
            (10, "420p10")
        );
        assert_eq!(header.header_line(), line);
        let mut writer = Y4mWriter::new(Vec::new(), &header).unwrap();
        let mut frames = 0;
        while let Some(f) = reader.read_frame().unwrap() {
            assert_eq!(f.bit_depth, 10);
            writer.write_frame(&f).unwrap();
            frames += 1;
        }
        assert_eq!(frames, 3);
        assert!(writer.into_inner().unwrap() == bytes);

        let bytes = synthetic10("YUV4MPEG2 W6 H4 F25:1 XYSCSS=420P10\n", 6, 4, 1);
        let mut r = Y4mReader::new(&bytes[..]).unwrap();
        assert_eq!(r.header().bit_depth(), 10);
        assert_eq!(r.read_frame().unwrap().unwrap().bit_depth, 10);
    }

    #[test]
    fn ten_bit_odd_sizes_round_trip() {
        for (w, h) in [(645, 363), (1, 1), (3, 2), (2, 5)] {
            let mut header = Y4mHeader::new(w, h, 30000, 1001).with_bit_depth(10);
            header.color_range = Some("FULL".into());
            assert_eq!(header.colorspace, "420p10");
            let frames = [
                patterned_frame_at(w, h, 1, 10),
                patterned_frame_at(w, h, 2, 10),
            ];
            let mut writer = Y4mWriter::new(Vec::new(), &header).unwrap();
            for f in &frames {
                writer.write_frame(f).unwrap();
            }
            let bytes = writer.into_inner().unwrap();
            let (cw, ch) = chroma_420_size(w, h);
            assert_eq!(
                bytes.len(),
                header.header_line().len() + 2 * (6 + 2 * (w * h + 2 * cw * ch))
            );
            let mut reader = Y4mReader::new(&bytes[..]).unwrap();
            assert_eq!(reader.header(), &header);
            assert_eq!(reader.read_frame().unwrap().as_ref(), Some(&frames[0]));
            assert_eq!(reader.read_frame().unwrap().as_ref(), Some(&frames[1]));
            assert!(reader.read_frame().unwrap().is_none());
        }
    }

    #[test]
    fn truncated_ten_bit_frame() {
        // 4x4: 24 samples, 48 bytes a frame.
        let good = synthetic10("YUV4MPEG2 W4 H4 F25:1 C420p10\n", 4, 4, 2);
        let e = read_err(&good[..good.len() - 5]);
        assert!(
            matches!(
                e,
                Y4mError::TruncatedFrame {
                    frame: 1,
                    expected: 48,
                    got: 43
                }
            ),
            "{e:?}"
        );
        // Cut inside a sample (an odd number of bytes).
        let e = read_err(&good[..good.len() - 48 + 33]);
        assert!(
            matches!(
                e,
                Y4mError::TruncatedFrame {
                    frame: 1,
                    got: 33,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn ten_bit_sample_above_1023_is_refused() {
        let mut bytes = synthetic10("YUV4MPEG2 W4 H4 F25:1 C420p10\n", 4, 4, 2);
        let header_len = bytes.len() - 2 * (6 + 48);
        // Frame 1, plane U (after 16 Y samples), sample 3: (x 1, y 1).
        let at = header_len + (6 + 48) + 6 + 2 * (16 + 3);
        bytes[at..at + 2].copy_from_slice(&1024u16.to_le_bytes());
        let e = read_err(&bytes);
        assert!(
            matches!(
                e,
                Y4mError::SampleOutOfRange {
                    frame: 1,
                    plane: 1,
                    x: 1,
                    y: 1,
                    value: 1024,
                    depth: 10
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "frame 1: sample 1024 at (x 1, y 1) of plane U is above the 10-bit maximum 1023"
        );
        bytes[at..at + 2].copy_from_slice(&0xffffu16.to_le_bytes());
        assert!(matches!(
            read_err(&bytes),
            Y4mError::SampleOutOfRange { value: 65535, .. }
        ));
    }

    #[test]
    fn writer_refuses_frames_of_another_depth_or_range() {
        let header = Y4mHeader::new(4, 4, 25, 1);
        let mut w = Y4mWriter::new(Vec::new(), &header).unwrap();
        let e = w.write_frame(&Frame::new_420_at(4, 4, 10)).unwrap_err();
        assert!(
            matches!(
                e,
                Y4mError::FrameDepthMismatch {
                    frame: 0,
                    depth: 10,
                    expected: 8
                }
            ),
            "{e:?}"
        );
        let mut f = Frame::new_420(4, 4);
        f.planes[2].data[2] = 256;
        let e = w.write_frame(&f).unwrap_err();
        assert!(
            matches!(
                e,
                Y4mError::SampleOutOfRange {
                    plane: 2,
                    x: 0,
                    y: 1,
                    value: 256,
                    depth: 8,
                    ..
                }
            ),
            "{e:?}"
        );
        let header = header.with_bit_depth(10);
        let mut w = Y4mWriter::new(Vec::new(), &header).unwrap();
        let e = w.write_frame(&Frame::new_420(4, 4)).unwrap_err();
        assert!(
            matches!(
                e,
                Y4mError::FrameDepthMismatch {
                    depth: 8,
                    expected: 10,
                    ..
                }
            ),
            "{e:?}"
        );
        let mut f = Frame::new_420_at(4, 4, 10);
        f.planes[0].data[15] = 1024;
        assert!(matches!(
            w.write_frame(&f).unwrap_err(),
            Y4mError::SampleOutOfRange {
                plane: 0,
                x: 3,
                y: 3,
                ..
            }
        ));
        f.planes[0].data[15] = 1023;
        w.write_frame(&f).unwrap();
        // Headers at depths Mica does not write are refused.
        assert!(matches!(
            Y4mWriter::new(Vec::new(), &header.clone().with_bit_depth(12)),
            Err(Y4mError::UnsupportedBitDepth { depth: 12, .. })
        ));
        assert_eq!(header.clone().with_bit_depth(8).colorspace, "420");
        let mut jpeg = Y4mHeader::new(4, 4, 25, 1);
        jpeg.colorspace = "420jpeg".into();
        assert_eq!(jpeg.clone().with_bit_depth(8), jpeg);
    }

    #[test]
    fn colour_tags_round_trip_and_reach_video_info() {
        let line = format!(
            "YUV4MPEG2 W4 H2 F25:1 Ip A1:1 C420p10 XYSCSS=420P10 XCOLORRANGE=LIMITED \
             XMICA_COLOUR=9,16,9 XMICA_MASTERING={HDR10_MASTERING} XMICA_CLL=1000,400\n"
        );
        let input = synthetic10(&line, 4, 2, 1);
        let mut r = Y4mReader::new(&input[..]).unwrap();
        let h = r.header().clone();
        assert_eq!(h.header_line(), line);
        let colour = ColourDescription {
            primaries: 9,
            transfer: 16,
            matrix: 9,
        };
        let mastering = MasteringDisplay {
            primaries: [[13250, 34500], [7500, 3000], [34000, 16000]],
            white_point: [15635, 16450],
            max_luminance: 10_000_000,
            min_luminance: 1,
        };
        let light = ContentLight {
            max_cll: 1000,
            max_fall: 400,
        };
        let v = h.video_info();
        assert_eq!(v.colour, Some(colour));
        assert_eq!(v.mastering_display, Some(mastering));
        assert_eq!(v.content_light, Some(light));
        assert_eq!(v.color_range, 1);
        assert!(r.read_frame().unwrap().is_some());

        // Each tag alone, in any order among the others.
        let input = synthetic(
            "YUV4MPEG2 XMICA_CLL=0,0 W2 H2 XFOO XMICA_COLOUR=1,1,1\n",
            2,
            2,
            1,
        );
        let h = Y4mReader::new(&input[..]).unwrap().header().clone();
        assert_eq!(
            h.content_light,
            Some(ContentLight {
                max_cll: 0,
                max_fall: 0
            })
        );
        assert_eq!(h.mastering_display, None);
        assert!(h
            .header_line()
            .ends_with(" XMICA_COLOUR=1,1,1 XMICA_CLL=0,0\n"));

        // Through a sequence header, at the coded and the source depth.
        let seq = SequenceHeader {
            profile: 0,
            bit_depth: 10,
            source_bit_depth: 8,
            width: 4,
            height: 2,
            fps_num: 25,
            fps_den: 1,
            tools: mica::Tools {
                deblocking: true,
                nn_filter: false,
                nn_intra: false,
                trained_contexts: true,
                alf: false,
                sb_qp_delta: false,
                multi_type_tree: false,
                implicit_mts: false,
                cclm: false,
                ternary_splits: false,
                dmvr: false,
                bdof: false,
                history_merge: false,
                mmvd: false,
                amvr: false,
                smvd: false,
            },
            video_info: VideoInfo {
                chroma_siting: 1,
                aspect_num: 1,
                aspect_den: 1,
                colour: Some(colour),
                mastering_display: Some(mastering),
                content_light: Some(light),
                ..VideoInfo::default()
            },
            models: Vec::new(),
        };
        let coded = Y4mHeader::for_stream(&seq);
        assert_eq!(coded, Y4mHeader::for_stream_at(&seq, 10));
        assert_eq!(
            (coded.bit_depth(), coded.colorspace.as_str()),
            (10, "420p10")
        );
        let source = Y4mHeader::for_stream_at(&seq, 8);
        assert_eq!(
            (source.bit_depth(), source.colorspace.as_str()),
            (8, "420jpeg")
        );
        for h in [coded, source] {
            let v = h.video_info();
            assert_eq!(
                (v.colour, v.mastering_display, v.content_light),
                (Some(colour), Some(mastering), Some(light))
            );
            let line = h.header_line();
            assert_eq!(Y4mReader::new(line.as_bytes()).unwrap().header(), &h);
        }
    }

    #[test]
    fn writer_refuses_invalid_mastering_display() {
        let mut h = Y4mHeader::new(2, 2, 25, 1);
        h.mastering_display = Some(MasteringDisplay {
            primaries: [[0, 0]; 3],
            white_point: [60000, 0],
            max_luminance: 10,
            min_luminance: 1,
        });
        assert!(matches!(
            Y4mWriter::new(Vec::new(), &h),
            Err(Y4mError::InvalidMetadata {
                tag: "XMICA_MASTERING",
                ..
            })
        ));
    }

    #[test]
    fn random_mutations_never_panic_ten_bit() {
        let line = format!(
            "YUV4MPEG2 W6 H3 F30000:1001 Ip A1:1 C420p10 XYSCSS=420P10 XCOLORRANGE=FULL \
             XMICA_COLOUR=9,16,9 XMICA_MASTERING={HDR10_MASTERING} XMICA_CLL=1000,400\n"
        );
        let valid = synthetic10(&line, 6, 3, 3);
        let mut rng = Rng::new(0x10b1_7000);
        let (mut ok, mut err) = (0, 0);
        for _ in 0..2000 {
            let input = mutate(&valid, &mut rng);
            let result = Y4mReader::new(&input[..]).and_then(|mut r| {
                let mut frames = Vec::new();
                while let Some(f) = r.read_frame()? {
                    frames.push(f);
                }
                // Whatever parses must also be writable and read back the same.
                let mut w = Y4mWriter::new(Vec::new(), r.header())?;
                for f in &frames {
                    w.write_frame(f)?;
                }
                let bytes = w.into_inner()?;
                let mut again = Y4mReader::new(&bytes[..])?;
                assert_eq!(again.header(), r.header());
                for f in &frames {
                    assert_eq!(again.read_frame()?.as_ref(), Some(f));
                }
                Ok(())
            });
            match result {
                Ok(_) => ok += 1,
                Err(_) => err += 1,
            }
        }
        eprintln!("10-bit y4m mutations: {ok} accepted, {err} refused");
        assert!(err > 0 && ok > 0);
    }
}
