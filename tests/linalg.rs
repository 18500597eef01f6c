//! The linalg builder's own passes (`gpu/linalg.rs`, `linalg.wgsl`) against
//! CPU references: products split over K (split-K: `sgemm.wgsl` over the
//! ranges of K into layers of partial sums, then `sum_splits`) against the
//! ndarray twin, and both row softmaxes (a workgroup per row, a thread per
//! short row) against an f64 softmax, causal or not.
//!
//! Tolerances: a split product sums the same terms in another order, so it
//! is within twice the K·ε bound of the twin ([`sgemm::tolerance`], as in
//! tests/sgemm.rs); a softmax entry within 1e-6 of the f64 one (f32 `exp`
//! and the sum, entries ≤ 1). The pseudo-inverse iteration, in one pass
//! (`pinv.wgsl`, where the adapter's workgroup memory holds three L × L
//! slots) or as separate products, against the same iteration in f64:
//! relative Frobenius error ≤ 1e-5 (measured ≤ 6e-7 on lavapipe; the
//! iteration corrects its own rounding). Power: a sum that misses one part
//! leaves entries far beyond the bound (the split test checks it by
//! dropping a part's contribution); in the softmax, a sum off by 0.1 %
//! gave 3e-4; in the fused iteration, 12.99·I for 13·I gave 3e-3.

mod common;

use common::{gpu, sgemm_beyond_bound};
use flt_explorer::gpu::buffers;
use flt_explorer::gpu::linalg::{Builder, Mat, SHORT_ROW_MAX};
use flt_explorer::gpu::sgemm::{self, Gemm, Split, Variant};
use flt_explorer::gpu::{GpuContext, work};

/// Seeded values in [−1, 1).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Uploads `batch` stacked rows × cols items.
fn stacked(ctx: &GpuContext, data: &[f32], batch: usize, rows: usize, cols: usize) -> Mat {
    let buf = buffers::upload(ctx, "test input", data).expect("upload");
    Mat::stacked(&buf, batch, rows, cols)
}

/// `alpha·op(A)·op(B)` through the builder (which splits K for these
/// shapes), read back whole.
fn builder_product(ctx: &GpuContext, gemm: &Gemm, a: &[f32], b: &[f32]) -> Vec<f32> {
    let batch = gemm.batch as usize;
    let (ar, ac) = gemm.a_stored();
    let (br, bc) = gemm.b_stored();
    let a = stacked(ctx, a, batch, ar as usize, ac as usize);
    let b = stacked(ctx, b, batch, br as usize, bc as usize);
    pollster::block_on(async {
        let mut builder = Builder::new(ctx, "split-K test");
        let out = builder
            .matmul(
                "test.product",
                &a,
                gemm.trans_a,
                &b,
                gemm.trans_b,
                gemm.alpha,
            )
            .await
            .expect("recorded");
        builder.program.run(ctx, 1).await.expect("ran");
        buffers::read_f32(ctx, &out.buf, out.len())
            .await
            .expect("read")
    })
}

