//! IVF container reading and writing, as used by libvpx and libaom.
//!
//! Layout (all little-endian): a 32-byte file header — `"DKIF"`, version u16
//! (0), header length u16 (32), FourCC, width u16, height u16, timebase
//! denominator u32, timebase numerator u32, frame count u32, unused u32 — then
//! per frame a 12-byte header (payload size u32, timestamp u64) and the payload.
//!
//! Mica streams carry the FourCC [`FOURCC`] (`MICA`). The reader treats its
//! input as untrusted: sizes are checked before use, and a payload is read in
//! bounded chunks, so a corrupt size field on a short file cannot make it
//! allocate the declared size.

use std::io::{self, Read, Seek, SeekFrom, Write};

use thiserror::Error;

use crate::y4m::read_full;

/// FourCC of Mica streams.
pub const FOURCC: [u8; 4] = *b"MICA";
/// Largest accepted frame payload (256 MiB), far above any real Mica frame.
pub const MAX_FRAME_BYTES: usize = 256 << 20;
/// Largest accepted file-header length; longer headers are taken as corruption.
pub const MAX_HEADER_LEN: usize = 1024;

const MAGIC: [u8; 4] = *b"DKIF";
/// Length of the file header this module writes (and the minimum it reads).
const HEADER_LEN: usize = 32;
const FRAME_HEADER_LEN: usize = 12;
/// Offset of the frame-count field, patched by [`IvfWriter::finish`].
const FRAME_COUNT_OFFSET: u64 = 24;
/// Payloads are read (and their buffer grown) at most this much at a time.
const READ_CHUNK: usize = 1 << 20;

/// Everything that can be wrong with an IVF stream, or with a header or frame
/// handed to the writers.
#[derive(Debug, Error)]
pub enum IvfError {
    /// Reading, writing or seeking failed; the cause is in the message too, so
    /// a plain `{}` tells the user what failed.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What was being read or written.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The input has no bytes at all.
    #[error("empty input: no IVF header")]
    EmptyInput,
    /// The input does not start with `DKIF`.
    #[error("not an IVF file: it starts with \"{found}\", expected \"DKIF\"")]
    BadMagic {
        /// The first bytes of the input, escaped.
        found: String,
    },
    /// The input ends inside the file header.
    #[error("IVF header is truncated: expected {expected} bytes, got {got}")]
    TruncatedHeader {
        /// Header length (32, or the longer length the header declares).
        expected: usize,
        /// Bytes there were.
        got: usize,
    },
    /// A version other than 0 (the only one defined).
    #[error("IVF version {version} is not supported: only version 0 is defined")]
    UnsupportedVersion {
        /// The version found.
        version: u16,
    },
    /// A header length below 32 or above [`MAX_HEADER_LEN`].
    #[error("IVF header length {len} is invalid: it must be from 32 to {MAX_HEADER_LEN} bytes")]
    BadHeaderLength {
        /// The length found.
        len: u16,
    },
    /// Another codec's stream (or a corrupt FourCC).
    #[error("FourCC is {found}, expected {expected}")]
    WrongFourcc {
        /// The FourCC found, escaped.
        found: String,
        /// The FourCC required, escaped.
        expected: String,
    },
    /// A zero width, height or timebase term.
    #[error(
        "IVF header field {field} is 0: width, height and both timebase terms must be non-zero"
    )]
    ZeroHeaderField {
        /// Which field.
        field: &'static str,
    },
    /// The input ends inside a 12-byte frame header.
    #[error("frame {frame}: frame header is truncated: expected 12 bytes, got {got}")]
    TruncatedFrameHeader {
        /// Frame index, from 0.
        frame: u64,
        /// Bytes there were.
        got: usize,
    },
    /// A payload above [`MAX_FRAME_BYTES`] (read or written).
    #[error("frame {frame} is {size} bytes: at most {MAX_FRAME_BYTES} (256 MiB) are allowed")]
    FrameTooLarge {
        /// Frame index, from 0.
        frame: u64,
        /// The declared (or given) payload size.
        size: u64,
    },
    /// The input ends inside a frame's payload.
    #[error("frame {frame} payload is truncated: expected {expected} bytes, got {got} ({} missing)", .expected - .got)]
    TruncatedFrame {
        /// Frame index, from 0.
        frame: u64,
        /// Payload size the frame header declares.
        expected: usize,
        /// Payload bytes there were.
        got: usize,
    },
    /// [`IvfWriter`] cannot count past `u32::MAX` frames.
    #[error(
        "cannot write more than {} frames: the IVF frame count is 32 bits",
        u32::MAX
    )]
    TooManyFrames,
}

