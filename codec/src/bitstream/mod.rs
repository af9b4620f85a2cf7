//! Sequence and frame headers: fixed-length fields written with bitstream-io.
//!
//! Layout and semantics: `docs/bitstream.md` 2 (packet), 2.1 (sequence
//! header) and 2.2 (frame header).

use crate::error::BitstreamError;
use bitstream_io::{BigEndian, BitRead, BitReader, BitWrite, BitWriter};

/// Highest QP.
pub const MAX_QP: i8 = 51;

/// Lowest QP at `bit_depth`: the range grows by 6 per bit above 8, as in HEVC.
pub const fn min_qp(bit_depth: u8) -> i8 {
    -qp_bd_offset(bit_depth)
}

/// QpBdOffset: what the quantiser adds to the QP at `bit_depth`, `6 * (bit_depth - 8)`.
pub const fn qp_bd_offset(bit_depth: u8) -> i8 {
    6 * (bit_depth as i8 - 8)
}

/// Coded bit depths.
pub const BIT_DEPTHS: [u8; 2] = [8, 10];

/// Largest coded width or height.
pub const MAX_SIDE: u32 = 16384;
/// Largest number of luma samples in a picture.
pub const MAX_PIXELS: u64 = 8192 * 8192;

/// Frame types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameType {
    /// Intra-only frame; empties the reference slots. It carries a sequence
    /// header when it is a random access point (always but in all-intra streams).
    Key = 0,
    /// Predicted from up to four references in list 0 and four in list 1.
    Inter = 1,
}

/// Number of reference picture slots.
pub const NUM_SLOTS: usize = 8;
/// Most references per list.
pub const MAX_REFS: usize = 4;

/// How the source's y4m header described the video, so the decoder can
/// write the same header back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VideoInfo {
    /// 0: no C tag ("420"), 1: 420jpeg, 2: 420mpeg2, 3: 420paldv.
    pub chroma_siting: u8,
    /// 0: progressive, 1: top field first, 2: bottom field first, 3: mixed, 4: unknown.
    pub interlace: u8,
    /// Pixel aspect ratio numerator (0:0 = unknown).
    pub aspect_num: u16,
    /// Pixel aspect ratio denominator.
    pub aspect_den: u16,
    /// 0: unspecified, 1: limited ("TV"), 2: full ("PC").
    pub color_range: u8,
    /// Colour primaries, transfer characteristics and matrix, if described.
    pub colour: Option<ColourDescription>,
    /// The mastering display's colour volume (SMPTE ST 2086), if given.
    pub mastering_display: Option<MasteringDisplay>,
    /// Content light levels (CTA-861.3), if given.
    pub content_light: Option<ContentLight>,
}

/// Colour description as ITU-T H.273 code points (the values HEVC, AV1 and VVC use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColourDescription {
    /// ColourPrimaries: 1 BT.709, 9 BT.2020, 12 P3-D65, 2 unspecified, ...
    pub primaries: u8,
    /// TransferCharacteristics: 1 BT.709, 16 SMPTE ST 2084 (PQ), 18 HLG, 2 unspecified, ...
    pub transfer: u8,
    /// MatrixCoefficients: 1 BT.709, 9 BT.2020 non-constant, 0 identity, 2 unspecified, ...
    pub matrix: u8,
}

/// Mastering display colour volume (SMPTE ST 2086), in the units HEVC's SEI uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MasteringDisplay {
    /// (x, y) chromaticity of the green, blue and red primaries, in 0.00002 units
    /// (0..=50000).
    pub primaries: [[u16; 2]; 3],
    /// (x, y) chromaticity of the white point, in 0.00002 units (0..=50000).
    pub white_point: [u16; 2],
    /// Maximum display luminance in 0.0001 cd/m².
    pub max_luminance: u32,
    /// Minimum display luminance in 0.0001 cd/m² (below the maximum).
    pub min_luminance: u32,
}

/// Content light level information (CTA-861.3), in cd/m².
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentLight {
    /// Maximum content light level (MaxCLL).
    pub max_cll: u16,
    /// Maximum frame-average light level (MaxFALL).
    pub max_fall: u16,
}

/// Largest chromaticity coordinate of a mastering display, 1.0 in 0.00002 units.
pub const MAX_CHROMATICITY: u16 = 50000;

impl MasteringDisplay {
    /// Why these values cannot describe a display, if they cannot.
    pub fn problem(&self) -> Option<&'static str> {
        let coords = self.primaries.iter().flatten().chain(&self.white_point);
        if coords.into_iter().any(|&c| c > MAX_CHROMATICITY) {
            Some("chromaticity coordinates are 0..=50000 (units of 0.00002)")
        } else if self.max_luminance == 0 || self.min_luminance >= self.max_luminance {
            Some("the minimum luminance must be below a non-zero maximum")
        } else {
            None
        }
    }
}

/// Identity of a learned model used by the stream (the SHA-256 of its file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelRef {
    /// What the model does (1 = loop filter, 2 = intra predictor).
    pub role: u8,
    /// SHA-256 of the `.micanet` file.
    pub sha256: [u8; 32],
}

