//! A seeded fuzzer of the `.npy` reader (`inputs::parse_npy` on
//! `data::npy`, what the page's file inputs and `flt --q/--k/--v` read):
//! real files written by ndarray-npy (float32 and float64, C and Fortran
//! order, 1×1 to 37×5, the empty array, and 1-D, 3-D and integer arrays that
//! must be refused) mutated — bit flips (mostly in the header), truncations,
//! appended and inserted bytes, and header edits (huge and negative shapes,
//! other dtypes, fortran_order values, a wrong header length, other format
//! versions) — or built from hostile parts. Every case must:
//!
//! * not panic;
//! * allocate no more than the larger of the file's size and the array it
//!   returns (f32: twice the file for float16 data) plus a small constant,
//!   in any single allocation and held at once — measured by a counting
//!   global allocator on this thread — so that a header claiming a huge
//!   shape cannot make the reader allocate it;
//! * give either a finite 2-D float array whose data the file holds, or an
//!   error whose message names the file;
//! * agree with the reference reader, ndarray-npy's (`view_npy`, the reader
//!   this project used before its own): every file it reads as a finite
//!   2-D float32/float64 array reads here as the same array. (This reader
//!   takes more: big-endian and float16 data, Python 2's `3L`.)
//!
//! `FLT_FUZZ_CASES` sets the cases (default 20 000), `FLT_FUZZ_SEED` the
//! seed (default 1); a long run:
//! `FLT_FUZZ_CASES=2000000 cargo test --release --test fuzz_npy`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use flt_explorer::data::npy;
use flt_explorer::inputs::{MAX_NPY_HEADER_BYTES, parse_npy};
use ndarray::{Array, Array2, ArrayViewD, Dimension, Ix2, ShapeBuilder};
use ndarray_npy::{ViewNpyExt, WritableElement, WriteNpyExt};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

#[path = "common/npy_raw.rs"]
mod npy_raw;
use npy_raw::raw;

// ---------------------------------------------------------------- allocation counting

