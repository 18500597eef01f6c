//! The quantization kernels (`gpu/quantize.wgsl`) against their CPU twin
//! (`compress/quantize.rs`) on odd shapes — ragged groups, groups longer
//! than a chunk, a constant and an all-zero row — for every format, mode,
//! granularity and clip.
//!
//! Tolerance, stated: the GPU's per-group parameters equal the twin's within
//! 2·10⁻⁵ relative (WGSL's division is only required to be within 2.5 ulp,
//! and binary's mean sums in f32 on the GPU, f64 in the twin); with `clip =
//! mse` the GPU may pick another α only where the two candidates' errors tie
//! within 10⁻⁴ (f32 against f64 sums); and every x̂ equals the twin's x̂
//! computed with the GPU's parameters, except where x / s lies within
//! 10⁻⁴ of a rounding tie (at most 0.1 % of the elements).

mod common;

use common::flt;

use flt_explorer::compress::formats::FloatFormat;
use flt_explorer::compress::quantize::{
    CANDIDATES, Clip, Format, Granularity, GroupParams, Mode, Scheme, candidate_alpha, quantize,
};
use flt_explorer::compress::weights::Generator;
use flt_explorer::gpu::{GpuContext, GpuRunOptions, quantize as gpu};
use ndarray::Array2;

fn options() -> GpuRunOptions {
    GpuRunOptions {
        repeats: 1,
        ..Default::default()
    }
}

/// Whether `v` lies within 10⁻⁴ (relative to max(1, |v|)) of a rounding tie
/// of the grid the scheme rounds x / s on.
fn near_tie(scheme: &Scheme, v: f32) -> bool {
    let tol = 1e-4 * v.abs().max(1.0);
    match scheme.format {
        Format::Int => ((v.abs().fract()) - 0.5).abs() < tol,
        Format::Float(f) => {
            let layout = f.layout();
            let e =
                flt_explorer::compress::formats::exponent_of(v.abs()).max(layout.min_exponent());
            let spacing = 2f32.powi(e - layout.mantissa_bits as i32);
            ((v.abs() / spacing).fract() - 0.5).abs() < 1e-4 * (v.abs() / spacing).max(1.0)
        }
    }
}

fn matrix(generator: Generator, rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut x = generator.generate(rows, cols, seed);
    if rows >= 3 {
        x.row_mut(1).fill(0.0);
        x.row_mut(2).fill(0.0123);
    }
    x
}

fn compare(ctx: &GpuContext, x: &Array2<f32>, scheme: &Scheme) {
    let (rows, cols) = x.dim();
    let what = format!("{} on {rows}×{cols}", scheme.label());
    let data: Vec<f32> = x.iter().copied().collect();
    let out = pollster::block_on(gpu::run(ctx, &scheme.plan(rows, cols), &data, &options()))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let twin = quantize(x.view(), scheme, None).unwrap();
    let gpu_params: Vec<GroupParams> = out.params.iter().map(GroupParams::from_gpu).collect();
    assert_eq!(gpu_params.len(), twin.params.len(), "{what}: groups");

    // The clipping choice: the same α, or a tie of the two candidates.
    let alphas: Vec<f32> = gpu_params.iter().map(|p| p.alpha).collect();
    if let Some(errors) = &twin.errors {
        for (g, (p, e)) in gpu_params.iter().zip(errors).enumerate() {
            let k = (0..CANDIDATES)
                .find(|&k| candidate_alpha(k) == p.alpha)
                .unwrap_or_else(|| panic!("{what}: group {g} α = {} is no candidate", p.alpha));
            let best = e.iter().cloned().fold(f64::INFINITY, f64::min);
            assert!(
                e[k] <= best * (1.0 + 1e-4) + 1e-30,
                "{what}: group {g} GPU α = {} has error {} against the best {best}",
                p.alpha,
                e[k]
            );
        }
    }
    let replay = quantize(x.view(), scheme, Some(&alphas)).unwrap();
    for (g, (a, b)) in gpu_params.iter().zip(&replay.params).enumerate() {
        let close = |u: f32, v: f32| (u - v).abs() <= 2e-5 * u.abs().max(v.abs()).max(1e-30);
        assert!(
            close(a.scale, b.scale) && close(a.lo, b.lo) && close(a.hi, b.hi),
            "{what}: group {g}: GPU {a:?}, twin {b:?}"
        );
        assert!(
            (a.zero - b.zero).abs() <= 1.0,
            "{what}: group {g} zero points"
        );
        assert_eq!(a.constant, b.constant, "{what}: group {g} constant");
    }
    // Every element as the twin computes it with the GPU's parameters.
    let groups = scheme.groups(rows, cols);
    let mut near = 0;
    for (i, (&v, &got)) in data.iter().zip(&out.xhat).enumerate() {
        let p = &gpu_params[groups.of(i)];
        let want = scheme.apply(v, p);
        if got != want {
            assert!(
                scheme.scaled() && p.constant.is_none() && near_tie(scheme, v / p.scale),
                "{what}: element {i}: x = {v}, GPU x̂ = {got}, twin x̂ = {want} (s = {})",
                p.scale
            );
            near += 1;
        }
    }
    assert!(near * 1000 <= data.len(), "{what}: {near} elements differ");
    assert!(out.timed.samples.iter().all(|t| t.is_finite()));
}

