//! The model-size lab end to end: every preset's computed count against
//! the counts its paper, repository or model card publishes (each within
//! the tolerance the preset states) and against an independent count
//! written module by module like the reference implementations; the
//! sharing, factorisation and quantized-size arithmetic; the Combining
//! Techniques calculator on the survey's example; the settings round trip;
//! and `flt size` (model names, a custom configuration, JSON keys, bad
//! flags exiting with status 2).

use std::process::{Command, Output};

use flt_explorer::compress::size::presets::{PRESETS, PYTHIA_NON_EMBEDDING, keys};
use flt_explorer::compress::size::{
    Architecture, Check, Combination, EmbeddingStyle, LmHead, Precision, Pruning, combine, preset,
    survey_claims,
};
use flt_explorer::pipeline::Backend;
use flt_explorer::pipeline::model_size::run;
use flt_explorer::settings::model_size::ModelSizeSettings;
use serde_json::Value;

// ---------------------------------------------------------------------------
// An independent count, written the way the reference implementations build
// their modules (Hugging Face's BertModel, GPT2Model, GPTNeoXModel,
// AlbertModel, MobileBertModel), not through the library's formula.

fn linear(inputs: u64, outputs: u64) -> u64 {
    inputs * outputs + outputs
}

fn norm(width: u64) -> u64 {
    2 * width
}

/// BertModel / RobertaModel / DistilBertModel / AlbertModel.
fn bert_like(a: &Architecture) -> u64 {
    let (h, f) = (a.hidden, a.ffn);
    let w = if a.embedding > 0 { a.embedding } else { h };
    let mut embeddings = (a.vocab + a.positions + a.type_vocab) * w + norm(w);
    if a.embedding > 0 {
        embeddings += linear(w, h); // AlbertModel.encoder.embedding_hidden_mapping_in
    }
    let attention = 4 * linear(h, h) + norm(h); // query, key, value, output.dense, output.LayerNorm
    let ffn = linear(h, f) + linear(f, h) + norm(h); // intermediate, output.dense, output.LayerNorm
    let stored = if a.shared_layers { 1 } else { a.layers };
    let pooler = if a.pooler { linear(h, h) } else { 0 };
    embeddings + stored * (attention + ffn) + pooler
}

/// GPT2Model (tied) and GPTNeoXForCausalLM (untied, rotary).
fn decoder_like(a: &Architecture) -> u64 {
    let h = a.hidden;
    let embeddings = a.vocab * h + a.positions * h;
    let block =
        norm(h) + linear(h, 3 * h) + linear(h, h) + norm(h) + linear(h, 4 * h) + linear(4 * h, h);
    let head = if a.lm_head == LmHead::Untied {
        a.vocab * h
    } else {
        0
    };
    embeddings + a.layers * block + norm(h) + head
}

/// MobileBertModel, module by module.
fn mobilebert_like(a: &Architecture) -> u64 {
    let (h, e, b, f) = (a.hidden, a.embedding, a.bottleneck, a.ffn);
    let embeddings = a.vocab * e + linear(3 * e, h) + (a.positions + a.type_vocab) * h + norm(h);
    let bottleneck_layer = linear(h, b) + norm(b); // Bottleneck.input and .attention
    let self_attention = linear(b, b) + linear(b, b) + linear(h, b); // query, key (bottlenecked), value (full)
    let self_output = linear(b, b) + norm(b);
    let intermediate = linear(b, f);
    let output = linear(f, b) + norm(b) + linear(b, h) + norm(h); // dense, LayerNorm, OutputBottleneck
    let ffn_layer = linear(b, f) + linear(f, b) + norm(b); // FFNLayer: intermediate, FFNOutput
    let layer = 2 * bottleneck_layer
        + self_attention
        + self_output
        + intermediate
        + output
        + (a.ffn_stack - 1) * ffn_layer;
    embeddings + a.layers * layer
}

fn independent(key: &str, a: &Architecture) -> u64 {
    if key == "mobilebert" {
        mobilebert_like(a)
    } else if key.starts_with("gpt2") || key.starts_with("pythia") {
        decoder_like(a)
    } else {
        bert_like(a)
    }
}

#[test]
fn one_formula_reproduces_each_preset_and_an_independent_count() {
    for p in PRESETS {
        let c = p.arch.count();
        assert_eq!(c.params, independent(p.key, &p.arch), "{}", p.key);
        let parts: u64 = c
            .embedding_parts
            .iter()
            .chain(&c.top_parts)
            .map(|x| x.params)
            .sum::<u64>()
            + c.layer_parts.iter().map(|x| x.params).sum::<u64>() * c.layers_stored;
        assert_eq!(parts, c.params, "{}: the parts add up", p.key);
        assert_eq!(c.tally.params(), c.params, "{}", p.key);
    }
}