impl IvfError {
    fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> IvfError {
        let context = context.into();
        move |source| IvfError::Io { context, source }
    }
}

/// The IVF file header.
///
/// Timestamps are in units of `timebase_num / timebase_den` seconds; with
/// timebase = 1 / frame rate, a frame's timestamp is its index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IvfHeader {
    /// Codec identifier; [`FOURCC`] for Mica.
    pub fourcc: [u8; 4],
    /// Picture width in luma samples.
    pub width: u16,
    /// Picture height in luma samples.
    pub height: u16,
    /// The frame rate denominator when timestamps count frames.
    pub timebase_num: u32,
    /// The frame rate numerator when timestamps count frames.
    pub timebase_den: u32,
    /// Number of frames; 0 when the writer could not know it (a stream to stdout).
    pub frame_count: u32,
}

impl IvfHeader {
    /// A Mica header whose timestamps count frames at `fps_num / fps_den`
    /// frames per second (timebase `fps_den / fps_num`).
    pub fn new(width: u16, height: u16, fps_num: u32, fps_den: u32) -> IvfHeader {
        IvfHeader {
            fourcc: FOURCC,
            width,
            height,
            timebase_num: fps_den,
            timebase_den: fps_num,
            frame_count: 0,
        }
    }

    /// Refuses zero fields: a zero size or timebase would reach the decoder as
    /// a division by zero or an empty picture.
    fn validate(&self) -> Result<(), IvfError> {
        for (field, value) in [
            ("width", u32::from(self.width)),
            ("height", u32::from(self.height)),
            ("timebase numerator", self.timebase_num),
            ("timebase denominator", self.timebase_den),
        ] {
            if value == 0 {
                return Err(IvfError::ZeroHeaderField { field });
            }
        }
        Ok(())
    }

    fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..6].copy_from_slice(&0u16.to_le_bytes());
        b[6..8].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        b[8..12].copy_from_slice(&self.fourcc);
        b[12..14].copy_from_slice(&self.width.to_le_bytes());
        b[14..16].copy_from_slice(&self.height.to_le_bytes());
        b[16..20].copy_from_slice(&self.timebase_den.to_le_bytes());
        b[20..24].copy_from_slice(&self.timebase_num.to_le_bytes());
        b[24..28].copy_from_slice(&self.frame_count.to_le_bytes());
        b
    }
}

/// One frame: its timestamp (in timebase units) and its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IvfFrame {
    /// Timestamp in timebase units.
    pub pts: u64,
    /// The coded frame.
    pub data: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Writes one frame header and payload; `index` is only for error messages.
fn write_frame_to<W: Write>(
    writer: &mut W,
    index: u64,
    data: &[u8],
    pts: u64,
) -> Result<(), IvfError> {
    if data.len() > MAX_FRAME_BYTES {
        // The reader would refuse it, so refuse it here, where the cause is clear.
        return Err(IvfError::FrameTooLarge {
            frame: index,
            size: data.len() as u64,
        });
    }
    let mut head = [0u8; FRAME_HEADER_LEN];
    head[0..4].copy_from_slice(&(data.len() as u32).to_le_bytes());
    head[4..12].copy_from_slice(&pts.to_le_bytes());
    writer
        .write_all(&head)
        .and_then(|()| writer.write_all(data))
        .map_err(|source| IvfError::Io {
            context: format!("writing IVF frame {index}"),
            source,
        })
}