/// Coding tools switched on for the whole stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tools {
    /// The deblocking filter may be used (frames may still switch it off).
    pub deblocking: bool,
    /// The learned loop filter may be used (its model is listed with role 1).
    pub nn_filter: bool,
    /// The learned intra mode may be used (its model is listed with role 2).
    pub nn_intra: bool,
    /// Contexts start each frame from the trained initialisation tables
    /// (otherwise at probability one half).
    pub trained_contexts: bool,
    /// Superblocks may code a QP delta (`sb_qp_delta`, `docs/bitstream.md` 4.8).
    pub sb_qp_delta: bool,
    /// Coding trees may split nodes in binary halves below the quadtree
    /// (the multi-type tree, `docs/bitstream.md` 4).
    pub multi_type_tree: bool,
    /// Intra luma transform blocks choose DST-VII or DCT-II per direction from their
    /// size (VVC's implicit transform selection, `docs/bitstream.md` 6).
    pub implicit_mts: bool,
    /// Frames carry the adaptive loop filter's syntax (`docs/bitstream.md`
    /// 4.9, 7.2; `tool_flags` bit 7).
    pub alf: bool,
    /// Chroma may be predicted from luma (the chroma mode LM,
    /// `docs/bitstream.md` 5.3).
    pub cclm: bool,
    /// Coding trees may also split nodes in three (1:2:1) below the
    /// quadtree (`docs/bitstream.md` 4; `tool_flags` bit 9, only with bit 5).
    pub ternary_splits: bool,
    /// Bi-predicted merge CUs refine their vectors at the decoder
    /// (`docs/bitstream.md` 5.4; `inter_tool_flags` bit 0).
    pub dmvr: bool,
    /// Bi-predicted CUs correct their luma prediction by optical flow
    /// (`docs/bitstream.md` 5.5; `inter_tool_flags` bit 1).
    pub bdof: bool,
    /// Merge lists take history-based and pairwise-average candidates
    /// (`docs/bitstream.md` 4.7; `inter_tool_flags` bit 2).
    pub history_merge: bool,
    /// Merge CUs may add a motion vector difference to candidate 0 or 1
    /// (`docs/bitstream.md` 4.6; `inter_tool_flags` bit 3).
    pub mmvd: bool,
    /// CUs with explicit motion may code whole or four-sample vector
    /// differences (`docs/bitstream.md` 4.6; `inter_tool_flags` bit 4).
    pub amvr: bool,
    /// Bi-predicted CUs with explicit motion may code one symmetric vector
    /// difference for the frame's symmetric pair of references
    /// (`docs/bitstream.md` 4.6; `inter_tool_flags` bit 5).
    pub smvd: bool,
}

impl Tools {
    /// The second tool word, `inter_tool_flags` (sent when `tool_flags` bit 15 is set).
    fn inter_tool_flags(&self) -> u16 {
        self.dmvr as u16
            | (self.bdof as u16) << 1
            | (self.history_merge as u16) << 2
            | (self.mmvd as u16) << 3
            | (self.amvr as u16) << 4
            | (self.smvd as u16) << 5
    }
}

/// `tool_flags` bit saying that `inter_tool_flags` follows.
const MORE_TOOLS: u16 = 1 << 15;

/// Stream-wide parameters, sent with every keyframe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceHeader {
    /// Profile (0 = Main: 4:2:0 at 8 or 10 bits).
    pub profile: u8,
    /// Bits per coded sample (8 or 10): the decoder's reconstruction has this depth.
    pub bit_depth: u8,
    /// Bits per sample of the source (8 or 10): what the decoder outputs when asked for
    /// the source's depth.
    pub source_bit_depth: u8,
    /// Visible width in luma samples.
    pub width: u32,
    /// Visible height in luma samples.
    pub height: u32,
    /// Frame rate numerator.
    pub fps_num: u32,
    /// Frame rate denominator.
    pub fps_den: u32,
    /// Enabled tools.
    pub tools: Tools,
    /// Source description for output.
    pub video_info: VideoInfo,
    /// Learned models the stream refers to.
    pub models: Vec<ModelRef>,
}

impl SequenceHeader {
    /// Width rounded up to the 8-sample coding grid.
    pub fn coded_width(&self) -> usize {
        (self.width as usize + 7) & !7
    }
    /// Height rounded up to the 8-sample coding grid.
    pub fn coded_height(&self) -> usize {
        (self.height as usize + 7) & !7
    }
}

/// Per-frame parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Frame type.
    pub frame_type: FrameType,
    /// Display-order frame number.
    pub frame_number: u32,
    /// Base QP, `min_qp(bit_depth)..=51` (-12..=51 at 10 bits).
    pub qp: i8,
    /// Chroma QP offsets for Cb and Cr, -12..=12.
    pub chroma_qp_offset: [i8; 2],
    /// Deblocking on for this frame.
    pub deblock: bool,
    /// Deblocking beta offset (divided by 2), -6..=6.
    pub deblock_beta_offset: i8,
    /// Deblocking tc offset (divided by 2), -6..=6.
    pub deblock_tc_offset: i8,
    /// Learned loop filter on for luma, and for chroma (superblock flags follow the blocks).
    pub nn_filter: [bool; 2],
    /// Correction scale index of the loop filter per kind, 0..=7 (3/8 .. 10/8).
    pub nn_filter_scale: [u8; 2],
    /// Slots this frame is stored into after decoding (keyframes: all).
    pub refresh_slots: u8,
    /// References per list (list 1 empty in P frames; both empty in keyframes).
    pub num_refs: [u8; 2],
    /// Slot of each reference.
    pub ref_slots: [[u8; MAX_REFS]; 2],
}