#[test]
fn computed_counts_match_every_published_count_within_its_stated_tolerance() {
    for p in PRESETS {
        let computed = p.arch.count().params;
        for x in p.published {
            let (value, within) = match x.check {
                Check::Within(within) => (computed, within),
                Check::WithVocabulary { vocab, within } => {
                    (Architecture { vocab, ..p.arch }.count().params, within)
                }
                Check::Truncated { unit } => {
                    assert!(
                        (x.params..x.params + unit).contains(&computed),
                        "{}: {computed} does not truncate to {} ({})",
                        p.key,
                        x.params,
                        x.source
                    );
                    continue;
                }
            };
            assert!(
                value.abs_diff(x.params) <= within,
                "{}: computed {value} vs {} published by {} (allowed ±{within}; {})",
                p.key,
                x.params,
                x.source,
                x.note
            );
            assert!(!x.source.is_empty() && !x.note.is_empty(), "{}", p.key);
            // A tolerance is never wider than 6% of the count.
            assert!(
                within as f64 <= 0.06 * x.params as f64,
                "{}: ±{within}",
                p.key
            );
        }
    }
}

#[test]
fn the_counts_of_the_reference_implementations_are_matched_exactly() {
    let mut checked = 0;
    for p in PRESETS {
        if let Some(x) = p.implementation {
            assert_eq!(p.arch.count().params, x, "{}", p.key);
            checked += 1;
        }
    }
    assert!(checked >= 14, "{checked}");
    for (key, n) in PYTHIA_NON_EMBEDDING {
        assert_eq!(
            preset(key).unwrap().arch.count().params_non_embedding,
            n,
            "{key}"
        );
    }
}

#[test]
fn gpt2_paper_counts_are_the_formula_with_gpt1s_vocabulary() {
    // The paper's 117M, 345M, 762M, 1542M are not the released models'
    // counts (124M, 355M, 774M, 1558M); the same formula with 40,478 tokens
    // gives each to the million, and with 50,257 none of them.
    for (key, paper) in [
        ("gpt2", 117),
        ("gpt2-medium", 345),
        ("gpt2-large", 762),
        ("gpt2-xl", 1542),
    ] {
        let a = preset(key).unwrap().arch;
        let with = |vocab| (Architecture { vocab, ..a }.count().params as f64 / 1e6).round() as u64;
        assert_eq!(with(40_478), paper, "{key}");
        assert_ne!(with(a.vocab), paper, "{key}");
    }
}

#[test]
fn sharing_and_factorisation_arithmetic() {
    let albert = preset("albert-base").unwrap().arch;
    let c = albert.count();
    // Embeddings at E = 128 and the projection E → H: V·E + P·E + T·E + 2E + E·H + H.
    assert_eq!(
        c.embeddings,
        (30_000 + 512 + 2) * 128 + 256 + 128 * 768 + 768
    );
    assert_eq!(c.layers_stored, 1);
    assert_eq!(c.params, c.embeddings + c.per_layer + (768 * 768 + 768));
    assert_eq!(c.params_unshared - c.params, 11 * c.per_layer);
    let unshared = Architecture {
        shared_layers: false,
        ..albert
    };
    assert_eq!(unshared.count().params, c.params_unshared);
    // Without factorisation the tables are H wide and the projection goes.
    let plain = Architecture {
        embedding: 0,
        ..albert
    };
    assert_eq!(plain.count().embeddings, (30_000 + 512 + 2) * 768 + 2 * 768);
    // MobileBERT's trigram style keeps positions and types at H.
    let mobile = preset("mobilebert").unwrap().arch;
    assert_eq!(mobile.embedding_style, EmbeddingStyle::Trigram);
    assert_eq!(
        mobile.count().embeddings,
        30_522 * 128 + (3 * 128 * 512 + 512) + (512 + 2) * 512 + 2 * 512
    );
}

#[test]
fn tied_and_untied_output_layers() {
    let gpt2 = preset("gpt2").unwrap().arch;
    let untied = Architecture {
        lm_head: LmHead::Untied,
        ..gpt2
    };
    assert_eq!(untied.count().params - gpt2.count().params, 50_257 * 768);
    let none = Architecture {
        lm_head: LmHead::None,
        ..gpt2
    };
    assert_eq!(none.count().params, gpt2.count().params);
    assert_eq!(
        untied.count().params_non_embedding,
        gpt2.count().params_non_embedding
    );
}

