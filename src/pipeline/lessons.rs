//! The guided path for teaching (`/lessons`): the survey read in order —
//! the quadratic bottleneck ("Understanding the Bottleneck"), sparse
//! patterns, low rank, kernels ("Efficient Attention Mechanisms"), memory
//! ("Memory-based Architectures"), quantization and model size ("General
//! Approaches", "Combining Techniques") and the comparison — each step a
//! short text, the claim to test, and one live run preset by its address
//! (a lab's route and URL query). The learner changes a knob of that run
//! and sees the claim hold or break.
//!
//! Plain data: the page (`ui/pages/lessons`) renders it and mounts the
//! preset's lab; `tests/lessons.rs` parses every preset through its lab's
//! settings parser and asserts no issue, and the tests below check that
//! every preset's route is a lab of [`LABS`].

use super::labs::LABS;

/// One step of the lessons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lesson {
    /// Stable key (test ids, anchors).
    pub key: &'static str,
    /// Its title.
    pub title: &'static str,
    /// What the survey says, in 3–6 sentences of its terms.
    pub text: &'static [&'static str],
    /// The claim the live run tests.
    pub claim: &'static str,
    /// What to change to test it (the knob and the value).
    pub try_this: &'static str,
    /// The preset run: a lab's route (`"/attention"`), one of [`LABS`].
    pub route: &'static str,
    /// The preset run's URL query, without `?`, as the lab's own page
    /// writes it (so the page runs it without a settings issue).
    pub query: &'static str,
}

impl Lesson {
    /// The preset as an address (`/attention?method=full&…`).
    pub fn preset(&self) -> String {
        format!("{}?{}", self.route, self.query)
    }

    /// The family of the lab that runs the preset, if its route is a lab's.
    pub fn family(&self) -> Option<&'static str> {
        LABS.iter()
            .find(|lab| lab.route == self.route)
            .map(|lab| lab.family)
    }
}

/// The lessons' own route.
pub const LESSONS_ROUTE: &str = "/lessons";

/// The path segment after the step that opens the presenter layout
/// (`/lessons/3/presenter`).
pub const PRESENTER_SEGMENT: &str = "presenter";

/// Where the address puts the lessons: the step (0-based) and whether the
/// presenter layout is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LessonPlace {
    /// The step, 0-based.
    pub step: usize,
    /// The presenter layout.
    pub presenter: bool,
}

impl LessonPlace {
    /// The address of this place (`/lessons/3` or `/lessons/3/presenter`;
    /// steps are counted from 1 in the address).
    pub fn path(&self) -> String {
        let mut path = format!("{LESSONS_ROUTE}/{}", self.step + 1);
        if self.presenter {
            path.push('/');
            path.push_str(PRESENTER_SEGMENT);
        }
        path
    }
}

