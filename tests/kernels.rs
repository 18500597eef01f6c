//! Every GPU kernel's typed bindings and every code shared with WGSL,
//! checked against the shader text:
//!
//! * each `Kernel` names a compute entry point its module declares, and its
//!   bindings (index, name, access) are exactly the `@binding`s that entry
//!   point uses, directly or through the functions it calls;
//! * every `#[repr(u32)]` code enum (`PatternKind`, `Category`,
//!   `FeatureKind`, `QuantKind`, `CompressKind`) has a WGSL constant of the
//!   same value, by name;
//! * the WGSL the binaries embed is each `src/gpu/*.wgsl` without its
//!   comments, line for line (`build.rs`).

use flt_explorer::data::codes::{
    CODE_SLOTS, Category, CompressKind, FeatureKind, PatternKind, QuantKind,
};
use flt_explorer::gpu::bindings::{
    Access, Kernel, declared_bindings, declared_constants, declares_entry, used_bindings,
};
use flt_explorer::gpu::{
    flash_attention, flash_f16, full_attention, int8_matmul, linalg, linear_attention,
    memory_attention, mlp, quantize, sgemm, tiled_attention,
};

/// `build.rs`, for its comment stripper.
#[allow(dead_code)]
#[path = "../build.rs"]
mod build_script;

fn all_kernels() -> Vec<Kernel> {
    [
        full_attention::KERNELS,
        flash_attention::KERNELS,
        flash_f16::KERNELS,
        tiled_attention::KERNELS,
        linalg::KERNELS,
        linear_attention::KERNELS,
        quantize::KERNELS,
        int8_matmul::KERNELS,
        mlp::KERNELS,
        memory_attention::KERNELS,
        sgemm::KERNELS,
    ]
    .concat()
}

/// What is wrong with a kernel's declared bindings against a WGSL text.
fn binding_problems(kernel: &Kernel, wgsl: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !declares_entry(wgsl, kernel.entry) {
        problems.push(format!("{}: no @compute fn {}", kernel.id(), kernel.entry));
    }
    let declared = declared_bindings(wgsl);
    for b in kernel.bindings {
        let matches = declared.iter().any(|(index, name, access)| {
            *index == b.index && name == b.name && *access == b.access
        });
        if !matches {
            problems.push(format!(
                "{}: binding {} {:?} at {} is not declared so",
                kernel.id(),
                b.name,
                b.access,
                b.index
            ));
        }
    }
    let mut listed: Vec<&str> = kernel.bindings.iter().map(|b| b.name).collect();
    listed.sort();
    let used = used_bindings(wgsl, kernel.entry);
    let mut used_sorted: Vec<&str> = used.iter().map(String::as_str).collect();
    used_sorted.sort();
    if listed != used_sorted {
        problems.push(format!(
            "{}: lists {listed:?}, the shader uses {used_sorted:?}",
            kernel.id()
        ));
    }
    problems
}

