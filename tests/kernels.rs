//! Every GPU kernel's typed bindings and every code shared with WGSL,
//! checked against the shader text:
//!
//! * each `Kernel` names a compute entry point its module declares, and its
//!   bindings (index, name, access) are exactly the `@binding`s that entry
//!   point uses, directly or through the functions it calls;
//! * every `#[repr(u32)]` code enum (`PatternKind`, `Category`,
//!   `FeatureKind`, `QuantKind`, `CompressKind`) has a WGSL constant of the
//!   same value, by name.

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
