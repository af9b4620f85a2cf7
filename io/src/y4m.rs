//! YUV4MPEG2 (`.y4m`) reading and writing, 8-bit 4:2:0 only.
//!
//! A y4m file is one ASCII header line (`YUV4MPEG2 W.. H.. F.. ...\n`) and then,
//! per frame, a `FRAME` line followed by the raw Y, U and V planes. Mica codes
//! 8-bit 4:2:0 only, so every other sample format is refused up front with an
//! error that names it, instead of being misread as 4:2:0 later.
//!
//! Input is treated as untrusted: the header line is length-limited, sizes are
//! checked against [`MAX_DIMENSION`] and [`MAX_PIXELS`] before any frame buffer
//! is allocated, and a short file gives [`Y4mError::TruncatedFrame`] rather than
//! a half-filled frame.

use std::io::{self, BufRead, BufReader, Read, Write};

use thiserror::Error;

use mica::{Frame, SequenceHeader, VideoInfo};

/// Size of each chroma plane of a 4:2:0 picture (rounded up, as y4m stores odd sizes).
fn chroma_420_size(width: usize, height: usize) -> (usize, usize) {
    (width.div_ceil(2), height.div_ceil(2))
}

/// Largest accepted width or height, in luma samples.
pub const MAX_DIMENSION: usize = 16384;
/// Largest accepted luma area (width x height): bounds one frame to 96 MiB.
pub const MAX_PIXELS: usize = 8192 * 8192;
/// Longest accepted header or `FRAME` line, in bytes, not counting its `'\n'`.
/// Real headers are under 100 bytes; the limit stops a file with no newline
/// from being read into memory whole.
pub const MAX_LINE_LEN: usize = 1024;

const MAGIC: &[u8; 10] = b"YUV4MPEG2 ";
const FRAME_TAG: &[u8] = b"FRAME";
/// The `C` values that mean 8-bit 4:2:0 (they differ only in chroma siting,
/// which does not change the memory layout). `"420"` also stands for "no `C` tag".
const SUPPORTED_COLORSPACES: [&str; 4] = ["420", "420jpeg", "420mpeg2", "420paldv"];
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
    /// A `C` tag other than 8-bit 4:2:0.
    #[error("unsupported colorspace C{value}: Mica supports 8-bit 4:2:0 only (C420, C420jpeg, C420mpeg2, C420paldv or no C tag)")]
    UnsupportedColorspace {
        /// The value as given, escaped.
        value: String,
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
    #[error("frame {frame}: plane {plane} is {width}x{height} holding {len} bytes, but a 4:2:0 frame of this stream needs {expected_width}x{expected_height} ({} bytes)", expected_width * expected_height)]
    BadPlane {
        /// Frame index, from 0.
        frame: u64,
        /// Plane index (0 = Y, 1 = U, 2 = V).
        plane: usize,
        /// The plane's width.
        width: usize,
        /// The plane's height.
        height: usize,
        /// The plane's buffer length.
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
/// source's frame rate, interlace, aspect, chroma siting and range tags.
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
    /// The `C` value, e.g. `"420jpeg"`; `"420"` when the header has no `C` tag.
    pub colorspace: String,
    /// The `XCOLORRANGE` value (`"LIMITED"` or `"FULL"` from ffmpeg), if given.
    pub color_range: Option<String>,
}

impl Y4mHeader {
    /// A progressive, square-pixel 4:2:0 header with no chroma-siting or range
    /// claims, for output that has no source header to copy.
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
        }
    }

    /// Checks that the header describes a stream Mica can read or write:
    /// sizes within the limits, non-zero frame rate, a known interlace mode,
    /// 8-bit 4:2:0, and tag values that fit on the header line.
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
        if !SUPPORTED_COLORSPACES.contains(&self.colorspace.as_str()) {
            return Err(Y4mError::UnsupportedColorspace {
                value: self.colorspace.escape_debug().to_string(),
            });
        }
        if let Some(range) = &self.color_range {
            if range.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Y4mError::InvalidColorRange {
                    value: range.escape_debug().to_string(),
                });
            }
        }
        Ok(())
    }

    /// Bytes of samples in one frame (Y + U + V), not counting the `FRAME` line.
    pub fn frame_bytes(&self) -> usize {
        let (cw, ch) = chroma_420_size(self.width, self.height);
        self.width * self.height + 2 * cw * ch
    }

    /// The header line, newline included, in ffmpeg's tag order.
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
        let mut color_range = None;
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
                    if !SUPPORTED_COLORSPACES.contains(&value) {
                        return Err(Y4mError::UnsupportedColorspace {
                            value: value.escape_debug().to_string(),
                        });
                    }
                    set_once(&mut colorspace, "C", value.to_string())?;
                }
                'X' => {
                    // Extension tags carry optional metadata; only the range matters to Mica.
                    if let Some(range) = value.strip_prefix("COLORRANGE=") {
                        set_once(&mut color_range, "XCOLORRANGE", range.to_string())?;
                    }
                }
                _ => {
                    return Err(Y4mError::UnknownTag {
                        tag: token.escape_debug().to_string(),
                    })
                }
            }
        }
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
            colorspace: colorspace.unwrap_or_else(|| "420".to_string()),
            color_range,
        };
        header.validate()?;
        Ok(header)
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