/// The place named by the part of the address after `/lessons/` (`""`,
/// `"3"`, `"3/presenter"`, `"presenter"`): step 1 when none is given, or a
/// message for a step that does not exist or a segment that means nothing.
pub fn parse_place(rest: &str) -> Result<LessonPlace, String> {
    let mut place = LessonPlace {
        step: 0,
        presenter: false,
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let mut seen_step = false;
    for segment in segments {
        if segment == PRESENTER_SEGMENT && !place.presenter {
            place.presenter = true;
        } else if !seen_step && !place.presenter && segment.chars().all(|c| c.is_ascii_digit()) {
            let step: usize = segment.parse().unwrap_or(0);
            if step == 0 || step > LESSONS.len() {
                return Err(format!(
                    "there is no step {segment}: the lessons have steps 1 to {}",
                    LESSONS.len()
                ));
            }
            place.step = step - 1;
            seen_step = true;
        } else {
            return Err(format!(
                "'{segment}' is not a step of the lessons (1 to {}) or '{PRESENTER_SEGMENT}'",
                LESSONS.len()
            ));
        }
    }
    Ok(place)
}

/// The lessons, in the survey's order.
pub const LESSONS: &[Lesson] = &[
    Lesson {
        key: "bottleneck",
        title: "The quadratic bottleneck",
        text: &[
            "Self-attention computes softmax(QKᵀ/√d)V: every query is compared with every key.",
            "QKᵀ holds n² scores, so exact attention costs O(n²d) time and O(n²) memory when the matrix is materialised.",
            "This is the survey's first key takeaway: the bottleneck is QKᵀ, not the rest of the layer.",
            "The run below is exact attention on this machine, with its FLOPs counted and its time measured.",
        ],
        claim: "Doubling n multiplies the compulsory FLOPs of exact attention by 4.",
        try_this: "Note the compulsory FLOPs, then set n from 128 to 256 and compare.",
        route: "/attention",
        query: "method=full&n=128&d=16&seed=1&backend=cpu",
    },
    Lesson {
        key: "sparse",
        title: "Sparse patterns",
        text: &[
            "Most attention weights are small, so a structured subset of pairs keeps most of the mass.",
            "Longformer attends to a sliding window of w neighbours plus a few global tokens: O(n·w) pairs instead of n², linear in n.",
            "BigBird adds random blocks; Reformer hashes similar queries and keys into buckets, O(n log n).",
            "The price is an approximation error against exact attention, which the run measures beside its baselines.",
        ],
        claim: "A window as wide as the sequence is exact attention; narrower windows trade error for fewer pairs.",
        try_this: "Widen the window until it covers n: the error against exact attention drops to rounding.",
        route: "/attention",
        query: "method=longformer&n=128&d=16&seed=1&backend=cpu&window=8",
    },
    Lesson {
        key: "low-rank",
        title: "Low rank",
        text: &[
            "Attention matrices are approximately low-rank, so n×n can be replaced by thin factors.",
            "Linformer projects keys and values with E, F ∈ ℝ^(k×n): softmax(Q(EK)ᵀ/√d)(FV) costs O(nk) instead of O(n²).",
            "Nyström reconstructs the matrix from a few landmark rows and columns; with n landmarks it is exact.",
            "The smaller k, the cheaper — and the further from exact attention.",
        ],
        claim: "The error against exact attention falls as the projection k grows.",
        try_this: "Raise the projection dimension from 16 to 64 and watch the error and the FLOPs.",
        route: "/attention",
        query: "method=linformer&n=128&d=16&seed=1&backend=cpu&proj-dim=16",
    },
    Lesson {
        key: "kernels",
        title: "Kernels: linear attention",
        text: &[
            "Write softmax(QKᵀ) ≈ φ(Q)φ(K)ᵀ and multiply in the other order: φ(Q)(φ(K)ᵀV).",
            "φ(K)ᵀV is a small p×d matrix computed once for all queries, so the cost is O(npd), linear in n.",
            "The Linear Transformer uses φ(x) = elu(x)+1, the Performer random features, CosFormer a cosine reweighting.",
            "Linear in n does not mean faster at every n: the sweep fits each method's exponent and finds where it overtakes exact attention.",
        ],
        claim: "Exact attention's time grows about as n², linear attention's about as n: the fitted exponents differ by about one.",
        try_this: "Run the sweep, read the fitted exponents, then raise n-max to 2048 and run it again.",
        route: "/scaling",
        query: "methods=full,linear&d=16&n-min=64&n-max=512&backend=cpu",
    },
    Lesson {
        key: "memory",
        title: "Memory",
        text: &[
            "For very long sequences, process segments in turn and attend to a memory of earlier ones.",
            "Transformer-XL keeps the previous segment's states in a FIFO memory that the current segment attends to, without gradient: about 4× the effective context.",
            "The Compressive Transformer compresses older memories (pooling, convolution, most-attended) for an even longer range.",
            "Each query sees its segment and the memory, not the whole sequence: cost grows with n times the segment and memory, not n².",
        ],
        claim: "A longer memory lets each query reach further back, at a cost that grows with the memory, not with n².",
        try_this: "Change the memory length and see the effective context and the FLOPs follow it.",
        route: "/attention",
        query: "method=transformer-xl&n=128&d=16&seed=1&backend=cpu",
    },
    Lesson {
        key: "quantization",
        title: "Quantization",
        text: &[
            "Quantization stores numbers with fewer bits: Q(x) = round(x/s) + z, and x̂ = s(Q(x) − z) reads them back.",
            "FP16 halves the size, INT8 makes it 4× smaller, INT4 8×, binary 32×.",
            "Each bit removed costs about 6.02 dB of signal-to-quantization-noise ratio for a uniform quantizer.",
            "Post-training quantization (PTQ) needs no retraining; quantization-aware training (QAT) recovers accuracy at low bit widths.",
        ],
        claim: "Every bit added gains about 6 dB of SQNR.",
        try_this: "Step the bit width from 4 to 8: the SQNR should climb about 6 dB per bit.",
        route: "/compression/quantization",
        query: "bits=4&rows=64&cols=64&backend=cpu",
    },
    Lesson {
        key: "model-size",
        title: "Model size",
        text: &[
            "Storage is the third bottleneck: models hold hundreds of millions to billions of parameters.",
            "ALBERT shares one layer's weights across all layers and factorises the embedding V×H into V×E + E×H: 18× fewer parameters than BERT-large.",
            "Distillation (340M → 66M), structured pruning (66M → 33M) and INT8 (33M → 8M effective) combine to 40–85× compression.",
            "The sizes below are counted from each architecture's configuration, not typed in.",
        ],
        claim: "Sharing the layers divides the encoder's parameters by the number of layers.",
        try_this: "Switch the model from BERT-base to ALBERT-base, then change the precision to int8.",
        route: "/compression/model-size",
        query: "model=bert-base",
    },
    Lesson {
        key: "comparison",
        title: "Putting it together",
        text: &[
            "The survey's summary table gives each method's time and space: O(n²d) for the standard Transformer, O(n) for Longformer and BigBird, O(n log n) for Reformer, O(nk) for Linformer, O(npd) for the Performer.",
            "Complexity is not speed: constants, memory traffic and the GPU decide which one wins at a given n.",
            "The comparison runs every method at one n and d on this machine, beside the survey's table.",
        ],
        claim: "At short sequences exact attention is competitive; the efficient methods pay off as n grows.",
        try_this: "Run the comparison at n = 64, then at n = 512, and compare the time column.",
        route: "/compare",
        query: "n=64&d=8&backend=cpu",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lesson_runs_in_a_lab_and_says_enough() {
        assert!(LESSONS.len() >= 7);
        for (i, lesson) in LESSONS.iter().enumerate() {
            assert!(
                lesson.family().is_some(),
                "{}: {} is no lab's route",
                lesson.key,
                lesson.route
            );
            assert_ne!(lesson.route, LESSONS_ROUTE, "a lesson cannot embed itself");
            assert!(
                (3..=6).contains(&lesson.text.len()),
                "{}: {} sentences",
                lesson.key,
                lesson.text.len()
            );
            assert!(!lesson.claim.is_empty() && !lesson.try_this.is_empty());
            assert!(!lesson.query.starts_with('?'), "{}", lesson.key);
            assert!(
                LESSONS[..i].iter().all(|other| other.key != lesson.key),
                "{} twice",
                lesson.key
            );
        }
        assert!(LABS.iter().any(|lab| lab.route == LESSONS_ROUTE));
    }

    #[test]
    fn places_round_trip_and_bad_ones_say_why() {
        for step in 0..LESSONS.len() {
            for presenter in [false, true] {
                let place = LessonPlace { step, presenter };
                let path = place.path();
                let rest = path.strip_prefix("/lessons/").unwrap();
                assert_eq!(parse_place(rest), Ok(place), "{path}");
            }
        }
        assert_eq!(parse_place("").unwrap().step, 0);
        assert!(parse_place("presenter").unwrap().presenter);
        assert!(parse_place("0").unwrap_err().contains("no step 0"));
        let last = LESSONS.len() + 1;
        assert!(
            parse_place(&last.to_string())
                .unwrap_err()
                .contains("no step")
        );
        assert!(
            parse_place("3/elsewhere")
                .unwrap_err()
                .contains("'elsewhere'")
        );
        assert!(parse_place("presenter/3").is_err());
        assert!(parse_place("3/3").is_err());
        assert!(parse_place("99999999999999999999999").is_err());
    }
}
