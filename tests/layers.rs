//! The layers point one way (docs/ARCHITECTURE.md): each module of `src/`
//! may import only from its own layer or those below it.
//!
//! ```text
//! L4 front-ends   settings, chart, format, ui, the flt binary
//! L3 pipeline     pipeline (lab seam, backend, jobs, labs: attention, sweep)
//! L2 methods      attention, compress
//! L1 kernels      gpu
//! L0 data         data, inputs
//! ```
//!
//! This test reads every source file and fails on any `crate::…` path (in a
//! `use` or inline, comments aside) that reaches a higher layer.

use std::path::{Path, PathBuf};

/// The layer of a top-level module of the crate.
fn layer(module: &str) -> Option<u8> {
    Some(match module {
        "data" | "inputs" => 0,
        "gpu" => 1,
        "attention" | "compress" => 2,
        "pipeline" => 3,
        "settings" | "chart" | "format" | "ui" => 4,
        _ => return None,
    })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a source text names through `crate::`, with the
/// line, comments skipped.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push((number + 1, name));
            rest = after;
        }
    }
    out
}

#[test]
fn no_module_imports_from_a_higher_layer() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or("")
            .trim_end_matches(".rs");
        let Some(own) = layer(top) else {
            continue; // lib.rs, main.rs, bin/: the crate root and L4 binaries
        };
        checked += 1;
        let text = std::fs::read_to_string(file).unwrap();
        for (line, module) in crate_paths(&text) {
            if let Some(target) = layer(&module)
                && target > own
            {
                violations.push(format!(
                    "{}:{line}: L{own} `{top}` imports L{target} `crate::{module}`",
                    relative.display()
                ));
            }
        }
    }
    assert!(checked > 40, "only {checked} files checked");
    assert!(
        violations.is_empty(),
        "upward imports:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_check_sees_an_upward_edge() {
    // Power: the same scan flags a kernel that imports a method.
    let text = "use crate::data::maps::AttentionMap;\nuse crate::attention::pattern::Pattern; // no\n// crate::pipeline in a comment is fine\nlet x = crate::settings::common(\"n\");";
    let found: Vec<String> = crate_paths(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(found, vec!["data", "attention", "settings"]);
    assert!(layer("attention") > layer("gpu"));
}
