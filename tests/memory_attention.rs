//! Transformer-XL (Dai et al. 2019) and the Compressive Transformer (Rae et
//! al. 2020) against references written independently of their twins and
//! kernels, and against their identities:
//!
//! * a streamed reference: the sequence read segment by segment as the
//!   papers describe it — a FIFO memory that evicts the oldest positions
//!   (whole groups of c) beyond M, f_c applied to what it evicts, a FIFO of
//!   M_c compressed slots, most-attended's usage accumulated while a
//!   position is uncompressed — and each query's dense masked softmax over
//!   [compressed; memory; segment up to itself] computed naively in f64;
//! * memory ≥ n equals exact causal attention;
//! * c = 1 (mean, max, most-attended) equals Transformer-XL with memory
//!   M + M_c; the convolution, a learned map even at c = 1, does not;
//! * the settings keep both methods causal; the pipeline measures them
//!   against exact causal attention, beside the mean-of-V baseline.
//!
//! Tolerances: twin and GPU against the f64 references, 2·10⁻⁵ + 10⁻⁴·|x|
//! (f32 softmax over a few hundred keys: the measured worst is about 10⁻⁶);
//! GPU against GPU and twin against twin, 2·10⁻⁶ + 10⁻⁵·|x|. GPU checks run
//! on whatever adapter exists (lavapipe in CI; `CI=true` requires one).

mod common;

use common::{assert_close, gpu, params};
use flt_explorer::attention::memory::conv_weights;
use flt_explorer::attention::{Config, MethodId, ParamValues};
use flt_explorer::data::maps::{MapPooler, PatternPooler};
use flt_explorer::gpu::{GpuContext, GpuRunOptions};
use flt_explorer::inputs::Inputs;
use flt_explorer::pipeline::attention::run;
use flt_explorer::pipeline::{Backend, Quiet};
use flt_explorer::settings::Settings;
use ndarray::Array2;

/// The memory knobs of a case.
#[derive(Debug, Clone, Copy)]
struct Knobs {
    segment: usize,
    memory: usize,
    compressed: usize,
    rate: usize,
    /// 0 mean, 1 max, 2 conv, 3 most-attended; `None`: Transformer-XL.
    function: Option<u64>,
}

impl Knobs {
    fn xl(segment: usize, memory: usize) -> Knobs {
        Knobs {
            segment,
            memory,
            compressed: 0,
            rate: 1,
            function: None,
        }
    }

    fn compressive(segment: usize, memory: usize, compressed: usize, rate: usize, f: u64) -> Knobs {
        Knobs {
            segment,
            memory,
            compressed,
            rate,
            function: Some(f),
        }
    }

    fn method(&self) -> MethodId {
        match self.function {
            None => MethodId::TransformerXl,
            Some(_) => MethodId::Compressive,
        }
    }

    fn params(&self) -> ParamValues {
        let mut p = params(&[
            ("segment", self.segment as u64),
            ("memory", self.memory as u64),
        ]);
        if let Some(f) = self.function {
            p.extend(params(&[
                ("compressed-memory", self.compressed as u64),
                ("compress-rate", self.rate as u64),
                ("compress", f),
            ]));
        }
        p
    }
}

const SEED: u64 = 5;

/// A compressed slot: its key and value.
type Slot = (Vec<f64>, Vec<f64>);

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn row(x: &Array2<f32>, i: usize) -> Vec<f64> {
    x.row(i).iter().map(|&v| v as f64).collect()
}

/// f_c on one group of rows (pooling or convolution), in f64.
fn pool(rows: &[Vec<f64>], f: u64, weights: &[f32]) -> Vec<f64> {
    let width = rows[0].len();
    (0..width)
        .map(|col| match f {
            0 => rows.iter().map(|r| r[col]).sum::<f64>() / rows.len() as f64,
            1 => rows
                .iter()
                .map(|r| r[col])
                .fold(f64::NEG_INFINITY, f64::max),
            _ => rows
                .iter()
                .enumerate()
                .map(|(t, r)| {
                    (0..width)
                        .map(|i| weights[(t * width + col) * width + i] as f64 * r[i])
                        .sum::<f64>()
                })
                .sum(),
        })
        .collect()
}

