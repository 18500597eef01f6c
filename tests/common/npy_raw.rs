//! A `.npy` file made by hand, shared by the unit tests of `src/data/npy.rs`
//! and `src/inputs.rs`, `tests/fuzz_npy.rs` and `tests/cli.rs` (each
//! includes this file by `#[path]`, or through `data::npy`).

#![allow(dead_code)]

/// A `.npy` file from its parts: format `version` (1, 2 or 3: a u16 or u32
/// header length), the header dictionary's text padded with spaces and a
/// newline as numpy pads it (the preamble and header a multiple of 64
/// bytes), and the data.
pub fn raw(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let len_bytes = if version == 1 { 2 } else { 4 };
    let mut header = dict.to_string();
    while !(6 + 2 + len_bytes + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY".to_vec();
    bytes.extend_from_slice(&[version, 0]);
    if version == 1 {
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// A format 1.0 file with the dictionary numpy writes for `descr` and
/// `shape` (any text, valid or not), and `data`.
pub fn raw_npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    raw(
        1,
        &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"),
        data,
    )
}
