//! Model sizes (survey §"Weight Sharing", §"Combining Techniques" and
//! §"Comprehensive Comparison", its Model Size Comparison figure): the
//! parameter count of a Transformer computed from its configuration by one
//! formula, its size at every precision, and the Combining Techniques
//! calculator ([`combine`]). The models, their exact configurations and the
//! counts their papers and model cards publish are in [`presets`].
//!
//! # The formula
//!
//! With vocabulary V, positions P, token types T, hidden width H, L layers,
//! A heads, feed-forward width F, and — where the model has them — an
//! embedding width E and a bottleneck width b:
//!
//! ```text
//! embeddings   V·w + P·w' + T·w' + 2·w' (norm)       w = E if factorised, else H
//!              + E·H + H  (ALBERT: E → H)  or  3E·H + H  (MobileBERT: trigram E → H)
//! one layer    attention  Q, K: (Hq·k + k) each; V: (H·k + k); O: (k·W + W); norm 2W
//!              feed-forward (×s)  W·F + F + F·W + W;  norm 2W
//!              bottlenecks (MobileBERT)  H→b: H·b + b + 2b (input; and one shared by Q, K)
//!                                        b→H: b·H + H + 2H (output)
//! model        embeddings + L·layer (1·layer when layers are shared, ALBERT)
//!              + final norm 2H (GPT-2) + pooler H·H + H (BERT) + untied head V·H (Pythia)
//! ```
//!
//! where W is the attention width (H, or b with a bottleneck), k = W·(kept
//! heads)/A (W without pruning) and Hq the queries' input width (b when
//! MobileBERT's queries and keys share a bottleneck, else H). Without the
//! optional parts a layer is the familiar 4H² + 2HF + F + 9H. A tied output
//! layer (GPT-2) reuses the token table and adds nothing; every layer norm
//! (and MobileBERT's NoNorm) has a scale and a bias.
//!
//! # Sizes
//!
//! fp32 and fp16 store every parameter at 32 and 16 bits. The quantized
//! sizes (int8, int4, binary) follow the common weight-only layout of GPTQ
//! and bitsandbytes, and say what they count: every weight matrix and
//! embedding table at b bits, packed, with **one fp16 scale per output row**
//! (symmetric per-channel quantization, no zero points; binary keeps
//! α = mean |w| of the row, as XNOR-Net and BinaryBERT do), and every vector
//! (biases, norm scales and shifts) kept at fp16. So a binary model is not
//! 32× smaller than fp32 but somewhat less: [`SizeAt::compression`] says how
//! much.

pub mod claims;
pub mod combine;
pub mod presets;

use std::fmt;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Serialize};

pub use claims::{Claim, survey_claims};
pub use combine::{Combination, Combined, Step, TotalAt, combine};
pub use presets::{Check, PRESETS, Preset, Published, preset};

/// Bytes of one quantization scale (fp16).
pub const SCALE_BYTES: u64 = 2;
/// Bytes of one vector parameter (bias, norm) in a quantized model (fp16).
pub const QUANTIZED_VECTOR_BYTES: u64 = 2;

/// How token embeddings of width E reach the hidden width H.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmbeddingStyle {
    /// ALBERT (Lan et al. 2020, §3.1): every table and the embedding norm
    /// at width E, then one projection E → H.
    Factorised,
    /// MobileBERT (Sun et al. 2020, §3.5): the token table at width E; the
    /// embeddings of three neighbouring tokens concatenated and projected
    /// 3E → H; position and type tables and the norm at width H.
    Trigram,
}

impl EmbeddingStyle {
    /// The URL / CLI value.
    pub fn key(self) -> &'static str {
        match self {
            EmbeddingStyle::Factorised => "factorised",
            EmbeddingStyle::Trigram => "trigram",
        }
    }
}

