//! Reading structured input from the fuzzer's bytes, and writing it back (seeds).
//!
//! Every read succeeds: an exhausted input reads as zeros, so any byte string is a
//! valid program and the fuzzer never wastes executions on parse errors.

/// A cursor over the fuzzer's bytes.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Read from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// True when every byte was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// One byte (0 when exhausted).
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// Two bytes, big-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// Up to `n` bytes (fewer when the input ends).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.pos += n;
        &self.data[start..end]
    }

    /// A byte string with a one-byte length.
    pub fn short_bytes(&mut self) -> Vec<u8> {
        let n = self.u8() as usize;
        self.bytes(n).to_vec()
    }

    /// A byte string with a two-byte length, at most `max` long.
    pub fn long_bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.u16() as usize % (max + 1);
        self.bytes(n).to_vec()
    }
}

/// Writing the same encoding (for seeds).
#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    /// One byte.
    pub fn u8(&mut self, b: u8) -> &mut Self {
        self.0.push(b);
        self
    }

    /// Two bytes, big-endian.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A byte string with a one-byte length (cut at 255).
    pub fn short_bytes(&mut self, b: &[u8]) -> &mut Self {
        let b = &b[..b.len().min(255)];
        self.u8(b.len() as u8);
        self.0.extend_from_slice(b);
        self
    }

    /// A byte string with a two-byte length.
    pub fn long_bytes(&mut self, b: &[u8]) -> &mut Self {
        let b = &b[..b.len().min(u16::MAX as usize)];
        self.u16(b.len() as u16);
        self.0.extend_from_slice(b);
        self
    }
}
