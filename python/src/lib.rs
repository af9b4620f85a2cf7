//! `mica._mica`: the Python bindings (PyO3). The package `mica`
//! (`python/mica/`) re-exports these and adds the chunked encoder on Ray.
//!
//! Planes cross as numpy arrays: `uint8` at 8 bits, `uint16` at 10; the
//! encoder's settings are keyword arguments named as `micaenc`'s options
//! (`qp`, `crf`, `preset`, ...); bad input raises `SettingError`,
//! `FrameError` or `StreamError` (all `MicaError`), files `OSError`. The
//! GIL is released while coding.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;

use mica::{
    Decoder, DecoderConfig, Encoder, EncoderConfig, Frame, GopStructure, Preset, RateControl,
};
use mica_io::ivf::{IvfHeader, IvfReader, IvfWriter};
use mica_io::y4m::{Y4mReader, Y4mWriter};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyIOError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

// Module `mica` (which re-exports them): pickling finds them there, so
// they cross Ray and multiprocessing as themselves.
create_exception!(mica, MicaError, PyException, "Every error Mica raises.");
create_exception!(
    mica,
    SettingError,
    MicaError,
    "An unknown setting, a value it does not take, or settings that do not go together."
);
create_exception!(
    mica,
    FrameError,
    MicaError,
    "A frame whose size, depth, layout or samples do not match the encoder's settings."
);
create_exception!(
    mica,
    StreamError,
    MicaError,
    "Data that is not a valid Mica stream, or chunks that do not join."
);

fn setting(message: impl Into<String>) -> PyErr {
    SettingError::new_err(message.into())
}

fn codec_error(e: mica::Error, config: fn(String) -> PyErr) -> PyErr {
    match e {
        mica::Error::Config(_) => config(e.to_string()),
        _ => StreamError::new_err(e.to_string()),
    }
}

fn io_error(what: &str, e: impl std::fmt::Display) -> PyErr {
    PyIOError::new_err(format!("{what}: {e}"))
}

/// The settings `micaenc`'s options name, as keyword arguments.
const SETTINGS: &[&str] = &[
    "fps",
    "qp",
    "crf",
    "preset",
    "gop",
    "gop_size",
    "keyint",
    "scene_cut",
    "nn_filter",
    "alf",
    "deblock",
    "chroma_qp_offset",
    "threads",
    "bit_depth",
    "input_bit_depth",
    "first_frame_number",
    "force_keyframes",
];

/// A file beside `output` (same directory, so the final rename is atomic)
/// with a name of its own; it disappears unless persisted.
fn temporary_beside(output: &std::path::Path) -> PyResult<tempfile::NamedTempFile> {
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tempfile::Builder::new()
        .prefix(".mica-")
        .suffix(".partial")
        .tempfile_in(&dir)
        .map_err(|e| io_error(&format!("cannot create a file in {}", dir.display()), e))
}

/// Moves a finished temporary file to its name.
fn persist(file: tempfile::NamedTempFile, output: &std::path::Path) -> PyResult<()> {
    file.persist(output)
        .map(|_| ())
        .map_err(|e| io_error(&format!("cannot write {}", output.display()), e.error))
}