impl FrameHeader {
    /// A keyframe header with deblocking on and no offsets.
    pub fn key(frame_number: u32, qp: i8) -> FrameHeader {
        FrameHeader {
            frame_type: FrameType::Key,
            frame_number,
            qp,
            chroma_qp_offset: [0, 0],
            deblock: true,
            deblock_beta_offset: 0,
            deblock_tc_offset: 0,
            nn_filter: [false; 2],
            nn_filter_scale: [5; 2],
            refresh_slots: 0xff,
            num_refs: [0, 0],
            ref_slots: [[0; MAX_REFS]; 2],
        }
    }
}

/// A packet's headers and where its entropy-coded payload starts.
pub struct PacketHeaders {
    /// Present on keyframes.
    pub sequence: Option<SequenceHeader>,
    /// The frame header.
    pub frame: FrameHeader,
    /// Byte offset of the entropy-coded payload within the packet.
    pub payload_offset: usize,
    /// Bit offset of the frame header's `frame_number` within the packet.
    pub frame_number_bit: u64,
}

const MAX_MODELS: u32 = 15;

fn io<T>(r: std::io::Result<T>, what: &'static str) -> Result<T, BitstreamError> {
    r.map_err(|_| BitstreamError::TruncatedHeader(what))
}

fn check(
    field: &'static str,
    value: i64,
    ok: bool,
    allowed: &'static str,
) -> Result<(), BitstreamError> {
    if ok {
        Ok(())
    } else {
        Err(BitstreamError::InvalidField {
            field,
            value,
            allowed,
        })
    }
}

/// Writes the packet headers (byte aligned at the end).
pub fn write_packet_headers(seq: Option<&SequenceHeader>, fh: &FrameHeader) -> Vec<u8> {
    debug_assert!(
        seq.is_none_or(|s| s.tools.multi_type_tree || !s.tools.ternary_splits),
        "ternary splits need the multi-type tree (tool_flags bit 9 needs bit 5)"
    );
    let mut out = Vec::new();
    let mut w = BitWriter::endian(&mut out, BigEndian);
    // Writing into a Vec cannot fail.
    (|| -> std::io::Result<()> {
        w.write::<2, u8>(fh.frame_type as u8)?;
        w.write_bit(seq.is_some())?;
        w.write::<5, u8>(0)?;
        if let Some(s) = seq {
            w.write::<8, u8>(s.profile)?;
            w.write::<4, u8>(s.bit_depth - 8)?;
            w.write::<2, u8>(1)?; // chroma_format: 4:2:0
            w.write::<2, u8>(0)?; // reserved
            w.write::<16, u32>(s.width - 1)?;
            w.write::<16, u32>(s.height - 1)?;
            w.write::<32, u32>(s.fps_num)?;
            w.write::<32, u32>(s.fps_den)?;
            w.write::<2, u8>(s.video_info.chroma_siting)?;
            w.write::<3, u8>(s.video_info.interlace)?;
            w.write::<2, u8>(s.video_info.color_range)?;
            w.write::<1, u8>(0)?;
            w.write::<16, u16>(s.video_info.aspect_num)?;
            w.write::<16, u16>(s.video_info.aspect_den)?;
            write_colour(&mut w, s)?;
            w.write::<16, u16>(
                s.tools.deblocking as u16
                    | (s.tools.nn_filter as u16) << 1
                    | (s.tools.nn_intra as u16) << 2
                    | (s.tools.trained_contexts as u16) << 3
                    | (s.tools.sb_qp_delta as u16) << 4
                    | (s.tools.multi_type_tree as u16) << 5
                    | (s.tools.implicit_mts as u16) << 6
                    | (s.tools.alf as u16) << 7
                    | (s.tools.cclm as u16) << 8
                    | (s.tools.ternary_splits as u16) << 9
                    | if s.tools.inter_tool_flags() != 0 {
                        MORE_TOOLS
                    } else {
                        0
                    },
            )?;
            if s.tools.inter_tool_flags() != 0 {
                w.write::<16, u16>(s.tools.inter_tool_flags())?;
            }
            w.write::<4, u32>(s.models.len() as u32)?;
            w.write::<4, u8>(0)?;
            for m in &s.models {
                w.write::<8, u8>(m.role)?;
                w.write_bytes(&m.sha256)?;
            }
        }
        w.write::<32, u32>(fh.frame_number)?;
        w.write_signed::<7, i8>(fh.qp)?;
        w.write_signed::<5, i8>(fh.chroma_qp_offset[0])?;
        w.write_signed::<5, i8>(fh.chroma_qp_offset[1])?;
        w.write_bit(fh.deblock)?;
        if fh.deblock {
            w.write_signed::<4, i8>(fh.deblock_beta_offset)?;
            w.write_signed::<4, i8>(fh.deblock_tc_offset)?;
        }
        for k in 0..2 {
            w.write_bit(fh.nn_filter[k])?;
            if fh.nn_filter[k] {
                w.write::<3, u8>(fh.nn_filter_scale[k])?;
            }
        }
        if fh.frame_type == FrameType::Inter {
            w.write::<8, u8>(fh.refresh_slots)?;
            w.write::<2, u8>(fh.num_refs[0] - 1)?;
            for &slot in &fh.ref_slots[0][..fh.num_refs[0] as usize] {
                w.write::<3, u8>(slot)?;
            }
            w.write::<3, u8>(fh.num_refs[1])?;
            for &slot in &fh.ref_slots[1][..fh.num_refs[1] as usize] {
                w.write::<3, u8>(slot)?;
            }
        }
        w.byte_align()
    })()
    .expect("writing to a Vec cannot fail");
    out
}