/// The output layer over the vocabulary, where the model has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LmHead {
    /// None counted (BERT-style encoders: the published counts are of the
    /// encoder and its pooler, without pre-training heads).
    None,
    /// The token table reused as the output layer (GPT-2): stored once.
    Tied,
    /// Its own V × H matrix, no bias (Pythia).
    Untied,
}

impl LmHead {
    /// Every kind, in the order controls list them.
    pub const ALL: [LmHead; 3] = [LmHead::None, LmHead::Tied, LmHead::Untied];

    /// The URL / CLI value.
    pub fn key(self) -> &'static str {
        match self {
            LmHead::None => "none",
            LmHead::Tied => "tied",
            LmHead::Untied => "untied",
        }
    }

    /// The kind of a URL / CLI value.
    pub fn from_key(key: &str) -> Option<LmHead> {
        LmHead::ALL.into_iter().find(|h| h.key() == key)
    }
}

/// A Transformer's configuration: what its parameter count depends on. The
/// field names follow the URL parameters and CLI flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Architecture {
    /// Vocabulary size V.
    pub vocab: u64,
    /// Rows of the learned position table P (0: none, e.g. rotary).
    pub positions: u64,
    /// Rows of the token-type (segment) table T (0: none).
    pub type_vocab: u64,
    /// Hidden width H.
    pub hidden: u64,
    /// Layers L.
    pub layers: u64,
    /// Attention heads A (they divide the attention width).
    pub heads: u64,
    /// Feed-forward width F.
    pub ffn: u64,
    /// Embedding width E (0: no factorisation, the tables are H wide).
    pub embedding: u64,
    /// How E reaches H when `embedding > 0`.
    pub embedding_style: EmbeddingStyle,
    /// A norm over the summed embeddings (BERT), or not (GPT-2).
    pub embedding_norm: bool,
    /// A norm after the last layer (pre-LN models: GPT-2, Pythia).
    pub final_norm: bool,
    /// One layer's parameters shared by every layer (ALBERT).
    pub shared_layers: bool,
    /// BERT's pooler: H·H + H over the first token.
    pub pooler: bool,
    /// The output layer over the vocabulary.
    pub lm_head: LmHead,
    /// MobileBERT's bottleneck width b (0: none).
    pub bottleneck: u64,
    /// MobileBERT: queries and keys read one shared H → b bottleneck.
    pub shared_query_key_bottleneck: bool,
    /// Feed-forward networks stacked in each layer (MobileBERT: 4).
    pub ffn_stack: u64,
}

impl Default for Architecture {
    /// BERT-base's configuration ([`presets`]).
    fn default() -> Self {
        Architecture::encoder(30_522, 768, 12, 12, 3072)
    }
}

impl Architecture {
    /// A BERT-style encoder: 512 positions, 2 token types, an embedding
    /// norm and a pooler, no factorisation, sharing or output layer.
    pub const fn encoder(vocab: u64, hidden: u64, layers: u64, heads: u64, ffn: u64) -> Self {
        Architecture {
            vocab,
            positions: 512,
            type_vocab: 2,
            hidden,
            layers,
            heads,
            ffn,
            embedding: 0,
            embedding_style: EmbeddingStyle::Factorised,
            embedding_norm: true,
            final_norm: false,
            shared_layers: false,
            pooler: true,
            lm_head: LmHead::None,
            bottleneck: 0,
            shared_query_key_bottleneck: false,
            ffn_stack: 1,
        }
    }

    /// A GPT-2-style decoder: learned positions, no token types, a final
    /// norm, the output layer tied to the token table.
    pub const fn decoder(vocab: u64, positions: u64, hidden: u64, layers: u64, heads: u64) -> Self {
        Architecture {
            positions,
            type_vocab: 0,
            embedding_norm: false,
            final_norm: true,
            pooler: false,
            lm_head: LmHead::Tied,
            ..Architecture::encoder(vocab, hidden, layers, heads, 4 * hidden)
        }
    }

    /// The width attention runs at: b with a bottleneck, else H.
    pub fn attention_width(&self) -> u64 {
        if self.bottleneck > 0 {
            self.bottleneck
        } else {
            self.hidden
        }
    }