fn schemes() -> Vec<Scheme> {
    let mut all = Vec::new();
    for granularity in Granularity::ALL {
        for clip in Clip::ALL {
            for bits in [8, 4, 3, 2, 1] {
                for mode in Mode::ALL {
                    all.push(Scheme {
                        format: Format::Int,
                        bits,
                        mode,
                        granularity,
                        group_size: 48,
                        clip,
                    });
                }
            }
            for f in FloatFormat::ALL {
                all.push(Scheme {
                    format: Format::Float(f),
                    granularity,
                    group_size: 48,
                    clip,
                    ..Scheme::default()
                });
            }
        }
    }
    all
}

#[test]
fn every_scheme_on_the_gpu_matches_the_twin_on_odd_shapes() {
    let Some(ctx) = common::gpu() else { return };
    let small = matrix(Generator::HeavyTailed, 7, 101, 3);
    for scheme in schemes() {
        compare(&ctx, &small, &scheme);
    }
}

#[test]
fn groups_longer_than_a_chunk_merge_their_chunks_in_order() {
    let Some(ctx) = common::gpu() else { return };
    // Per channel: 2 chunks per row; per tensor: 3 chunks.
    let x = matrix(Generator::Gaussian, 3, 4100, 9);
    for granularity in [Granularity::PerChannel, Granularity::PerTensor] {
        for clip in Clip::ALL {
            for (format, bits, mode) in [
                (Format::Int, 4, Mode::Asymmetric),
                (Format::Int, 1, Mode::Symmetric),
                (Format::Float(FloatFormat::Fp8E4M3), 8, Mode::Symmetric),
            ] {
                let scheme = Scheme {
                    format,
                    bits,
                    mode,
                    granularity,
                    group_size: 1,
                    clip,
                };
                compare(&ctx, &x, &scheme);
            }
        }
    }
}

#[test]
fn a_wrong_grid_on_the_gpu_would_be_caught() {
    // Power: the comparison fails for a plan the twin does not share (the
    // GPU told asymmetric while the twin is symmetric).
    let Some(ctx) = common::gpu() else { return };
    let x = matrix(Generator::Gaussian, 4, 64, 2);
    let scheme = Scheme {
        bits: 3,
        granularity: Granularity::PerTensor,
        ..Scheme::default()
    };
    let mut plan = scheme.plan(4, 64);
    plan.asymmetric = true;
    plan.qmin = 0.0;
    plan.qmax = 7.0;
    let data: Vec<f32> = x.iter().copied().collect();
    let out = pollster::block_on(gpu::run(&ctx, &plan, &data, &options())).unwrap();
    let twin = quantize(x.view(), &scheme, None).unwrap();
    let differ = out
        .xhat
        .iter()
        .zip(twin.xhat.iter())
        .filter(|(a, b)| a != b)
        .count();
    assert!(differ > 16, "{differ} elements differ");
}