#[test]
fn every_kernel_binds_exactly_what_its_entry_point_uses() {
    let kernels = all_kernels();
    assert!(kernels.len() >= 25, "{} kernels", kernels.len());
    let problems: Vec<String> = kernels
        .iter()
        .flat_map(|k| binding_problems(k, k.module.text))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_wrong_binding_is_caught() {
    // Power: drop a binding the entry point uses, or declare one read-only
    // that the shader writes.
    let attend = tiled_attention::ATTEND;
    let fewer = Kernel {
        bindings: &attend.bindings[..attend.bindings.len() - 1],
        ..attend
    };
    assert!(!binding_problems(&fewer, attend.module.text).is_empty());
    let text = attend
        .module
        .text
        .replace("var<storage, read_write> o:", "var<storage, read> o:");
    assert!(
        binding_problems(&attend, &text)
            .iter()
            .any(|p| p.contains("binding o"))
    );
    assert_eq!(
        declared_bindings("@group(0) @binding(3) var<storage, read_write> c: array<f32>;"),
        vec![(3, "c".to_string(), Access::ReadWrite)]
    );
}

/// Which codes of `table` the WGSL text lacks or gives another value.
fn code_problems<T: Copy>(table: &[(T, &str)], value: fn(T) -> u32, wgsl: &str) -> Vec<String> {
    let constants = declared_constants(wgsl);
    table
        .iter()
        .filter_map(
            |&(code, name)| match constants.iter().find(|(n, _)| n == name) {
                Some((_, v)) if *v == value(code) => None,
                Some((_, v)) => Some(format!("{name} = {v} in WGSL, {} in Rust", value(code))),
                None => Some(format!("{name} is not declared")),
            },
        )
        .collect()
}

#[test]
fn codes_shared_with_wgsl_agree() {
    let tiled = include_str!("../src/gpu/tiled_attention.wgsl");
    let linear = include_str!("../src/gpu/linear_attention.wgsl");
    let mut problems = code_problems(PatternKind::WGSL, |k| k as u32, tiled);
    problems.extend(code_problems(Category::WGSL, |c| c as u32, tiled));
    problems.extend(code_problems(FeatureKind::WGSL, |f| f as u32, linear));
    let quantize = include_str!("../src/gpu/quantize.wgsl");
    problems.extend(code_problems(QuantKind::WGSL, |q| q as u32, quantize));
    let memory = include_str!("../src/gpu/memory_attention.wgsl");
    problems.extend(code_problems(CompressKind::WGSL, |c| c as u32, memory));
    let slots = [((), "CODE_SLOTS")];
    problems.extend(code_problems(&slots, |_| CODE_SLOTS as u32, tiled));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        Category::WGSL
            .iter()
            .all(|&(c, _)| (c as usize) < CODE_SLOTS),
        "every category fits the poolers' counts"
    );
    // Power: a renumbered constant is caught.
    let changed = tiled.replace(
        "const PATTERN_LSH: u32 = 5u;",
        "const PATTERN_LSH: u32 = 6u;",
    );
    assert_eq!(
        code_problems(PatternKind::WGSL, |k| k as u32, &changed),
        vec!["PATTERN_LSH = 6 in WGSL, 5 in Rust".to_string()]
    );
}

/// The shipped WGSL (`OUT_DIR/wgsl`, what `gpu::wgsl!` embeds) is every
/// source file with each line's comment and surrounding blanks removed and
/// no line added or lost, so a compiler message's line number is the
/// source's; every kernel's module text is shipped text.
#[test]
fn the_embedded_wgsl_is_the_source_without_comments_line_for_line() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/gpu");
    let shipped = std::path::Path::new(env!("OUT_DIR")).join("wgsl");
    let mut sources: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wgsl"))
        .collect();
    sources.sort();
    assert!(sources.len() >= 15, "{sources:?}");
    let (mut before, mut after) = (0, 0);
    for path in &sources {
        let source = std::fs::read_to_string(path).unwrap();
        let name = path.file_name().unwrap();
        let text = std::fs::read_to_string(shipped.join(name)).unwrap();
        assert!(
            !source.contains("/*"),
            "{name:?}: a block comment (this check reads only //)"
        );
        let want: Vec<&str> = source
            .split('\n')
            .map(|l| l.split("//").next().unwrap().trim())
            .collect();
        let got: Vec<&str> = text.split('\n').collect();
        assert_eq!(got, want, "{name:?}");
        (before, after) = (before + source.len(), after + text.len());
    }
    eprintln!("WGSL: {before} bytes in the sources, {after} shipped");
    assert!(after < before * 2 / 3, "{after} of {before}");
    for k in all_kernels() {
        assert!(
            !k.module.text.contains("//"),
            "{}: comments shipped",
            k.id()
        );
    }
}

#[test]
fn the_stripper_removes_nested_block_comments_and_keeps_lines() {
    let strip = build_script::strip;
    assert_eq!(strip("  let a = 1; // one\n\tb();  "), "let a = 1;\nb();");
    assert_eq!(
        strip("x /* a /* nested */ still\ncomment */ y\n// only\nz"),
        "x\ny\n\nz"
    );
    assert_eq!(strip("a/**/b /* // */ c"), "ab  c");
    assert_eq!(strip("a / b * c"), "a / b * c");
}