    /// The width of one head (the attention width over A).
    pub fn head_dim(&self) -> u64 {
        self.attention_width() / self.heads.max(1)
    }

    /// Why this configuration has no parameter count, if it has none.
    pub fn check(&self) -> Result<(), SizeError> {
        for (name, value) in [
            ("vocab", self.vocab),
            ("hidden", self.hidden),
            ("layers", self.layers),
            ("heads", self.heads),
            ("ffn", self.ffn),
            ("ffn-stack", self.ffn_stack),
        ] {
            if value == 0 {
                return Err(SizeError::Zero(name));
            }
        }
        let width = self.attention_width();
        if !width.is_multiple_of(self.heads) {
            return Err(SizeError::Heads {
                heads: self.heads,
                width,
            });
        }
        Ok(())
    }

    /// The parameter count, part by part.
    pub fn count(&self) -> ParamCount {
        self.count_pruned(Pruning::NONE)
    }

    /// The parameter count after structured pruning: whole heads (their
    /// columns of Q, K, V and rows of O) and feed-forward units (a column of
    /// the first matrix, its bias, and a row of the second) removed.
    pub fn count_pruned(&self, pruning: Pruning) -> ParamCount {
        let embeddings = embedding_parts(self);
        let layer = layer_parts(self, pruning);
        let top = top_parts(self);
        ParamCount::assemble(self, embeddings, layer, top)
    }
}

/// Why an architecture has no parameter count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// A size that must be positive is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// The heads do not split the attention width evenly.
    #[error("{heads} heads do not divide the attention width {width}")]
    Heads {
        /// A.
        heads: u64,
        /// H, or the bottleneck b.
        width: u64,
    },
}

/// Parameters split the way quantization treats them: weights in matrices
/// and tables (quantized, one scale per row) and vectors (biases, norms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Entries of weight matrices and embedding tables.
    pub matrix: u64,
    /// Their output rows (one quantization scale each).
    pub rows: u64,
    /// Biases and norm parameters.
    pub vector: u64,
}

impl Tally {
    /// A linear layer `inputs → outputs` (weight `outputs × inputs`), with a
    /// bias or not.
    pub fn linear(inputs: u64, outputs: u64, bias: bool) -> Tally {
        Tally {
            matrix: inputs * outputs,
            rows: outputs,
            vector: if bias { outputs } else { 0 },
        }
    }

    /// An embedding table of `rows` entries of `width`.
    pub fn table(rows: u64, width: u64) -> Tally {
        Tally {
            matrix: rows * width,
            rows,
            vector: 0,
        }
    }

    /// A layer norm (or MobileBERT's NoNorm) over `width`: scale and bias.
    pub fn norm(width: u64) -> Tally {
        Tally {
            vector: 2 * width,
            ..Tally::default()
        }
    }

    /// The parameters.
    pub fn params(&self) -> u64 {
        self.matrix + self.vector
    }

    /// `copies` of this.
    pub fn times(self, copies: u64) -> Tally {
        Tally {
            matrix: self.matrix * copies,
            rows: self.rows * copies,
            vector: self.vector * copies,
        }
    }
}

impl Add for Tally {
    type Output = Tally;
    fn add(self, other: Tally) -> Tally {
        Tally {
            matrix: self.matrix + other.matrix,
            rows: self.rows + other.rows,
            vector: self.vector + other.vector,
        }
    }
}

impl AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        *self = *self + other;
    }
}

impl std::iter::Sum for Tally {
    fn sum<I: Iterator<Item = Tally>>(iter: I) -> Tally {
        iter.fold(Tally::default(), Add::add)
    }
}