#[test]
fn quantized_sizes_count_scales_and_fp16_vectors() {
    for p in PRESETS {
        let c = p.arch.count();
        let t = c.tally;
        for s in c.sizes() {
            let expected = match s.precision {
                Precision::Fp32 => 4 * c.params,
                Precision::Fp16 => 2 * c.params,
                q => (t.matrix * q.bits() as u64).div_ceil(8) + 2 * t.rows + 2 * t.vector,
            };
            assert_eq!(s.bytes, expected, "{} {}", p.key, s.precision);
            assert!(s.compression <= s.nominal_compression + 1e-12, "{}", p.key);
        }
    }
}

#[test]
fn the_survey_example_340_66_33_8() {
    let named = |k: &str| (preset(k).unwrap().arch, k.to_string());
    let run = |precision| {
        combine(&Combination {
            teacher: named("bert-large"),
            student: Some(named("distilbert")),
            prune_heads: 0.75,
            prune_ffn: 0.8,
            precision,
        })
    };
    let c = run(Precision::Int8);
    let effective: Vec<f64> = c.steps.iter().map(|s| s.effective_params / 1e6).collect();
    // 335.1M → 66.4M → 33.1M → 8.3M: the survey's 340 → 66 → 33 → 8.
    for (got, survey) in effective.iter().zip([340.0, 66.0, 33.0, 8.0]) {
        assert!((got - survey).abs() / survey < 0.04, "{got} vs {survey}");
    }
    // The pruned student is recounted, not scaled: embeddings stay whole.
    let distil = preset("distilbert").unwrap().arch;
    let pruned = distil.count_pruned(Pruning::fractions(&distil, 0.75, 0.8));
    assert_eq!(c.steps[2].params, pruned.params);
    assert_eq!(pruned.embeddings, distil.count().embeddings);
    assert!(
        (40.0..=85.0).contains(&c.total_factor),
        "{}",
        c.total_factor
    );
    let int4 = run(Precision::Int4).total_factor;
    assert!((80.0..=85.0).contains(&int4), "{int4}");
    let claim = survey_claims()
        .into_iter()
        .find(|x| x.claim.contains("40–85×"))
        .unwrap();
    assert_eq!(claim.computed, (c.total_factor, int4));
}

#[test]
fn the_survey_claims_recomputed() {
    let claims = survey_claims();
    let computed = |text: &str| {
        claims
            .iter()
            .find(|c| c.claim.contains(text))
            .unwrap_or_else(|| panic!("no claim {text}"))
            .computed
    };
    let albert = computed("ALBERT: 18×").0;
    assert!((18.9..19.0).contains(&albert), "{albert}");
    let distil = computed("DistilBERT").0;
    assert!((39.0..40.0).contains(&distil), "{distil}");
    let factorisation = computed("Embedding factorisation").0;
    assert!((5.8..5.9).contains(&factorisation), "{factorisation}");
    for c in &claims {
        assert!(
            c.computed.0.is_finite() && c.computed.1.is_finite(),
            "{c:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Settings and the CLI.

#[test]
fn settings_round_trip_through_the_url_and_match_the_cli_flags() {
    for key in keys() {
        let (s, issues) = ModelSizeSettings::from_query(&format!("model={key}"));
        assert!(issues.is_empty(), "{key}: {issues:?}");
        assert_eq!(s.arch, preset(key).unwrap().arch);
        assert_eq!(s.to_query(), format!("model={key}"));
    }
    let query = "model=mobilebert&layers=12&bottleneck=256&ffn-stack=2&precision=binary&teacher=gpt2-xl&student=none&prune-heads=0.5&bits=4";
    let (s, issues) = ModelSizeSettings::from_query(query);
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(s.to_query(), query);
    assert_eq!(ModelSizeSettings::from_query(&s.to_query()).0, s);
}

fn flt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flt"))
        .args(args)
        .output()
        .expect("run flt")
}

fn json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "flt failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON")
}

/// `a` equals `b`: structure, integers and strings exactly, floats to
/// 1e-12 relative (serde_json's default float parser is not correctly
/// rounded: a float printed by `flt` may parse one ulp away).
fn assert_same(a: &Value, b: &Value, path: &str) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{path}"
            );
            for (k, v) in x {
                assert_same(v, &y[k], &format!("{path}.{k}"));
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}");
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                assert_same(u, v, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-12 * y.abs(), "{path}: {x} vs {y}");
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}

