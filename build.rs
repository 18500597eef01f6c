//! Writes every `src/gpu/*.wgsl` as the binaries embed it (`gpu::wgsl!`):
//! comments and each line's surrounding blanks removed, every line kept, so
//! a compiler message's line number is the source file's. The comments are
//! the shaders' documentation and stay in the sources; shipped, they were
//! half of the 227 KB of WGSL in the web build.

use std::path::Path;

fn main() {
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("wgsl");
    std::fs::create_dir_all(&out).expect("create OUT_DIR/wgsl");
    println!("cargo::rerun-if-changed=src/gpu");
    let mut entries: Vec<_> = std::fs::read_dir("src/gpu")
        .expect("read src/gpu")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wgsl"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).expect("read a .wgsl file");
        let name = path.file_name().expect("a file name");
        std::fs::write(out.join(name), strip(&text)).expect("write the stripped .wgsl");
    }
}

/// `text` without its comments (`//` to the end of the line, and `/* … */`,
/// which WGSL nests) nor the blanks around each line; newlines kept.
pub fn strip(text: &str) -> String {
    let mut code = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut depth = 0usize;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        match (c, next) {
            ('/', Some('*')) => {
                chars.next();
                depth += 1;
            }
            ('*', Some('/')) if depth > 0 => {
                chars.next();
                depth -= 1;
            }
            ('/', Some('/')) if depth == 0 => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            ('\n', _) => code.push('\n'),
            _ if depth > 0 => {}
            _ => code.push(c),
        }
    }
    let mut out = String::with_capacity(code.len());
    for line in code.split('\n') {
        out.push_str(line.trim());
        out.push('\n');
    }
    out.pop();
    out
}