/// One part of a model: what it is, its parameters and the formula with
/// the configuration's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Stable key (`"token-embedding"`, `"attention"`, …).
    pub key: String,
    /// What a reader sees (`"token embedding V·H"`).
    pub label: String,
    /// Its parameters (one copy).
    pub params: u64,
    /// The formula, with numbers (`"30522·768"`).
    pub formula: String,
    /// How they split for quantization.
    pub tally: Tally,
    /// Part of the embedding tables (token, position, type) or an untied
    /// output table: what "non-embedding" counts leave out.
    #[serde(default)]
    pub embedding_table: bool,
}

impl Part {
    fn new(key: &str, label: impl Into<String>, tally: Tally, formula: impl Into<String>) -> Part {
        Part {
            key: key.into(),
            label: label.into(),
            params: tally.params(),
            formula: formula.into(),
            tally,
            embedding_table: false,
        }
    }

    fn table(mut self) -> Part {
        self.embedding_table = true;
        self
    }
}

/// Structured pruning: how many heads and feed-forward units each layer
/// loses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pruning {
    /// Heads removed from every layer.
    pub heads_removed: u64,
    /// Feed-forward units removed from every (stacked) feed-forward network.
    pub ffn_removed: u64,
}

impl Pruning {
    /// Nothing removed.
    pub const NONE: Pruning = Pruning {
        heads_removed: 0,
        ffn_removed: 0,
    };

    /// Fractions of the heads and of the feed-forward width removed, each
    /// rounded to whole heads and units, at least one of each kept.
    pub fn fractions(arch: &Architecture, heads: f64, ffn: f64) -> Pruning {
        let removed = |total: u64, fraction: f64| {
            let f = if fraction.is_finite() {
                fraction.clamp(0.0, 1.0)
            } else {
                0.0
            };
            ((total as f64 * f).round() as u64).min(total.saturating_sub(1))
        };
        Pruning {
            heads_removed: removed(arch.heads, heads),
            ffn_removed: removed(arch.ffn, ffn),
        }
    }
}

/// The embedding tables, their norm and the projection to H.
fn embedding_parts(a: &Architecture) -> Vec<Part> {
    let h = a.hidden;
    let e = a.embedding;
    let (token_width, side_width) = match (e, a.embedding_style) {
        (0, _) => (h, h),
        (_, EmbeddingStyle::Factorised) => (e, e),
        (_, EmbeddingStyle::Trigram) => (e, h),
    };
    let mut parts = vec![
        Part::new(
            "token-embedding",
            "token embedding V·w",
            Tally::table(a.vocab, token_width),
            format!("{}·{token_width}", a.vocab),
        )
        .table(),
    ];
    if a.positions > 0 {
        parts.push(
            Part::new(
                "position-embedding",
                "position embedding P·w",
                Tally::table(a.positions, side_width),
                format!("{}·{side_width}", a.positions),
            )
            .table(),
        );
    }
    if a.type_vocab > 0 {
        parts.push(
            Part::new(
                "type-embedding",
                "token-type embedding T·w",
                Tally::table(a.type_vocab, side_width),
                format!("{}·{side_width}", a.type_vocab),
            )
            .table(),
        );
    }
    if a.embedding_norm {
        parts.push(Part::new(
            "embedding-norm",
            "embedding norm",
            Tally::norm(side_width),
            format!("2·{side_width}"),
        ));
    }
    if e > 0 {
        parts.push(embedding_projection(a));
    }
    parts
}

/// ALBERT's E → H or MobileBERT's trigram 3E → H.
fn embedding_projection(a: &Architecture) -> Part {
    let (h, e) = (a.hidden, a.embedding);
    match a.embedding_style {
        EmbeddingStyle::Factorised => Part::new(
            "embedding-projection",
            "projection E → H",
            Tally::linear(e, h, true),
            format!("{e}·{h} + {h}"),
        ),
        EmbeddingStyle::Trigram => Part::new(
            "embedding-projection",
            "trigram projection 3E → H",
            Tally::linear(3 * e, h, true),
            format!("3·{e}·{h} + {h}"),
        ),
    }
}