fn library(query: &str) -> Value {
    let (s, issues) = ModelSizeSettings::from_query(query);
    assert!(issues.is_empty(), "{issues:?}");
    let mut problem = s.problem();
    problem.combination = None;
    problem.comparison = false;
    serde_json::to_value(run(&problem, &Backend::Cpu { reason: None }).unwrap()).unwrap()
}

#[test]
fn cli_every_model_name_prints_the_library_report() {
    for name in [
        "bert-base",
        "bert-large",
        "distilbert",
        "tinybert-4",
        "mobilebert",
        "albert-base",
        "albert-large",
        "albert-xxlarge",
        "gpt2",
        "gpt2-medium",
    ] {
        let m = json(&flt(&["size", "--model", name, "--json"]));
        for key in [
            "params",
            "bytes_fp32",
            "bytes_fp16",
            "bytes_int8",
            "bytes_int4",
            "bytes_binary",
        ] {
            assert!(m[key].is_u64(), "{name}: {key}");
        }
        assert_eq!(
            m["params"],
            preset(name).unwrap().arch.count().params,
            "{name}"
        );
        assert_same(&m, &library(&format!("model={name}")), name);
        assert!(m.get("comparison").is_none() && m.get("combination").is_none());
    }
}

#[test]
fn cli_custom_configuration_and_readable_output() {
    let args = [
        "size",
        "--layers",
        "6",
        "--hidden",
        "512",
        "--heads",
        "8",
        "--ffn",
        "2048",
        "--vocab",
        "32000",
        "--embedding",
        "128",
        "--shared-layers",
    ];
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let m = json(&flt(&with_json));
    let expected = Architecture {
        layers: 6,
        hidden: 512,
        heads: 8,
        ffn: 2048,
        vocab: 32_000,
        embedding: 128,
        shared_layers: true,
        ..Architecture::default()
    };
    assert_eq!(m["params"], expected.count().params);
    assert_eq!(m["model"], "custom");
    assert_same(
        &m,
        &library(
            "layers=6&hidden=512&heads=8&ffn=2048&vocab=32000&embedding=128&shared-layers=true",
        ),
        "custom",
    );
    let out = flt(&args);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "embeddings",
        "per layer",
        "pooler H·H + H",
        "projection E → H",
        "one layer stored",
        "INT4",
    ] {
        assert!(text.contains(line), "missing «{line}» in\n{text}");
    }
    // --shared-layers false turns a preset's sharing off.
    let m = json(&flt(&[
        "size",
        "--model",
        "albert-base",
        "--shared-layers",
        "false",
        "--json",
    ]));
    assert_eq!(m["params"], m["params_unshared"]);
    assert_eq!(m["config"]["shared_layers"], false);
}

#[test]
fn cli_calculator_and_comparison() {
    let m = json(&flt(&[
        "size",
        "--model",
        "gpt2",
        "--teacher",
        "bert-large",
        "--bits",
        "4",
        "--json",
    ]));
    let total = m["combination"]["total_factor"].as_f64().unwrap();
    assert!((80.0..81.0).contains(&total), "{total}");
    let out = flt(&["size", "--compare"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for key in keys() {
        assert!(text.contains(key), "{key}");
    }
    assert!(text.contains("ALBERT: 18× smaller"));
}

#[test]
fn cli_bad_flags_exit_2_with_a_message() {
    for (args, expected) in [
        (
            vec!["size", "--model", "gpt5"],
            "is not a known model (known: bert-base",
        ),
        (
            vec!["size", "--layers", "0"],
            "layers=0 is below the minimum 1",
        ),
        (
            vec!["size", "--hidden", "wide"],
            "hidden=wide is not a number",
        ),
        (
            vec!["size", "--heads", "7"],
            "heads=7 does not divide the attention width 768",
        ),
        (
            vec!["size", "--model", "gpt2", "--lm-head", "sideways"],
            "is not none, tied or untied",
        ),
        (
            vec!["size", "--model", "gpt2", "--bits", "3"],
            "bits=3 is not 32, 16, 8, 4 or 1",
        ),
        (
            vec!["size", "--model", "gpt2", "--prune-heads", "1.5"],
            "above the maximum 0.95",
        ),
        (vec!["size"], "flt size needs --model NAME"),
        (vec!["size", "--bogus"], "unexpected argument '--bogus'"),
        (
            vec!["size", "--layers"],
            "a value is required for '--layers <N>'",
        ),
    ] {
        let out = flt(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
