//! View data a run produces, as typed values carried unchanged from where
//! they were computed — the GPU kernels or the CPU twin — to the views: the
//! pooled attention weights, the pattern, Reformer's buckets, a factor of a
//! low-rank or kernel method, and the output itself. A lab adds its own
//! kinds here (histograms, weight-error maps) without touching any layer in
//! between.

use ndarray::Array2;

use super::maps::{AttentionMap, FactorMap, Histogram, LshView, PatternMap};

/// One piece of view data.
#[derive(Debug, Clone, PartialEq)]
pub enum Artifact {
    /// The attention weights (or a method's implied matrix), pooled.
    Weights(AttentionMap),
    /// Which pairs the method computes, and why, pooled.
    Pattern(PatternMap),
    /// Reformer's buckets before and after sorting.
    Buckets(LshView),
    /// A low-rank or kernel method's factor, pooled.
    Factor(FactorMap),
    /// The output O of the timed kernel, n × dᵥ.
    Output(Array2<f32>),
    /// The values' histogram with a quantization grid.
    Histogram(Histogram),
    /// |x − x̂| of a quantized matrix, pooled.
    ErrorMap(FactorMap),
}

impl Artifact {
    /// The kind's index, for "one of each kind".
    fn kind(&self) -> u8 {
        match self {
            Artifact::Weights(_) => 0,
            Artifact::Pattern(_) => 1,
            Artifact::Buckets(_) => 2,
            Artifact::Factor(_) => 3,
            Artifact::Output(_) => 4,
            Artifact::Histogram(_) => 5,
            Artifact::ErrorMap(_) => 6,
        }
    }
}

/// The artifacts of one run, at most one of each kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Artifacts(Vec<Artifact>);

impl Artifacts {
    /// No artifacts.
    pub fn new() -> Artifacts {
        Artifacts(Vec::new())
    }

    /// Adds `a`, replacing one of the same kind.
    pub fn put(&mut self, a: Artifact) {
        self.0.retain(|x| x.kind() != a.kind());
        self.0.push(a);
    }

    /// `self` with `a` added.
    pub fn with(mut self, a: Artifact) -> Artifacts {
        self.put(a);
        self
    }

    /// Adds those of `other`'s kinds that `self` lacks (what the GPU
    /// computed wins over what the twin can give).
    pub fn fill_from(&mut self, other: Artifacts) {
        for a in other.0 {
            if !self.0.iter().any(|x| x.kind() == a.kind()) {
                self.0.push(a);
            }
        }
    }

    /// The pooled weights.
    pub fn weights(&self) -> Option<&AttentionMap> {
        self.0.iter().find_map(|a| match a {
            Artifact::Weights(m) => Some(m),
            _ => None,
        })
    }

    /// The pooled pattern.
    pub fn pattern(&self) -> Option<&PatternMap> {
        self.0.iter().find_map(|a| match a {
            Artifact::Pattern(m) => Some(m),
            _ => None,
        })
    }

    /// Reformer's buckets.
    pub fn buckets(&self) -> Option<&LshView> {
        self.0.iter().find_map(|a| match a {
            Artifact::Buckets(m) => Some(m),
            _ => None,
        })
    }

    /// The factor.
    pub fn factor(&self) -> Option<&FactorMap> {
        self.0.iter().find_map(|a| match a {
            Artifact::Factor(m) => Some(m),
            _ => None,
        })
    }

    /// The output.
    pub fn output(&self) -> Option<&Array2<f32>> {
        self.0.iter().find_map(|a| match a {
            Artifact::Output(m) => Some(m),
            _ => None,
        })
    }

    /// The histogram.
    pub fn histogram(&self) -> Option<&Histogram> {
        self.0.iter().find_map(|a| match a {
            Artifact::Histogram(h) => Some(h),
            _ => None,
        })
    }

    /// The error map.
    pub fn error_map(&self) -> Option<&FactorMap> {
        self.0.iter().find_map(|a| match a {
            Artifact::ErrorMap(m) => Some(m),
            _ => None,
        })
    }

    /// Every artifact.
    pub fn iter(&self) -> impl Iterator<Item = &Artifact> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_each_kind_and_the_first_source_wins() {
        let map = |v: f32| AttentionMap {
            n: 1,
            factor: 1,
            cells: 1,
            values: vec![v],
        };
        let mut gpu = Artifacts::new().with(Artifact::Weights(map(1.0)));
        let twin = Artifacts::new()
            .with(Artifact::Weights(map(2.0)))
            .with(Artifact::Output(Array2::zeros((1, 1))));
        gpu.fill_from(twin);
        assert_eq!(gpu.weights().map(|m| m.values[0]), Some(1.0));
        assert!(gpu.output().is_some() && gpu.pattern().is_none());
        gpu.put(Artifact::Weights(map(3.0)));
        assert_eq!(gpu.iter().count(), 2);
        assert_eq!(gpu.weights().map(|m| m.values[0]), Some(3.0));
    }
}