/// One layer's parts after `pruning`.
fn layer_parts(a: &Architecture, pruning: Pruning) -> Vec<Part> {
    let (h, w, b) = (a.hidden, a.attention_width(), a.bottleneck);
    let kept = a.heads.saturating_sub(pruning.heads_removed).max(1) * a.head_dim();
    let f = a.ffn.saturating_sub(pruning.ffn_removed).max(1);
    let query_in = if b > 0 && a.shared_query_key_bottleneck {
        b
    } else {
        h
    };
    let mut parts = Vec::new();
    if b > 0 {
        parts.push(bottleneck_in(
            "bottleneck-input",
            "input bottleneck H → b",
            h,
            b,
        ));
        if a.shared_query_key_bottleneck {
            parts.push(bottleneck_in(
                "bottleneck-query-key",
                "query/key bottleneck H → b",
                h,
                b,
            ));
        }
    }
    let attention = Tally::linear(query_in, kept, true).times(2)
        + Tally::linear(h, kept, true)
        + Tally::linear(kept, w, true);
    parts.push(Part::new(
        "attention",
        "attention Q, K, V, O with biases",
        attention,
        format!("2·({query_in}·{kept} + {kept}) + {h}·{kept} + {kept} + {kept}·{w} + {w}"),
    ));
    parts.push(Part::new(
        "attention-norm",
        "attention norm",
        Tally::norm(w),
        format!("2·{w}"),
    ));
    let stack = a.ffn_stack.max(1);
    let ffn = (Tally::linear(w, f, true) + Tally::linear(f, w, true) + Tally::norm(w)).times(stack);
    let times = if stack > 1 {
        format!("{stack}·")
    } else {
        String::new()
    };
    parts.push(Part::new(
        "feed-forward",
        "feed-forward (two matrices with biases) and its norm",
        ffn,
        format!("{times}({w}·{f} + {f} + {f}·{w} + {w} + 2·{w})"),
    ));
    if b > 0 {
        parts.push(Part::new(
            "bottleneck-output",
            "output bottleneck b → H and its norm",
            Tally::linear(b, h, true) + Tally::norm(h),
            format!("{b}·{h} + {h} + 2·{h}"),
        ));
    }
    parts
}

fn bottleneck_in(key: &str, label: &str, h: u64, b: u64) -> Part {
    Part::new(
        key,
        label,
        Tally::linear(h, b, true) + Tally::norm(b),
        format!("{h}·{b} + {b} + 2·{b}"),
    )
}

/// The final norm, the pooler and the output layer.
fn top_parts(a: &Architecture) -> Vec<Part> {
    let h = a.hidden;
    let mut parts = Vec::new();
    if a.final_norm {
        parts.push(Part::new(
            "final-norm",
            "final norm",
            Tally::norm(h),
            format!("2·{h}"),
        ));
    }
    if a.pooler {
        parts.push(Part::new(
            "pooler",
            "pooler H·H + H",
            Tally::linear(h, h, true),
            format!("{h}·{h} + {h}"),
        ));
    }
    match a.lm_head {
        LmHead::None => {}
        LmHead::Tied => parts.push(Part::new(
            "lm-head",
            "output layer, tied to the token embedding (stored once)",
            Tally::default(),
            "0",
        )),
        LmHead::Untied => parts.push(
            Part::new(
                "lm-head",
                "output layer V·H (untied, no bias)",
                Tally::table(a.vocab, h),
                format!("{}·{h}", a.vocab),
            )
            .table(),
        ),
    }
    parts
}

/// A model's parameters, part by part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamCount {
    /// Every parameter stored (shared layers once).
    pub params: u64,
    /// What the model would hold if every layer had its own parameters.
    pub params_unshared: u64,
    /// All but the token, position and type tables and an untied output
    /// table (the N of Kaplan et al. 2020's scaling laws).
    pub params_non_embedding: u64,
    /// The embeddings: tables, their norm, the projection to H.
    pub embeddings: u64,
    /// One layer.
    pub per_layer: u64,
    /// Layers whose parameters are stored (1 when shared, else L).
    pub layers_stored: u64,
    /// The stored layers' parameters.
    pub layers: u64,
    /// The final norm, pooler and output layer.
    pub top: u64,
    /// The embedding parts.
    pub embedding_parts: Vec<Part>,
    /// One layer's parts.
    pub layer_parts: Vec<Part>,
    /// The final norm, pooler and output layer.
    pub top_parts: Vec<Part>,
    /// The whole stored model as quantization sees it.
    pub tally: Tally,
}

