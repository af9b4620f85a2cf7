//! The range coder proper.

use super::{BinSink, Context, PROB_BITS};

/// Renormalise when the range falls below this.
const TOP: u32 = 1 << 24;

/// Range encoder producing the frame payload.
pub struct RangeEncoder {
    low: u64,
    range: u32,
    /// Byte held back until we know whether a carry reaches it.
    cache: u8,
    /// Number of bytes pending: `cache` plus a run of 0xFF bytes after it.
    pending: u64,
    /// The very first byte the construction emits is always 0; it is not written.
    first_byte: bool,
    out: Vec<u8>,
}

impl Default for RangeEncoder {
    fn default() -> Self {
        RangeEncoder::new()
    }
}

impl RangeEncoder {
    /// A fresh encoder.
    pub fn new() -> RangeEncoder {
        RangeEncoder {
            low: 0,
            range: u32::MAX,
            cache: 0,
            pending: 1,
            first_byte: true,
            out: Vec::new(),
        }
    }

    fn shift_low(&mut self) {
        if (self.low as u32) < 0xFF00_0000 || (self.low >> 32) != 0 {
            let carry = (self.low >> 32) as u8;
            let mut byte = self.cache;
            while self.pending > 0 {
                if self.first_byte {
                    debug_assert_eq!(byte.wrapping_add(carry), 0);
                    self.first_byte = false;
                } else {
                    self.out.push(byte.wrapping_add(carry));
                }
                byte = 0xFF;
                self.pending -= 1;
            }
            self.cache = (self.low >> 24) as u8;
        }
        self.pending += 1;
        self.low = (self.low & 0x00FF_FFFF) << 8;
    }

    #[inline]
    fn normalize(&mut self) {
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// Flushes the coder and returns the payload. The decoder reads exactly these bytes.
    pub fn finish(mut self) -> Vec<u8> {
        for _ in 0..5 {
            self.shift_low();
        }
        self.out
    }
}

impl BinSink for RangeEncoder {
    #[inline]
    fn encode(&mut self, ctx: &mut Context, bin: bool) {
        let bound = (self.range >> PROB_BITS) * ctx.p0();
        if bin {
            self.low += bound as u64;
            self.range -= bound;
        } else {
            self.range = bound;
        }
        ctx.update(bin);
        self.normalize();
    }

    #[inline]
    fn bypass(&mut self, bin: bool) {
        self.range >>= 1;
        if bin {
            self.low += self.range as u64;
        }
        self.normalize();
    }
}

/// Range decoder over one frame payload. Reading past the end yields zero
/// bytes; [`RangeDecoder::consumed`] lets the caller check that a frame used
/// exactly its payload.
pub struct RangeDecoder<'a> {
    data: &'a [u8],
    pos: usize,
    code: u32,
    range: u32,
}

impl<'a> RangeDecoder<'a> {
    /// Starts decoding `data`.
    pub fn new(data: &'a [u8]) -> RangeDecoder<'a> {
        let mut dec = RangeDecoder {
            data,
            pos: 0,
            code: 0,
            range: u32::MAX,
        };
        for _ in 0..4 {
            dec.code = (dec.code << 8) | dec.next_byte() as u32;
        }
        dec
    }

    #[inline]
    fn next_byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    #[inline]
    fn normalize(&mut self) {
        while self.range < TOP {
            self.range <<= 8;
            self.code = (self.code << 8) | self.next_byte() as u32;
        }
    }

    /// Decodes one bin with an adaptive context.
    #[inline]
    pub fn decode(&mut self, ctx: &mut Context) -> bool {
        let bound = (self.range >> PROB_BITS) * ctx.p0();
        let bin = if self.code < bound {
            self.range = bound;
            false
        } else {
            self.code -= bound;
            self.range -= bound;
            true
        };
        ctx.update(bin);
        self.normalize();
        bin
    }

    /// Decodes one equiprobable bin.
    #[inline]
    pub fn bypass(&mut self) -> bool {
        self.range >>= 1;
        let bin = if self.code >= self.range {
            self.code -= self.range;
            true
        } else {
            false
        };
        self.normalize();
        bin
    }

    /// Decodes `n` bypass bits, most significant first.
    pub fn bypass_bits(&mut self, n: u32) -> u32 {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.bypass() as u32;
        }
        v
    }

    /// Number of payload bytes read so far (may exceed the payload on a bad stream).
    pub fn consumed(&self) -> usize {
        self.pos
    }
}