/// Parses the packet headers. Fields that depend on the sequence header
/// (deblocking, the learned filter) are checked by the decoder against the
/// one in force, which may have come in an earlier packet.
pub fn read_packet_headers(packet: &[u8]) -> Result<PacketHeaders, BitstreamError> {
    if packet.is_empty() {
        return Err(BitstreamError::EmptyPacket);
    }
    let mut cursor = std::io::Cursor::new(packet);
    let mut r = BitReader::endian(&mut cursor, BigEndian);
    let frame_type: u8 = io(r.read::<2, u8>(), "packet")?;
    check(
        "frame_type",
        frame_type as i64,
        frame_type <= 1,
        "0 (keyframe) or 1 (inter)",
    )?;
    let frame_type = if frame_type == 0 {
        FrameType::Key
    } else {
        FrameType::Inter
    };
    let has_seq = io(r.read_bit(), "packet")?;
    let reserved: u8 = io(r.read::<5, u8>(), "packet")?;
    check("packet_reserved_bits", reserved as i64, reserved == 0, "0")?;
    check(
        "sequence_header_present",
        has_seq as i64,
        !has_seq || frame_type == FrameType::Key,
        "0 on inter frames",
    )?;
    let sequence = if has_seq {
        let profile = io(r.read::<8, u8>(), "sequence")?;
        check(
            "profile",
            profile as i64,
            profile == 0,
            "0 (Main: 4:2:0 at 8 or 10 bits)",
        )?;
        let bd = io(r.read::<4, u8>(), "sequence")?;
        check(
            "bit_depth_minus8",
            bd as i64,
            bd == 0 || bd == 2,
            "0 or 2 (8 or 10 bits)",
        )?;
        let cf = io(r.read::<2, u8>(), "sequence")?;
        check("chroma_format", cf as i64, cf == 1, "1 (4:2:0)")?;
        let rsv = io(r.read::<2, u8>(), "sequence")?;
        check("sequence_reserved_bits", rsv as i64, rsv == 0, "0")?;
        let width = io(r.read::<16, u32>(), "sequence")? + 1;
        let height = io(r.read::<16, u32>(), "sequence")? + 1;
        if width > MAX_SIDE || height > MAX_SIDE || width as u64 * height as u64 > MAX_PIXELS {
            return Err(BitstreamError::TooLarge {
                width,
                height,
                max_side: MAX_SIDE,
                max_pixels: MAX_PIXELS,
            });
        }
        let fps_num = io(r.read::<32, u32>(), "sequence")?;
        let fps_den = io(r.read::<32, u32>(), "sequence")?;
        check("fps_num", fps_num as i64, fps_num > 0, "1..=2^32-1")?;
        check("fps_den", fps_den as i64, fps_den > 0, "1..=2^32-1")?;
        let chroma_siting = io(r.read::<2, u8>(), "sequence")?;
        let interlace = io(r.read::<3, u8>(), "sequence")?;
        check("interlace", interlace as i64, interlace <= 4, "0..=4")?;
        let color_range = io(r.read::<2, u8>(), "sequence")?;
        check("color_range", color_range as i64, color_range <= 2, "0..=2")?;
        let rsv = io(r.read::<1, u8>(), "sequence")?;
        check("video_info_reserved_bit", rsv as i64, rsv == 0, "0")?;
        let aspect_num = io(r.read::<16, u16>(), "sequence")?;
        let aspect_den = io(r.read::<16, u16>(), "sequence")?;
        let colour = read_colour(&mut r)?;
        let tools = io(r.read::<16, u16>(), "sequence")?;
        check(
            "tool_flags",
            tools as i64,
            tools & !(0b11_1111_1111 | MORE_TOOLS) == 0,
            "bits 0 (deblocking), 1 (learned loop filter), 2 (learned intra), 3 (trained contexts), 4 (superblock QP deltas), 5 (multi-type tree), 6 (implicit transform selection), 7 (adaptive loop filter), 8 (cross-component chroma prediction), 9 (ternary splits) and 15 (inter_tool_flags follows) only",
        )?;
        check(
            "tool_flags",
            tools as i64,
            tools & 1 << 9 == 0 || tools & 1 << 5 != 0,
            "bit 9 (ternary splits) only with bit 5 (multi-type tree)",
        )?;
        let inter_tools = if tools & MORE_TOOLS != 0 {
            let t = io(r.read::<16, u16>(), "sequence")?;
            check(
                "inter_tool_flags",
                t as i64,
                t != 0 && t & !0b11_1111 == 0,
                "bits 0 (decoder-side motion vector refinement), 1 (optical flow), 2 (history merge candidates), 3 (merge with motion vector differences), 4 (adaptive vector resolution) and 5 (symmetric vector differences) only, and not 0 (tool_flags bit 15 says it has a tool)",
            )?;
            t
        } else {
            0
        };
        let n_models = io(r.read::<4, u32>(), "sequence")?;
        check(
            "model_count",
            n_models as i64,
            n_models <= MAX_MODELS,
            "0..=15",
        )?;
        let rsv = io(r.read::<4, u8>(), "sequence")?;
        check("model_reserved_bits", rsv as i64, rsv == 0, "0")?;
        let mut models = Vec::with_capacity(n_models as usize);
        for _ in 0..n_models {
            let role = io(r.read::<8, u8>(), "sequence")?;
            let mut sha256 = [0u8; 32];
            io(r.read_bytes(&mut sha256), "sequence")?;
            models.push(ModelRef { role, sha256 });
        }
        Some(SequenceHeader {
            profile,
            bit_depth: bd + 8,
            source_bit_depth: colour.source_bit_depth,
            width,
            height,
            fps_num,
            fps_den,
            tools: Tools {
                deblocking: tools & 1 != 0,
                nn_filter: tools & 2 != 0,
                nn_intra: tools & 4 != 0,
                trained_contexts: tools & 8 != 0,
                sb_qp_delta: tools & 16 != 0,
                multi_type_tree: tools & 32 != 0,
                implicit_mts: tools & 64 != 0,
                alf: tools & 128 != 0,
                cclm: tools & 256 != 0,
                ternary_splits: tools & 512 != 0,
                dmvr: inter_tools & 1 != 0,
                bdof: inter_tools & 2 != 0,
                history_merge: inter_tools & 4 != 0,
                mmvd: inter_tools & 8 != 0,
                amvr: inter_tools & 16 != 0,
                smvd: inter_tools & 32 != 0,
            },
            video_info: VideoInfo {
                chroma_siting,
                interlace,
                aspect_num,
                aspect_den,
                color_range,
                colour: colour.description,
                mastering_display: colour.mastering_display,
                content_light: colour.content_light,
            },
            models,
        })
    } else {
        None
    };
    let frame_number_bit = io(r.position_in_bits(), "frame")?;
    let frame_number = io(r.read::<32, u32>(), "frame")?;
    // Its range depends on the bit depth: the decoder checks it against the
    // sequence header in force.
    let qp = io(r.read_signed::<7, i8>(), "frame")?;
    let mut chroma_qp_offset = [0i8; 2];
    for o in chroma_qp_offset.iter_mut() {
        *o = io(r.read_signed::<5, i8>(), "frame")?;
        check(
            "chroma_qp_offset",
            *o as i64,
            (-12..=12).contains(o),
            "-12..=12",
        )?;
    }
    let deblock = io(r.read_bit(), "frame")?;
    let (mut deblock_beta_offset, mut deblock_tc_offset) = (0, 0);
    if deblock {
        deblock_beta_offset = io(r.read_signed::<4, i8>(), "frame")?;
        deblock_tc_offset = io(r.read_signed::<4, i8>(), "frame")?;
        for v in [deblock_beta_offset, deblock_tc_offset] {
            check("deblock_offset", v as i64, (-6..=6).contains(&v), "-6..=6")?;
        }
    }
    let mut nn_filter = [false; 2];
    let mut nn_filter_scale = [5u8; 2];
    for k in 0..2 {
        nn_filter[k] = io(r.read_bit(), "frame")?;
        if nn_filter[k] {
            nn_filter_scale[k] = io(r.read::<3, u8>(), "frame")?;
        }
    }
    let mut refresh_slots = 0xff;
    let mut num_refs = [0u8; 2];
    let mut ref_slots = [[0u8; MAX_REFS]; 2];
    if frame_type == FrameType::Inter {
        refresh_slots = io(r.read::<8, u8>(), "frame")?;
        num_refs[0] = io(r.read::<2, u8>(), "frame")? + 1;
        for slot in ref_slots[0][..num_refs[0] as usize].iter_mut() {
            *slot = io(r.read::<3, u8>(), "frame")?;
        }
        num_refs[1] = io(r.read::<3, u8>(), "frame")?;
        check(
            "num_refs_l1",
            num_refs[1] as i64,
            num_refs[1] as usize <= MAX_REFS,
            "0..=4",
        )?;
        for slot in ref_slots[1][..num_refs[1] as usize].iter_mut() {
            *slot = io(r.read::<3, u8>(), "frame")?;
        }
    }
    r.byte_align();
    let payload_offset = cursor.position() as usize;
    Ok(PacketHeaders {
        sequence,
        frame: FrameHeader {
            frame_type,
            frame_number,
            qp,
            chroma_qp_offset,
            deblock,
            deblock_beta_offset,
            deblock_tc_offset,
            nn_filter,
            nn_filter_scale,
            refresh_slots,
            num_refs,
            ref_slots,
        },
        frame_number_bit,
        payload_offset,
    })
}