/// The sequence streamed segment by segment (see the module header), each
/// query's output a naive masked softmax in f64.
fn streamed_reference(x: &Inputs, k: Knobs) -> Array2<f64> {
    let (n, d, dv) = (x.n(), x.d(), x.dv());
    let scale = 1.0 / (d as f64).sqrt();
    let weights = match k.function {
        Some(2) => (
            conv_weights(SEED, k.rate, d, 0),
            conv_weights(SEED, k.rate, dv, 1),
        ),
        _ => (Vec::new(), Vec::new()),
    };
    let mut out = Array2::zeros((n, dv));
    let mut memory: Vec<usize> = Vec::new();
    let mut compressed: Vec<Slot> = Vec::new();
    let (mut usage, mut watched) = (vec![0f64; n], vec![0usize; n]);
    let mut start = 0;
    while start < n {
        let end = (start + k.segment).min(n);
        for i in start..end {
            let qi = row(&x.q, i);
            let positions: Vec<usize> = memory.iter().copied().chain(start..=i).collect();
            let mut scores: Vec<f64> = compressed
                .iter()
                .map(|(key, _)| dot(&qi, key) * scale)
                .collect();
            scores.extend(positions.iter().map(|&j| dot(&qi, &row(&x.k, j)) * scale));
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let z: f64 = e.iter().sum();
            let values = compressed
                .iter()
                .map(|(_, v)| v.clone())
                .chain(positions.iter().map(|&j| row(&x.v, j)));
            for (w, v) in e.iter().zip(values) {
                for c in 0..dv {
                    out[[i, c]] += w / z * v[c];
                }
            }
            // Usage: the weights under the softmax over memory and segment.
            let local = &scores[compressed.len()..];
            let m = local.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let zl: f64 = local.iter().map(|s| (s - m).exp()).sum();
            for (&j, s) in positions.iter().zip(local) {
                usage[j] += (s - m).exp() / zl;
                watched[j] += 1;
            }
        }
        memory.extend(start..end);
        let excess = memory.len().saturating_sub(k.memory);
        let evict: Vec<usize> = memory.drain(..excess / k.rate * k.rate).collect();
        if k.compressed > 0 && !evict.is_empty() {
            match k.function {
                Some(3) => {
                    let mean = |j: usize| usage[j] / watched[j].max(1) as f64;
                    let keep = evict.len() / k.rate;
                    let mut ranked = evict.clone();
                    ranked.sort_by(|&a, &b| mean(b).total_cmp(&mean(a)).then(a.cmp(&b)));
                    let mut kept = ranked[..keep].to_vec();
                    kept.sort_unstable();
                    compressed.extend(kept.iter().map(|&j| (row(&x.k, j), row(&x.v, j))));
                }
                Some(f) => {
                    for group in evict.chunks(k.rate) {
                        let keys: Vec<Vec<f64>> = group.iter().map(|&j| row(&x.k, j)).collect();
                        let values: Vec<Vec<f64>> = group.iter().map(|&j| row(&x.v, j)).collect();
                        compressed.push((pool(&keys, f, &weights.0), pool(&values, f, &weights.1)));
                    }
                }
                None => {}
            }
            let drop = compressed.len().saturating_sub(k.compressed);
            compressed.drain(..drop);
        }
        start = end;
    }
    out
}

fn config(p: &ParamValues) -> Config<'_> {
    Config {
        causal: true,
        seed: SEED,
        params: p,
    }
}

fn twin_output(method: MethodId, x: &Inputs, p: &ParamValues) -> Array2<f32> {
    let twin = method.method().cpu_twin(x, &config(p)).unwrap();
    let mut out = Array2::zeros((x.n(), x.dv()));
    twin.compute_rows(0..x.n(), out.view_mut(), None);
    out
}

