//! The `.npy` format's reader (NumPy Enhancement Proposal 1, "A Simple File
//! Format for NumPy Arrays", format versions 1.0, 2.0 and 3.0): the magic
//! `\x93NUMPY`, a version, the header's length (u16 in 1.0, u32 after), and
//! a header that is a Python dict literal —
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` padded with
//! spaces and a newline — followed by the raw elements.
//!
//! What the page's file inputs and `flt --q/--k/--v` read. It used to be
//! ndarray-npy's, whose header parser (py_literal, built on pest and
//! num-bigint) was a twelfth of the web build's code for a dict of three
//! keys; this one reads exactly what NEP 1 lets such a dict hold (strings in
//! either quote, `True`/`False`, tuples of non-negative integers — an `L`
//! suffix, as Python 2's numpy wrote, accepted — and trailing commas) and
//! floats of 2, 4 or 8 bytes in either byte order. ndarray-npy stays the
//! writer (native) and the tests' reference: `tests/fuzz_npy.rs` checks that
//! every mutated file it reads as a 2-D float array reads the same here.
//!
//! Nothing the header claims is allocated before the file is checked to hold
//! it: the element count is multiplied with overflow checks and compared
//! with the bytes that follow the header.

use std::fmt;

/// A float element type the reader takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Float {
    /// IEEE 754 binary16 (`f2`).
    F16,
    /// IEEE 754 binary32 (`f4`).
    F32,
    /// IEEE 754 binary64 (`f8`).
    F64,
}

impl Float {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Float::F16 => 2,
            Float::F32 => 4,
            Float::F64 => 8,
        }
    }
}

/// What a `.npy` header says about its array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The element type.
    pub float: Float,
    /// Whether the elements are big-endian (`>`).
    pub big_endian: bool,
    /// Whether the elements are stored column-major.
    pub fortran_order: bool,
    /// The array's shape.
    pub shape: Vec<usize>,
    /// Where the elements start in the file.
    pub data_offset: usize,
}

/// Why bytes are not a `.npy` file of floats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NpyError {
    /// Not the magic string, or a format version other than 1, 2 or 3.
    NotNpy(String),
    /// The header is not a dict of `descr`, `fortran_order` and `shape`.
    Header(String),
    /// The header is longer than the reader takes.
    HeaderTooLong(usize),
    /// A `descr` that is not a float of 2, 4 or 8 bytes.
    Dtype(String),
    /// The shape's element count or byte count overflows.
    Overflow,
    /// The data holds fewer bytes than the shape needs (this many more).
    Missing(usize),
    /// The data holds more bytes than the shape needs (this many more).
    Extra(usize),
}

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NpyError::NotNpy(why) => write!(f, "not a valid .npy file ({why})"),
            NpyError::Header(why) => write!(f, "not a valid .npy header ({why})"),
            NpyError::HeaderTooLong(len) => write!(
                f,
                "the header is {len} bytes, more than the {MAX_HEADER_BYTES} read (a 2-D float array's takes about 128)"
            ),
            NpyError::Dtype(descr) => write!(
                f,
                "dtype {descr} is not supported; save the array as float32 or float64 (float16 is read too)"
            ),
            NpyError::Overflow => write!(f, "the header's shape is impossibly large"),
            NpyError::Missing(k) => write!(
                f,
                "the file is truncated: the header's shape needs {k} more bytes of data than the file holds"
            ),
            NpyError::Extra(k) => {
                write!(
                    f,
                    "the file has {k} bytes beyond what the header's shape describes"
                )
            }
        }
    }
}

impl std::error::Error for NpyError {}

/// The longest header read. A 2-D float array's takes about 128 bytes and
/// numpy refuses headers over 10 000; refusing long ones unread bounds the
/// parser's work by the cap, not by the file.
pub const MAX_HEADER_BYTES: usize = 1024;

/// Reads the preamble and the header of a `.npy` file, and checks that the
/// bytes after it are exactly the elements the shape needs.
pub fn header(bytes: &[u8]) -> Result<Header, NpyError> {
    if !bytes.starts_with(b"\x93NUMPY") {
        return Err(NpyError::NotNpy(
            "it does not start with \\x93NUMPY".to_string(),
        ));
    }
    let ends = || NpyError::NotNpy("the file ends in its preamble".to_string());
    // numpy reads versions 1.0 (a u16 header length), 2.0 and 3.0 (u32) only.
    let (Some(&major), Some(&minor)) = (bytes.get(6), bytes.get(7)) else {
        return Err(ends());
    };
    let width = match (major, minor) {
        (1, 0) => 2,
        (2 | 3, 0) => 4,
        _ => {
            return Err(NpyError::NotNpy(format!(
                "format version {major}.{minor} is unknown"
            )));
        }
    };
    let start = 8 + width;
    let len = bytes
        .get(8..start)
        .ok_or_else(ends)?
        .iter()
        .rev()
        .fold(0usize, |n, &b| n << 8 | usize::from(b));
    if len > MAX_HEADER_BYTES {
        return Err(NpyError::HeaderTooLong(len));
    }
    let text = bytes
        .get(start..start + len)
        .ok_or_else(|| NpyError::Header(format!("the file ends inside its {len}-byte header")))?;
    let dict = Parser::new(text).dict()?;
    let (float, big_endian) = float_of(&dict.descr)?;
    let data_offset = start + len;
    let count = dict
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or(NpyError::Overflow)?;
    let needed = count.checked_mul(float.size()).ok_or(NpyError::Overflow)?;
    let held = bytes.len() - data_offset;
    if held < needed {
        return Err(NpyError::Missing(needed - held));
    }
    if held > needed {
        return Err(NpyError::Extra(held - needed));
    }
    Ok(Header {
        float,
        big_endian,
        fortran_order: dict.fortran_order,
        shape: dict.shape,
        data_offset,
    })
}

/// The elements of a checked file as f32 in row-major (C) order, whatever
/// the file's order (a Fortran-order file is transposed as it is decoded,
/// into the one vector returned). f64 values out of f32's range become
/// infinite: the caller checks finiteness after the conversion.
pub fn elements_f32(header: &Header, bytes: &[u8]) -> Vec<f32> {
    let data = bytes.get(header.data_offset..).unwrap_or_default();
    let size = header.float.size();
    let decoded = data.chunks_exact(size).map(|chunk| {
        let mut b = [0u8; 8];
        b[..size].copy_from_slice(chunk);
        if header.big_endian {
            b[..size].reverse();
        }
        let word = u64::from_le_bytes(b);
        match header.float {
            Float::F16 => half::f16::from_bits(word as u16).to_f32(),
            Float::F32 => f32::from_bits(word as u32),
            Float::F64 => f64::from_bits(word) as f32,
        }
    });
    let shape = &header.shape;
    if !header.fortran_order || shape.len() < 2 || data.is_empty() {
        return decoded.collect();
    }
    // Fortran order: the first index varies fastest in the file. Walk the
    // file's indices like an odometer, keeping the row-major position.
    let nd = shape.len();
    let mut stride = vec![1usize; nd];
    for i in (0..nd - 1).rev() {
        stride[i] = stride[i + 1] * shape[i + 1];
    }
    let mut out = vec![0.0f32; data.len() / size];
    let (mut index, mut at) = (vec![0usize; nd], 0usize);
    for value in decoded {
        out[at] = value;
        for i in 0..nd {
            index[i] += 1;
            at += stride[i];
            if index[i] < shape[i] {
                break;
            }
            at -= stride[i] * shape[i];
            index[i] = 0;
        }
    }
    out
}

/// The float type of a `descr` and whether it is big-endian: a byte order
/// (`<`, `>`, `=` or `|` — the machine's own — or none, also the machine's),
/// `f`, and a size (or the type characters `e`, `f`, `d`).
fn float_of(descr: &str) -> Result<(Float, bool), NpyError> {
    let refuse = || NpyError::Dtype(format!("'{descr}'"));
    // No order mark (as some writers other than numpy give) is native.
    let (order, kind) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '=' | '|')) => (c, &descr[1..]),
        _ => ('=', descr),
    };
    let big_endian = match order {
        '>' => true,
        '<' => false,
        _ => cfg!(target_endian = "big"),
    };
    let float = match kind {
        "f2" | "e" => Float::F16,
        "f4" | "f" => Float::F32,
        "f8" | "d" => Float::F64,
        _ => return Err(refuse()),
    };
    Ok((float, big_endian))
}

/// The three keys of a header's dict.
struct Dict {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// A value the header's dict may hold.
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// A recursive-descent reader of the header's Python literal.
struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a [u8]) -> Self {
        Parser { text, at: 0 }
    }

    fn error(&self, what: &str) -> NpyError {
        NpyError::Header(format!("{what} at byte {} of the header", self.at))
    }

    fn skip_space(&mut self) {
        while self
            .text
            .get(self.at)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'))
        {
            self.at += 1;
        }
    }

    /// The next non-space byte, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.text.get(self.at).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), NpyError> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", c as char)))
        }
    }

    fn dict(&mut self) -> Result<Dict, NpyError> {
        self.expect(b'{')?;
        let (mut descr, mut fortran_order, mut shape) = (None, None, None);
        loop {
            if self.peek() == Some(b'}') {
                self.at += 1;
                break;
            }
            let key = self.string()?;
            self.expect(b':')?;
            let value = self.value()?;
            let slot = match (key.as_str(), value) {
                ("descr", Value::Str(s)) => descr.replace(s).is_some(),
                ("fortran_order", Value::Bool(b)) => fortran_order.replace(b).is_some(),
                ("shape", Value::Tuple(t)) => shape.replace(t).is_some(),
                ("descr" | "fortran_order" | "shape", _) => {
                    return Err(NpyError::Header(format!(
                        "'{key}' has a value of the wrong kind"
                    )));
                }
                _ => return Err(NpyError::Header(format!("unexpected key '{key}'"))),
            };
            if slot {
                return Err(NpyError::Header(format!("'{key}' appears twice")));
            }
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {}
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
        if self.peek().is_some() {
            return Err(self.error("unexpected text after the dict"));
        }
        let missing = |key: &str| NpyError::Header(format!("the key '{key}' is missing"));
        Ok(Dict {
            descr: descr.ok_or_else(|| missing("descr"))?,
            fortran_order: fortran_order.ok_or_else(|| missing("fortran_order"))?,
            shape: shape.ok_or_else(|| missing("shape"))?,
        })
    }

    fn value(&mut self) -> Result<Value, NpyError> {
        match self.peek() {
            Some(b'\'' | b'"') => self.string().map(Value::Str),
            Some(b'(') => self.tuple().map(Value::Tuple),
            Some(b'T' | b'F') => self.boolean().map(Value::Bool),
            _ => Err(self.error("expected a string, a tuple, True or False")),
        }
    }

    /// A quoted string without escapes (a dtype or a key).
    fn string(&mut self) -> Result<String, NpyError> {
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(self.error("expected a quoted key")),
        };
        let start = self.at + 1;
        let len = self.text[start..]
            .iter()
            .position(|&c| c == quote)
            .ok_or_else(|| self.error("unterminated string"))?;
        let raw = &self.text[start..start + len];
        if raw
            .iter()
            .any(|&c| c == b'\\' || !(0x20..0x7f).contains(&c))
        {
            return Err(self.error("a string with escapes or non-ASCII bytes"));
        }
        self.at = start + len + 1;
        Ok(String::from_utf8_lossy(raw).into_owned())
    }

    fn boolean(&mut self) -> Result<bool, NpyError> {
        let rest = &self.text[self.at..];
        for (word, value) in [(&b"True"[..], true), (&b"False"[..], false)] {
            if rest.starts_with(word) {
                self.at += word.len();
                return Ok(value);
            }
        }
        Err(self.error("expected True or False"))
    }

    /// A tuple of non-negative integers: `()`, `(4,)`, `(3, 4)`, `(3L, 4L)`.
    fn tuple(&mut self) -> Result<Vec<usize>, NpyError> {
        self.expect(b'(')?;
        let mut items = Vec::new();
        let mut comma_after_last = false;
        loop {
            match self.peek() {
                Some(b')') => {
                    self.at += 1;
                    break;
                }
                Some(b'0'..=b'9') if items.is_empty() || comma_after_last => {
                    items.push(self.integer()?);
                    comma_after_last = self.peek() == Some(b',');
                    if comma_after_last {
                        self.at += 1;
                    }
                }
                Some(b'0'..=b'9') => return Err(self.error("expected ',' or ')' in the shape")),
                _ => return Err(self.error("expected a non-negative integer in the shape")),
            }
        }
        // `(4)` is an integer in Python, not a tuple.
        if items.len() == 1 && !comma_after_last {
            return Err(self.error("a one-element shape needs a trailing comma"));
        }
        Ok(items)
    }

    /// Decimal digits, with Python 2's `L` suffix allowed.
    fn integer(&mut self) -> Result<usize, NpyError> {
        let mut value = 0usize;
        while let Some(&c @ b'0'..=b'9') = self.text.get(self.at) {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(usize::from(c - b'0')))
                .ok_or(NpyError::Overflow)?;
            self.at += 1;
        }
        if self.text.get(self.at) == Some(&b'L') {
            self.at += 1;
        }
        Ok(value)
    }
}

// The tests' hand-made files (shared with tests/fuzz_npy.rs).
#[cfg(test)]
#[path = "../../tests/common/npy_raw.rs"]
pub(crate) mod npy_raw;

#[cfg(test)]
mod tests {
    use super::*;

    use super::npy_raw::raw as file;

    fn read(bytes: &[u8]) -> Result<(Header, Vec<f32>), NpyError> {
        let h = header(bytes)?;
        let e = elements_f32(&h, bytes);
        Ok((h, e))
    }

    #[test]
    fn every_version_float_width_and_byte_order_reads() {
        let values = [1.5f32, -2.25, 0.0, 65504.0, 3.0e-5, -7.0];
        for version in [1, 2, 3] {
            for (descr, bytes) in [
                (
                    "<f4",
                    values
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect::<Vec<_>>(),
                ),
                (">f4", values.iter().flat_map(|v| v.to_be_bytes()).collect()),
                (
                    "<f8",
                    values
                        .iter()
                        .flat_map(|&v| f64::from(v).to_le_bytes())
                        .collect(),
                ),
                (
                    ">f8",
                    values
                        .iter()
                        .flat_map(|&v| f64::from(v).to_be_bytes())
                        .collect(),
                ),
                (
                    "<f2",
                    values
                        .iter()
                        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                        .collect(),
                ),
                (
                    ">f2",
                    values
                        .iter()
                        .flat_map(|&v| half::f16::from_f32(v).to_be_bytes())
                        .collect(),
                ),
            ] {
                let dict =
                    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2, 3), }}");
                let (h, e) = read(&file(version, &dict, &bytes)).unwrap();
                assert_eq!(h.shape, [2, 3]);
                let want: Vec<f32> = if descr.ends_with("f2") {
                    values
                        .iter()
                        .map(|&v| half::f16::from_f32(v).to_f32())
                        .collect()
                } else {
                    values.to_vec()
                };
                assert_eq!(e, want, "version {version} {descr}");
            }
        }
    }

    #[test]
    fn fortran_order_is_transposed_into_row_major() {
        // A 2 × 3 array [[0, 1, 2], [3, 4, 5]] stored column by column, and
        // a 2 × 3 × 4 one whose element (i, j, k) is 12i + 4j + k (every
        // side different: swapped strides would show).
        let cube: Vec<f32> = (0..4)
            .flat_map(|k| {
                (0..3).flat_map(move |j| (0..2).map(move |i| (12 * i + 4 * j + k) as f32))
            })
            .collect();
        for (shape, file_order, want) in [
            (
                "(2, 3)",
                vec![0.0f32, 3.0, 1.0, 4.0, 2.0, 5.0],
                (0..6).map(|v| v as f32).collect::<Vec<_>>(),
            ),
            ("(2, 3, 4)", cube, (0..24).map(|v| v as f32).collect()),
        ] {
            let data: Vec<u8> = file_order.iter().flat_map(|v| v.to_le_bytes()).collect();
            let dict = format!("{{'descr': '<f4', 'fortran_order': True, 'shape': {shape}, }}");
            let (h, e) = read(&file(1, &dict, &data)).unwrap();
            assert!(h.fortran_order);
            assert_eq!(e, want, "{shape}");
        }
    }

    #[test]
    fn python_literal_variants_numpy_may_write_are_read() {
        let data = [0u8; 16];
        for dict in [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
            "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 2)}",
            "{'shape': (2L, 2L), 'fortran_order': True, 'descr': '<f4'}",
            "{ 'descr' : '<f4' ,\n 'fortran_order' : False , 'shape' : ( 2 , 2 , ) , }",
            "{'descr': '=f4', 'fortran_order': False, 'shape': (4,)}",
            "{'descr': '<f', 'fortran_order': False, 'shape': (4, 1)}",
            "{'descr': 'f4', 'fortran_order': False, 'shape': (4,)}",
            "{'descr':\x0c'<f4', 'fortran_order': False, 'shape': (4,)}",
        ] {
            let h = header(&file(1, dict, &data)).unwrap_or_else(|e| panic!("{dict}: {e}"));
            assert_eq!(h.shape.iter().product::<usize>(), 4, "{dict}");
        }
        let h = header(&file(
            1,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
            &[0; 8],
        ));
        assert_eq!(
            h.unwrap().shape,
            Vec::<usize>::new(),
            "a 0-d array has one element"
        );
    }

    #[test]
    fn malformed_headers_are_refused_with_the_reason() {
        let data = [0u8; 16];
        let refused = |dict: &str| header(&file(1, dict, &data)).unwrap_err().to_string();
        for (dict, reason) in [
            (
                "{'descr': '<f4', 'fortran_order': False}",
                "'shape' is missing",
            ),
            (
                "{'descr': '<f4', 'shape': (2, 2)}",
                "'fortran_order' is missing",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 'y'}",
                "unexpected key 'x'",
            ),
            (
                "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}",
                "twice",
            ),
            (
                "{'descr': '<f4', 'fortran_order': 0, 'shape': (4,)}",
                "True or False",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4)}",
                "trailing comma",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-4,)}",
                "non-negative",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': [4]}",
                "tuple",
            ),
            (
                "{'descr': '<i4', 'fortran_order': False, 'shape': (4,)}",
                "dtype '<i4'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4,)} x",
                "after the dict",
            ),
            (
                "{'descr': '<f4\\n', 'fortran_order': False, 'shape': (4,)}",
                "escapes",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4,)",
                "expected",
            ),
        ] {
            let message = refused(dict);
            assert!(message.contains(reason), "{dict}: {message}");
        }
    }

    #[test]
    fn sizes_are_checked_before_anything_is_allocated() {
        let f = |shape: &str, data: &[u8]| {
            let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
            header(&file(2, &dict, data))
        };
        assert_eq!(f("(3,)", &[0; 16]), Err(NpyError::Missing(8)));
        assert_eq!(f("(1,)", &[0; 16]), Err(NpyError::Extra(8)));
        assert_eq!(f("(4294967296, 4294967296)", &[]), Err(NpyError::Overflow));
        assert_eq!(
            f("(2305843009213693952,)", &[]),
            Err(NpyError::Overflow),
            "count·8 overflows"
        );
        assert_eq!(
            f("(99999999999999999999999,)", &[]),
            Err(NpyError::Overflow)
        );
        assert_eq!(f("(0, 5)", &[]).unwrap().shape, [0, 5]);
    }

    #[test]
    fn preambles_other_than_npy_are_refused() {
        assert!(matches!(header(b""), Err(NpyError::NotNpy(_))));
        assert!(matches!(header(b"\x93NUMPY"), Err(NpyError::NotNpy(_))));
        assert!(matches!(
            header(b"\x93NUMPY\x01\x01\x10\x00"),
            Err(NpyError::NotNpy(_))
        ));
        assert!(matches!(
            header(b"\x93NUMPY\x04\x00\x10\x00"),
            Err(NpyError::NotNpy(_))
        ));
        assert!(matches!(
            header(b"\x93NUMPY\x01\x00\x10"),
            Err(NpyError::NotNpy(_))
        ));
        let mut long = b"\x93NUMPY\x02\x00".to_vec();
        long.extend_from_slice(&(MAX_HEADER_BYTES as u32 + 1).to_le_bytes());
        assert_eq!(
            header(&long),
            Err(NpyError::HeaderTooLong(MAX_HEADER_BYTES + 1))
        );
        let short = b"\x93NUMPY\x01\x00\x40\x00{'descr'".to_vec();
        assert!(
            header(&short)
                .unwrap_err()
                .to_string()
                .contains("ends inside")
        );
    }
}
