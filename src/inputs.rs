//! The Q, K, V an attention method runs on: seeded Gaussian draws, or the
//! user's own `.npy` files.
//!
//! Seeded inputs are identical on every platform: a ChaCha8 stream seeded with
//! `seed` gives uniform 53-bit draws, turned into standard normals by the
//! Box–Muller transform computed with `libm` (pure Rust, so the native CLI and
//! the WebAssembly page produce the same bits). Q, then K, then V are filled
//! row-major from one stream.
//!
//! `.npy` files must hold a 2-D float32 or float64 (or float16) array of shape `[n, d]`
//! (V may have its own width `dᵥ`); every problem — wrong rank or dtype,
//! mismatched shapes, NaN or ±∞, a truncated file or a header that lies about
//! its size — is an [`InputError`] with a message naming the file.

use ndarray::Array2;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::data::npy;

/// Largest sequence length any run accepts (`flt`'s limit; a run must also
/// keep n·d within [`MAX_STACKED_ELEMENTS`] and fit the adapter, checked
/// before allocating).
pub const MAX_N: usize = 1 << 20;
/// Largest sequence length the page runs: a browser tab's memory and a
/// teaching demo's patience (the CLI runs up to [`MAX_N`]).
pub const PAGE_MAX_N: usize = 16384;
/// Largest head dimension any run accepts.
pub const MAX_D: usize = 256;

/// Where the inputs came from, as recorded in a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputSource {
    /// Seeded standard-normal Q, K, V.
    Gaussian,
    /// Q and K in a seeded rank-4 subspace (what Linformer and Nyström assume).
    LowRank,
    /// Q and K around 8 seeded centres (what LSH bucketing assumes).
    Clustered,
    /// Q = K = positional features, so attention peaks near the diagonal
    /// (what sliding windows assume).
    Local,
    /// The user's `.npy` files.
    Npy,
}

impl InputSource {
    /// The generators, in the order the page lists them.
    pub const GENERATORS: [InputSource; 4] = [
        InputSource::Gaussian,
        InputSource::LowRank,
        InputSource::Clustered,
        InputSource::Local,
    ];

    /// URL / CLI value.
    pub fn key(&self) -> &'static str {
        match self {
            InputSource::Gaussian => "gaussian",
            InputSource::LowRank => "low-rank",
            InputSource::Clustered => "clustered",
            InputSource::Local => "local",
            InputSource::Npy => "npy",
        }
    }

    /// A generator by key (`npy` is not one).
    pub fn generator(key: &str) -> Option<InputSource> {
        Self::GENERATORS.into_iter().find(|g| g.key() == key)
    }

    /// One line for the page.
    pub fn describe(&self) -> &'static str {
        match self {
            InputSource::Gaussian => "independent standard normals",
            InputSource::LowRank => {
                "Q and K in a random rank-4 subspace, drifting smoothly along the sequence"
            }
            InputSource::Clustered => {
                "Q and K near 8 random centres, so similar tokens hash together"
            }
            InputSource::Local => {
                "Q ≈ K = positional sin/cos features, so attention peaks near i = j"
            }
            InputSource::Npy => "the user's files",
        }
    }
}

/// Rank of the low-rank generator's subspace.
pub const LOW_RANK: usize = 4;
/// Centres of the clustered generator.
pub const CLUSTERS: usize = 8;

/// One attention problem's inputs: Q (n×d), K (n×d), V (n×dᵥ), all finite f32.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    /// Queries, n×d.
    pub q: Array2<f32>,
    /// Keys, n×d.
    pub k: Array2<f32>,
    /// Values, n×dᵥ.
    pub v: Array2<f32>,
    /// Where they came from.
    pub source: InputSource,
}