/// Writes an IVF file and, on [`finish`](IvfWriter::finish), seeks back to
/// fill in the real frame count. For files; use [`IvfStreamWriter`] for pipes.
pub struct IvfWriter<W: Write + Seek> {
    writer: W,
    /// Where the header starts (the writer need not be at offset 0).
    start: u64,
    frames: u32,
}

impl<W: Write + Seek> IvfWriter<W> {
    /// Validates `header` and writes it (its frame count is replaced on finish).
    pub fn new(mut writer: W, header: &IvfHeader) -> Result<Self, IvfError> {
        header.validate()?;
        let start = writer
            .stream_position()
            .map_err(IvfError::io("locating the IVF header"))?;
        writer
            .write_all(&header.to_bytes())
            .map_err(IvfError::io("writing the IVF header"))?;
        Ok(IvfWriter {
            writer,
            start,
            frames: 0,
        })
    }

    /// Appends one frame with timestamp `pts`.
    pub fn write_frame(&mut self, data: &[u8], pts: u64) -> Result<(), IvfError> {
        if self.frames == u32::MAX {
            return Err(IvfError::TooManyFrames);
        }
        write_frame_to(&mut self.writer, u64::from(self.frames), data, pts)?;
        self.frames += 1;
        Ok(())
    }

    /// Patches the frame count into the header, restores the position to the
    /// end of the stream, flushes, and returns the writer.
    pub fn finish(mut self) -> Result<W, IvfError> {
        let patch = |w: &mut W, start: u64, frames: u32| -> io::Result<()> {
            let end = w.stream_position()?;
            w.seek(SeekFrom::Start(start + FRAME_COUNT_OFFSET))?;
            w.write_all(&frames.to_le_bytes())?;
            w.seek(SeekFrom::Start(end))?;
            w.flush()
        };
        patch(&mut self.writer, self.start, self.frames)
            .map_err(IvfError::io("writing the IVF frame count"))?;
        Ok(self.writer)
    }
}

/// Writes an IVF stream without seeking (for stdout and pipes): the frame
/// count is written as given in the header up front (0 if unknown), since it
/// cannot be patched later.
pub struct IvfStreamWriter<W: Write> {
    writer: W,
    /// Index of the next frame, for error messages.
    next_frame: u64,
}

impl<W: Write> IvfStreamWriter<W> {
    /// Validates `header` and writes it.
    pub fn new(mut writer: W, header: &IvfHeader) -> Result<Self, IvfError> {
        header.validate()?;
        writer
            .write_all(&header.to_bytes())
            .map_err(IvfError::io("writing the IVF header"))?;
        Ok(IvfStreamWriter {
            writer,
            next_frame: 0,
        })
    }

    /// Appends one frame with timestamp `pts`.
    pub fn write_frame(&mut self, data: &[u8], pts: u64) -> Result<(), IvfError> {
        write_frame_to(&mut self.writer, self.next_frame, data, pts)?;
        self.next_frame += 1;
        Ok(())
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> Result<W, IvfError> {
        self.writer
            .flush()
            .map_err(IvfError::io("flushing the IVF output"))?;
        Ok(self.writer)
    }
}

/// Reads frames from an IVF stream.
///
/// Reads are small (12-byte frame headers), so wrap a `File` in a `BufReader`.
pub struct IvfReader<R: Read> {
    reader: R,
    header: IvfHeader,
    /// Index of the next frame, for error messages (counts from 0).
    next_frame: u64,
}

impl<R: Read> IvfReader<R> {
    /// Reads and validates the header of a Mica stream (FourCC `MICA`).
    pub fn new(reader: R) -> Result<Self, IvfError> {
        Self::with_fourcc(reader, Some(FOURCC))
    }

