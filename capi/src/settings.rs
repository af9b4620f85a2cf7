//! Key/value settings: each value is parsed and range-checked as it is set;
//! what depends on several keys is checked when the encoder or decoder is
//! made from them.

use std::ffi::{c_char, CStr};

use mica::{
    BufferModel, ColourDescription, CpuLevel, DecoderConfig, EncoderConfig, GopStructure, Preset,
    RateControl,
};

use crate::error::{guard, CError, MicaStatus};

/// Settings for an encoder or a decoder: made by `mica_settings_new()`,
/// filled by `mica_settings_set()`, freed by `mica_settings_free()`.
/// Creating an encoder or decoder copies what it needs, so the settings may
/// be freed or reused afterwards.
pub struct MicaSettings {
    values: Vec<(Key, Value)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Width,
    Height,
    Fps,
    InputBitDepth,
    BitDepth,
    Qp,
    Crf,
    Maxrate,
    Bufsize,
    BufferInit,
    Preset,
    Gop,
    GopSize,
    Keyint,
    SceneCut,
    NnFilter,
    Alf,
    Deblock,
    ChromaQpOffset,
    Range,
    ColourPrimaries,
    Transfer,
    Matrix,
    Aspect,
    Threads,
    Cpu,
    FrameDelay,
    OutputDepth,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Encoder,
    Decoder,
    Both,
}

/// Every key: its name, who reads it, and what values it takes (for the
/// messages; the parser below is the authority).
const KEYS: &[(Key, &str, Side, &str)] = &[
    (Key::Width, "width", Side::Encoder, "1..=16384"),
    (Key::Height, "height", Side::Encoder, "1..=16384"),
    (Key::Fps, "fps", Side::Encoder, "N or N/D, both 1..=2^31-1"),
    (
        Key::InputBitDepth,
        "input-bit-depth",
        Side::Encoder,
        "8 or 10",
    ),
    (Key::BitDepth, "bit-depth", Side::Encoder, "8 or 10"),
    (Key::Qp, "qp", Side::Encoder, "-12..=51"),
    (
        Key::Crf,
        "crf",
        Side::Encoder,
        "-12..=51, may be fractional",
    ),
    (
        Key::Maxrate,
        "maxrate",
        Side::Encoder,
        "kbit/s, 1..=1000000",
    ),
    (Key::Bufsize, "bufsize", Side::Encoder, "kbit, 1..=1000000"),
    (
        Key::BufferInit,
        "buffer-init",
        Side::Encoder,
        "a fraction in (0, 1]",
    ),
    (Key::Preset, "preset", Side::Encoder, "fast, medium or slow"),
    (
        Key::Gop,
        "gop",
        Side::Encoder,
        "random-access, low-delay or intra",
    ),
    (Key::GopSize, "gop-size", Side::Encoder, "1..=32 or auto"),
    (
        Key::Keyint,
        "keyint",
        Side::Encoder,
        "0 (about 10 s) or frames",
    ),
    (Key::SceneCut, "scene-cut", Side::Encoder, "on or off"),
    (Key::NnFilter, "nn-filter", Side::Encoder, "on or off"),
    (Key::Alf, "alf", Side::Encoder, "on or off"),
    (Key::Deblock, "deblock", Side::Encoder, "on or off"),
    (
        Key::ChromaQpOffset,
        "chroma-qp-offset",
        Side::Encoder,
        "-12..=12",
    ),
    (
        Key::Range,
        "range",
        Side::Encoder,
        "unspecified, limited or full",
    ),
    (
        Key::ColourPrimaries,
        "colour-primaries",
        Side::Encoder,
        "0..=255 (H.273)",
    ),
    (Key::Transfer, "transfer", Side::Encoder, "0..=255 (H.273)"),
    (Key::Matrix, "matrix", Side::Encoder, "0..=255 (H.273)"),
    (Key::Aspect, "aspect", Side::Encoder, "N:D, both 1..=65535"),
    (
        Key::Threads,
        "threads",
        Side::Both,
        "0 (one per core) or 1..=256",
    ),
    (Key::Cpu, "cpu", Side::Both, "scalar or avx2"),
    (
        Key::FrameDelay,
        "frame-delay",
        Side::Decoder,
        "0 (the threads, at most 8) or 1..=256",
    ),
    (
        Key::OutputDepth,
        "output-depth",
        Side::Decoder,
        "coded or source",
    ),
];

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Int(i64),
    Real(f64),
    Ratio(u32, u32),
    Flag(bool),
    Word(&'static str),
    Auto,
}