impl ParamCount {
    fn assemble(a: &Architecture, embedding: Vec<Part>, layer: Vec<Part>, top: Vec<Part>) -> Self {
        let sum = |parts: &[Part]| parts.iter().map(|p| p.tally).sum::<Tally>();
        let (e, l, t) = (sum(&embedding), sum(&layer), sum(&top));
        let stored = if a.shared_layers { 1 } else { a.layers };
        let tally = e + l.times(stored) + t;
        let tables: u64 = embedding
            .iter()
            .chain(&top)
            .filter(|p| p.embedding_table)
            .map(|p| p.params)
            .sum();
        ParamCount {
            params: tally.params(),
            params_unshared: e.params() + l.params() * a.layers + t.params(),
            params_non_embedding: tally.params() - tables,
            embeddings: e.params(),
            per_layer: l.params(),
            layers_stored: stored,
            layers: l.params() * stored,
            top: t.params(),
            embedding_parts: embedding,
            layer_parts: layer,
            top_parts: top,
            tally,
        }
    }

    /// The size at `precision`.
    pub fn size_at(&self, precision: Precision) -> SizeAt {
        SizeAt::of(self.tally, precision)
    }

    /// The sizes at every precision, fp32 first.
    pub fn sizes(&self) -> Vec<SizeAt> {
        Precision::ALL.iter().map(|&p| self.size_at(p)).collect()
    }
}

/// A number format the weights are stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// IEEE single precision.
    Fp32,
    /// IEEE half precision.
    Fp16,
    /// 8-bit integers, per-channel fp16 scales.
    Int8,
    /// 4-bit integers, per-channel fp16 scales.
    Int4,
    /// 1 bit (the sign), one fp16 α per row.
    Binary,
}

impl Precision {
    /// Every precision, widest first.
    pub const ALL: [Precision; 5] = [
        Precision::Fp32,
        Precision::Fp16,
        Precision::Int8,
        Precision::Int4,
        Precision::Binary,
    ];

    /// The URL / CLI / JSON value.
    pub fn key(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Int8 => "int8",
            Precision::Int4 => "int4",
            Precision::Binary => "binary",
        }
    }

    /// What a reader sees.
    pub fn label(self) -> &'static str {
        match self {
            Precision::Fp32 => "FP32",
            Precision::Fp16 => "FP16",
            Precision::Int8 => "INT8",
            Precision::Int4 => "INT4",
            Precision::Binary => "Binary",
        }
    }

    /// The precision of a key.
    pub fn from_key(key: &str) -> Option<Precision> {
        Precision::ALL.into_iter().find(|p| p.key() == key)
    }

    /// The precision of a bit width (32, 16, 8, 4, 1).
    pub fn from_bits(bits: u32) -> Option<Precision> {
        Precision::ALL.into_iter().find(|p| p.bits() == bits)
    }

    /// Bits per weight.
    pub fn bits(self) -> u32 {
        match self {
            Precision::Fp32 => 32,
            Precision::Fp16 => 16,
            Precision::Int8 => 8,
            Precision::Int4 => 4,
            Precision::Binary => 1,
        }
    }

    /// Whether weights carry scales (the integer and binary formats).
    pub fn quantized(self) -> bool {
        self.bits() < 16
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A model's size at one precision, with what it counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SizeAt {
    /// The format.
    pub precision: Precision,
    /// Bits per weight of the matrices.
    pub bits: u32,
    /// Everything: weights, scales, vectors.
    pub bytes: u64,
    /// The matrices' weights (packed).
    pub bytes_weights: u64,
    /// The scales: one fp16 per output row (0 for fp32 and fp16).
    pub bytes_scales: u64,
    /// Biases and norms (fp16 in quantized models).
    pub bytes_vectors: u64,
    /// `8 · bytes / params`: the bits each parameter really costs.
    pub bits_per_param: f64,
    /// fp32 bytes over these bytes.
    pub compression: f64,
    /// 32 / bits: what the survey's table says ("INT8 4×, Binary 32×").
    pub nominal_compression: f64,
}