/// An encoder configuration from keyword arguments.
fn encoder_config(
    width: usize,
    height: usize,
    settings: Option<&Bound<'_, PyDict>>,
) -> PyResult<EncoderConfig> {
    let mut cfg = EncoderConfig::new(width, height);
    let Some(settings) = settings else {
        return Ok(cfg);
    };
    let mut crf = None;
    let mut qp_given = false;
    for (key, value) in settings.iter() {
        let key: String = key.extract()?;
        let bad = |takes: &str| setting(format!("setting {key}={value} is not {takes}"));
        match key.as_str() {
            "fps" => {
                let (n, d): (u32, u32) = value
                    .extract()
                    .map_err(|_| bad("a (numerator, denominator) pair"))?;
                if n == 0 || d == 0 {
                    return Err(bad("a rate: both parts must be positive"));
                }
                (cfg.fps_num, cfg.fps_den) = (n, d);
            }
            "qp" => {
                cfg.qp = value.extract().map_err(|_| bad("an integer QP"))?;
                qp_given = true;
            }
            "crf" => crf = Some(value.extract::<f64>().map_err(|_| bad("a number"))?),
            "preset" => {
                let p: String = value.extract().map_err(|_| bad("a preset name"))?;
                cfg.preset = Preset::from_name(&p).ok_or_else(|| bad("fast, medium or slow"))?;
            }
            "gop" => {
                let g: String = value.extract().map_err(|_| bad("a GOP structure"))?;
                cfg.gop = match g.as_str() {
                    "random-access" => GopStructure::RandomAccess,
                    "low-delay" => GopStructure::LowDelay,
                    "intra" => GopStructure::IntraOnly,
                    _ => return Err(bad("random-access, low-delay or intra")),
                };
            }
            "gop_size" => {
                let n: usize = value.extract().map_err(|_| bad("1..=32"))?;
                (cfg.gop_size, cfg.adaptive_gop) = (n, false);
            }
            "keyint" => cfg.keyint = value.extract().map_err(|_| bad("a frame count"))?,
            "scene_cut" => cfg.scene_cut = value.extract().map_err(|_| bad("a bool"))?,
            "nn_filter" => cfg.nn_filter = value.extract().map_err(|_| bad("a bool"))?,
            "alf" => cfg.alf = value.extract().map_err(|_| bad("a bool"))?,
            "deblock" => cfg.deblock = value.extract().map_err(|_| bad("a bool"))?,
            "chroma_qp_offset" => {
                cfg.chroma_qp_offset = value.extract().map_err(|_| bad("-12..=12"))?
            }
            "threads" => cfg.threads = value.extract().map_err(|_| bad("0..=256"))?,
            "bit_depth" => cfg.bit_depth = value.extract().map_err(|_| bad("8 or 10"))?,
            "input_bit_depth" => {
                cfg.input_bit_depth = value.extract().map_err(|_| bad("8 or 10"))?;
                if !settings.contains("bit_depth")? {
                    cfg.bit_depth = cfg.input_bit_depth;
                }
            }
            "first_frame_number" => {
                cfg.first_frame_number = value.extract().map_err(|_| bad("a frame number"))?
            }
            "force_keyframes" => {
                cfg.forced_keyframes = value
                    .extract()
                    .map_err(|_| bad("a list of frame numbers"))?
            }
            _ => {
                return Err(setting(format!(
                    "unknown setting '{key}': known ones are {}",
                    SETTINGS.join(", ")
                )))
            }
        }
    }
    if let Some(crf) = crf {
        if qp_given {
            return Err(setting(
                "settings qp and crf conflict: give one (a fixed QP or a constant quality)",
            ));
        }
        cfg.rate = RateControl::ConstantQuality { crf };
    }
    if cfg.threads > 256 {
        return Err(setting(format!("threads={} is not 0..=256", cfg.threads)));
    }
    Ok(cfg)
}

/// One coded frame, to be stored as one unit (one IVF frame).
#[pyclass(module = "mica._mica", frozen)]
struct Packet {
    /// The coded bytes.
    #[pyo3(get)]
    data: Py<PyBytes>,
    /// The display-order number of the frame it codes.
    #[pyo3(get)]
    frame_number: u32,
    /// Whether decoding may start here.
    #[pyo3(get)]
    keyframe: bool,
}

#[pymethods]
impl Packet {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Packet(frame_number={}, keyframe={}, {} bytes)",
            self.frame_number,
            self.keyframe,
            self.data.bind(py).as_bytes().len()
        )
    }
}

/// A decoded picture: planes `y`, `u`, `v` as 2-D numpy arrays (`uint8`,
/// or `uint16` above 8 bits), its display-order `frame_number`.
#[pyclass(module = "mica._mica", frozen)]
struct Picture {
    #[pyo3(get)]
    y: PyObject,
    #[pyo3(get)]
    u: PyObject,
    #[pyo3(get)]
    v: PyObject,
    #[pyo3(get)]
    frame_number: u32,
    #[pyo3(get)]
    bit_depth: u8,
}

fn picture(py: Python<'_>, frame: &Frame, frame_number: u32) -> PyResult<Picture> {
    let plane = |i: usize| -> PyResult<PyObject> {
        let p = &frame.planes[i];
        let shape = (p.height, p.width);
        Ok(if frame.bit_depth > 8 {
            Array2::from_shape_vec(shape, p.data.clone())
                .expect("a plane holds width x height samples")
                .into_pyarray(py)
                .into_any()
                .unbind()
        } else {
            let bytes: Vec<u8> = p.data.iter().map(|&s| s as u8).collect();
            Array2::from_shape_vec(shape, bytes)
                .expect("a plane holds width x height samples")
                .into_pyarray(py)
                .into_any()
                .unbind()
        })
    };
    Ok(Picture {
        y: plane(0)?,
        u: plane(1)?,
        v: plane(2)?,
        frame_number,
        bit_depth: frame.bit_depth,
    })
}

