//! The survey's map of efficiency methods (its overview taxonomy:
//! "Taxonomy of Efficiency Methods", "General Approaches", "Efficient
//! Attention Mechanisms", "Memory-based Architectures"), as the app's home:
//! every approach with what runs it here — the attention methods of a
//! family, read from the registry, or a page of the app — or, honestly,
//! that it is still to come. No link points anywhere that does not render.

use crate::attention::{MethodId, MethodInfo};

use super::labs::LABS;

/// What runs an approach in the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// Every registered attention method of this family (its `family`).
    Family(&'static str),
    /// A page of the app, and what it shows of the approach.
    Page {
        /// The page's route (a lab's).
        route: &'static str,
        /// What the page shows of it.
        what: &'static str,
    },
    /// Nothing yet: why.
    ToCome(&'static str),
}

/// One approach of the taxonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Approach {
    /// Stable key (test ids).
    pub key: &'static str,
    /// Its name as the survey writes it.
    pub title: &'static str,
    /// What it does, in the survey's words.
    pub summary: &'static str,
    /// What runs it here.
    pub runs: &'static [Runs],
}

/// A branch of the taxonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Branch {
    /// Its name.
    pub title: &'static str,
    /// What unites its approaches.
    pub summary: &'static str,
    /// Its approaches.
    pub approaches: &'static [Approach],
}

/// The survey's taxonomy.
pub const TAXONOMY: &[Branch] = &[
    Branch {
        title: "Efficient attention mechanisms",
        summary: "Reduce the O(n²) cost of self-attention, the Transformer's bottleneck: QKᵀ compares every pair of positions.",
        approaches: &[
            Approach {
                key: "exact",
                title: "Exact attention (the baseline)",
                summary: "softmax(QKᵀ/√d)V over every pair: O(n²d) time, O(n²) memory when materialised.",
                runs: &[Runs::Family("Exact")],
            },
            Approach {
                key: "sparse",
                title: "Sparse attention",
                summary: "Attend to a structured subset of positions — windows, strides, global tokens, random blocks, or buckets of similar keys.",
                runs: &[Runs::Family("Sparse")],
            },
            Approach {
                key: "low-rank",
                title: "Low-rank factorization",
                summary: "Attention matrices are approximately low-rank: project keys and values to k ≪ n rows, or reconstruct from landmarks.",
                runs: &[Runs::Family("Low-rank")],
            },
            Approach {
                key: "kernel",
                title: "Kernel-based linear attention",
                summary: "Write softmax as φ(Q)φ(K)ᵀ and multiply in the other order: φ(Q)(φ(K)ᵀV) is linear in n.",
                runs: &[Runs::Family("Kernel")],
            },
            Approach {
                key: "memory",
                title: "Memory-based architectures",
                summary: "Process long sequences in segments and attend to a memory of earlier ones, compressed or not, for a longer effective context.",
                runs: &[Runs::Family("Memory")],
            },
        ],
    },
    Branch {
        title: "General approaches",
        summary: "Apply to any neural network, and combine: smaller, cheaper numbers, fewer parameters, less memory.",
        approaches: &[
            Approach {
                key: "distillation",
                title: "Knowledge distillation",
                summary: "Train a small student to match a large teacher: DistilBERT is 40% smaller and keeps 97% of BERT.",
                runs: &[Runs::Page {
                    route: "/compression/model-size",
                    what: "teacher and student sizes, and the distillation step of the Combining Techniques calculator",
                }],
            },
            Approach {
                key: "quantization",
                title: "Quantization",
                summary: "Store and compute with fewer bits: Q(x) = round(x/s) + z, PTQ after training or QAT during it.",
                runs: &[Runs::Page {
                    route: "/compression/quantization",
                    what: "PTQ at every bit width and granularity on the GPU, quantized attention, the int8 product, QAT against PTQ",
                }],
            },
            Approach {
                key: "pruning",
                title: "Pruning",
                summary: "Remove redundant weights, heads or layers; structured pruning gives real speed-ups.",
                runs: &[Runs::Page {
                    route: "/compression/model-size",
                    what: "structured pruning of heads and FFN width, recounted from the configuration in the calculator",
                }],
            },
            Approach {
                key: "weight-sharing",
                title: "Weight sharing",
                summary: "Share parameters across layers and factorise embeddings: ALBERT is 18× smaller than BERT-large.",
                runs: &[Runs::Page {
                    route: "/compression/model-size",
                    what: "ALBERT's cross-layer sharing and embedding factorisation, counted",
                }],
            },
            Approach {
                key: "combining",
                title: "Combining techniques",
                summary: "Distillation, then pruning, then quantization: 40–85× compression.",
                runs: &[Runs::Page {
                    route: "/compression/model-size",
                    what: "the calculator: 340M → 66M → 33M → 8M effective, recounted",
                }],
            },
            Approach {
                key: "comparison",
                title: "Comprehensive comparison",
                summary: "Every method's time and space complexity, and what it is best for.",
                runs: &[
                    Runs::Page {
                        route: "/compare",
                        what: "every method measured on this GPU beside the survey's table",
                    },
                    Runs::Page {
                        route: "/scaling",
                        what: "is it actually faster? time against n, fitted exponents, crossovers",
                    },
                ],
            },
            Approach {
                key: "checkpointing",
                title: "Gradient checkpointing & reversible layers",
                summary: "Store some activations and recompute the rest: 10× less memory for 20% more compute.",
                runs: &[Runs::ToCome(
                    "a training-time memory trade-off; the app runs inference kernels and one small MLP",
                )],
            },
            Approach {
                key: "moe",
                title: "Mixture of experts",
                summary: "Route each token to a few of many experts: more parameters at the same compute.",
                runs: &[Runs::ToCome("no router or experts are implemented yet")],
            },
            Approach {
                key: "micro-batching",
                title: "Micro-batching (GPipe)",
                summary: "Split layers across devices and pipeline micro-batches to keep them busy.",
                runs: &[Runs::ToCome("needs several devices; one GPU runs here")],
            },
        ],
    },
];