/// The colour block of a sequence header (`docs/bitstream.md` 2.1).
fn write_colour<W: BitWrite>(w: &mut W, s: &SequenceHeader) -> std::io::Result<()> {
    let v = &s.video_info;
    w.write::<4, u8>(s.source_bit_depth - 8)?;
    w.write_bit(v.colour.is_some())?;
    w.write_bit(v.mastering_display.is_some())?;
    w.write_bit(v.content_light.is_some())?;
    w.write::<1, u8>(0)?;
    if let Some(c) = v.colour {
        w.write::<8, u8>(c.primaries)?;
        w.write::<8, u8>(c.transfer)?;
        w.write::<8, u8>(c.matrix)?;
    }
    if let Some(m) = v.mastering_display {
        for xy in m.primaries.iter().chain([&m.white_point]) {
            w.write::<16, u16>(xy[0])?;
            w.write::<16, u16>(xy[1])?;
        }
        w.write::<32, u32>(m.max_luminance)?;
        w.write::<32, u32>(m.min_luminance)?;
    }
    if let Some(l) = v.content_light {
        w.write::<16, u16>(l.max_cll)?;
        w.write::<16, u16>(l.max_fall)?;
    }
    Ok(())
}

/// What the colour block of a sequence header holds.
struct ColourBlock {
    source_bit_depth: u8,
    description: Option<ColourDescription>,
    mastering_display: Option<MasteringDisplay>,
    content_light: Option<ContentLight>,
}