impl SizeAt {
    /// The size of `tally` at `precision` (see the module's "Sizes").
    pub fn of(tally: Tally, precision: Precision) -> SizeAt {
        let bits = precision.bits();
        let (weights, scales, vectors) = if precision.quantized() {
            (
                (tally.matrix * bits as u64).div_ceil(8),
                tally.rows * SCALE_BYTES,
                tally.vector * QUANTIZED_VECTOR_BYTES,
            )
        } else {
            let bytes = bits as u64 / 8;
            (tally.matrix * bytes, 0, tally.vector * bytes)
        };
        let bytes = weights + scales + vectors;
        let params = tally.params();
        let ratio = |num: u64, den: u64| {
            if den == 0 {
                0.0
            } else {
                num as f64 / den as f64
            }
        };
        SizeAt {
            precision,
            bits,
            bytes,
            bytes_weights: weights,
            bytes_scales: scales,
            bytes_vectors: vectors,
            bits_per_param: 8.0 * ratio(bytes, params),
            compression: ratio(4 * params, bytes),
            nominal_compression: 32.0 / bits as f64,
        }
    }

    /// The fp32-equivalent parameter count: bytes / 4.
    pub fn effective_params(&self) -> f64 {
        self.bytes as f64 / 4.0
    }
}

/// What the size JSON says the quantized sizes count.
pub const QUANTIZED_LAYOUT: &str = "int8, int4, binary: weight matrices and embedding tables at \
     8, 4 or 1 bit(s), packed, plus one fp16 scale per output row (symmetric per-channel; binary \
     keeps alpha = mean |w| of the row); biases and norm parameters at fp16";

#[cfg(test)]
mod tests {
    use super::*;

    fn bert_base() -> Architecture {
        Architecture::default()
    }

    #[test]
    fn a_plain_layer_is_4h2_plus_2hf_plus_f_plus_9h() {
        for (h, f) in [(768u64, 3072u64), (312, 1200), (64, 100), (1, 1)] {
            let a = Architecture {
                hidden: h,
                ffn: f,
                heads: 1,
                ..bert_base()
            };
            assert_eq!(
                a.count().per_layer,
                4 * h * h + 2 * h * f + f + 9 * h,
                "H={h} F={f}"
            );
        }
    }

    #[test]
    fn bert_base_part_by_part() {
        let c = bert_base().count();
        // 30522·768 + 512·768 + 2·768 + 2·768
        assert_eq!(c.embeddings, 23_837_184);
        assert_eq!(c.per_layer, 7_087_872);
        assert_eq!(c.layers, 12 * 7_087_872);
        assert_eq!(c.top, 768 * 768 + 768);
        assert_eq!(c.params, 109_482_240);
        assert_eq!(c.params, c.params_unshared);
        assert_eq!(
            c.params_non_embedding,
            109_482_240 - (30_522 + 512 + 2) * 768
        );
        let parts: u64 = c
            .embedding_parts
            .iter()
            .chain(&c.top_parts)
            .map(|p| p.params)
            .sum::<u64>()
            + c.layer_parts.iter().map(|p| p.params).sum::<u64>() * 12;
        assert_eq!(parts, c.params);
    }

    #[test]
    fn sharing_stores_one_layer() {
        let unshared = bert_base().count();
        let shared = Architecture {
            shared_layers: true,
            ..bert_base()
        }
        .count();
        assert_eq!(shared.layers_stored, 1);
        assert_eq!(shared.params, unshared.params - 11 * unshared.per_layer);
        assert_eq!(shared.params_unshared, unshared.params);
    }