/// Where the map sends a newcomer first: the lessons, the survey read in
/// order with one live run per step.
pub const START_HERE: Runs = Runs::Page {
    route: "/lessons",
    what: "a guided path through the survey in order, one claim and one live run per step",
};

/// A link the map shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapLink {
    /// Its text.
    pub label: String,
    /// The address under the site's base (`/attention?method=full`).
    pub href: String,
    /// A note beside it (a method's complexity, a page's content).
    pub note: String,
}

/// The registered methods of `family`, in registry order.
pub fn family_methods(family: &str) -> Vec<&'static MethodInfo> {
    MethodId::ALL
        .iter()
        .map(|m| m.info())
        .filter(|info| info.family == family)
        .collect()
}

/// What `runs` links to: each method of a family (its explorer), or the
/// page; nothing for what is still to come (or a family with no method
/// registered yet).
pub fn links(runs: &Runs) -> Vec<MapLink> {
    match *runs {
        Runs::Family(family) => family_methods(family)
            .into_iter()
            .map(|info| MapLink {
                label: info.label.into(),
                href: format!("/attention?method={}", info.key),
                note: format!(
                    "{} time, {} space",
                    info.complexity.time, info.complexity.space
                ),
            })
            .collect(),
        Runs::Page { route, what } => vec![MapLink {
            label: LABS
                .iter()
                .find(|lab| lab.route == route)
                .map_or(route, |lab| lab.title)
                .into(),
            href: route.into(),
            note: what.into(),
        }],
        Runs::ToCome(_) => Vec::new(),
    }
}

/// Whether the approach runs here today (some link), or why not.
pub fn status(approach: &Approach) -> Result<(), String> {
    if approach.runs.iter().any(|r| !links(r).is_empty()) {
        return Ok(());
    }
    Err(approach
        .runs
        .iter()
        .map(|r| match r {
            Runs::ToCome(why) => why.to_string(),
            Runs::Family(family) => format!("no {family} method is registered yet"),
            Runs::Page { route, .. } => format!("{route} is not a page"),
        })
        .collect::<Vec<_>>()
        .join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_link_goes_to_a_page_that_exists() {
        let mut seen = 0;
        for branch in TAXONOMY {
            for a in branch.approaches {
                for r in a.runs {
                    for link in links(r) {
                        seen += 1;
                        let (path, query) = link.href.split_once('?').unwrap_or((&link.href, ""));
                        assert!(
                            LABS.iter().any(|lab| lab.route == path),
                            "{}: {} is no lab's route",
                            a.key,
                            link.href
                        );
                        if let Some(key) = query.strip_prefix("method=") {
                            assert!(MethodId::from_key(key).is_some(), "{}: {key}", a.key);
                        }
                    }
                }
            }
        }
        assert!(seen >= 15, "{seen} links");
        let start = links(&START_HERE);
        assert_eq!(start.len(), 1);
        assert!(LABS.iter().any(|lab| lab.route == start[0].href));
    }

    #[test]
    fn every_registered_method_and_lab_is_on_the_map() {
        for m in MethodId::ALL {
            let info = m.info();
            let placed = TAXONOMY
                .iter()
                .flat_map(|b| b.approaches)
                .flat_map(|a| a.runs)
                .any(|r| *r == Runs::Family(info.family));
            assert!(
                placed,
                "{} (family {}) is not on the map",
                info.key, info.family
            );
        }
        for lab in LABS {
            let placed = TAXONOMY
                .iter()
                .flat_map(|b| b.approaches)
                .flat_map(|a| a.runs)
                .chain([&START_HERE])
                .any(|r| matches!(r, Runs::Page { route, .. } if *route == lab.route))
                || lab.route == "/attention";
            assert!(placed, "{} is not on the map", lab.route);
        }
    }

    #[test]
    fn what_is_to_come_says_why_and_links_nowhere() {
        let moe = TAXONOMY[1]
            .approaches
            .iter()
            .find(|a| a.key == "moe")
            .unwrap();
        assert!(status(moe).unwrap_err().contains("router"));
        assert!(links(&moe.runs[0]).is_empty());
        assert!(status(&TAXONOMY[1].approaches[1]).is_ok());
        // An empty family is honest too.
        assert!(links(&Runs::Family("Nonexistent")).is_empty());
    }
}