fn read_colour<R: BitRead>(r: &mut R) -> Result<ColourBlock, BitstreamError> {
    let source_bd = io(r.read::<4, u8>(), "sequence")?;
    check(
        "source_bit_depth_minus8",
        source_bd as i64,
        source_bd == 0 || source_bd == 2,
        "0 or 2 (8 or 10 bits)",
    )?;
    let has_colour = io(r.read_bit(), "sequence")?;
    let has_mastering = io(r.read_bit(), "sequence")?;
    let has_light = io(r.read_bit(), "sequence")?;
    let rsv = io(r.read::<1, u8>(), "sequence")?;
    check("colour_reserved_bit", rsv as i64, rsv == 0, "0")?;
    let description = if has_colour {
        let mut code = || io(r.read::<8, u8>(), "sequence");
        Some(ColourDescription {
            primaries: code()?,
            transfer: code()?,
            matrix: code()?,
        })
    } else {
        None
    };
    let mastering_display = if has_mastering {
        let mut xy = [[0u16; 2]; 4];
        for v in xy.iter_mut().flatten() {
            *v = io(r.read::<16, u16>(), "sequence")?;
        }
        let m = MasteringDisplay {
            primaries: [xy[0], xy[1], xy[2]],
            white_point: xy[3],
            max_luminance: io(r.read::<32, u32>(), "sequence")?,
            min_luminance: io(r.read::<32, u32>(), "sequence")?,
        };
        if let Some(problem) = m.problem() {
            return Err(BitstreamError::InvalidField {
                field: "mastering_display",
                value: m.max_luminance as i64,
                allowed: problem,
            });
        }
        Some(m)
    } else {
        None
    };
    let content_light = if has_light {
        Some(ContentLight {
            max_cll: io(r.read::<16, u16>(), "sequence")?,
            max_fall: io(r.read::<16, u16>(), "sequence")?,
        })
    } else {
        None
    };
    Ok(ColourBlock {
        source_bit_depth: source_bd + 8,
        description,
        mastering_display,
        content_light,
    })
}

/// What a packet's headers say about it, for tools that handle coded
/// streams without decoding them (joining chunks, cutting at random access
/// points).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketInfo {
    /// A keyframe (it empties every reference slot).
    pub keyframe: bool,
    /// Its display-order number.
    pub frame_number: u32,
    /// The sequence header it carries (a random access point), if any.
    pub sequence: Option<SequenceHeader>,
}

/// Reads a packet's headers; an error names the first field out of range.
pub fn packet_info(packet: &[u8]) -> Result<PacketInfo, BitstreamError> {
    let headers = read_packet_headers(packet)?;
    Ok(PacketInfo {
        keyframe: headers.frame.frame_type == FrameType::Key,
        frame_number: headers.frame.frame_number,
        sequence: headers.sequence,
    })
}