    #[test]
    fn factorisation_replaces_v_h_by_v_e_plus_e_h() {
        // The survey's example: 30K × 768 = 23M → 30K × 128 + 128 × 768 = 4M.
        let plain = Architecture {
            vocab: 30_000,
            positions: 0,
            type_vocab: 0,
            embedding_norm: false,
            ..bert_base()
        };
        let factorised = Architecture {
            embedding: 128,
            ..plain
        };
        assert_eq!(plain.count().embeddings, 30_000 * 768);
        assert_eq!(
            factorised.count().embeddings,
            30_000 * 128 + 128 * 768 + 768
        );
        let ratio = plain.count().embeddings as f64 / factorised.count().embeddings as f64;
        assert!((5.8..6.0).contains(&ratio), "{ratio}");
    }

    #[test]
    fn pruning_removes_head_columns_and_ffn_units() {
        let a = bert_base();
        let full = a.count();
        let pruning = Pruning::fractions(&a, 0.25, 0.5);
        assert_eq!(
            pruning,
            Pruning {
                heads_removed: 3,
                ffn_removed: 1536
            }
        );
        let pruned = a.count_pruned(pruning);
        let d = 64;
        // Each removed head: d columns of Q, K, V (weights and biases), d rows of O.
        let per_head = 3 * (768 * d + d) + d * 768;
        let per_unit = 768 + 1 + 768;
        assert_eq!(
            full.per_layer - pruned.per_layer,
            3 * per_head + 1536 * per_unit
        );
        assert_eq!(pruned.embeddings, full.embeddings);
        // At least one head and one unit stay.
        let all = Pruning::fractions(&a, 1.0, 1.0);
        assert_eq!(
            all,
            Pruning {
                heads_removed: 11,
                ffn_removed: 3071
            }
        );
        assert_eq!(Pruning::fractions(&a, f64::NAN, -1.0), Pruning::NONE);
    }

    #[test]
    fn sizes_count_scales_and_vectors() {
        let c = bert_base().count();
        let t = c.tally;
        let fp32 = c.size_at(Precision::Fp32);
        assert_eq!(fp32.bytes, 4 * c.params);
        assert_eq!(c.size_at(Precision::Fp16).bytes, 2 * c.params);
        let int8 = c.size_at(Precision::Int8);
        assert_eq!(int8.bytes_weights, t.matrix);
        assert_eq!(int8.bytes_scales, 2 * t.rows);
        assert_eq!(int8.bytes_vectors, 2 * t.vector);
        assert_eq!(int8.bytes, t.matrix + 2 * t.rows + 2 * t.vector);
        let int4 = c.size_at(Precision::Int4);
        assert_eq!(int4.bytes_weights, t.matrix.div_ceil(2));
        let binary = c.size_at(Precision::Binary);
        assert_eq!(binary.bytes_weights, t.matrix.div_ceil(8));
        // Overheads make every quantized model less compressed than nominal.
        for s in [int8, int4, binary] {
            assert!(s.compression < s.nominal_compression, "{s:?}");
            assert!(s.compression > 0.75 * s.nominal_compression, "{s:?}");
        }
        assert!((fp32.bits_per_param - 32.0).abs() < 1e-12);
    }

    #[test]
    fn bad_configurations_are_refused_not_panicked_on() {
        let a = Architecture {
            heads: 7,
            ..bert_base()
        };
        assert_eq!(
            a.check(),
            Err(SizeError::Heads {
                heads: 7,
                width: 768
            })
        );
        let zero = Architecture {
            heads: 0,
            layers: 0,
            ..bert_base()
        };
        assert_eq!(zero.check(), Err(SizeError::Zero("layers")));
        let _ = zero.count(); // no division by zero
        assert_eq!(bert_base().check(), Ok(()));
    }
}