#[test]
fn split_k_products_match_the_twin() {
    let Some(ctx) = gpu() else { return };
    // Few tiles and a long K, so the builder splits: K a multiple of the
    // range (vec4 loads), K odd (scalar loads, a short last range), every
    // transposition, batches with the parts interleaved per item.
    let shapes = [
        (64, 64, 2048, 2, false, false),
        (33, 7, 1501, 1, false, false),
        (20, 40, 4100, 3, true, false),
        (9, 70, 1030, 2, false, true),
        (32, 32, 3000, 1, true, true),
    ];
    for (i, &(m, n, k, batch, ta, tb)) in shapes.iter().enumerate() {
        let variant = Variant::for_shape(m as u64, n as u64, batch as u64);
        let split = Split::for_shape(m as u64, n as u64, k as u64, batch as u64, variant);
        assert!(split.parts > 1, "{m}×{n}×{k} ×{batch} is not split");
        let gemm = Gemm {
            alpha: -0.5,
            ..Gemm::packed(m, n, k, batch, ta, tb).unwrap()
        };
        let a = values(gemm.a_len() as usize, 2 * i as u64 + 1);
        let b = values(gemm.b_len() as usize, 2 * i as u64 + 2);
        let got = builder_product(&ctx, &gemm, &a, &b);
        let expect = sgemm::twin(&gemm, &a, &b);
        assert_eq!(got.len(), expect.len());
        let (bad, _) = sgemm_beyond_bound(&gemm, &a, &b, &got, &expect);
        assert_eq!(bad, 0, "{gemm:?} {split:?}: {bad} entries beyond the bound");
        // Power: the product without its last range (what a sum that
        // stopped one part short would give) is far outside the bound.
        if i == 0 {
            let kept = (split.parts - 1) * split.k_chunk;
            let cut = |x: &[f32], rows: u32, cols: u32, along_cols: bool| -> Vec<f32> {
                let mut x = x.to_vec();
                for (idx, v) in x.iter_mut().enumerate() {
                    let within = idx as u32 % (rows * cols);
                    let kk = if along_cols {
                        within % cols
                    } else {
                        within / cols
                    };
                    if kk >= kept {
                        *v = 0.0;
                    }
                }
                x
            };
            let (ar, ac) = gemm.a_stored();
            let short = sgemm::twin(&gemm, &cut(&a, ar, ac, !ta), &b);
            assert!(sgemm_beyond_bound(&gemm, &a, &b, &short, &expect).0 > 0);
        }
    }
}

#[test]
fn split_k_cuts_k_into_whole_ranges() {
    for k in [1024u32, 1025, 1501, 4096, 16384, 65536, 100_003] {
        for parts in [2u32, 3, 7, 16, 64] {
            let s = Split::of(k, parts);
            let gemm = Gemm::packed(64, 64, k, 1, false, false).unwrap();
            assert_eq!(s.validate(&gemm), Ok(()), "{k} {parts} {s:?}");
            assert!(s.parts <= parts && s.k_chunk.is_multiple_of(16), "{s:?}");
        }
    }
    // Nyströmformer's B̃V at n = 16384, 16 heads: 64 small tiles, split to
    // reach 1024 workgroups, each range keeping ≥ 512 of K.
    let s = Split::for_shape(64, 64, 16384, 16, Variant::Small);
    assert_eq!((s.parts, s.k_chunk), (16, 1024));
    // Enough threads in the tiles, a short K, or an empty product: unsplit.
    assert_eq!(
        Split::for_shape(2048, 2048, 4096, 1, Variant::Large).parts,
        1
    );
    assert_eq!(Split::for_shape(0, 64, 4096, 1, Variant::Small).parts, 1);
    let gemm16 = Gemm::packed(8, 8, 16, 1, false, false).unwrap();
    assert!(
        Split {
            parts: 0,
            k_chunk: 16
        }
        .validate(&gemm16)
        .is_err()
    );
    assert_eq!(
        Split::for_shape(4096, 4096, 4096, 1, Variant::Large).parts,
        1
    );
    assert_eq!(Split::for_shape(64, 64, 1000, 1, Variant::Small).parts, 1);
    // A range that misses the end of K, or an empty last range, is refused.
    let gemm = Gemm::packed(8, 8, 100, 1, false, false).unwrap();
    let short = Split {
        parts: 2,
        k_chunk: 32,
    };
    assert!(short.validate(&gemm).is_err());
    let empty = Split {
        parts: 3,
        k_chunk: 64,
    };
    assert!(empty.validate(&gemm).is_err());
    // The executed counts: the unsplit count plus the extra α rows, the
    // layers written and read back, and the sums.
    let (f1, b1) = work::sgemm(64, 64, 16384, 16, Variant::Small);
    let (f, b) = work::matmul_batched(64, 64, 16384, 16);
    assert_eq!(f, f1 + 15 * 16 * 64 * 64 + 16 * 16 * 64 * 64);
    assert_eq!(b, b1 + 4 * 16 * 64 * 64 * (15 + 17));
}

