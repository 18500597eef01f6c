//! The benchmark tooling of `benchmarks/` (the PyTorch references, the
//! collector and the summary) is Python: this runs its tests,
//! `benchmarks/test_benchmarks.py`, so that `cargo test` covers them —
//! the FLOP formulas against flt's own counts, the ratios, exponents and
//! crossovers on a synthetic run, and each reference against its naive
//! definition (numpy here; torch where it is importable). Under CI a
//! missing `python3` (or numpy, checked by the script) is a failure.

use std::process::Command;

#[test]
fn the_benchmark_scripts_pass_their_tests() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benchmarks/test_benchmarks.py");
    let output = match Command::new("python3").arg(script).output() {
        Ok(o) => o,
        Err(e) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI=true but python3 cannot run: {e}"
            );
            eprintln!("skipping: python3 cannot run ({e})");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "benchmarks/test_benchmarks.py failed:\n{stdout}\n{stderr}"
    );
    let summary = stdout
        .lines()
        .rfind(|l| l.ends_with(" failed"))
        .unwrap_or_default();
    assert!(
        summary.ends_with(", 0 failed") && !summary.starts_with("0 passed"),
        "unexpected summary line: {summary:?}"
    );
}
