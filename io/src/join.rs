//! Joining chunks of one video, coded apart, into one stream without
//! decoding or re-encoding (`mica-join`, the Python package's `join`).
//!
//! Each chunk must open with a keyframe carrying a sequence header (a random
//! access point) equal to the first chunk's, and hold each frame number from
//! its first to its last once. Frame numbers and timestamps are rewritten to
//! follow on from the chunks before, so chunks numbered from 0 and chunks
//! numbered where they sit (`EncoderConfig::first_frame_number`) join alike.

use std::io::Read;

use thiserror::Error;

use crate::ivf::{IvfError, IvfHeader, IvfReader};

/// Why chunks do not join; each names the chunk.
#[derive(Debug, Error)]
pub enum JoinError {
    /// The chunk is not a readable IVF file.
    #[error("cannot read {chunk}: {source}")]
    Ivf {
        /// The chunk's name.
        chunk: String,
        /// What is wrong.
        source: IvfError,
    },
    /// A packet's headers do not parse.
    #[error("{chunk}: packet {index} is not a Mica packet: {source}")]
    Packet {
        /// The chunk's name.
        chunk: String,
        /// The packet's position in the chunk.
        index: usize,
        /// What is wrong.
        source: mica::BitstreamError,
    },
    /// The chunk holds no packets.
    #[error("{chunk} holds no frames")]
    Empty {
        /// The chunk's name.
        chunk: String,
    },
    /// The chunk does not open with a random access point.
    #[error(
        "{chunk} does not start with a keyframe carrying a sequence header: it is not a chunk \
         that can be decoded on its own"
    )]
    NotRandomAccess {
        /// The chunk's name.
        chunk: String,
    },
    /// The chunk's sequence header differs from the first chunk's.
    #[error(
        "{chunk} was coded with another sequence header (size, depth, rate or tools) than the \
         first chunk: only chunks of one encode join"
    )]
    OtherSequence {
        /// The chunk's name.
        chunk: String,
    },
    /// The chunk's frame numbers have a gap or a repeat.
    #[error("{chunk}: frame numbers {first}..={last} are not each there once")]
    Numbers {
        /// The chunk's name.
        chunk: String,
        /// Its lowest number.
        first: u32,
        /// Its highest number.
        last: u32,
    },
    /// Writing the joined stream failed.
    #[error("cannot write the joined stream: {0}")]
    Write(std::io::Error),
    /// The joined stream would number more than 2^32 frames.
    #[error("the joined stream would hold more than 2^32 frames")]
    TooManyFrames,
}

/// A chunk read whole and checked on its own.
#[derive(Clone, Debug)]
pub struct Chunk {
    /// Its IVF header.
    pub header: IvfHeader,
    /// Its packets in coding order.
    pub packets: Vec<Vec<u8>>,
    /// The sequence header of its first packet.
    pub sequence: mica::SequenceHeader,
    /// Its lowest frame number.
    pub first: u32,
    /// How many frames it holds.
    pub frames: u32,
}

/// Reads the chunk `name` from `reader` and checks it on its own.
pub fn read_chunk<R: Read>(name: &str, reader: R) -> Result<Chunk, JoinError> {
    let ivf = |source| JoinError::Ivf {
        chunk: name.to_string(),
        source,
    };
    let mut reader = IvfReader::new(reader).map_err(ivf)?;
    let header = reader.header().clone();
    let (mut packets, mut numbers, mut sequence) = (Vec::new(), Vec::new(), None);
    while let Some(frame) = reader.next_frame().map_err(ivf)? {
        let info = mica::packet_info(&frame.data).map_err(|source| JoinError::Packet {
            chunk: name.to_string(),
            index: packets.len(),
            source,
        })?;
        if packets.is_empty() {
            match info.sequence {
                Some(s) if info.keyframe => sequence = Some(s),
                _ => {
                    return Err(JoinError::NotRandomAccess {
                        chunk: name.to_string(),
                    })
                }
            }
        }
        numbers.push(info.frame_number);
        packets.push(frame.data);
    }
    let Some(sequence) = sequence else {
        return Err(JoinError::Empty {
            chunk: name.to_string(),
        });
    };
    numbers.sort_unstable();
    let (first, last) = (numbers[0], numbers[numbers.len() - 1]);
    if numbers
        .iter()
        .enumerate()
        .any(|(i, &n)| u64::from(n) != u64::from(first) + i as u64)
    {
        return Err(JoinError::Numbers {
            chunk: name.to_string(),
            first,
            last,
        });
    }
    Ok(Chunk {
        header,
        packets,
        sequence,
        first,
        frames: numbers.len() as u32,
    })
}

/// Joins chunks one after another.
#[derive(Default)]
pub struct Join {
    sequence: Option<mica::SequenceHeader>,
    next: u32,
}

impl Join {
    /// A join with no chunk yet.
    pub fn new() -> Join {
        Join::default()
    }

    /// Frames joined so far (the next chunk's first number).
    pub fn frames(&self) -> u32 {
        self.next
    }

    /// Appends `chunk` (named `name`): renumbers its packets to follow the
    /// chunks before and hands each, with its new number (its timestamp in
    /// frame intervals), to `write`. Returns the chunk's first new number.
    pub fn append(
        &mut self,
        name: &str,
        chunk: Chunk,
        mut write: impl FnMut(&[u8], u32) -> std::io::Result<()>,
    ) -> Result<u32, JoinError> {
        match &self.sequence {
            None => self.sequence = Some(chunk.sequence.clone()),
            Some(s) if *s != chunk.sequence => {
                return Err(JoinError::OtherSequence {
                    chunk: name.to_string(),
                })
            }
            Some(_) => {}
        }
        let start = self.next;
        let end = start
            .checked_add(chunk.frames)
            .ok_or(JoinError::TooManyFrames)?;
        for (index, mut packet) in chunk.packets.into_iter().enumerate() {
            let bad = |source| JoinError::Packet {
                chunk: name.to_string(),
                index,
                source,
            };
            let old = mica::packet_info(&packet).map_err(bad)?.frame_number;
            let number = start + (old - chunk.first);
            mica::set_frame_number(&mut packet, number).map_err(bad)?;
            write(&packet, number).map_err(JoinError::Write)?;
        }
        self.next = end;
        Ok(start)
    }
}