/// Row softmax of each row of `x·alpha` in f64 (causal: j > i weighs 0).
fn softmax_reference(x: &[f32], rows: usize, cols: usize, alpha: f32, causal: bool) -> Vec<f64> {
    let mut out = vec![0.0; rows * cols];
    for i in 0..rows {
        let limit = if causal { (i + 1).min(cols) } else { cols };
        let row = &x[i * cols..i * cols + limit];
        let m = row
            .iter()
            .map(|v| *v as f64 * alpha as f64)
            .fold(f64::MIN, f64::max);
        let sum: f64 = row
            .iter()
            .map(|v| (*v as f64 * alpha as f64 - m).exp())
            .sum();
        for (j, v) in row.iter().enumerate() {
            out[i * cols + j] = (*v as f64 * alpha as f64 - m).exp() / sum;
        }
    }
    out
}

#[test]
fn both_row_softmaxes_match_an_f64_softmax() {
    let Some(ctx) = gpu() else { return };
    // Short rows (a thread each) and long ones (a workgroup each), at the
    // threshold and past it; several items stacked, or one causal.
    let short = SHORT_ROW_MAX as usize;
    let cases = [
        (3, 130, 64, false),
        (1, 70, short, true),
        (2, 9, short + 1, false),
        (1, 40, 1000, true),
        (4, 1, 7, false),
    ];
    for (i, &(batch, rows, cols, causal)) in cases.iter().enumerate() {
        let data: Vec<f32> = values(batch * rows * cols, 100 + i as u64)
            .iter()
            .map(|v| 8.0 * v)
            .collect();
        // The softmax works in place and a program runs twice (warm-up and
        // repeat): x is made afresh each run, as x·I (exact).
        let input = stacked(&ctx, &data, batch, rows, cols);
        let mut eye = vec![0.0f32; cols * cols];
        for j in 0..cols {
            eye[j * cols + j] = 1.0;
        }
        let eye = stacked(&ctx, &eye, 1, cols, cols);
        let got = pollster::block_on(async {
            let mut builder = Builder::new(&ctx, "softmax test");
            let x = builder
                .matmul("test.copy", &input, false, &eye, false, 1.0)
                .await
                .expect("recorded");
            builder
                .softmax_rows("test.softmax", &x, 0.7, causal)
                .await
                .expect("recorded");
            builder.program.run(&ctx, 1).await.expect("ran");
            buffers::read_f32(&ctx, &x.buf, x.len())
                .await
                .expect("read")
        });
        let expect = softmax_reference(&data, batch * rows, cols, 0.7, causal);
        let worst = got
            .iter()
            .zip(&expect)
            .map(|(g, e)| (*g as f64 - e).abs())
            .fold(
                0.0f64,
                |w, e| if e.is_nan() { f64::INFINITY } else { w.max(e) },
            );
        assert!(
            worst <= 1e-6,
            "{batch} × {rows} × {cols} causal {causal}: worst error {worst:e}"
        );
    }
}