    /// Like [`new`](IvfReader::new), but requires FourCC `expected` instead of
    /// `MICA`, or accepts any FourCC when `expected` is `None` (for tools that
    /// inspect other codecs' IVF files).
    pub fn with_fourcc(mut reader: R, expected: Option<[u8; 4]>) -> Result<Self, IvfError> {
        let mut b = [0u8; HEADER_LEN];
        let got = read_full(&mut reader, &mut b).map_err(IvfError::io("reading the IVF header"))?;
        if got == 0 {
            return Err(IvfError::EmptyInput);
        }
        let checked = got.min(MAGIC.len());
        if b[..checked] != MAGIC[..checked] {
            return Err(IvfError::BadMagic {
                found: b[..checked].escape_ascii().to_string(),
            });
        }
        if got < HEADER_LEN {
            return Err(IvfError::TruncatedHeader {
                expected: HEADER_LEN,
                got,
            });
        }
        let version = u16_at(&b, 4);
        if version != 0 {
            return Err(IvfError::UnsupportedVersion { version });
        }
        let header_len = u16_at(&b, 6);
        if !(HEADER_LEN..=MAX_HEADER_LEN).contains(&usize::from(header_len)) {
            return Err(IvfError::BadHeaderLength { len: header_len });
        }
        let header = IvfHeader {
            fourcc: [b[8], b[9], b[10], b[11]],
            width: u16_at(&b, 12),
            height: u16_at(&b, 14),
            timebase_den: u32_at(&b, 16),
            timebase_num: u32_at(&b, 20),
            frame_count: u32_at(&b, 24),
        };
        if let Some(expected) = expected {
            if header.fourcc != expected {
                return Err(IvfError::WrongFourcc {
                    found: header.fourcc.escape_ascii().to_string(),
                    expected: expected.escape_ascii().to_string(),
                });
            }
        }
        header.validate()?;
        // A longer header is allowed by the format; its extra bytes carry nothing we use.
        let extra = u64::from(header_len) - HEADER_LEN as u64;
        let skipped = io::copy(&mut (&mut reader).take(extra), &mut io::sink())
            .map_err(IvfError::io("reading the IVF header"))?;
        if skipped < extra {
            return Err(IvfError::TruncatedHeader {
                expected: usize::from(header_len),
                got: HEADER_LEN + skipped as usize,
            });
        }
        Ok(IvfReader {
            reader,
            header,
            next_frame: 0,
        })
    }

    /// The file header (`frame_count` as stored: 0 or stale for streamed files).
    pub fn header(&self) -> &IvfHeader {
        &self.header
    }