fn gpu_output(ctx: &GpuContext, method: MethodId, x: &Inputs, p: &ParamValues) -> Array2<f32> {
    let options = GpuRunOptions {
        repeats: 1,
        ..Default::default()
    };
    pollster::block_on(method.method().run_gpu(ctx, x, &config(p), &options))
        .unwrap_or_else(|e| panic!("{} {p:?}: {e}", method.key()))
        .output
}

fn close_to_f64(what: &str, got: &Array2<f32>, expect: &Array2<f64>) {
    assert_close(what, got, &expect.mapv(|v| v as f32), 2e-5, 1e-4);
}

/// Odd shapes and knobs: segments that do not divide n, memories shorter
/// and longer than a segment, rates that divide neither S nor M, compressed
/// memories that drop slots and that keep them all.
fn cases() -> Vec<Knobs> {
    let mut out = vec![
        Knobs::xl(7, 5),
        Knobs::xl(16, 40),
        Knobs::xl(33, 0),
        Knobs::xl(1, 3),
    ];
    for f in 0..4 {
        out.push(Knobs::compressive(7, 5, 3, 3, f));
        out.push(Knobs::compressive(16, 9, 40, 2, f));
        out.push(Knobs::compressive(10, 20, 4, 5, f));
    }
    out
}

#[test]
fn twins_match_the_streamed_reference() {
    for n in [1, 7, 45, 130] {
        for d in [3, 16] {
            let x = Inputs::seeded(n, d, 100 + n as u64);
            for k in cases() {
                let what = format!("twin {:?} n={n} d={d}", k);
                let expect = streamed_reference(&x, k);
                close_to_f64(&what, &twin_output(k.method(), &x, &k.params()), &expect);
            }
        }
    }
}

#[test]
fn gpu_kernels_match_the_streamed_reference() {
    let Some(ctx) = gpu() else { return };
    for (n, d) in [(7, 3), (130, 16), (203, 40)] {
        let x = Inputs::seeded(n, d, 200 + n as u64);
        for k in cases() {
            let what = format!("GPU {:?} n={n} d={d}", k);
            let expect = streamed_reference(&x, k);
            close_to_f64(
                &what,
                &gpu_output(&ctx, k.method(), &x, &k.params()),
                &expect,
            );
        }
    }
}

#[test]
fn gpu_views_match_the_twin_pair_by_pair() {
    // n ≤ 512: one cell per pair, so the pooled pattern is the pattern and
    // the pooled weights are the weights; a compressed slot's weight is
    // shared by the positions it stands for.
    let Some(ctx) = gpu() else { return };
    let x = Inputs::seeded(203, 16, 9);
    for k in cases() {
        let p = k.params();
        let method = k.method();
        let options = GpuRunOptions {
            repeats: 1,
            ..Default::default()
        };
        let out =
            pollster::block_on(method.method().run_gpu(&ctx, &x, &config(&p), &options)).unwrap();
        let twin = method.method().cpu_twin(&x, &config(&p)).unwrap();
        let mut weights = MapPooler::new(x.n());
        let mut pattern = PatternPooler::new(x.n());
        let mut o = Array2::zeros((x.n(), x.dv()));
        twin.compute_rows(
            0..x.n(),
            o.view_mut(),
            Some(&mut |i, w: &[f32]| weights.add_row(i, w)),
        );
        for i in 0..x.n() {
            pattern.add_row(i, &twin.row_pattern(i));
        }
        let (weights, pattern) = (weights.finish(), pattern.finish());
        assert_eq!(weights.factor, 1);
        let gpu_weights = out.artifacts.weights().expect("weights");
        for (a, b) in gpu_weights.values.iter().zip(&weights.values) {
            assert!(
                (a - b).abs() <= 2e-6 + 1e-5 * b.abs(),
                "{k:?}: weight {a} vs {b}"
            );
        }
        let gpu_pattern = out.artifacts.pattern().expect("pattern");
        assert_eq!(gpu_pattern.codes, pattern.codes, "{k:?}: pattern");
        let rows: f32 = weights.values.iter().sum();
        assert!(
            (rows - x.n() as f32).abs() < 1e-2,
            "{k:?}: every row sums to 1"
        );
    }
}