/// Z₀ = Aᵀ/(‖A‖₁‖A‖∞) and `iterations` of Z ← ¼·Z(13I − AZ(15I − AZ(7I −
/// AZ))) in f64 (row-major L × L).
fn pinv_reference(a: &[f32], l: usize, iterations: u32) -> Vec<f64> {
    let a: Vec<f64> = a.iter().map(|&x| x as f64).collect();
    let at = |i: usize, j: usize| a[i * l + j];
    let norm1 = (0..l)
        .map(|j| (0..l).map(|i| at(i, j).abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let norm_inf = (0..l)
        .map(|i| (0..l).map(|j| at(i, j).abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let mut z: Vec<f64> = (0..l * l)
        .map(|idx| at(idx % l, idx / l) / (norm1 * norm_inf))
        .collect();
    let mul = |x: &[f64], y: &[f64]| -> Vec<f64> {
        let mut out = vec![0.0; l * l];
        for i in 0..l {
            for k in 0..l {
                let xik = x[i * l + k];
                for j in 0..l {
                    out[i * l + j] += xik * y[k * l + j];
                }
            }
        }
        out
    };
    let eye_minus = |c: f64, x: &[f64]| -> Vec<f64> {
        (0..l * l)
            .map(|idx| if idx / l == idx % l { c } else { 0.0 } - x[idx])
            .collect()
    };
    for _ in 0..iterations {
        let az = mul(&a, &z);
        let t = eye_minus(7.0, &az);
        let t = eye_minus(15.0, &mul(&az, &t));
        let t = eye_minus(13.0, &mul(&az, &t));
        z = mul(&z, &t).iter().map(|x| 0.25 * x).collect();
    }
    z
}

#[test]
fn the_pseudo_inverse_in_one_pass_matches_the_iteration_in_f64() {
    let Some(ctx) = gpu() else { return };
    use flt_explorer::gpu::linalg::pinv_fuses;
    // Row-softmax matrices (what Nyströmformer inverts): L fused (multiples
    // of 4 up to 64 within the adapter's workgroup memory) and not (L = 30),
    // one count for all items or one per item (a head stopped early).
    let cases: [(usize, &[u32]); 5] = [
        (32, &[6]),
        (12, &[0, 3, 6]),
        (20, &[6, 2]),
        (30, &[5, 6]),
        (64, &[6, 6]),
    ];
    let mut ran_fused = false;
    for (case, &(l, counts)) in cases.iter().enumerate() {
        let batch = counts.len();
        let mut data = values(batch * l * l, 500 + case as u64);
        for row in data.chunks_mut(l) {
            let m = row.iter().cloned().fold(f32::MIN, f32::max);
            let s: f32 = row.iter().map(|x| (4.0 * (x - m)).exp()).sum();
            for x in row.iter_mut() {
                *x = (4.0 * (*x - m)).exp() / s;
            }
        }
        // The softmax made afresh each run from a copy (x·I), as Nyström's
        // kernels are; pinv reads it and rewrites its own Z₀.
        let input = stacked(&ctx, &data, batch, l, l);
        let got = pollster::block_on(async {
            let mut builder = Builder::new(&ctx, "pinv test");
            let z = builder.pinv(&input, counts).await.expect("recorded");
            builder.program.run(&ctx, 1).await.expect("ran");
            buffers::read_f32(&ctx, &z.buf, z.len())
                .await
                .expect("read")
        });
        let fused = pinv_fuses(&ctx.limits, l as u32);
        // Within WebGPU's default 16 KiB every adapter fuses L ≤ 36 (a
        // multiple of 4); L = 30 never fuses.
        assert_eq!(fused || l > 36, l % 4 == 0, "L = {l}");
        ran_fused |= fused;
        for (h, &count) in counts.iter().enumerate() {
            let item = &data[h * l * l..(h + 1) * l * l];
            let expect = pinv_reference(item, l, count);
            let got = &got[h * l * l..(h + 1) * l * l];
            let diff: f64 = got
                .iter()
                .zip(&expect)
                .map(|(g, e)| (*g as f64 - e).powi(2))
                .sum::<f64>()
                .sqrt();
            let norm: f64 = expect.iter().map(|e| e * e).sum::<f64>().sqrt();
            let rel = diff / norm;
            eprintln!(
                "L = {l} item {h} ({count} iterations, fused {fused}): relative error {rel:.2e}"
            );
            assert!(
                rel <= 1e-5,
                "L = {l}, item {h}, {count} iterations (fused {fused}): relative error {rel:e}"
            );
        }
    }
    assert!(ran_fused, "no case ran the one-pass iteration");
}