fn key_named(name: &str) -> Option<(Key, &'static str, Side, &'static str)> {
    KEYS.iter().copied().find(|k| k.1 == name)
}

fn int_in(s: &str, lo: i64, hi: i64) -> Option<Value> {
    let v: i64 = s.trim().parse().ok()?;
    (lo..=hi).contains(&v).then_some(Value::Int(v))
}

fn real_in(s: &str, lo: f64, hi: f64, lo_open: bool) -> Option<Value> {
    let v: f64 = s.trim().parse().ok()?;
    let above_lo = if lo_open { v > lo } else { v >= lo };
    (v.is_finite() && above_lo && v <= hi).then_some(Value::Real(v))
}

fn ratio(s: &str, sep: char, hi: u32, default_den: Option<u32>) -> Option<Value> {
    let (n, d) = match s.split_once(sep) {
        Some((n, d)) => (n.trim().parse().ok()?, d.trim().parse().ok()?),
        None => (s.trim().parse().ok()?, default_den?),
    };
    ((1..=hi).contains(&n) && (1..=hi).contains(&d)).then_some(Value::Ratio(n, d))
}

fn word(s: &str, words: &[&'static str]) -> Option<Value> {
    words
        .iter()
        .find(|w| **w == s.trim())
        .map(|w| Value::Word(w))
}

fn flag(s: &str) -> Option<Value> {
    match s.trim() {
        "on" | "1" | "true" => Some(Value::Flag(true)),
        "off" | "0" | "false" => Some(Value::Flag(false)),
        _ => None,
    }
}

fn parse(key: Key, s: &str) -> Option<Value> {
    match key {
        Key::Width | Key::Height => int_in(s, 1, 16384),
        Key::Fps => ratio(s, '/', i32::MAX as u32, Some(1)),
        Key::InputBitDepth | Key::BitDepth => match s.trim() {
            "8" => Some(Value::Int(8)),
            "10" => Some(Value::Int(10)),
            _ => None,
        },
        Key::Qp => int_in(s, -12, 51),
        Key::Crf => real_in(s, -12.0, 51.0, false),
        Key::Maxrate | Key::Bufsize => real_in(s, 1.0, 1_000_000.0, false),
        Key::BufferInit => real_in(s, 0.0, 1.0, true),
        Key::Preset => word(s, &["fast", "medium", "slow"]),
        Key::Gop => word(s, &["random-access", "low-delay", "intra"]),
        Key::GopSize => match s.trim() {
            "auto" => Some(Value::Auto),
            _ => int_in(s, 1, 32),
        },
        Key::Keyint => int_in(s, 0, i64::from(i32::MAX)),
        Key::SceneCut | Key::NnFilter | Key::Alf | Key::Deblock => flag(s),
        Key::ChromaQpOffset => int_in(s, -12, 12),
        Key::Range => word(s, &["unspecified", "limited", "full"]),
        Key::ColourPrimaries | Key::Transfer | Key::Matrix => int_in(s, 0, 255),
        Key::Aspect => ratio(s, ':', u32::from(u16::MAX), None),
        Key::Threads | Key::FrameDelay => int_in(s, 0, 256),
        Key::Cpu => CpuLevel::from_name(s).map(|l| Value::Word(l.name())),
        Key::OutputDepth => word(s, &["coded", "source"]),
    }
}

impl MicaSettings {
    fn get(&self, key: Key) -> Option<&Value> {
        self.values.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    fn int(&self, key: Key) -> Option<i64> {
        match self.get(key) {
            Some(Value::Int(v)) => Some(*v),
            _ => None,
        }
    }

    fn real(&self, key: Key) -> Option<f64> {
        match self.get(key) {
            Some(Value::Real(v)) => Some(*v),
            _ => None,
        }
    }

    fn flag(&self, key: Key, default: bool) -> bool {
        match self.get(key) {
            Some(Value::Flag(v)) => *v,
            _ => default,
        }
    }

    fn word(&self, key: Key) -> Option<&'static str> {
        match self.get(key) {
            Some(Value::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn cpu(&self) -> Option<CpuLevel> {
        self.word(Key::Cpu).and_then(CpuLevel::from_name)
    }

    /// Settings the other side reads: named in the error, since setting
    /// them has no effect here.
    fn refuse_keys_of(&self, side: Side, here: &str) -> Result<(), CError> {
        for (key, _) in &self.values {
            let (_, name, key_side, _) = KEYS.iter().find(|k| k.0 == *key).expect("known key");
            if *key_side == side {
                return Err(CError::new(
                    MicaStatus::MicaErrorSetting,
                    format!("setting '{name}' is not one a {here} reads"),
                ));
            }
        }
        Ok(())
    }

    /// The encoder configuration these settings describe.
    pub(crate) fn encoder_config(&self) -> Result<EncoderConfig, CError> {
        self.refuse_keys_of(Side::Decoder, "encoder")?;
        let missing = |name: &str| {
            CError::new(
                MicaStatus::MicaErrorSetting,
                format!("setting '{name}' is missing: an encoder needs the frame size"),
            )
        };
        let width = self.int(Key::Width).ok_or_else(|| missing("width"))?;
        let height = self.int(Key::Height).ok_or_else(|| missing("height"))?;
        let mut cfg = EncoderConfig::new(width as usize, height as usize);
        if let Some(Value::Ratio(n, d)) = self.get(Key::Fps) {
            (cfg.fps_num, cfg.fps_den) = (*n, *d);
        }
        let input_depth = self.int(Key::InputBitDepth).unwrap_or(8) as u8;
        cfg.input_bit_depth = input_depth;
        cfg.bit_depth = self.int(Key::BitDepth).map_or(input_depth, |d| d as u8);
        let min_qp = mica::min_qp(cfg.bit_depth);
        if let Some(qp) = self.int(Key::Qp) {
            cfg.qp = qp as i8;
        }
        if let Some(crf) = self.real(Key::Crf) {
            if self.get(Key::Qp).is_some() {
                return Err(CError::new(
                    MicaStatus::MicaErrorSetting,
                    "settings 'qp' and 'crf' conflict: give one (a fixed QP or a constant quality)",
                ));
            }
            if crf < f64::from(min_qp) {
                return Err(CError::new(
                    MicaStatus::MicaErrorSetting,
                    format!(
                        "crf {crf} is out of range at {} bits: give {min_qp}..=51",
                        cfg.bit_depth
                    ),
                ));
            }
            cfg.rate = RateControl::ConstantQuality { crf };
        }
        match (self.real(Key::Maxrate), self.real(Key::Bufsize)) {
            (Some(max_kbps), Some(size_kbits)) => {
                if self.get(Key::Crf).is_none() {
                    return Err(CError::new(
                        MicaStatus::MicaErrorSetting,
                        "setting 'maxrate' needs 'crf': a fixed QP cannot keep to a buffer",
                    ));
                }
                cfg.buffer = Some(BufferModel {
                    max_kbps,
                    size_kbits,
                    initial_fullness: self.real(Key::BufferInit).unwrap_or(0.9),
                });
            }
            (None, None) if self.get(Key::BufferInit).is_none() => {}
            _ => {
                return Err(CError::new(
                    MicaStatus::MicaErrorSetting,
                    "settings 'maxrate' and 'bufsize' go together ('buffer-init' needs both)",
                ))
            }
        }
        if let Some(p) = self.word(Key::Preset) {
            cfg.preset = Preset::from_name(p).expect("parsed from the preset names");
        }
        match self.word(Key::Gop) {
            Some("low-delay") => cfg.gop = GopStructure::LowDelay,
            Some("intra") => cfg.gop = GopStructure::IntraOnly,
            _ => {}
        }
        if let Some(n) = self.int(Key::GopSize) {
            (cfg.gop_size, cfg.adaptive_gop) = (n as usize, false);
        }
        if let Some(k) = self.int(Key::Keyint) {
            cfg.keyint = k as usize;
        }
        cfg.scene_cut = self.flag(Key::SceneCut, cfg.scene_cut);
        cfg.nn_filter = self.flag(Key::NnFilter, cfg.nn_filter);
        cfg.alf = self.flag(Key::Alf, cfg.alf);
        cfg.deblock = self.flag(Key::Deblock, cfg.deblock);
        if let Some(o) = self.int(Key::ChromaQpOffset) {
            cfg.chroma_qp_offset = o as i8;
        }
        match self.word(Key::Range) {
            Some("limited") => cfg.video_info.color_range = 1,
            Some("full") => cfg.video_info.color_range = 2,
            _ => {}
        }
        let colour = [Key::ColourPrimaries, Key::Transfer, Key::Matrix].map(|k| self.int(k));
        if colour.iter().any(Option::is_some) {
            // Unspecified (2) where not given, as H.273 says.
            let [p, t, m] = colour.map(|c| c.unwrap_or(2) as u8);
            cfg.video_info.colour = Some(ColourDescription {
                primaries: p,
                transfer: t,
                matrix: m,
            });
        }
        if let Some(Value::Ratio(n, d)) = self.get(Key::Aspect) {
            (cfg.video_info.aspect_num, cfg.video_info.aspect_den) = (*n as u16, *d as u16);
        }
        cfg.threads = self.int(Key::Threads).unwrap_or(0) as usize;
        cfg.cpu = self.cpu();
        Ok(cfg)
    }

    /// The decoder configuration these settings describe.
    pub(crate) fn decoder_config(&self) -> Result<DecoderConfig, CError> {
        self.refuse_keys_of(Side::Encoder, "decoder")?;
        Ok(DecoderConfig {
            cpu: self.cpu(),
            threads: self.int(Key::Threads).unwrap_or(0) as usize,
            max_frame_delay: self.int(Key::FrameDelay).unwrap_or(0) as usize,
            output_source_depth: self.word(Key::OutputDepth) == Some("source"),
            ..DecoderConfig::default()
        })
    }
}

/// New settings holding every default: an encoder made from them still
/// needs `width` and `height`. Free with `mica_settings_free()`.
#[no_mangle]
pub extern "C" fn mica_settings_new() -> *mut MicaSettings {
    Box::into_raw(Box::new(empty_settings()))
}

/// Frees settings made by `mica_settings_new()`; null is ignored.
///
/// # Safety
/// `settings` is null or came from `mica_settings_new()` and is not used
/// again.
#[no_mangle]
pub unsafe extern "C" fn mica_settings_free(settings: *mut MicaSettings) {
    if !settings.is_null() {
        // SAFETY: the caller gives back a pointer from mica_settings_new, once.
        drop(unsafe { Box::from_raw(settings) });
    }
}

/// Sets `key` to `value` (both NUL-terminated strings, copied). An unknown
/// key or a value the key does not take is `MICA_ERROR_SETTING`
/// and changes nothing; the message names the key and what it takes.
/// Setting a key again replaces its value.
///
/// Keys (the encoder's defaults are `micaenc`'s): `width`, `height`
/// (needed by an encoder), `fps`, `input-bit-depth` (of the frames sent),
/// `bit-depth` (coded), `qp` or `crf`, `maxrate` + `bufsize` (+
/// `buffer-init`, with `crf`), `preset`, `gop`, `gop-size`, `keyint`,
/// `scene-cut`, `nn-filter`, `alf`, `deblock`, `chroma-qp-offset`, `range`,
/// `colour-primaries`, `transfer`, `matrix`, `aspect`; the decoder's:
/// `frame-delay`, `output-depth`; both: `threads`, `cpu`.
///
/// # Safety
/// `settings` is null or a live settings object; `key` and `value` are null
/// or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn mica_settings_set(
    settings: *mut MicaSettings,
    key: *const c_char,
    value: *const c_char,
) -> MicaStatus {
    guard(|| {
        // SAFETY: the caller promises a live settings object or null.
        let settings = unsafe { settings.as_mut() }.ok_or_else(|| CError::null("settings"))?;
        if key.is_null() {
            return Err(CError::null("key"));
        }
        if value.is_null() {
            return Err(CError::null("value"));
        }
        // SAFETY: both are non-null, NUL-terminated strings (the caller's promise).
        let (key, value) = unsafe { (CStr::from_ptr(key), CStr::from_ptr(value)) };
        let key = key.to_string_lossy();
        let value = value.to_string_lossy();
        let (k, name, _, takes) = key_named(&key).ok_or_else(|| {
            let names: Vec<&str> = KEYS.iter().map(|k| k.1).collect();
            CError::new(
                MicaStatus::MicaErrorSetting,
                format!(
                    "unknown setting '{key}': known ones are {}",
                    names.join(", ")
                ),
            )
        })?;
        let parsed = parse(k, &value).ok_or_else(|| {
            CError::new(
                MicaStatus::MicaErrorSetting,
                format!("setting '{name}' does not take '{value}': give {takes}"),
            )
        })?;
        settings.values.retain(|(old, _)| *old != k);
        settings.values.push((k, parsed));
        Ok(MicaStatus::MicaOk)
    })
}

/// Settings from a pointer that may be null (the defaults).
///
/// # Safety
/// `settings` is null or a live settings object.
pub(crate) unsafe fn settings_or_default(
    settings: *const MicaSettings,
    default: &MicaSettings,
) -> &MicaSettings {
    // SAFETY: the caller promises null or a live settings object that
    // outlives the call it is used in.
    unsafe { settings.as_ref() }.unwrap_or(default)
}

/// Settings with nothing set.
pub(crate) fn empty_settings() -> MicaSettings {
    MicaSettings { values: Vec::new() }
}