/// Exact causal attention in f64.
fn causal_exact(x: &Inputs) -> Array2<f64> {
    let all: Vec<usize> = (0..x.n()).collect();
    flt_explorer::attention::full::reference_rows(x.q.view(), x.k.view(), x.v.view(), true, &all)
}

#[test]
fn memory_covering_the_past_is_exact_causal_attention() {
    let ctx = gpu();
    for (n, d) in [(45, 8), (203, 16)] {
        let x = Inputs::seeded(n, d, 7);
        let exact = causal_exact(&x);
        for k in [
            Knobs::xl(16, n),
            Knobs::xl(5, n + 9),
            Knobs::compressive(16, n, 8, 4, 0),
            Knobs::compressive(7, n, 3, 2, 3),
            Knobs::compressive(7, n, 3, 2, 2),
            // A segment as long as the sequence: no memory needed at all.
            Knobs::xl(n, 0),
        ] {
            let what = format!("{k:?} n={n}");
            close_to_f64(
                &format!("twin {what}"),
                &twin_output(k.method(), &x, &k.params()),
                &exact,
            );
            if let Some(ctx) = &ctx {
                close_to_f64(
                    &format!("GPU {what}"),
                    &gpu_output(ctx, k.method(), &x, &k.params()),
                    &exact,
                );
            }
        }
    }
}

#[test]
fn rate_one_is_transformer_xl_with_the_longer_memory() {
    let ctx = gpu();
    for (n, d) in [(130, 8), (203, 16)] {
        let x = Inputs::seeded(n, d, 17);
        for (segment, memory, slots) in [(16, 9, 20), (7, 5, 3), (32, 32, 64)] {
            let xl = Knobs::xl(segment, memory + slots).params();
            let want = twin_output(MethodId::TransformerXl, &x, &xl);
            let want_gpu = ctx
                .as_ref()
                .map(|c| gpu_output(c, MethodId::TransformerXl, &x, &xl));
            for f in [0, 1, 3] {
                let k = Knobs::compressive(segment, memory, slots, 1, f);
                let what = format!("{k:?} n={n}");
                let got = twin_output(MethodId::Compressive, &x, &k.params());
                assert_close(&format!("twin {what}"), &got, &want, 2e-6, 1e-5);
                if let (Some(ctx), Some(want_gpu)) = (&ctx, &want_gpu) {
                    let got = gpu_output(ctx, MethodId::Compressive, &x, &k.params());
                    assert_close(&format!("GPU {what}"), &got, want_gpu, 2e-6, 1e-5);
                }
            }
            // The convolution stays a (seeded) learned map at c = 1.
            let conv = Knobs::compressive(segment, memory, slots, 1, 2).params();
            let got = twin_output(MethodId::Compressive, &x, &conv);
            let gap = (&got - &want).fold(0f32, |m, v| m.max(v.abs()));
            assert!(gap > 1e-3, "conv at c = 1 is not the identity: {gap}");
        }
    }
}

#[test]
fn the_streamed_reference_has_power() {
    // The reference must tell the methods apart from their neighbours: one
    // position more or less of memory, or another compression function,
    // changes the output beyond the tolerance.
    let x = Inputs::seeded(130, 16, 3);
    let base = Knobs::compressive(16, 9, 40, 2, 0);
    let expect = streamed_reference(&x, base);
    for other in [
        // 10 would not do: with c = 2 the boundary 2⌊(16s − M)/2⌋ is the
        // same for M = 9 and 10 (whole groups leave the memory together).
        Knobs::compressive(16, 11, 40, 2, 0),
        Knobs::compressive(16, 9, 39, 2, 0),
        Knobs::compressive(16, 9, 40, 2, 1),
        Knobs::compressive(16, 9, 40, 2, 3),
        Knobs::xl(16, 9),
    ] {
        let got = twin_output(other.method(), &x, &other.params()).mapv(f64::from);
        let gap = (&got - &expect).fold(0f64, |m, v| m.max(v.abs()));
        assert!(gap > 1e-3, "{other:?} is indistinguishable: {gap}");
    }
}