/// Reads 8-bit 4:2:0 frames from a y4m stream.
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
        })
    }

    /// The stream header.
    pub fn header(&self) -> &Y4mHeader {
        &self.header
    }

    /// Reads the next frame; `Ok(None)` when the input ends cleanly between frames.
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
        let mut out = Frame::new_420(self.header.width, self.header.height);
        let mut got = 0;
        for plane in &mut out.planes {
            let mut bytes = vec![0u8; plane.data.len()];
            let n = read_full(&mut self.reader, &mut bytes).map_err(Y4mError::io(format!(
                "reading the samples of frame {frame}"
            )))?;
            for (d, &b) in plane.data.iter_mut().zip(&bytes) {
                *d = b.into();
            }
            got += n;
            if n < plane.data.len() {
                return Err(Y4mError::TruncatedFrame {
                    frame,
                    expected: self.header.frame_bytes(),
                    got,
                });
            }
        }
        self.next_frame += 1;
        Ok(Some(out))
    }
}

/// Writes 8-bit 4:2:0 frames as a y4m stream.
///
/// Writes go straight to `W`; wrap a file or stdout in a `BufWriter` if the
/// frames are small.
pub struct Y4mWriter<W: Write> {
    writer: W,
    width: usize,
    height: usize,
    /// Index of the next frame, for error messages (counts from 0).
    next_frame: u64,
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
            next_frame: 0,
        })
    }

    /// Writes one frame. It must have the header's size, with every plane
    /// tight and of 4:2:0 size, so the file stays readable.
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
        let [y, u, v] = &frame.planes;
        let w = &mut self.writer;
        w.write_all(b"FRAME\n")
            .and_then(|()| w.write_all(&y.data.iter().map(|&s| s as u8).collect::<Vec<_>>()))
            .and_then(|()| w.write_all(&u.data.iter().map(|&s| s as u8).collect::<Vec<_>>()))
            .and_then(|()| w.write_all(&v.data.iter().map(|&s| s as u8).collect::<Vec<_>>()))
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
    /// the decoder's output. Aspect ratios that do not fit 16 bits after
    /// reduction are recorded as unknown (0:0).
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
            ..VideoInfo::default()
        }
    }

    /// The y4m header a decoder writes for a stream (and the encoder for its
    /// reconstruction): its size, frame rate and the source's description.
    pub fn for_stream(seq: &SequenceHeader) -> Y4mHeader {
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
        h
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
        let mut f = Frame::new_420(w, h);
        for (p, plane) in f.planes.iter_mut().enumerate() {
            for (i, s) in plane.data.iter_mut().enumerate() {
                *s = (i * 31 + p * 101 + seed * 7) as u8 as u16;
            }
        }
        f
    }

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
            (b"YUV4MPEG2 W2 H2 C420p10\n", |e| {
                matches!(e, Y4mError::UnsupportedColorspace { .. })
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
            "unsupported colorspace C444: Mica supports 8-bit 4:2:0 only \
             (C420, C420jpeg, C420mpeg2, C420paldv or no C tag)"
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
}