/// A problem with the inputs, worded for the person who supplied them.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be read.
    #[error("cannot read {name}: {source}")]
    Io {
        /// File name as given.
        name: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid `.npy` file of floats.
    #[error("{name}: {message}")]
    Format {
        /// File name as given.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The arrays do not fit together or exceed the limits.
    #[error("{0}")]
    Shape(String),
    /// A value is NaN or infinite.
    #[error("{name}: element [{row}, {col}] is {value}; inputs must be finite numbers")]
    NotFinite {
        /// File name as given.
        name: String,
        /// Row of the first bad element.
        row: usize,
        /// Column of the first bad element.
        col: usize,
        /// The bad value.
        value: f64,
    },
}

/// Q = A·W, K = B·W: a rank-4 subspace, latent coordinates drifting smoothly
/// along the sequence (see [`Inputs::generate`]).
fn low_rank(g: &mut GaussianStream, n: usize, d: usize) -> (Array2<f32>, Array2<f32>) {
    let mut normal = |rows: usize, cols: usize, sd: f64| g.matrix(rows, cols, sd);
    // W of variance 1/(2√d): then qᵢ·kⱼ/√d ≈ aᵢ·bⱼ·(dσ²)/√d has unit
    // variance, like Gaussian inputs' logits, and softmax(QKᵀ/√d)
    // is numerically low-rank (exp of a moderate rank-4 matrix).
    let w = normal(LOW_RANK, d, (0.5 / (d as f64).sqrt()).sqrt());
    // Latent coordinates that drift smoothly along the sequence:
    // each a random mix of 3 low-frequency sinusoids, variance 1.
    let mut smooth = |rows: usize| {
        let coeff = normal(LOW_RANK, 3, (2.0f64 / 3.0).sqrt());
        let phase = normal(LOW_RANK, 3, 1.0);
        Array2::from_shape_fn((rows, LOW_RANK), |(i, t)| {
            (0..3)
                .map(|h| {
                    let turn = 2.0 * std::f64::consts::PI;
                    let angle = turn * (h + 1) as f64 * i as f64 / rows.max(1) as f64
                        + turn * phase[[t, h]] as f64;
                    coeff[[t, h]] as f64 * libm::sin(angle)
                })
                .sum::<f64>() as f32
        })
    };
    let a = smooth(n);
    let b = smooth(n);
    (project(&a, &w), project(&b, &w))
}

/// Q and K near 8 seeded centres (see [`Inputs::generate`]).
fn clustered(g: &mut GaussianStream, n: usize, d: usize) -> (Array2<f32>, Array2<f32>) {
    let mut normal = |rows: usize, cols: usize, sd: f64| g.matrix(rows, cols, sd);
    let centres = normal(CLUSTERS, d, 1.0);
    let noise_q = normal(n, d, 0.3);
    let noise_k = normal(n, d, 0.3);
    let picks = normal(2, n, 1.0); // uniform assignments from normals' ranks
    let assign = |z: f32| {
        ((libm::erf(z as f64 / std::f64::consts::SQRT_2) + 1.0) / 2.0 * CLUSTERS as f64)
            .clamp(0.0, CLUSTERS as f64 - 1.0) as usize
    };
    let q = Array2::from_shape_fn((n, d), |(i, e)| {
        centres[[assign(picks[[0, i]]), e]] + noise_q[[i, e]]
    });
    let k = Array2::from_shape_fn((n, d), |(i, e)| {
        centres[[assign(picks[[1, i]]), e]] + noise_k[[i, e]]
    });
    (q, k)
}

/// Q ≈ K = positional sin/cos features (see [`Inputs::generate`]).
fn local(g: &mut GaussianStream, n: usize, d: usize) -> (Array2<f32>, Array2<f32>) {
    let mut normal = |rows: usize, cols: usize, sd: f64| g.matrix(rows, cols, sd);
    let half = d.div_ceil(2);
    let omega: Vec<f64> = (0..half)
        .map(|f| {
            let t = if half > 1 {
                f as f64 / (half - 1) as f64
            } else {
                0.0
            };
            let wavelength = 4.0 * libm::pow(n.max(1) as f64, t);
            2.0 * std::f64::consts::PI / wavelength
        })
        .collect();
    let q = Array2::from_shape_fn((n, d), |(i, e)| {
        let angle = omega[e / 2] * i as f64;
        let trig = if e % 2 == 0 {
            libm::cos(angle)
        } else {
            libm::sin(angle)
        };
        (std::f64::consts::SQRT_2 * trig) as f32
    });
    let k = &q + &normal(n, d, 0.1);
    (q, k)
}

/// A·W with explicit, order-fixed arithmetic: each entry summed in f64 over
/// the inner index in increasing order, then rounded once to f32. (ndarray's
/// f32 `dot` fuses multiply-adds natively but not on wasm32, which changed
/// about 38% of the low-rank inputs between the CLI and the page.)
fn project(a: &Array2<f32>, w: &Array2<f32>) -> Array2<f32> {
    let (rows, inner) = a.dim();
    Array2::from_shape_fn((rows, w.ncols()), |(i, j)| {
        let mut sum = 0f64;
        for t in 0..inner {
            sum += a[[i, t]] as f64 * w[[t, j]] as f64;
        }
        sum as f32
    })
}

impl Inputs {
    /// Seeded standard-normal Q, K, V of shape n×d (V is n×d as well).
    pub fn seeded(n: usize, d: usize, seed: u64) -> Inputs {
        Inputs::generate(InputSource::Gaussian, n, d, seed, 1.0)
    }

    /// Seeded inputs with the structure `kind` names, Q and K multiplied by
    /// `qk_scale` (the logits scale by its square). V is always standard
    /// normal. Every number is computed with order-fixed arithmetic (f64
    /// sums in a fixed order, `libm`), so the page and the CLI produce the
    /// same bits. Before scaling, the logits qᵢ·kⱼ/√d have variance about 1
    /// for gaussian and low-rank inputs; clustered and local logits are sharp
    /// by design — of order √d (a query's own centre or position scores
    /// about ‖c‖²/√d ≈ √d, others about 0):
    ///
    /// * gaussian: Q, K, V drawn in that order from one stream;
    /// * low-rank: Q = A·W, K = B·W with W ∈ ℝ^{4×d} of variance 1/(2√d)
    ///   and A, B ∈ ℝ^{n×4} drifting smoothly along the sequence (each
    ///   coordinate a random mix of 3 low-frequency sinusoids): QKᵀ has rank 4,
    ///   the logits have unit variance, and neighbouring tokens are alike —
    ///   the structure Linformer's projections and Nyström's segment-mean
    ///   landmarks rely on;
    /// * clustered: 8 centres cᵤ ~ N(0, I); qᵢ = c_{a(i)} + 0.3ε, kⱼ =
    ///   c_{b(j)} + 0.3ε with uniform assignments a, b;
    /// * local: qᵢ = √2·[cos(ω_f i), sin(ω_f i)]_f with d/2 frequencies
    ///   ω_f = 2π/λ_f, λ_f log-spaced from 4 to 4n, so qᵢ·qⱼ = 2Σ_f cos(ω_f(i − j));
    ///   kⱼ = qⱼ + 0.1ε.
    ///
    /// # Panics
    /// If `kind` is [`InputSource::Npy`].
    pub fn generate(kind: InputSource, n: usize, d: usize, seed: u64, qk_scale: f64) -> Inputs {
        Inputs::generate_from(kind, n, d, &mut GaussianStream::new(seed), qk_scale)
    }

    /// At least as many normals as [`Inputs::generate`] draws for any kind
    /// (gaussian 3nd; clustered 3nd + 8d + 2n; local 2nd; low-rank
    /// nd + 4d + 48).
    pub fn normals_needed(n: usize, d: usize) -> usize {
        3 * n * d + 8 * d + 2 * n + 48
    }

    /// [`Inputs::generate`], its normals drawn in slices with
    /// `yield_now` between them (the page: no long main-thread task); the
    /// same bits.
    ///
    /// # Panics
    /// If `kind` is [`InputSource::Npy`].
    pub async fn generate_yielding(
        kind: InputSource,
        (n, d): (usize, usize),
        seed: u64,
        qk_scale: f64,
        yield_now: &dyn Fn() -> crate::data::LocalFuture<'static, ()>,
    ) -> Inputs {
        /// Normals per slice: a few ms in a browser.
        const SLICE: usize = 1 << 15;
        let mut g = GaussianStream::new(seed);
        let total = Inputs::normals_needed(n, d);
        while g.prefilled() < total {
            g.prefill(SLICE.min(total - g.prefilled()));
            yield_now().await;
        }
        Inputs::generate_from(kind, n, d, &mut g, qk_scale)
    }

    fn generate_from(
        kind: InputSource,
        n: usize,
        d: usize,
        g: &mut GaussianStream,
        qk_scale: f64,
    ) -> Inputs {
        let (mut q, mut k) = match kind {
            InputSource::Gaussian => (g.matrix(n, d, 1.0), g.matrix(n, d, 1.0)),
            InputSource::LowRank => low_rank(g, n, d),
            InputSource::Clustered => clustered(g, n, d),
            InputSource::Local => local(g, n, d),
            InputSource::Npy => panic!("npy inputs are loaded, not generated"),
        };
        let v = g.matrix(n, d, 1.0);
        if qk_scale != 1.0 {
            q *= qk_scale as f32;
            k *= qk_scale as f32;
        }
        Inputs {
            q,
            k,
            v,
            source: kind,
        }
    }

    /// Checks that user-supplied arrays fit together and are finite.
    pub fn from_arrays(
        q: Array2<f32>,
        k: Array2<f32>,
        v: Array2<f32>,
        source: InputSource,
    ) -> Result<Inputs, InputError> {
        let (n, d) = q.dim();
        if n == 0 || d == 0 {
            return Err(InputError::Shape(format!(
                "q has shape [{n}, {d}]; n and d must be at least 1"
            )));
        }
        if k.dim() != (n, d) {
            return Err(InputError::Shape(format!(
                "k has shape [{}, {}] but q has [{n}, {d}]; they must match",
                k.nrows(),
                k.ncols()
            )));
        }
        if v.nrows() != n || v.ncols() == 0 {
            return Err(InputError::Shape(format!(
                "v has shape [{}, {}]; it needs n = {n} rows and at least one column",
                v.nrows(),
                v.ncols()
            )));
        }
        if n > MAX_N
            || d > MAX_D
            || v.ncols() > MAX_D
            || n * d.max(v.ncols()) > MAX_STACKED_ELEMENTS
        {
            return Err(InputError::Shape(format!(
                "shape n = {n}, d = {d}, dv = {} exceeds the limits n ≤ {MAX_N}, d ≤ {MAX_D}, dv ≤ {MAX_D}, n·max(d, dv) ≤ {MAX_STACKED_ELEMENTS}",
                v.ncols()
            )));
        }
        Ok(Inputs { q, k, v, source })
    }

    /// A 64-bit FNV-1a hash of the shapes and the exact f32 bits of Q, K
    /// and V (row-major), as 16 hex digits: two runs had identical inputs
    /// iff (barring collisions) their digests match.
    pub fn digest(&self) -> String {
        digest(&[&self.q, &self.k, &self.v])
    }

    /// Sequence length.
    pub fn n(&self) -> usize {
        self.q.nrows()
    }

    /// Query/key width.
    pub fn d(&self) -> usize {
        self.q.ncols()
    }

    /// Value width.
    pub fn dv(&self) -> usize {
        self.v.ncols()
    }
}

/// Most heads and most batch items of one run.
pub const MAX_HEADS: usize = 64;
/// Most elements of one of the stacked Q, K, V, O (B·H·n·d): 2²⁷ f32 are
/// 512 MiB, past which a run would exhaust a browser tab or a small GPU
/// before its limits are even asked.
pub const MAX_STACKED_ELEMENTS: usize = 1 << 27;

/// B·H independent attention heads of one shape — multi-head attention's
/// heads over a batch of sequences (Vaswani et al. 2017, §3.2.2: each head
/// attends with its own Q, K, V). Item `b·H + h` is batch item b's head h;
/// every head is n × d (V n × dᵥ). GPU kernels take them stacked,
/// `[B·H, n, d]` row-major (head stride n·d), and index the head from the
/// dispatch.
#[derive(Debug, Clone)]
pub struct Heads {
    /// Sequences in the batch (B).
    pub batch: usize,
    /// Heads per sequence (H).
    pub heads: usize,
    /// The B·H heads' inputs, item b·H + h.
    pub items: Vec<std::rc::Rc<Inputs>>,
}

/// `make(i)` for every head i < `count`, in order. Natively the heads are
/// made on every core (each from its own seed, so the same bits as one at
/// a time): 16 heads of n = 65 536 took 5 s on one core of the H200's host,
/// more than the GPU's timed runs. The web build makes them one at a time.
fn each_head(count: usize, make: impl Fn(usize) -> Inputs + Sync) -> Vec<Inputs> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let threads = std::thread::available_parallelism()
            .map_or(1, |t| t.get())
            .min(count);
        if threads > 1 {
            let make = &make;
            return std::thread::scope(|scope| {
                let workers: Vec<_> = (0..threads)
                    .map(|t| {
                        scope.spawn(move || {
                            (t..count)
                                .step_by(threads)
                                .map(|i| (i, make(i)))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                let mut made: Vec<(usize, Inputs)> = workers
                    .into_iter()
                    .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect();
                made.sort_by_key(|(i, _)| *i);
                made.into_iter().map(|(_, x)| x).collect()
            });
        }
    }
    (0..count).map(make).collect()
}

impl Heads {
    /// One head: the single-head problem every method runs.
    pub fn single(inputs: std::rc::Rc<Inputs>) -> Heads {
        Heads {
            batch: 1,
            heads: 1,
            items: vec![inputs],
        }
    }

    /// B·H seeded heads of `kind`: head 0 is exactly
    /// `Inputs::generate(kind, n, d, seed, qk_scale)` (its digest and a
    /// one-head run's figures are unchanged by asking for more heads);
    /// head i > 0 draws from [`derive_seed`]`(seed, "head", i)`.
    pub fn generate(
        kind: InputSource,
        (n, d): (usize, usize),
        seed: u64,
        qk_scale: f64,
        (batch, heads): (usize, usize),
    ) -> Heads {
        let items = each_head(batch * heads, |i| {
            Inputs::generate(kind, n, d, Heads::seed_of(seed, i), qk_scale)
        })
        .into_iter()
        .map(std::rc::Rc::new)
        .collect();
        Heads {
            batch,
            heads,
            items,
        }
    }

    /// The seed of head `index`: the run's seed for head 0, else
    /// [`derive_seed`]`(seed, "head", index)`.
    pub fn seed_of(seed: u64, index: usize) -> u64 {
        match index {
            0 => seed,
            _ => derive_seed(seed, "head", index as u64),
        }
    }

    /// B·H.
    pub fn count(&self) -> usize {
        self.items.len()
    }

    /// Head `index` of the B·H (batch-major).
    ///
    /// # Panics
    ///
    /// When `index` ≥ B·H.
    pub fn get(&self, index: usize) -> &Inputs {
        &self.items[index]
    }

    /// Head 0 (its views are the ones shown).
    pub fn first(&self) -> &Inputs {
        &self.items[0]
    }

    /// Sequence length.
    pub fn n(&self) -> usize {
        self.first().n()
    }

    /// Query/key width.
    pub fn d(&self) -> usize {
        self.first().d()
    }

    /// Value width.
    pub fn dv(&self) -> usize {
        self.first().dv()
    }

    /// Q of every head, stacked `[B·H, n, d]` row-major, for upload.
    pub fn stacked_q(&self) -> Vec<f32> {
        self.stacked(|x| &x.q)
    }

    /// K of every head, stacked `[B·H, n, d]`.
    pub fn stacked_k(&self) -> Vec<f32> {
        self.stacked(|x| &x.k)
    }

    /// V of every head, stacked `[B·H, n, dᵥ]`.
    pub fn stacked_v(&self) -> Vec<f32> {
        self.stacked(|x| &x.v)
    }

    fn stacked(&self, which: fn(&Inputs) -> &Array2<f32>) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.count() * which(self.first()).len());
        for x in &self.items {
            out.extend(which(x).iter().copied());
        }
        out
    }

    /// The heads whose rows the error figures check: the first, the last
    /// and one between (each once) — a head-offset bug in a batched kernel
    /// shows in the last head first.
    pub fn checked(&self) -> Vec<usize> {
        let last = self.count() - 1;
        let mut out = vec![0, last / 2, last];
        out.dedup();
        out
    }

    /// A digest of every head's Q, K and V (head 0's alone is
    /// [`Inputs::digest`]).
    pub fn digest(&self) -> String {
        let arrays: Vec<&Array2<f32>> =
            self.items.iter().flat_map(|x| [&x.q, &x.k, &x.v]).collect();
        digest(&arrays)
    }
}

/// Fingerprint of the exact bits of some matrices (FNV-1a over each one's
/// shape and f32 bits): equal on the page and natively for equal data.
pub fn digest(arrays: &[&Array2<f32>]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |word: u32| {
        for byte in word.to_le_bytes() {
            hash ^= byte as u64;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for a in arrays {
        eat(a.nrows() as u32);
        eat(a.ncols() as u32);
        for x in a.iter() {
            eat(x.to_bits());
        }
    }
    format!("{hash:016x}")
}

/// A seed for the random choices a method makes (projections, random blocks,
/// hash planes), derived from the run's seed, a tag naming the purpose and an
/// index, by SplitMix64 over an FNV-1a hash of the tag: independent of the
/// input stream, identical on every platform.
pub fn derive_seed(seed: u64, tag: &str, index: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tag.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = seed ^ h ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Standard normals from a seeded ChaCha8 stream, bit-identical on every target.
pub struct GaussianStream {
    rng: ChaCha8Rng,
    spare: Option<f64>,
    /// Normals drawn ahead by [`GaussianStream::prefill`], served first.
    ready: std::collections::VecDeque<f64>,
}

impl GaussianStream {
    /// A stream for `seed`.
    pub fn new(seed: u64) -> Self {
        GaussianStream {
            rng: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
            ready: std::collections::VecDeque::new(),
        }
    }

    /// Uniform in [0, 1) with 53 random bits.
    ///
    /// # Panics
    /// After [`GaussianStream::prefill`] while normals are still waiting:
    /// a uniform drawn then would come from later in the stream.
    pub fn uniform(&mut self) -> f64 {
        assert!(
            self.ready.is_empty(),
            "uniform() after prefill() would reorder the stream"
        );
        self.raw_uniform()
    }

    fn raw_uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Draws the next `count` normals ahead (the costly Box–Muller
    /// transcendentals), to be served by [`GaussianStream::sample`] in the
    /// same order: the page draws a large input in slices between which it
    /// yields to the browser, with the same bits as one synchronous draw.
    pub fn prefill(&mut self, count: usize) {
        for _ in 0..count {
            let z = self.draw();
            self.ready.push_back(z);
        }
    }

    /// Normals drawn ahead and not yet served.
    pub fn prefilled(&self) -> usize {
        self.ready.len()
    }

    /// A rows × cols matrix of normals with standard deviation `sd`, drawn
    /// row-major, rounded to f32.
    pub fn matrix(&mut self, rows: usize, cols: usize, sd: f64) -> Array2<f32> {
        Array2::from_shape_simple_fn((rows, cols), || (self.sample() * sd) as f32)
    }

    /// The next standard normal (Box–Muller, both outputs used).
    pub fn sample(&mut self) -> f64 {
        match self.ready.pop_front() {
            Some(z) => z,
            None => self.draw(),
        }
    }

    fn draw(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = 1.0 - self.raw_uniform(); // (0, 1]: ln is finite
        let u2 = self.raw_uniform();
        let radius = libm::sqrt(-2.0 * libm::log(u1));
        let angle = 2.0 * std::f64::consts::PI * u2;
        self.spare = Some(radius * libm::sin(angle));
        radius * libm::cos(angle)
    }
}

/// The largest `.npy` file accepted: an f64 array of
/// [`MAX_STACKED_ELEMENTS`] plus a generous header. Checked before reading,
/// so a huge file is refused early.
pub const MAX_NPY_BYTES: u64 = (MAX_STACKED_ELEMENTS * 8) as u64 + 65536;

/// The longest `.npy` header read ([`crate::data::npy::MAX_HEADER_BYTES`]).
pub const MAX_NPY_HEADER_BYTES: usize = npy::MAX_HEADER_BYTES;

/// Parses the bytes of a `.npy` file holding a 2-D float array (float32,
/// float64 or float16, either byte order, C or Fortran order; read by
/// [`crate::data::npy`]). `name` is used in error messages.
pub fn parse_npy(name: &str, bytes: &[u8]) -> Result<Array2<f32>, InputError> {
    let format = |message: String| InputError::Format {
        name: name.to_string(),
        message,
    };
    let header = npy::header(bytes).map_err(|e| format(e.to_string()))?;
    let &[rows, cols] = header.shape.as_slice() else {
        return Err(format(format!(
            "expected a 2-D array of shape [n, d], found {} dimension(s) with shape {:?}",
            header.shape.len(),
            header.shape
        )));
    };
    let array = Array2::from_shape_vec((rows, cols), npy::elements_f32(&header, bytes))
        .map_err(|e| format(format!("the shape does not fit the data ({e})")))?;
    // Values that were finite in f64 may overflow f32: check after conversion.
    if let Some(((row, col), &value)) = array.indexed_iter().find(|(_, x)| !x.is_finite()) {
        return Err(InputError::NotFinite {
            name: name.to_string(),
            row,
            col,
            value: value as f64,
        });
    }
    Ok(array)
}

/// Reads and parses a `.npy` file (native only: the browser has no paths).
#[cfg(not(target_arch = "wasm32"))]
pub fn load_npy(path: &std::path::Path) -> Result<Array2<f32>, InputError> {
    load_npy_within(
        path,
        MAX_NPY_BYTES,
        &format!("any array within n·d ≤ {MAX_STACKED_ELEMENTS} needs"),
    )
}

/// Reads and parses a `.npy` file of at most `max_bytes` (`limit` says
/// what the bound is, for the message) (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn load_npy_within(
    path: &std::path::Path,
    max_bytes: u64,
    limit: &str,
) -> Result<Array2<f32>, InputError> {
    let name = path.display().to_string();
    let io = |source| InputError::Io {
        name: name.clone(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > max_bytes {
        return Err(InputError::Format {
            name,
            message: format!("the file is {len} bytes, more than {limit}"),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    parse_npy(&name, &bytes)
}

/// Writes a 2-D f32 array as a `.npy` file (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn write_npy(path: &std::path::Path, array: &Array2<f32>) -> Result<(), InputError> {
    use ndarray_npy::WriteNpyExt;
    let name = path.display().to_string();
    let file = std::fs::File::create(path).map_err(|source| InputError::Io {
        name: name.clone(),
        source,
    })?;
    array
        .write_npy(std::io::BufWriter::new(file))
        .map_err(|e| InputError::Format {
            name,
            message: format!("cannot write: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray_npy::WriteNpyExt;

    #[test]
    fn heads_made_on_several_cores_are_each_heads_own_seeded_inputs() {
        // More heads than this machine's cores, so that threads take turns:
        // each head is exactly Inputs::generate from its own seed, in order
        // (what the page, which makes them one at a time, gets).
        for kind in [
            InputSource::Gaussian,
            InputSource::LowRank,
            InputSource::Clustered,
            InputSource::Local,
        ] {
            let heads = Heads::generate(kind, (33, 8), 11, 0.5, (3, 3));
            assert_eq!(heads.items.len(), 9);
            for (i, x) in heads.items.iter().enumerate() {
                let own = Inputs::generate(kind, 33, 8, Heads::seed_of(11, i), 0.5);
                assert!(
                    x.q == own.q && x.k == own.k && x.v == own.v,
                    "{kind:?} head {i}"
                );
            }
        }
    }

    fn npy_bytes<A: ndarray_npy::WritableElement, D: ndarray::Dimension>(
        a: &ndarray::Array<A, D>,
    ) -> Vec<u8> {
        let mut bytes = Vec::new();
        a.write_npy(&mut bytes).unwrap();
        bytes
    }

    // A hand-made .npy file (format 1.0) with any header.
    use crate::data::npy::npy_raw::raw_npy;

    #[test]
    fn inputs_drawn_in_slices_are_the_same_bits() {
        use std::cell::Cell;
        for kind in InputSource::GENERATORS {
            for (n, d) in [(1, 1), (7, 3), (300, 40)] {
                let yields = Cell::new(0);
                let bump = || -> crate::data::LocalFuture<'static, ()> {
                    yields.set(yields.get() + 1);
                    Box::pin(async {})
                };
                let sliced =
                    pollster::block_on(Inputs::generate_yielding(kind, (n, d), 5, 0.5, &bump));
                let whole = Inputs::generate(kind, n, d, 5, 0.5);
                assert_eq!(sliced.digest(), whole.digest(), "{kind:?} n={n} d={d}");
                assert_eq!(yields.get(), Inputs::normals_needed(n, d).div_ceil(1 << 15));
            }
        }
    }

    #[test]
    #[should_panic(expected = "reorder")]
    fn a_uniform_after_prefill_is_refused() {
        let mut g = GaussianStream::new(1);
        g.prefill(2);
        g.uniform();
    }

    #[test]
    fn seeded_inputs_are_reproducible_and_standard_normal() {
        let a = Inputs::seeded(64, 32, 42);
        assert_eq!(a, Inputs::seeded(64, 32, 42));
        assert_ne!(a.q, Inputs::seeded(64, 32, 43).q);
        let all: Vec<f32> =
            a.q.iter()
                .chain(a.k.iter())
                .chain(a.v.iter())
                .copied()
                .collect();
        let mean = all.iter().map(|&x| x as f64).sum::<f64>() / all.len() as f64;
        let var = all.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / all.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
    }

    #[test]
    fn seeded_first_values_are_pinned() {
        // Pinned literally so that any change of generator — which would
        // change every figure a saved URL reproduces — fails here.
        let x = Inputs::seeded(2, 2, 1);
        let bits: Vec<u32> = x.q.iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, [0x3f635dfe, 0x3efb6c00, 0x3e84245c, 0x3fa945b0]);
    }

    #[test]
    fn every_generator_is_pinned_by_its_digest() {
        // The digests the CLI prints for `--n 64 --d 8 --seed 1`, on this
        // machine; the browser test checks the page gives the same for each.
        let digests: Vec<(InputSource, String)> = InputSource::GENERATORS
            .iter()
            .map(|&g| (g, Inputs::generate(g, 64, 8, 1, 1.0).digest()))
            .collect();
        let expect = [
            (InputSource::Gaussian, PINNED_DIGESTS[0]),
            (InputSource::LowRank, PINNED_DIGESTS[1]),
            (InputSource::Clustered, PINNED_DIGESTS[2]),
            (InputSource::Local, PINNED_DIGESTS[3]),
        ];
        for ((g, got), (h, want)) in digests.iter().zip(expect) {
            assert_eq!((g, got.as_str()), (&h, want), "{}", g.key());
        }
    }

    const PINNED_DIGESTS: [&str; 4] = [
        "40a27aadc2251726",
        "e9b6bdf1193f1c2a",
        "2ca3a7ff61e887e1",
        "be4396c65b81f803",
    ];

    #[test]
    fn generators_have_their_structure() {
        let (n, d) = (96, 16);
        let low = Inputs::generate(InputSource::LowRank, n, d, 3, 1.0);
        let s = low.q.dot(&low.k.t());
        // Rank 4: every 5×5 minor of QKᵀ vanishes; check via the Gram matrix
        // of 5 rows being singular (determinant ≈ 0 relative to its scale).
        let rows = s.select(ndarray::Axis(0), &[0, 7, 19, 40, 77]);
        let gram = rows.dot(&rows.t()).mapv(f64::from);
        let det = determinant(gram.clone());
        let scale: f64 = (0..5).map(|i| gram[[i, i]]).product();
        assert!(det.abs() < 1e-6 * scale, "rank > 4: det {det} vs {scale}");

        let clustered = Inputs::generate(InputSource::Clustered, n, d, 3, 1.0);
        let close = (0..n)
            .filter(|&i| {
                (0..n).any(|j| {
                    j != i
                        && (&clustered.q.row(i) - &clustered.q.row(j))
                            .mapv(|x| x * x)
                            .sum()
                            < 0.36 * 2.0 * d as f32 * 1.5
                })
            })
            .count();
        assert!(
            close > n * 9 / 10,
            "queries should sit near shared centres ({close} of {n})"
        );

        let local = Inputs::generate(InputSource::Local, n, d, 3, 1.0);
        let dots: Vec<f32> = (0..n)
            .map(|j| local.q.row(40).dot(&local.k.row(j)))
            .collect();
        let best = (0..n).max_by(|&a, &b| dots[a].total_cmp(&dots[b])).unwrap();
        assert!(
            best.abs_diff(40) <= 1,
            "local attention should peak at i = j, not {best}"
        );
        assert!(dots[40] > 2.0 * dots[60].abs());

        let scaled = Inputs::generate(InputSource::Gaussian, n, d, 3, 0.25);
        assert_eq!(scaled.q, Inputs::seeded(n, d, 3).q * 0.25);
        assert_eq!(scaled.v, Inputs::seeded(n, d, 3).v);
    }

    fn determinant(mut a: ndarray::Array2<f64>) -> f64 {
        let n = a.nrows();
        let mut det = 1.0;
        for c in 0..n {
            let p = (c..n)
                .max_by(|&x, &y| a[[x, c]].abs().total_cmp(&a[[y, c]].abs()))
                .unwrap();
            if a[[p, c]] == 0.0 {
                return 0.0;
            }
            if p != c {
                for k in 0..n {
                    a.swap([p, k], [c, k]);
                }
                det = -det;
            }
            det *= a[[c, c]];
            for r in c + 1..n {
                let f = a[[r, c]] / a[[c, c]];
                for k in c..n {
                    a[[r, k]] -= f * a[[c, k]];
                }
            }
        }
        det
    }

    #[test]
    fn digest_tells_inputs_apart() {
        let a = Inputs::seeded(8, 4, 1);
        assert_eq!(a.digest(), Inputs::seeded(8, 4, 1).digest());
        assert_ne!(a.digest(), Inputs::seeded(8, 4, 2).digest());
        assert_ne!(a.digest(), Inputs::seeded(4, 8, 1).digest());
        let mut b = a.clone();
        b.v[[7, 3]] = f32::from_bits(b.v[[7, 3]].to_bits() ^ 1);
        assert_ne!(a.digest(), b.digest(), "one flipped bit changes the digest");
    }

    #[test]
    fn npy_round_trips_f32_and_f64() {
        let a = Array2::from_shape_fn((3, 2), |(i, j)| (i * 2 + j) as f32 - 1.5);
        assert_eq!(parse_npy("a", &npy_bytes(&a)).unwrap(), a);
        let b = a.mapv(f64::from);
        assert_eq!(parse_npy("b", &npy_bytes(&b)).unwrap(), a);
        // Same values, column-major: written with fortran_order True.
        let mut fortran = Array2::<f32>::zeros(ndarray::ShapeBuilder::f((3, 2)));
        fortran.assign(&a);
        let bytes = npy_bytes(&fortran);
        assert!(String::from_utf8_lossy(&bytes[..64]).contains("'fortran_order': True"));
        assert_eq!(parse_npy("c", &bytes).unwrap(), a);
    }

    #[test]
    fn npy_errors_are_clear() {
        let a = Array2::<f32>::zeros((4, 3));
        let good = npy_bytes(&a);
        let err = |bytes: &[u8]| parse_npy("x.npy", bytes).unwrap_err().to_string();

        assert!(err(&good[..good.len() - 5]).contains("truncated"));
        let mut extra = good.clone();
        extra.extend_from_slice(&[0; 8]);
        assert!(err(&extra).contains("beyond"));
        assert!(err(&npy_bytes(&ndarray::Array1::<f32>::zeros(4))).contains("2-D"));
        assert!(err(&npy_bytes(&ndarray::Array3::<f32>::zeros((2, 2, 2)))).contains("2-D"));
        assert!(err(&npy_bytes(&Array2::<i64>::zeros((2, 2)))).contains("dtype"));
        assert!(err(b"not an npy file at all").contains("x.npy"));
        assert!(err(&[]).contains("x.npy"));

        // A header that claims a far larger shape than the data holds: refused
        // without allocating what it claims.
        let lying = raw_npy("<f4", "(40000000, 3000)", &good[good.len() - 48..]);
        assert!(err(&lying).contains("truncated"), "{}", err(&lying));

        let mut nan = a.clone();
        nan[[2, 1]] = f32::NAN;
        let msg = err(&npy_bytes(&nan));
        assert!(msg.contains("[2, 1]") && msg.contains("NaN"), "{msg}");
        let mut big = Array2::<f64>::zeros((2, 2));
        big[[0, 1]] = 1e300; // finite in f64, infinite in f32
        assert!(err(&npy_bytes(&big)).contains("inf"));
    }

    #[test]
    fn shapes_must_fit_together() {
        let q = Array2::<f32>::zeros((4, 3));
        let e = |k: Array2<f32>, v: Array2<f32>| {
            Inputs::from_arrays(q.clone(), k, v, InputSource::Npy)
                .unwrap_err()
                .to_string()
        };
        assert!(e(Array2::zeros((4, 2)), Array2::zeros((4, 3))).contains("k has shape [4, 2]"));
        assert!(e(Array2::zeros((4, 3)), Array2::zeros((5, 3))).contains("v has shape [5, 3]"));
        let ok = Inputs::from_arrays(
            q.clone(),
            q.clone(),
            Array2::zeros((4, 7)),
            InputSource::Npy,
        )
        .unwrap();
        assert_eq!((ok.n(), ok.d(), ok.dv()), (4, 3, 7));
    }
}