#[test]
fn the_settings_keep_memory_methods_causal() {
    for key in ["transformer-xl", "compressive"] {
        let (s, issues) = Settings::from_query(&format!("method={key}&n=256"));
        assert!(issues.is_empty(), "{issues:?}");
        assert!(s.causal, "{key} is causal without asking");
        let (s, issues) = Settings::from_query(&format!("method={key}&causal=false"));
        assert!(s.causal);
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert!(issues[0].problem.contains("always causal"), "{issues:?}");
        // Switching to the method from a non-causal one turns causal on.
        let query = Settings::default().query_with("method", key);
        assert!(query.contains("causal=true"), "{query}");
    }
    // A problem built by hand without causal is refused before any work.
    let mut problem = Settings::from_query("method=transformer-xl&n=64&d=8")
        .0
        .problem(GpuRunOptions::default());
    problem.causal = false;
    let err = pollster::block_on(run(&problem, &Backend::Cpu { reason: None }, &Quiet))
        .expect_err("refused");
    assert!(err.to_string().contains("always causal"), "{err}");
}

#[test]
fn errors_are_measured_against_exact_causal_attention() {
    let measure = |query: &str| {
        let (s, issues) = Settings::from_query(query);
        assert!(issues.is_empty(), "{issues:?}");
        let problem = s.problem(GpuRunOptions {
            repeats: 1,
            ..Default::default()
        });
        pollster::block_on(run(&problem, &Backend::Cpu { reason: None }, &Quiet))
            .unwrap()
            .figures
    };
    // Local inputs (attention peaks near i = j), where a memory is the
    // right tool: the error falls with M and beats the mean of V.
    let base = "n=512&d=32&seed=1&inputs=local&qk-scale=1";
    let mut last = f64::INFINITY;
    for memory in [0, 32, 128, 512] {
        let f = measure(&format!(
            "method=transformer-xl&segment=32&memory={memory}&{base}"
        ));
        eprintln!(
            "local: transformer-xl S=32 M={memory}: rel_err {:.4} (mean of V {:.4}, mass kept {:.3}; {})",
            f.rel_err, f.baseline_mean_v_rel_err, f.mass_in_pattern, f.reference
        );
        assert!(f.causal);
        assert!(
            f.rel_err < last,
            "rel_err grows with the memory: {} ≥ {last}",
            f.rel_err
        );
        if memory > 0 {
            assert!(f.rel_err < f.baseline_mean_v_rel_err, "beats the mean of V");
        }
        last = f.rel_err;
    }
    assert!(last < 1e-5, "M ≥ n is exact causal attention: {last}");
    for inputs in ["local", "gaussian"] {
        let base = format!("n=512&d=32&seed=1&inputs={inputs}&qk-scale=1");
        let xl = measure(&format!(
            "method=transformer-xl&segment=32&memory=32&{base}"
        ));
        eprintln!(
            "{inputs}: transformer-xl S=32 M=32: rel_err {:.4} (mean of V {:.4})",
            xl.rel_err, xl.baseline_mean_v_rel_err
        );
        for f in ["mean", "max", "conv", "most-attended"] {
            let m = measure(&format!(
                "method=compressive&segment=32&memory=32&compressed-memory=32&compress-rate=4&compress={f}&{base}"
            ));
            eprintln!(
                "{inputs}: compressive S=32 M=32 Mc=32 c=4 {f}: rel_err {:.4} (mean of V {:.4}, mass kept {:.3})",
                m.rel_err, m.baseline_mean_v_rel_err, m.mass_in_pattern
            );
            assert!(m.causal && m.rel_err.is_finite(), "{f}: {}", m.rel_err);
            if inputs == "local" && f == "mean" {
                assert!(
                    m.rel_err < xl.rel_err,
                    "the compressed memory reaches further back than XL's alone"
                );
            }
        }
    }
}