/// Reads planes given as numpy arrays into a frame of the encoder's size.
fn read_planes(
    planes: [&Bound<'_, PyAny>; 3],
    width: usize,
    height: usize,
    depth: u8,
) -> PyResult<Frame> {
    let mut frame = Frame::new_420_at(width, height, depth);
    for (i, (plane, array)) in frame.planes.iter_mut().zip(planes).enumerate() {
        let name = ["y", "u", "v"][i];
        let want = (plane.height, plane.width);
        let check = |shape: &[usize]| {
            if shape != [want.0, want.1] {
                Err(FrameError::new_err(format!(
                    "plane {name} is {shape:?}; the encoder takes {} x {} (rows x columns)",
                    want.0, want.1
                )))
            } else {
                Ok(())
            }
        };
        if depth > 8 {
            let a: PyReadonlyArray2<u16> = array.extract().map_err(|_| {
                FrameError::new_err(format!(
                    "plane {name} must be a 2-D uint16 array (the encoder takes {depth}-bit input)"
                ))
            })?;
            check(a.shape())?;
            for (out, v) in plane.data.iter_mut().zip(a.as_array().iter()) {
                *out = *v;
            }
        } else {
            let a: PyReadonlyArray2<u8> = array.extract().map_err(|_| {
                FrameError::new_err(format!(
                    "plane {name} must be a 2-D uint8 array (the encoder takes 8-bit input)"
                ))
            })?;
            check(a.shape())?;
            for (out, v) in plane.data.iter_mut().zip(a.as_array().iter()) {
                *out = u16::from(*v);
            }
        }
    }
    Ok(frame)
}

/// The encoder: `Encoder(width, height, **settings)`; `encode(y, u, v)`
/// sends a frame and returns the packets ready (random access holds a
/// group's frames, so often none); `flush()` returns the rest. Packets come
/// in coding order.
#[pyclass(module = "mica._mica", name = "Encoder")]
struct PyEncoder {
    inner: Encoder,
    width: usize,
    height: usize,
    input_bit_depth: u8,
    flushed: bool,
}

impl PyEncoder {
    fn packets(&mut self, py: Python<'_>) -> Vec<Packet> {
        std::iter::from_fn(|| self.inner.receive_packet())
            .map(|p| Packet {
                data: PyBytes::new(py, &p.data).unbind(),
                frame_number: p.frame_number,
                keyframe: p.keyframe,
            })
            .collect()
    }
}

#[pymethods]
impl PyEncoder {
    #[new]
    #[pyo3(signature = (width, height, **settings))]
    fn new(width: usize, height: usize, settings: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let cfg = encoder_config(width, height, settings)?;
        let input_bit_depth = cfg.input_bit_depth;
        let inner = Encoder::new(cfg).map_err(|e| codec_error(e, SettingError::new_err))?;
        Ok(PyEncoder {
            inner,
            width,
            height,
            input_bit_depth,
            flushed: false,
        })
    }

    /// Sends one frame (planes as numpy arrays) and returns the packets ready.
    fn encode(
        &mut self,
        py: Python<'_>,
        y: &Bound<'_, PyAny>,
        u: &Bound<'_, PyAny>,
        v: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<Packet>> {
        if self.flushed {
            return Err(MicaError::new_err(
                "the encoder was flushed: it takes no more frames",
            ));
        }
        let frame = read_planes([y, u, v], self.width, self.height, self.input_bit_depth)?;
        let inner = &mut self.inner;
        py.allow_threads(|| inner.send_frame(frame))
            .map_err(|e| codec_error(e, FrameError::new_err))?;
        Ok(self.packets(py))
    }

    /// Codes every frame still held and returns the remaining packets.
    fn flush(&mut self, py: Python<'_>) -> Vec<Packet> {
        if !self.flushed {
            let inner = &mut self.inner;
            py.allow_threads(|| inner.flush());
            self.flushed = true;
        }
        self.packets(py)
    }
}

/// The decoder: `Decoder(threads=0)`; `decode(packet_bytes)` returns the
/// pictures ready in display order; `flush()` the rest at the end.
#[pyclass(module = "mica._mica", name = "Decoder")]
struct PyDecoder {
    // A mutex: the decoder's channels are not Sync, which Python objects
    // must be (a `&mut self` method holds it alone anyway).
    inner: std::sync::Mutex<Decoder>,
}

impl PyDecoder {
    fn pictures(&mut self, py: Python<'_>) -> PyResult<Vec<Picture>> {
        let inner = self
            .inner
            .get_mut()
            .expect("never poisoned: no panic holds it");
        std::iter::from_fn(|| inner.receive_frame())
            .map(|f| picture(py, &f.frame, f.frame_number))
            .collect()
    }
}

#[pymethods]
impl PyDecoder {
    #[new]
    #[pyo3(signature = (*, threads=0))]
    fn new(threads: usize) -> PyResult<Self> {
        if threads > 256 {
            return Err(setting(format!("threads={threads} is not 0..=256")));
        }
        Ok(PyDecoder {
            inner: std::sync::Mutex::new(Decoder::new(DecoderConfig {
                threads,
                ..DecoderConfig::default()
            })),
        })
    }

    /// Decodes one packet (bytes) and returns the pictures ready.
    fn decode(&mut self, py: Python<'_>, packet: &[u8]) -> PyResult<Vec<Picture>> {
        let inner = self
            .inner
            .get_mut()
            .expect("never poisoned: no panic holds it");
        py.allow_threads(|| inner.send_packet(packet))
            .map_err(|e| codec_error(e, StreamError::new_err))?;
        self.pictures(py)
    }

    /// Ends the stream and returns the remaining pictures.
    fn flush(&mut self, py: Python<'_>) -> PyResult<Vec<Picture>> {
        let inner = self
            .inner
            .get_mut()
            .expect("never poisoned: no panic holds it");
        py.allow_threads(|| inner.flush())
            .map_err(|e| codec_error(e, StreamError::new_err))?;
        self.pictures(py)
    }
}

/// A y4m file's frames as numpy planes: `for y, u, v in read_y4m(path)`.
#[pyclass(module = "mica._mica")]
struct Y4mFrames {
    reader: Y4mReader<BufReader<File>>,
    path: String,
}

#[pymethods]
impl Y4mFrames {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<(PyObject, PyObject, PyObject)>> {
        let frame = self
            .reader
            .read_frame()
            .map_err(|e| io_error(&format!("cannot read {}", self.path), e))?;
        Ok(match frame {
            Some(f) => {
                let p = picture(py, &f, 0)?;
                Some((p.y, p.u, p.v))
            }
            None => None,
        })
    }

    /// (width, height, (fps numerator, denominator), bit depth).
    #[getter]
    fn info(&self) -> (usize, usize, (u32, u32), u8) {
        let h = self.reader.header();
        (h.width, h.height, (h.fps_num, h.fps_den), h.bit_depth())
    }
}

fn open_y4m(path: &str) -> PyResult<Y4mReader<BufReader<File>>> {
    let file = File::open(path).map_err(|e| io_error(&format!("cannot open {path}"), e))?;
    Y4mReader::new(BufReader::new(file)).map_err(|e| io_error(&format!("cannot read {path}"), e))
}

/// Opens a y4m file for reading its frames as numpy planes.
#[pyfunction]
fn read_y4m(path: &str) -> PyResult<Y4mFrames> {
    Ok(Y4mFrames {
        reader: open_y4m(path)?,
        path: path.to_string(),
    })
}

/// Encodes a y4m file into an IVF file, as `micaenc` does: `start` skips
/// that many frames and numbers the coded ones from there (a chunk of a
/// longer video), `limit` codes at most that many. Returns the frames coded.
#[pyfunction]
#[pyo3(signature = (input, output, *, start=0, limit=None, **settings))]
fn encode_file(
    py: Python<'_>,
    input: &str,
    output: PathBuf,
    start: u32,
    limit: Option<u64>,
    settings: Option<&Bound<'_, PyDict>>,
) -> PyResult<u64> {
    let mut reader = open_y4m(input)?;
    let h = reader.header().clone();
    let mut cfg = encoder_config(h.width, h.height, settings)?;
    if !settings.is_some_and(|s| s.contains("fps").unwrap_or(false)) {
        (cfg.fps_num, cfg.fps_den) = (h.fps_num, h.fps_den);
    }
    cfg.input_bit_depth = h.bit_depth();
    if !settings.is_some_and(|s| s.contains("bit_depth").unwrap_or(false)) {
        cfg.bit_depth = cfg.input_bit_depth;
    }
    cfg.video_info = h.video_info();
    if !settings.is_some_and(|s| s.contains("first_frame_number").unwrap_or(false)) {
        cfg.first_frame_number = start;
    }
    let mut encoder = Encoder::new(cfg).map_err(|e| codec_error(e, SettingError::new_err))?;
    let out_name = output.display().to_string();
    py.allow_threads(move || -> PyResult<u64> {
        let read_err = |e: mica_io::y4m::Y4mError| io_error(&format!("cannot read {input}"), e);
        for _ in 0..start {
            if reader.read_frame().map_err(read_err)?.is_none() {
                return Err(setting(format!("start={start} is past the end of {input}")));
            }
        }
        let header = IvfHeader::new(h.width as u16, h.height as u16, h.fps_num, h.fps_den);
        // Written beside the output and renamed at the end: a failed encode
        // leaves no file that looks valid.
        let partial = temporary_beside(&output)?;
        let file = partial
            .reopen()
            .map_err(|e| io_error(&format!("cannot write {out_name}"), e))?;
        let write_err =
            |e: mica_io::ivf::IvfError| io_error(&format!("cannot write {out_name}"), e);
        let mut writer = IvfWriter::new(BufWriter::new(file), &header).map_err(write_err)?;
        let mut coded = 0u64;
        let result = (|| -> PyResult<()> {
            while limit.is_none_or(|l| coded < l) {
                let Some(frame) = reader.read_frame().map_err(read_err)? else {
                    break;
                };
                encoder
                    .send_frame(frame)
                    .map_err(|e| codec_error(e, FrameError::new_err))?;
                coded += 1;
                while let Some(p) = encoder.receive_packet() {
                    writer
                        .write_frame(&p.data, u64::from(p.frame_number))
                        .map_err(write_err)?;
                }
            }
            encoder.flush();
            while let Some(p) = encoder.receive_packet() {
                writer
                    .write_frame(&p.data, u64::from(p.frame_number))
                    .map_err(write_err)?;
            }
            if coded == 0 {
                return Err(setting(format!(
                    "{input} holds no frames after start={start}"
                )));
            }
            writer.finish().map_err(write_err)?;
            Ok(())
        })();
        result?;
        persist(partial, &output)?;
        Ok(coded)
    })
}

/// Decodes an IVF file; writes the frames to `output` (y4m) if given.
/// Returns the MD5 of the decoded samples (as `micadec --md5` prints it).
#[pyfunction]
#[pyo3(signature = (input, output=None, *, threads=0))]
fn decode_file(
    py: Python<'_>,
    input: &str,
    output: Option<PathBuf>,
    threads: usize,
) -> PyResult<String> {
    let file = File::open(input).map_err(|e| io_error(&format!("cannot open {input}"), e))?;
    let mut reader = IvfReader::new(BufReader::new(file))
        .map_err(|e| StreamError::new_err(format!("{input}: {e}")))?;
    py.allow_threads(move || -> PyResult<String> {
        let mut decoder = Decoder::new(DecoderConfig {
            threads,
            ..DecoderConfig::default()
        });
        let mut md5 = Md5Hasher::default();
        // The frames go to a file beside `output`, named only once all are
        // decoded: an error leaves nothing that looks like a whole video.
        let partial = match &output {
            Some(path) => Some(temporary_beside(path)?),
            None => None,
        };
        let mut writer: Option<Y4mWriter<BufWriter<File>>> = None;
        let mut emit = |decoder: &mut Decoder,
                        writer: &mut Option<Y4mWriter<BufWriter<File>>>|
         -> PyResult<()> {
            while let Some(d) = decoder.receive_frame() {
                md5.update(&d.frame);
                if let Some(tmp) = &partial {
                    if writer.is_none() {
                        let seq = decoder.sequence_header().expect("a frame was decoded");
                        let header = mica_io::y4m::Y4mHeader::for_stream_at(seq, d.frame.bit_depth);
                        let f = tmp.reopen().map_err(|e| io_error("cannot write y4m", e))?;
                        *writer = Some(
                            Y4mWriter::new(BufWriter::new(f), &header)
                                .map_err(|e| io_error("cannot write y4m", e))?,
                        );
                    }
                    writer
                        .as_mut()
                        .expect("made above")
                        .write_frame(&d.frame)
                        .map_err(|e| io_error("cannot write y4m", e))?;
                }
            }
            Ok(())
        };
        while let Some(frame) = reader
            .next_frame()
            .map_err(|e| StreamError::new_err(format!("{input}: {e}")))?
        {
            decoder
                .send_packet(&frame.data)
                .map_err(|e| codec_error(e, StreamError::new_err))?;
            emit(&mut decoder, &mut writer)?;
        }
        decoder
            .flush()
            .map_err(|e| codec_error(e, StreamError::new_err))?;
        emit(&mut decoder, &mut writer)?;
        if let Some(w) = writer {
            w.into_inner()
                .map_err(|e| io_error("cannot write y4m", e))?;
        }
        if let (Some(tmp), Some(path)) = (partial, &output) {
            persist(tmp, path)?;
        }
        Ok(md5.hex())
    })
}

/// Joins chunk files (IVF, in order) into `output` without re-encoding;
/// returns the frames joined. Raises `StreamError` for chunks that do not
/// join (naming the chunk); no output is left then.
#[pyfunction]
fn join(py: Python<'_>, chunks: Vec<PathBuf>, output: PathBuf) -> PyResult<u32> {
    if chunks.is_empty() {
        return Err(MicaError::new_err("join needs at least one chunk"));
    }
    py.allow_threads(move || -> PyResult<u32> {
        let partial = temporary_beside(&output)?;
        let result = (|| -> PyResult<u32> {
            let mut join = mica_io::join::Join::new();
            let mut writer = None;
            for path in &chunks {
                let name = path.display().to_string();
                let file =
                    File::open(path).map_err(|e| io_error(&format!("cannot open {name}"), e))?;
                let chunk = mica_io::join::read_chunk(&name, BufReader::new(file))
                    .map_err(|e| StreamError::new_err(e.to_string()))?;
                if writer.is_none() {
                    let f = partial
                        .reopen()
                        .map_err(|e| io_error("cannot write the joined stream", e))?;
                    writer = Some(
                        IvfWriter::new(BufWriter::new(f), &chunk.header)
                            .map_err(|e| io_error("cannot write the joined stream", e))?,
                    );
                }
                let w = writer.as_mut().expect("made above");
                join.append(&name, chunk, |data, number| {
                    w.write_frame(data, u64::from(number))
                        .map_err(std::io::Error::other)
                })
                .map_err(|e| StreamError::new_err(e.to_string()))?;
            }
            writer
                .expect("at least one chunk")
                .finish()
                .map_err(|e| io_error("cannot write the joined stream", e))?;
            Ok(join.frames())
        })();
        let frames = result?;
        persist(partial, &output)?;
        Ok(frames)
    })
}

/// The MD5 of frames' samples as `micadec --md5` computes it: each plane's
/// samples in order, one byte each at 8 bits, two (little-endian) above.
#[derive(Default)]
struct Md5Hasher {
    md5: md5::Md5,
    bytes: Vec<u8>,
}

impl Md5Hasher {
    fn update(&mut self, frame: &Frame) {
        use md5::Digest;
        self.bytes.clear();
        mica_io::y4m::append_sample_bytes(frame, &mut self.bytes);
        self.md5.update(&self.bytes);
    }

    fn hex(self) -> String {
        use md5::Digest;
        let digest = self.md5.finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The frames of a y4m file where a new scene starts, as the encoder finds
/// them (frame 0 is not listed): where chunked encoding cuts a video.
#[pyfunction]
fn scene_cuts(py: Python<'_>, path: &str) -> PyResult<Vec<u32>> {
    let mut reader = open_y4m(path)?;
    py.allow_threads(move || {
        let mut detector = mica::SceneCutDetector::new();
        let mut cuts = Vec::new();
        let mut n = 0u32;
        while let Some(frame) = reader
            .read_frame()
            .map_err(|e| io_error(&format!("cannot read {path}"), e))?
        {
            if detector.push(&frame) {
                cuts.push(n);
            }
            n += 1;
        }
        Ok(cuts)
    })
}

/// The library's version.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _mica(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("MicaError", py.get_type::<MicaError>())?;
    m.add("SettingError", py.get_type::<SettingError>())?;
    m.add("FrameError", py.get_type::<FrameError>())?;
    m.add("StreamError", py.get_type::<StreamError>())?;
    m.add_class::<PyEncoder>()?;
    m.add_class::<PyDecoder>()?;
    m.add_class::<Packet>()?;
    m.add_class::<Picture>()?;
    m.add_class::<Y4mFrames>()?;
    m.add_function(wrap_pyfunction!(read_y4m, m)?)?;
    m.add_function(wrap_pyfunction!(encode_file, m)?)?;
    m.add_function(wrap_pyfunction!(decode_file, m)?)?;
    m.add_function(wrap_pyfunction!(join, m)?)?;
    m.add_function(wrap_pyfunction!(scene_cuts, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