    /// Reads the next frame; `Ok(None)` when the input ends cleanly between frames.
    pub fn next_frame(&mut self) -> Result<Option<IvfFrame>, IvfError> {
        let frame = self.next_frame;
        let mut head = [0u8; FRAME_HEADER_LEN];
        let got = read_full(&mut self.reader, &mut head).map_err(IvfError::io(format!(
            "reading the header of IVF frame {frame}"
        )))?;
        if got == 0 {
            return Ok(None);
        }
        if got < FRAME_HEADER_LEN {
            return Err(IvfError::TruncatedFrameHeader { frame, got });
        }
        let size = u32_at(&head, 0) as usize;
        if size > MAX_FRAME_BYTES {
            return Err(IvfError::FrameTooLarge {
                frame,
                size: size as u64,
            });
        }
        let pts = u64::from_le_bytes(head[4..12].try_into().expect("8-byte slice"));
        // Grow the buffer only as data arrives, so memory tracks the real input
        // size rather than the declared one.
        let mut data = Vec::new();
        while data.len() < size {
            let start = data.len();
            let want = (size - start).min(READ_CHUNK);
            data.resize(start + want, 0);
            let n = read_full(&mut self.reader, &mut data[start..]).map_err(IvfError::io(
                format!("reading the payload of IVF frame {frame}"),
            ))?;
            if n < want {
                return Err(IvfError::TruncatedFrame {
                    frame,
                    expected: size,
                    got: start + n,
                });
            }
        }
        self.next_frame += 1;
        Ok(Some(IvfFrame { pts, data }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{mutate, Rng};
    use std::io::Cursor;

    fn payload(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    fn sample_frames() -> Vec<IvfFrame> {
        vec![
            IvfFrame {
                pts: 0,
                data: payload(100, 1),
            },
            IvfFrame {
                pts: 1,
                data: Vec::new(),
            },
            IvfFrame {
                pts: 2,
                data: payload(3 * READ_CHUNK + 17, 2),
            },
            IvfFrame {
                pts: u64::MAX,
                data: payload(5, 3),
            },
        ]
    }

    fn sample_header() -> IvfHeader {
        IvfHeader::new(640, 480, 30000, 1001)
    }

    /// A valid stream with the given frames (frame count patched).
    fn encode(header: &IvfHeader, frames: &[IvfFrame]) -> Vec<u8> {
        let mut w = IvfWriter::new(Cursor::new(Vec::new()), header).unwrap();
        for f in frames {
            w.write_frame(&f.data, f.pts).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn read_all(
        input: &[u8],
        fourcc: Option<[u8; 4]>,
    ) -> Result<(IvfHeader, Vec<IvfFrame>), IvfError> {
        let mut r = IvfReader::with_fourcc(input, fourcc)?;
        let mut frames = Vec::new();
        while let Some(f) = r.next_frame()? {
            frames.push(f);
        }
        Ok((r.header().clone(), frames))
    }

    fn read_err(input: &[u8]) -> IvfError {
        read_all(input, Some(FOURCC)).expect_err("input was accepted")
    }

    #[test]
    fn header_layout_matches_libvpx() {
        let bytes = encode(&sample_header(), &[]);
        let expected: [u8; 32] = [
            b'D', b'K', b'I', b'F', 0, 0, 32, 0, b'M', b'I', b'C', b'A', 0x80, 0x02, 0xE0,
            0x01, // sizes
            0x30, 0x75, 0, 0, // timebase denominator (rate) 30000
            0xE9, 0x03, 0, 0, // timebase numerator (scale) 1001
            0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn round_trip_through_cursor() {
        let frames = sample_frames();
        let bytes = encode(&sample_header(), &frames);
        let (header, read) = read_all(&bytes, Some(FOURCC)).unwrap();
        assert_eq!(
            header,
            IvfHeader {
                frame_count: 4,
                ..sample_header()
            }
        );
        assert_eq!(read, frames);
    }

    #[test]
    fn stream_writer_matches_seekable_writer() {
        let frames = sample_frames();
        let header = IvfHeader {
            frame_count: 4,
            ..sample_header()
        };
        let mut w = IvfStreamWriter::new(Vec::new(), &header).unwrap();
        for f in &frames {
            w.write_frame(&f.data, f.pts).unwrap();
        }
        let streamed = w.finish().unwrap();
        assert_eq!(streamed, encode(&sample_header(), &frames));

        let mut w = IvfStreamWriter::new(Vec::new(), &sample_header()).unwrap();
        w.write_frame(b"abc", 0).unwrap();
        let (h, read) = read_all(&w.finish().unwrap(), Some(FOURCC)).unwrap();
        assert_eq!((h.frame_count, read.len()), (0, 1));
    }

    #[test]
    fn writer_patches_count_in_a_file_and_at_an_offset() {
        let path = std::env::temp_dir().join(format!("mica-ivf-test-{}.ivf", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let mut w = IvfWriter::new(io::BufWriter::new(file), &sample_header()).unwrap();
        w.write_frame(b"one", 0).unwrap();
        w.write_frame(b"two", 1).unwrap();
        drop(w.finish().unwrap());
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let (h, read) = read_all(&bytes, Some(FOURCC)).unwrap();
        assert_eq!((h.frame_count, read.len()), (2, 2));
        assert_eq!(read[1].data, b"two");

        // A header that does not start at offset 0 is patched in place.
        let mut cursor = Cursor::new(b"prefix".to_vec());
        cursor.seek(SeekFrom::End(0)).unwrap();
        let mut w = IvfWriter::new(cursor, &sample_header()).unwrap();
        w.write_frame(b"x", 0).unwrap();
        let bytes = w.finish().unwrap().into_inner();
        assert_eq!(&bytes[..6], b"prefix");
        let (h, _) = read_all(&bytes[6..], Some(FOURCC)).unwrap();
        assert_eq!(h.frame_count, 1);
    }

    #[test]
    fn fourcc_choice() {
        let other = IvfHeader {
            fourcc: *b"AV01",
            ..sample_header()
        };
        let bytes = encode(&other, &sample_frames()[..1]);
        let e = read_err(&bytes);
        assert!(matches!(e, IvfError::WrongFourcc { .. }));
        assert_eq!(e.to_string(), "FourCC is AV01, expected MICA");
        assert_eq!(read_all(&bytes, None).unwrap().0.fourcc, *b"AV01");
        assert_eq!(read_all(&bytes, Some(*b"AV01")).unwrap().1.len(), 1);
    }

    #[test]
    fn longer_header_is_skipped() {
        let mut bytes = encode(&sample_header(), &sample_frames()[..1]);
        bytes[6] = 40;
        bytes.splice(32..32, [0xAA; 8]);
        let (_, read) = read_all(&bytes, Some(FOURCC)).unwrap();
        assert_eq!(read, sample_frames()[..1]);
        // ... but the extra bytes must be there.
        let e = read_err(&bytes[..36]);
        assert!(
            matches!(
                e,
                IvfError::TruncatedHeader {
                    expected: 40,
                    got: 36
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn refuses_malformed_headers() {
        let good = encode(&sample_header(), &sample_frames()[..1]);
        let with = |at: usize, patch: &[u8]| {
            let mut b = good.clone();
            b[at..at + patch.len()].copy_from_slice(patch);
            read_err(&b)
        };
        let e = read_err(b"");
        assert!(matches!(e, IvfError::EmptyInput));
        assert_eq!(e.to_string(), "empty input: no IVF header");
        let e = read_err(b"YUV4MPEG2 W2 H2\n");
        assert!(matches!(e, IvfError::BadMagic { .. }));
        assert_eq!(
            e.to_string(),
            "not an IVF file: it starts with \"YUV4\", expected \"DKIF\""
        );
        assert!(matches!(
            read_err(b"DK"),
            IvfError::TruncatedHeader { got: 2, .. }
        ));
        assert!(matches!(read_err(b"DX"), IvfError::BadMagic { .. }));
        assert!(matches!(
            read_err(&good[..20]),
            IvfError::TruncatedHeader {
                expected: 32,
                got: 20
            }
        ));
        assert!(matches!(
            with(4, &[1, 0]),
            IvfError::UnsupportedVersion { version: 1 }
        ));
        assert!(matches!(
            with(6, &[16, 0]),
            IvfError::BadHeaderLength { len: 16 }
        ));
        assert!(matches!(
            with(6, &[0x01, 0x04]),
            IvfError::BadHeaderLength { len: 1025 }
        ));
        assert!(matches!(
            with(12, &[0, 0]),
            IvfError::ZeroHeaderField { field: "width" }
        ));
        assert!(matches!(
            with(16, &[0; 4]),
            IvfError::ZeroHeaderField {
                field: "timebase denominator"
            }
        ));
    }

    #[test]
    fn refuses_malformed_frames() {
        let good = encode(&sample_header(), &sample_frames()[..2]);
        // Frame 0 is 12 + 100 bytes; frame 1 is an empty payload.
        let e = read_err(&good[..32 + 5]);
        assert!(
            matches!(e, IvfError::TruncatedFrameHeader { frame: 0, got: 5 }),
            "{e:?}"
        );
        let e = read_err(&good[..good.len() - 1]);
        assert!(
            matches!(e, IvfError::TruncatedFrameHeader { frame: 1, got: 11 }),
            "{e:?}"
        );
        let e = read_err(&good[..32 + 12 + 60]);
        assert!(
            matches!(
                e,
                IvfError::TruncatedFrame {
                    frame: 0,
                    expected: 100,
                    got: 60
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "frame 0 payload is truncated: expected 100 bytes, got 60 (40 missing)"
        );

        let mut too_big = good.clone();
        too_big[32..36].copy_from_slice(&(MAX_FRAME_BYTES as u32 + 1).to_le_bytes());
        let e = read_err(&too_big);
        assert!(
            matches!(e, IvfError::FrameTooLarge { frame: 0, .. }),
            "{e:?}"
        );
    }

    #[test]
    fn hostile_frame_size_reads_in_chunks() {
        /// Serves `data` and records the largest buffer it was asked to fill,
        /// which bounds what the reader had allocated for the payload.
        struct Probe<'a> {
            data: &'a [u8],
            largest_request: usize,
        }
        impl Read for Probe<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.largest_request = self.largest_request.max(buf.len());
                self.data.read(buf)
            }
        }
        let mut bytes = encode(&sample_header(), &[]);
        bytes.extend_from_slice(&(MAX_FRAME_BYTES as u32).to_le_bytes());
        bytes.extend_from_slice(&7u64.to_le_bytes());
        bytes.extend_from_slice(b"tenbytes!!");
        let mut probe = Probe {
            data: &bytes,
            largest_request: 0,
        };
        let started = std::time::Instant::now();
        let mut r = IvfReader::new(&mut probe).unwrap();
        let e = r.next_frame().unwrap_err();
        assert!(
            matches!(
                e,
                IvfError::TruncatedFrame {
                    frame: 0,
                    expected: MAX_FRAME_BYTES,
                    got: 10
                }
            ),
            "{e:?}"
        );
        assert!(
            probe.largest_request <= READ_CHUNK,
            "asked for {} bytes at once",
            probe.largest_request
        );
        eprintln!("hostile size refused in {:?}", started.elapsed());
    }

    #[test]
    fn writers_refuse_bad_input() {
        let zero = IvfHeader {
            timebase_num: 0,
            ..sample_header()
        };
        assert!(matches!(
            IvfWriter::new(Cursor::new(Vec::new()), &zero),
            Err(IvfError::ZeroHeaderField {
                field: "timebase numerator"
            })
        ));
        assert!(matches!(
            IvfStreamWriter::new(Vec::new(), &zero),
            Err(IvfError::ZeroHeaderField { .. })
        ));
        // Zero-filled allocations are lazily mapped, so this costs no real memory.
        let huge = vec![0u8; MAX_FRAME_BYTES + 1];
        let mut w = IvfStreamWriter::new(Vec::new(), &sample_header()).unwrap();
        assert!(matches!(
            w.write_frame(&huge, 0),
            Err(IvfError::FrameTooLarge { frame: 0, .. })
        ));
    }

    #[test]
    fn random_mutations_never_panic() {
        let frames = [
            IvfFrame {
                pts: 0,
                data: payload(40, 1),
            },
            IvfFrame {
                pts: 1,
                data: payload(7, 2),
            },
            IvfFrame {
                pts: 2,
                data: Vec::new(),
            },
        ];
        let valid = encode(&sample_header(), &frames);
        let mut rng = Rng::new(0x1df_2024);
        let (mut ok, mut err) = (0, 0);
        for i in 0..2000 {
            let input = mutate(&valid, &mut rng);
            let fourcc = if i % 2 == 0 { Some(FOURCC) } else { None };
            match read_all(&input, fourcc) {
                Ok(_) => ok += 1,
                Err(_) => err += 1,
            }
        }
        eprintln!("ivf mutations: {ok} accepted, {err} refused");
        assert!(err > 0 && ok > 0);
    }
}