/// The system allocator, counting on threads that ask for it: the largest
/// single allocation and the peak of live bytes since [`measure`] began.
struct Counting;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(delta: isize, size: usize) {
    let _ = TRACKING.try_with(|t| {
        if t.get() {
            LIVE.with(|live| {
                let now = live.get() + delta;
                live.set(now);
                PEAK.with(|p| p.set(p.get().max(now)));
            });
            if delta > 0 {
                LARGEST.with(|l| l.set(l.get().max(size)));
            }
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize, layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize, layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as isize), 0);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as isize - layout.size() as isize, new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`, returning its result, the largest single allocation and the
/// peak of bytes it held at once (what it returns included).
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    LARGEST.with(|l| l.set(0));
    TRACKING.with(|t| t.set(true));
    let out = f();
    TRACKING.with(|t| t.set(false));
    (
        out,
        LARGEST.with(Cell::get),
        PEAK.with(Cell::get).max(0) as usize,
    )
}

// ---------------------------------------------------------------- files

fn npy<A: WritableElement, D: Dimension>(a: &Array<A, D>) -> Vec<u8> {
    let mut bytes = Vec::new();
    a.write_npy(&mut bytes).expect("write .npy");
    bytes
}

fn dict(descr: &str, fortran: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}")
}

/// `a` in column-major layout (ndarray-npy writes it with
/// `fortran_order: True`).
fn fortran(a: &Array2<f32>) -> Array2<f32> {
    let mut f = Array2::zeros(a.dim().f());
    f.assign(a);
    f
}

/// Real files: what numpy or ndarray-npy write, valid and not.
fn real_files() -> Vec<Vec<u8>> {
    let a = Array2::from_shape_fn((37, 5), |(i, j)| (i as f32 - 18.0) * 0.5 + j as f32);
    vec![
        npy(&a),
        npy(&a.mapv(f64::from)),
        npy(&fortran(&a)),
        npy(&Array2::<f32>::ones((1, 1))),
        npy(&Array2::<f32>::zeros((0, 3))),
        npy(&Array2::from_shape_fn((8, 16), |(i, j)| {
            (i * j) as f64 - 1e300
        })), // overflows f32
        npy(&Array::from_shape_fn(12, |i| i as f32)), // 1-D
        npy(&Array::from_shape_fn((2, 3, 2), |(i, j, k)| {
            (i + j + k) as f32
        })), // 3-D
        npy(&Array2::<i64>::zeros((3, 3))),
        npy(&Array2::<u8>::zeros((4, 4))),
        raw(2, &dict("<f4", "False", "(2, 3)"), &[0u8; 24]),
        raw(3, &dict("<f4", "False", "(2, 3)"), &[0u8; 24]),
        raw(1, &dict(">f4", "False", "(2, 3)"), &[0u8; 24]),
        // float16 (the reader's only widening: its array is twice the
        // data) and big-endian float64, with real values.
        raw(
            1,
            &dict("<f2", "False", "(37, 5)"),
            &a.iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect::<Vec<_>>(),
        ),
        raw(
            2,
            &dict(">f8", "True", "(5, 37)"),
            &a.iter()
                .flat_map(|&v| f64::from(v).to_be_bytes())
                .collect::<Vec<_>>(),
        ),
    ]
}

// ---------------------------------------------------------------- mutations

struct Gen(ChaCha8Rng);

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn byte(&mut self) -> u8 {
        self.0.next_u64() as u8
    }
}

const SHAPES: &[&str] = &[
    "(4294967296, 4294967296)",
    "(18446744073709551615, 2)",
    "(18446744073709551616, 1)",
    "(9223372036854775807, 9223372036854775807)",
    "(1, 340282366920938463463374607431768211456)",
    "(0, 99999999999)",
    "(99999999999, 0)",
    "(-1, 3)",
    "(3, -3)",
    "()",
    "(3,)",
    "(2, 2, 2, 2)",
    "((2, 3), 1)",
    "[2, 3]",
    "(2.5, 3)",
    "(2, 3",
    "(0x10, 2)",
    "('2', 3)",
    "(1e3, 2)",
    "(2, 3)",
    "(6, 1)",
    "(1, 6)",
    "(16384, 256)",
    "(16385, 1)",
];

const DESCRS: &[&str] = &[
    "<f4", "<f8", ">f4", ">f8", "|f4", "=f4", "<f2", "<f16", "<c8", "<i4", "<u8", "|u1", "|b1",
    "O", "<U3", "|S3", "<M8[ns]", "", "f4", "float32", "<f4\\'", "ééé",
];

const FORTRAN: &[&str] = &["False", "True", "0", "1", "None", "false", "'False'", ""];

/// One mutation of `bytes` (of a file whose header ends at `header_end`).
fn mutate(g: &mut Gen, bytes: &mut Vec<u8>) {
    let header_end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| p + 1);
    let len = bytes.len();
    match g.below(12) {
        10 | 11 => {
            // Bit flips in the data only: the file stays readable unless a
            // value turns non-finite.
            for _ in 0..1 + g.below(4) {
                if header_end < len {
                    let at = header_end + g.below(len - header_end);
                    bytes[at] ^= 1 << g.below(8);
                }
            }
        }
        0..=2 => {
            // Bit flips, mostly in the header.
            for _ in 0..1 + g.below(4) {
                let end = if g.below(4) < 3 { header_end } else { len };
                if end > 0 {
                    let at = g.below(end);
                    bytes[at] ^= 1 << g.below(8);
                }
            }
        }
        3 => bytes.truncate(g.below(len + 1)),
        4 => {
            let extra: Vec<u8> = (0..g.below(64)).map(|_| g.byte()).collect();
            bytes.extend(extra);
        }
        5 => {
            // Bytes inserted or removed inside the header.
            let at = g.below(header_end.max(1));
            if g.below(2) == 0 {
                for _ in 0..1 + g.below(8) {
                    let b = *g.pick(b"(),:' 0123456789{}\n\x00\xff");
                    bytes.insert(at.min(bytes.len()), b);
                }
            } else {
                let end = (at + 1 + g.below(8)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
        }
        6 => {
            // The header's length field: anything.
            if len >= 10 {
                bytes[8] = g.byte();
                bytes[9] = g.byte();
            }
        }
        7 => {
            // The format version.
            if len >= 8 {
                bytes[6] = *g.pick(&[0u8, 1, 2, 3, 4, 255]);
                bytes[7] = *g.pick(&[0u8, 1, 255]);
            }
        }
        _ => {
            // A header field replaced in the text (the length field fixed
            // to match, or not), the data kept.
            let header = String::from_utf8_lossy(&bytes[..header_end]).into_owned();
            let (field, value) = match g.below(3) {
                0 => ("'shape': ", g.pick(SHAPES).to_string()),
                1 => ("'descr': ", format!("'{}'", g.pick(DESCRS))),
                _ => ("'fortran_order': ", g.pick(FORTRAN).to_string()),
            };
            if let Some(start) = header.find(field) {
                let from = start + field.len();
                let rest = &header[from..];
                let end = if field == "'shape': " {
                    rest.find(')').map_or(0, |e| e + 1)
                } else {
                    rest.find(',').unwrap_or(0)
                };
                let mut out =
                    format!("{}{value}{}", &header[..from], &header[from + end..]).into_bytes();
                if g.below(2) == 0 && out.len() >= 10 && out.len() - 10 <= u16::MAX as usize {
                    let header_len = (out.len() - 10) as u16;
                    out[8..10].copy_from_slice(&header_len.to_le_bytes());
                }
                out.extend_from_slice(&bytes[header_end..]);
                *bytes = out;
            }
        }
    }
}

/// A file built from hostile parts with real data behind it.
fn assembled(g: &mut Gen) -> Vec<u8> {
    let data_len = *g.pick(&[0usize, 4, 24, 48, 740, 4096]);
    let data: Vec<u8> = (0..data_len).map(|_| g.byte()).collect();
    let version = *g.pick(&[1u8, 2, 3]);
    let (descr, fortran) = (*g.pick(DESCRS), *g.pick(FORTRAN));
    let shape = if g.below(4) == 0 {
        // Many dimensions: a long header, around the reader's cap.
        format!("({})", vec!["1"; 1 + g.below(3000)].join(","))
    } else {
        g.pick(SHAPES).to_string()
    };
    let d = dict(descr, fortran, &shape);
    raw(version, &d, &data)
}

// ---------------------------------------------------------------- the fuzzer

fn env(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the reader may allocate beyond the file's size or the array it
/// returns: its messages, the header's strings and its shape (the header is
/// capped at `MAX_NPY_HEADER_BYTES`); the densest header at the cap needs
/// the most (measured by `the_densest_header_at_the_cap_stays_within_the_scratch`:
/// 4 KiB). ndarray-npy's parser needed 512 KiB here.
const SCRATCH: usize = 16 << 10;

/// The reference: ndarray-npy's reader, as `parse_npy` used it before
/// (an aligned copy viewed in place, f32 or else f64), for files whose
/// header is within the cap (its parser's memory grows with the header).
fn reference(bytes: &[u8]) -> Option<Array2<f32>> {
    let len = match bytes.get(..12)? {
        [0x93, b'N', b'U', b'M', b'P', b'Y', 1, _, a, b, ..] => {
            u16::from_le_bytes([*a, *b]) as usize
        }
        [0x93, b'N', b'U', b'M', b'P', b'Y', 2 | 3, _, a, b, c, d] => {
            u32::from_le_bytes([*a, *b, *c, *d]) as usize
        }
        _ => return None,
    };
    if len > MAX_NPY_HEADER_BYTES {
        return None;
    }
    // Python literals beyond what NEP 1's writers produce, which
    // ndarray-npy's parser (a Python-literal grammar) takes and this reader
    // does not: signs and sums, hex/octal/binary and `1_000` integers,
    // string escapes. A mutation could make one by chance.
    let start = if bytes[6] == 1 { 10 } else { 12 };
    let header = bytes.get(start..start + len)?;
    let digit_pair =
        |w: &[u8]| w[0].is_ascii_digit() && (w[1] == b'_' || w[1].is_ascii_alphabetic());
    if header.iter().any(|c| b"+-\\".contains(c)) || header.windows(2).any(digit_pair) {
        return None;
    }
    let mut aligned = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut aligned)[..bytes.len()].copy_from_slice(bytes);
    let buf = &bytemuck::cast_slice::<u64, u8>(&aligned)[..bytes.len()];
    let array = match ArrayViewD::<f32>::view_npy(buf) {
        Ok(view) => view
            .into_dimensionality::<Ix2>()
            .ok()?
            .as_standard_layout()
            .into_owned(),
        Err(_) => ArrayViewD::<f64>::view_npy(buf)
            .ok()?
            .into_dimensionality::<Ix2>()
            .ok()?
            .mapv(|x| x as f32),
    };
    array.iter().all(|x| x.is_finite()).then_some(array)
}

/// Parses `bytes` and checks the outcome; `Err` says what is wrong.
/// `Ok(true)` when the file was read.
fn check(bytes: &[u8]) -> Result<bool, String> {
    let name = "fuzzed.npy";
    let (outcome, largest, peak) = measure(|| {
        std::panic::catch_unwind(|| parse_npy(name, bytes)).map(|r| r.map_err(|e| e.to_string()))
    });
    let result = outcome.map_err(|_| "the reader panicked".to_string())?;
    let len = bytes.len();
    // float16 elements widen to f32: the array may be twice the file.
    let widening = match npy::header(bytes) {
        Ok(h) if h.float == npy::Float::F16 => 2,
        _ => 1,
    };
    let allowed = widening * len + SCRATCH;
    if largest > allowed {
        return Err(format!(
            "an allocation of {largest} bytes for a file of {len} (widening {widening})"
        ));
    }
    if peak > allowed {
        return Err(format!(
            "{peak} bytes held at once for a file of {len} (widening {widening})"
        ));
    }
    let reference = reference(bytes);
    match (&result, reference) {
        (Ok(array), Some(want)) if *array != want => {
            return Err(format!("read {array:?}; ndarray-npy read {want:?}"));
        }
        (Err(message), Some(want)) => {
            return Err(format!("refused ({message}); ndarray-npy read {want:?}"));
        }
        _ => {}
    }
    match result {
        Ok(array) => {
            let (rows, cols) = array.dim();
            // float16 is the narrowest element read.
            if rows * cols * 2 > len {
                return Err(format!("a {rows}×{cols} array from {len} bytes"));
            }
            if let Some(x) = array.iter().find(|x| !x.is_finite()) {
                return Err(format!("a non-finite value {x} was accepted"));
            }
            Ok(true)
        }
        Err(message) if message.contains(name) && message.len() > name.len() + 4 => Ok(false),
        Err(message) => Err(format!("an error that does not say what: {message:?}")),
    }
}

#[test]
fn mutated_npy_files_never_panic_nor_allocate_beyond_their_size() {
    let files = real_files();
    // The real files themselves: the valid ones parse, exactly.
    let a = Array2::from_shape_fn((37, 5), |(i, j)| (i as f32 - 18.0) * 0.5 + j as f32);
    for (i, file) in files.iter().enumerate() {
        check(file).unwrap_or_else(|e| panic!("real file {i}: {e}"));
        let parsed = parse_npy("real.npy", file);
        assert_eq!(
            parsed.is_ok(),
            [0, 1, 2, 3, 4, 10, 11, 12, 13, 14].contains(&i),
            "file {i}: {parsed:?}"
        );
    }
    assert_eq!(parse_npy("a.npy", &files[0]).expect("f32"), a);
    assert_eq!(parse_npy("a.npy", &files[1]).expect("f64"), a);
    assert!(String::from_utf8_lossy(&files[2][..64]).contains("'fortran_order': True"));
    assert_eq!(parse_npy("a.npy", &files[2]).expect("fortran"), a);
    // Every value of `a` is a multiple of 0.5 below 32: exact in float16.
    assert_eq!(parse_npy("a.npy", &files[13]).expect("float16"), a);
    // a's elements in row order read as a column-major 5 × 37: element
    // (r, c) is at r + 5c, a[c][r] — a's transpose.
    assert_eq!(parse_npy("a.npy", &files[14]).expect(">f8"), a.t());

    let seed = env("FLT_FUZZ_SEED", 1);
    let cases = env("FLT_FUZZ_CASES", 20_000);
    let mut g = Gen(ChaCha8Rng::seed_from_u64(seed ^ 0x6e7079));
    let (mut accepted, mut refused, mut beyond_reference) = (0u64, 0u64, 0u64);
    for case in 0..cases {
        let mut bytes = if g.below(5) == 0 {
            assembled(&mut g)
        } else {
            g.pick(&files).clone()
        };
        for _ in 0..1 + g.below(3) {
            mutate(&mut g, &mut bytes);
        }
        match check(&bytes) {
            Ok(true) => {
                accepted += 1;
                beyond_reference += u64::from(reference(&bytes).is_none());
            }
            Ok(false) => refused += 1,
            Err(why) => panic!(
                "case {case} of seed {seed}: {why}\n  file ({} bytes): {:?}",
                bytes.len(),
                String::from_utf8_lossy(&bytes[..bytes.len().min(160)])
            ),
        }
    }
    println!(
        "{cases} cases: {accepted} accepted ({beyond_reference} of them refused by ndarray-npy), {refused} refused"
    );
    // Both outcomes occur: the mutations neither always break the file
    // nor leave it alone.
    assert!(
        accepted > cases / 100 && refused > cases / 2,
        "{accepted} accepted, {refused} refused"
    );
}

/// The allocation check has power: reading a header's claimed shape into
/// an allocation (what the reader must not do) is caught.
#[test]
fn the_allocation_check_catches_a_reader_that_trusts_the_header() {
    let file = raw(1, &dict("<f4", "False", "(4096, 256)"), &[0u8; 64]);
    let (_, largest, _) = measure(|| {
        let claimed: Vec<f32> = vec![0.0; 4096 * 256];
        std::hint::black_box(claimed.len())
    });
    assert!(largest > file.len() + SCRATCH, "{largest}");
    let (_, largest, peak) = measure(|| parse_npy("x.npy", &file));
    assert!(largest <= file.len() + SCRATCH, "{largest}");
    assert!(peak <= file.len() + SCRATCH, "{peak}");
}

/// A header of 1-element dimensions (`(1,1,1,…)`, two bytes a token) is the
/// parser's worst case: at the cap it stays within [`SCRATCH`]; one byte
/// over, it is refused unread. (Without the cap a 3 MB header of that kind
/// made the reader allocate 671 MB at once, and the fuzzer's case 16 — a
/// 200-byte file declaring a header of hundreds of megabytes — 662 MB.)
#[test]
fn the_densest_header_at_the_cap_stays_within_the_scratch() {
    let header_of = |dims: usize| {
        let d = dict("<f4", "False", &format!("({})", vec!["1"; dims].join(",")));
        raw(1, &d, &[0u8; 4])
    };
    let mut dims = 1;
    while header_of(dims + 1).len() - 10 <= MAX_NPY_HEADER_BYTES {
        dims += 1;
    }
    let at_cap = header_of(dims);
    let (result, largest, peak) = measure(|| parse_npy("x.npy", &at_cap));
    let message = result.expect_err("not 2-D").to_string();
    assert!(message.contains("2-D"), "{message}");
    println!(
        "header of {} bytes: largest allocation {largest}, peak {peak}",
        at_cap.len() - 10
    );
    assert!(largest <= at_cap.len() + SCRATCH, "{largest}");
    let over = header_of(dims + 2);
    let (result, largest, _) = measure(|| parse_npy("x.npy", &over));
    let message = result.expect_err("over the cap").to_string();
    assert!(message.contains("header"), "{message}");
    assert!(largest < 4096, "{largest}");
}