/// Gives a coded packet another display-order number: rewrites its frame
/// header's `frame_number` in place and returns the number it had. This is
/// how independently coded chunks of one video are joined into one stream
/// (each chunk's numbers moved to where the chunk sits) without decoding or
/// re-encoding: nothing else in a packet depends on the absolute number
/// (references are by slot, motion scaling by differences of numbers).
/// A packet whose headers do not parse is refused, and left unchanged.
pub fn set_frame_number(packet: &mut [u8], frame_number: u32) -> Result<u32, BitstreamError> {
    let headers = read_packet_headers(packet)?;
    let start = headers.frame_number_bit as usize;
    for i in 0..32 {
        let bit = (frame_number >> (31 - i)) & 1;
        let (byte, shift) = ((start + i) / 8, 7 - (start + i) % 8);
        packet[byte] = packet[byte] & !(1 << shift) | ((bit as u8) << shift);
    }
    Ok(headers.frame.frame_number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (SequenceHeader, FrameHeader) {
        (
            SequenceHeader {
                profile: 0,
                bit_depth: 10,
                source_bit_depth: 8,
                width: 645,
                height: 363,
                fps_num: 30000,
                fps_den: 1001,
                tools: Tools {
                    deblocking: true,
                    nn_filter: true,
                    nn_intra: true,
                    trained_contexts: true,
                    sb_qp_delta: true,
                    multi_type_tree: true,
                    implicit_mts: true,
                    alf: true,
                    cclm: true,
                    ternary_splits: true,
                    dmvr: true,
                    bdof: true,
                    history_merge: true,
                    mmvd: true,
                    amvr: true,
                    smvd: true,
                },
                video_info: VideoInfo {
                    chroma_siting: 2,
                    interlace: 0,
                    aspect_num: 1,
                    aspect_den: 1,
                    color_range: 1,
                    colour: Some(ColourDescription {
                        primaries: 9,
                        transfer: 16,
                        matrix: 9,
                    }),
                    mastering_display: Some(MasteringDisplay {
                        primaries: [[13250, 34500], [7500, 3000], [34000, 16000]],
                        white_point: [15635, 16450],
                        max_luminance: 10_000_000,
                        min_luminance: 1,
                    }),
                    content_light: Some(ContentLight {
                        max_cll: 1000,
                        max_fall: 400,
                    }),
                },
                models: vec![
                    ModelRef {
                        role: 1,
                        sha256: [7; 32],
                    },
                    ModelRef {
                        role: 2,
                        sha256: [9; 32],
                    },
                ],
            },
            FrameHeader {
                chroma_qp_offset: [-3, 5],
                deblock_beta_offset: -2,
                deblock_tc_offset: 6,
                nn_filter: [false, true],
                nn_filter_scale: [5, 2],
                ..FrameHeader::key(12, -7)
            },
        )
    }

    #[test]
    fn round_trip() {
        let (s, f) = sample();
        let bytes = write_packet_headers(Some(&s), &f);
        let h = read_packet_headers(&bytes).unwrap();
        assert_eq!(h.sequence.unwrap(), s);
        assert_eq!(h.frame, f);
        assert_eq!(h.payload_offset, bytes.len());
    }

    #[test]
    fn inter_round_trip() {
        let f = FrameHeader {
            frame_type: FrameType::Inter,
            refresh_slots: 0b0100_0001,
            num_refs: [3, 2],
            ref_slots: [[1, 5, 7, 0], [2, 6, 0, 0]],
            deblock: false,
            ..FrameHeader::key(99, 30)
        };
        let bytes = write_packet_headers(None, &f);
        let h = read_packet_headers(&bytes).unwrap();
        assert!(h.sequence.is_none());
        assert_eq!(h.frame, f);
    }

    /// Each tool flag travels alone (bit 9 with bit 5, which it needs); the
    /// first undefined bit (10) is refused by name, and so is bit 9 without
    /// bit 5.
    #[test]
    fn tool_flags_alone_and_unknown_bits() {
        let (mut s, _) = sample();
        // A frame that uses no tool, valid under every set of flags.
        let f = FrameHeader {
            deblock: false,
            ..FrameHeader::key(5, 30)
        };
        let none = Tools {
            deblocking: false,
            nn_filter: false,
            nn_intra: false,
            trained_contexts: false,
            sb_qp_delta: false,
            multi_type_tree: false,
            implicit_mts: false,
            alf: false,
            cclm: false,
            ternary_splits: false,
            dmvr: false,
            bdof: false,
            history_merge: false,
            mmvd: false,
            amvr: false,
            smvd: false,
        };
        let alone = [
            Tools {
                deblocking: true,
                ..none
            },
            Tools {
                nn_filter: true,
                ..none
            },
            Tools {
                nn_intra: true,
                ..none
            },
            Tools {
                trained_contexts: true,
                ..none
            },
            Tools {
                sb_qp_delta: true,
                ..none
            },
            Tools {
                multi_type_tree: true,
                ..none
            },
            Tools {
                implicit_mts: true,
                ..none
            },
            Tools { alf: true, ..none },
            Tools { cclm: true, ..none },
            Tools { dmvr: true, ..none },
            Tools { bdof: true, ..none },
            Tools {
                history_merge: true,
                ..none
            },
            Tools { mmvd: true, ..none },
            Tools { amvr: true, ..none },
            Tools { smvd: true, ..none },
            // Bit 9 needs bit 5.
            Tools {
                multi_type_tree: true,
                ternary_splits: true,
                ..none
            },
        ];
        for tools in alone {
            s.tools = tools;
            let h = read_packet_headers(&write_packet_headers(Some(&s), &f)).unwrap();
            assert_eq!(h.sequence.unwrap().tools, tools);
        }
        // The highest tool bit's position, from the one bit that differs; the
        // next more significant one is unknown (fields are written most
        // significant first).
        s.tools = Tools {
            multi_type_tree: true,
            ..none
        };
        let off = write_packet_headers(Some(&s), &f);
        s.tools = *alone.last().unwrap();
        let on = write_packet_headers(Some(&s), &f);
        let diff: Vec<usize> = (0..off.len() * 8)
            .filter(|&i| (off[i / 8] ^ on[i / 8]) & (0x80 >> (i % 8)) != 0)
            .collect();
        assert_eq!(diff.len(), 1);
        let unknown = diff[0] - 1;
        let mut bad = off.clone();
        bad[unknown / 8] |= 0x80 >> (unknown % 8);
        match read_packet_headers(&bad) {
            Err(e) => assert!(format!("{e}").contains("tool_flags"), "{e}"),
            Ok(_) => panic!("tool_flags bit {} accepted", alone.len()),
        }
        // Ternary splits without the multi-type tree: refused.
        let mut bad = on.clone();
        let mtt_bit = unknown + 1 + 4;
        assert!(bad[mtt_bit / 8] & (0x80 >> (mtt_bit % 8)) != 0);
        bad[mtt_bit / 8] &= !(0x80 >> (mtt_bit % 8));
        match read_packet_headers(&bad) {
            Err(e) => assert!(format!("{e}").contains("bit 9"), "{e}"),
            Ok(_) => panic!("ternary splits accepted without the multi-type tree"),
        }
    }

    /// The inter tool word follows `tool_flags` only when bit 15 says so; its
    /// unknown bits and an empty word are refused by name.
    #[test]
    fn inter_tool_flags_follow_bit_15() {
        let (mut s, _) = sample();
        let f = FrameHeader {
            deblock: false,
            ..FrameHeader::key(5, 30)
        };
        s.tools.dmvr = false;
        s.tools.bdof = false;
        s.tools.history_merge = false;
        s.tools.mmvd = false;
        s.tools.amvr = false;
        s.tools.smvd = false;
        let without = write_packet_headers(Some(&s), &f);
        s.tools.dmvr = true;
        let with = write_packet_headers(Some(&s), &f);
        assert_eq!(with.len(), without.len() + 2, "16 more bits");
        let h = read_packet_headers(&with).unwrap();
        assert!(h.sequence.unwrap().tools.dmvr);
        // tool_flags is written most significant bit first: the first bit that
        // differs is bit 15, and the word's bit 0 is 31 bits after it.
        let first = (0..without.len() * 8)
            .find(|&i| (without[i / 8] ^ with[i / 8]) & (0x80 >> (i % 8)) != 0)
            .unwrap();
        let flip = |bytes: &[u8], i: usize| {
            let mut b = bytes.to_vec();
            b[i / 8] ^= 0x80 >> (i % 8);
            b
        };
        assert!(with[(first + 31) / 8] & (0x80 >> ((first + 31) % 8)) != 0);
        // Bit 6 (unknown), bit 15 (unknown), and bit 0 cleared (an empty word).
        for bad in [
            flip(&with, first + 25),
            flip(&with, first + 16),
            flip(&with, first + 31),
        ] {
            match read_packet_headers(&bad) {
                Err(e) => assert!(format!("{e}").contains("inter_tool_flags"), "{e}"),
                Ok(_) => panic!("a bad inter_tool_flags word was accepted"),
            }
        }
    }

    /// Bit depths other than 8 and 10, and mastering display values that
    /// describe no display, are refused by name; an 8-bit header without
    /// colour metadata round-trips too.
    #[test]
    fn bit_depths_and_hdr_metadata_are_checked() {
        let (mut s, f) = sample();
        s.bit_depth = 8;
        s.source_bit_depth = 8;
        s.video_info = VideoInfo::default();
        let h = read_packet_headers(&write_packet_headers(Some(&s), &f)).unwrap();
        assert_eq!(h.sequence.unwrap(), s);
        // bit_depth_minus8 is bits 16..20 of the packet; source_bit_depth_minus8
        // starts the colour block, right after aspect_den.
        let colour_at = 8 + 8 + 4 + 2 + 2 + 16 + 16 + 32 + 32 + 2 + 3 + 2 + 1 + 16 + 16;
        for (at, value, field) in [
            (16, 1u8, "bit_depth_minus8"),
            (16, 4, "bit_depth_minus8"),
            (colour_at, 3, "source_bit_depth_minus8"),
        ] {
            let mut bytes = write_packet_headers(Some(&s), &f);
            for b in 0..4 {
                let bit = at + b;
                let on = value >> (3 - b) & 1 == 1;
                bytes[bit / 8] =
                    bytes[bit / 8] & !(0x80 >> (bit % 8)) | (on as u8) << (7 - bit % 8);
            }
            match read_packet_headers(&bytes) {
                Err(e) => assert!(format!("{e}").contains(field), "{e}"),
                Ok(_) => panic!("{field} = {value} accepted"),
            }
        }
        let (mut s, f) = sample();
        let good = s.video_info.mastering_display.unwrap();
        for bad in [
            MasteringDisplay {
                primaries: [[50001, 0], good.primaries[1], good.primaries[2]],
                ..good
            },
            MasteringDisplay {
                min_luminance: good.max_luminance,
                ..good
            },
        ] {
            s.video_info.mastering_display = Some(bad);
            match read_packet_headers(&write_packet_headers(Some(&s), &f)) {
                Err(e) => assert!(format!("{e}").contains("mastering_display"), "{e}"),
                Ok(_) => panic!("{bad:?} accepted"),
            }
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let (s, f) = sample();
        let bytes = write_packet_headers(Some(&s), &f);
        for len in 0..bytes.len() {
            assert!(read_packet_headers(&bytes[..len]).is_err(), "len {len}");
        }
    }
}