#[test]
fn ties_round_to_even_on_the_gpu() {
    // Scales of exactly 1 (max|x| = 127 for int8, 448 for E4M3) put x / s
    // on the ties themselves, and fp16 has none: the GPU must give the
    // twin's values bit for bit — round half to even, never half up.
    let Some(ctx) = common::gpu() else { return };
    let ints = [
        127.0f32, -127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 3.5,
    ];
    let fp8 = [448.0f32, 1.0625, 1.1875, -1.0625, 200.0, 0.0009765625];
    let fp16 = [
        1.0f32 + 2f32.powi(-11),
        1.0 + 3.0 * 2f32.powi(-11),
        -1.0 - 2f32.powi(-11),
    ];
    for (values, format, bits) in [
        (&ints[..], Format::Int, 8),
        (&fp8[..], Format::Float(FloatFormat::Fp8E4M3), 8),
        (&fp16[..], Format::Float(FloatFormat::Fp16), 16),
    ] {
        let scheme = Scheme {
            format,
            bits,
            granularity: Granularity::PerTensor,
            ..Scheme::default()
        };
        let x = Array2::from_shape_vec((1, values.len()), values.to_vec()).unwrap();
        let plan = scheme.plan(1, values.len());
        let out = pollster::block_on(gpu::run(&ctx, &plan, values, &options())).unwrap();
        let twin = quantize(x.view(), &scheme, None).unwrap();
        assert_eq!(
            out.xhat,
            twin.xhat.iter().copied().collect::<Vec<_>>(),
            "{}",
            scheme.label()
        );
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("quant-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

#[test]
fn flt_quantize_writes_the_dequantized_matrix_and_the_issue_s_json_keys() {
    use flt_explorer::inputs::{load_npy, write_npy};
    let dir = scratch("cli");
    let w = Generator::HeavyTailed.generate(9, 70, 4);
    let (input, output) = (dir.join("w.npy"), dir.join("wq.npy"));
    write_npy(&input, &w).unwrap();
    let o = flt(&[
        "quantize",
        "--in",
        input.to_str().unwrap(),
        "--out",
        output.to_str().unwrap(),
        "--bits",
        "3",
        "--mode",
        "asymmetric",
        "--granularity",
        "group",
        "--group-size",
        "16",
        "--clip",
        "mse",
        "--backend",
        "cpu",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    for key in [
        "bits",
        "format",
        "mode",
        "granularity",
        "group_size",
        "mse",
        "sqnr_db",
        "max_abs_err",
        "bytes_before",
        "bytes_after",
        "bits_per_weight",
    ] {
        assert!(!m[key].is_null(), "{key} missing in {m}");
    }
    assert_eq!(m["family"], "quantization");
    assert_eq!(
        (m["bits"].as_u64(), m["group_size"].as_u64()),
        (Some(3), Some(16))
    );
    assert_eq!(m["inputs"], "w.npy");
    // The file holds exactly the library's x̂, and the figures are its.
    let scheme = Scheme {
        format: Format::Int,
        bits: 3,
        mode: Mode::Asymmetric,
        granularity: Granularity::Group,
        group_size: 16,
        clip: Clip::Mse,
    };
    let want = quantize(w.view(), &scheme, None).unwrap().xhat;
    assert_eq!(load_npy(&output).unwrap(), want);
    let e = flt_explorer::compress::quantize::error_stats(w.view(), want.view());
    assert_eq!(m["mse"].as_f64(), Some(e.mse));
    // 9 rows × ⌈70/16⌉ = 5 groups of 4 B scale + 1 B zero; 630 · 3 bits.
    assert_eq!(m["bytes_after"].as_u64(), Some(630 * 3 / 8 + 1 + 45 * 5));
}

#[test]
fn flt_quantize_refuses_bad_flags_and_files_with_status_2() {
    let dir = scratch("bad");
    let text = dir.join("text.npy");
    std::fs::write(&text, b"not an array").unwrap();
    let cube = dir.join("cube.npy");
    {
        use ndarray_npy::WriteNpyExt;
        let a = ndarray::Array3::<f32>::zeros((2, 2, 2));
        a.write_npy(std::fs::File::create(&cube).unwrap()).unwrap();
    }
    let big = dir.join("big.npy");
    flt_explorer::inputs::write_npy(&big, &Array2::from_elem((2, 3), 1.0e5)).unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--bits", "9"], "bits=9 is above the maximum 8"),
        (vec!["--format", "int5"], "format=int5 is not int, fp16"),
        (vec!["--granularity", "rows"], "granularity=rows is not"),
        (vec!["--clip", "best"], "clip=best is not minmax or mse"),
        (
            vec!["--in", "/no/such/file.npy"],
            "cannot read /no/such/file.npy",
        ),
        (vec!["--in", text.to_str().unwrap()], "text.npy"),
        (vec!["--in", cube.to_str().unwrap()], "expected a 2-D array"),
        (
            vec!["--in", big.to_str().unwrap(), "--format", "fp16"],
            "overflows fp16",
        ),
        (
            vec!["--in", big.to_str().unwrap(), "--rows", "4"],
            "--rows describes a seeded matrix",
        ),
        (vec!["--rows", "0"], "rows=0 is below the minimum 1"),
        (vec!["--frobnicate"], "unexpected argument"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["quantize", "--backend", "cpu"];
        all.extend(&args);
        let o = flt(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(expected),
            "{args:?}: «{expected}» not in {err}"
        );
    }
}
