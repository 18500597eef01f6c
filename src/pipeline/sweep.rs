//! The error law of an approximation: rel_err against its budget (Performer's
//! features m, Linformer's projection k, Nyström's landmarks L), over several
//! seeds, summarised as mean ± spread per budget and compared with the slope
//! theory gives (Performer: rel_err ∝ m^−½, from the estimator's variance
//! ∝ 1/m) and with the two baselines a method must beat: outputting the mean
//! of V and outputting zeros.
//!
//! Where the spread comes from depends on the method: a method with random
//! draws (Performer's ω, Linformer's Gaussian E and F) is run over seeds of
//! those draws with the inputs held fixed; a deterministic one (Nyström,
//! mean-pool Linformer) over seeds of the inputs (the same generator), since
//! repeating it on the same inputs would give one value five times. With the
//! user's own inputs a deterministic method has no spread, and says so.
//!
//! Each point runs the method's CPU twin on the checked rows (the twins are
//! held equal to the GPU kernels by the test suite) against exact attention
//! in f64, so a sweep of dozens of runs stays interactive in the page.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::attention::AttentionProblem;
use super::{Host, RunError, checkpoint};
use crate::attention::full::ExactReference;
use crate::attention::{Config, MethodError, MethodId, ParamValues};
use crate::data::stats::{errors, sample_rows};
use crate::inputs::{InputSource, Inputs, derive_seed};

/// One budget's errors over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The budget's value.
    pub budget: u64,
    /// rel_err for each seed.
    pub rel_errs: Vec<f64>,
    /// Their mean.
    pub mean: f64,
    /// Their standard deviation.
    pub std: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// rel_err of outputting the mean of V, averaged over the inputs used.
    #[serde(default)]
    pub baseline_mean_v_rel_err: f64,
    /// rel_err of outputting zeros, averaged over the inputs used.
    #[serde(default)]
    pub baseline_zero_rel_err: f64,
}

impl SweepPoint {
    fn from(budget: u64, rel_errs: Vec<f64>, baselines: (f64, f64)) -> SweepPoint {
        let k = rel_errs.len().max(1) as f64;
        let mean = rel_errs.iter().sum::<f64>() / k;
        let std = (rel_errs.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / k).sqrt();
        let min = rel_errs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rel_errs.iter().copied().fold(0.0, f64::max);
        SweepPoint {
            budget,
            rel_errs,
            mean,
            std,
            min,
            max,
            baseline_mean_v_rel_err: baselines.0,
            baseline_zero_rel_err: baselines.1,
        }
    }
}

fn gaussian() -> InputSource {
    InputSource::Gaussian
}

/// A finished sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// Method key.
    pub method: String,
    /// Sequence length.
    #[serde(default)]
    pub n: usize,
    /// Query/key width.
    #[serde(default)]
    pub d: usize,
    /// The inputs' generator (or `npy`).
    #[serde(default = "gaussian")]
    pub inputs: InputSource,
    /// The factor on Q and K.
    #[serde(default)]
    pub qk_scale: f64,
    /// The other knobs (the budget's at its setting).
    #[serde(default)]
    pub params: ParamValues,
    /// The knob swept.
    pub knob: String,
    /// Seeds per budget.
    pub seeds: u32,
    /// One point per budget, increasing.
    pub points: Vec<SweepPoint>,
    /// The theoretical slope of log rel_err against log budget, if any.
    pub theory_slope: Option<f64>,
    /// The least-squares slope of log mean rel_err against log budget.
    pub fitted_slope: Option<f64>,
    /// The law in words.
    pub law: String,
    /// What the seeds vary: `"method draws"` (inputs fixed), `"input seeds"`
    /// (a deterministic method), or `"none"` (a deterministic method on the
    /// user's own inputs: one value per budget).
    #[serde(default)]
    pub spread: String,
}

/// The budgets a sweep visits: powers of two from 2 up to the knob's
/// maximum (and n for k and L).
pub fn budgets(method: MethodId, n: usize) -> Result<Vec<u64>, MethodError> {
    let info = method.info();
    let budget = info.budget.ok_or_else(|| {
        MethodError::Unsupported(format!("{} has no budget to sweep", info.label))
    })?;
    let spec = info
        .params
        .iter()
        .find(|p| p.key == budget.key)
        .ok_or_else(|| {
            MethodError::Unsupported(format!("{} has no knob {}", info.label, budget.key))
        })?;
    let cap = if budget.key == "features" {
        spec.max
    } else {
        spec.max.min(n as u64)
    };
    Ok((1..=20)
        .map(|p| 1u64 << p)
        .filter(|&b| b >= spec.min && b <= cap)
        .collect())
}

/// Least-squares slope of log y against log x.
pub fn log_log_slope(points: &[(f64, f64)]) -> Option<f64> {
    let logs: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    if logs.len() < 2 {
        return None;
    }
    let k = logs.len() as f64;
    let (mx, my) = (
        logs.iter().map(|p| p.0).sum::<f64>() / k,
        logs.iter().map(|p| p.1).sum::<f64>() / k,
    );
    let sxx: f64 = logs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = logs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// One input draw of a sweep with its exact reference on the checked rows
/// and the rel_err of the two baselines there.
struct Draw {
    inputs: std::rc::Rc<Inputs>,
    exact: Array2<f64>,
    baselines: (f64, f64),
}

impl Draw {
    fn new(
        inputs: std::rc::Rc<Inputs>,
        problem: &AttentionProblem,
        rows: &[usize],
    ) -> Result<Draw, RunError> {
        let model = problem.method.method().reference_model(&problem.config());
        let reference = ExactReference::for_model(&inputs, problem.causal, model);
        let exact = reference.rows(rows);
        let uniform = reference.uniform_rows(rows).mapv(|x| x as f32);
        let zeros = Array2::<f32>::zeros(exact.dim());
        let baselines = (
            errors(uniform.view(), exact.view()).rel_err,
            errors(zeros.view(), exact.view()).rel_err,
        );
        drop(reference);
        Ok(Draw {
            inputs,
            exact,
            baselines,
        })
    }
}

/// Sweeps `problem.method`'s budget over `budgets`, `seeds` draws each, on
/// its inputs (and, for a deterministic method on generated inputs, on
/// `seeds − 1` more draws of the same generator); `on_point` sees each point
/// as it completes (the page draws progressively). Yields to the host
/// between runs.
pub async fn sweep(
    problem: &AttentionProblem,
    budgets: &[u64],
    seeds: u32,
    host: &dyn Host,
    mut on_point: impl FnMut(&SweepPoint),
) -> Result<Sweep, RunError> {
    let info = problem.method.info();
    let budget = info.budget.ok_or_else(|| {
        MethodError::Unsupported(format!("{} has no budget to sweep", info.label))
    })?;
    let rows = sample_rows(problem.inputs.n());
    let (spread, draws) = draws(problem, seeds, &rows, host).await?;
    let runs = if spread == "none" { 1 } else { seeds.max(1) };
    let k = draws.len() as f64;
    let baselines = (
        draws.iter().map(|d| d.baselines.0).sum::<f64>() / k,
        draws.iter().map(|d| d.baselines.1).sum::<f64>() / k,
    );
    let mut points = Vec::with_capacity(budgets.len());
    for (b_idx, &b) in budgets.iter().enumerate() {
        let mut params = problem.params.clone();
        params.insert(budget.key.to_string(), b);
        let mut rel_errs = Vec::with_capacity(runs as usize);
        for s in 0..runs {
            let (draw, seed) = if spread == "method draws" {
                (&draws[0], derive_seed(problem.seed, "sweep", s as u64))
            } else {
                (&draws[s as usize % draws.len()], problem.seed)
            };
            let e = rel_err(problem, &params, seed, draw, &rows)?;
            if !e.is_finite() {
                return Err(RunError::NotFinite(format!(
                    "rel_err at {}={b}",
                    budget.key
                )));
            }
            rel_errs.push(e);
            let done = (b_idx * runs as usize + s as usize + 1) as f64;
            host.progress(
                &format!("{} = {b}, seed {}", budget.key, s + 1),
                done / (budgets.len() * runs as usize) as f64,
            );
            checkpoint(host).await?;
        }
        let point = SweepPoint::from(b, rel_errs, baselines);
        on_point(&point);
        points.push(point);
    }
    let fitted = log_log_slope(
        &points
            .iter()
            .map(|p| (p.budget as f64, p.mean))
            .collect::<Vec<_>>(),
    );
    let inputs = &*problem.inputs;
    Ok(Sweep {
        method: info.key.into(),
        n: inputs.n(),
        d: inputs.d(),
        inputs: inputs.source,
        qk_scale: problem.qk_scale,
        params: problem.params.clone(),
        knob: budget.key.into(),
        seeds: runs,
        points,
        theory_slope: budget.slope,
        fitted_slope: fitted,
        law: budget.law.into(),
        spread: spread.into(),
    })
}

/// The input draws and what their spread is over: the method's random
/// draws on the given inputs; or, for a deterministic method on generated
/// inputs, `seeds` draws of the same generator; or nothing to vary.
async fn draws(
    problem: &AttentionProblem,
    seeds: u32,
    rows: &[usize],
    host: &dyn Host,
) -> Result<(&'static str, Vec<Draw>), RunError> {
    let given = problem.inputs.clone();
    if problem.method.method().randomized(&problem.config()) {
        return Ok(("method draws", vec![Draw::new(given, problem, rows)?]));
    }
    if given.source == InputSource::Npy {
        return Ok(("none", vec![Draw::new(given, problem, rows)?]));
    }
    let (source, n, d) = (given.source, given.n(), given.d());
    let mut draws = vec![Draw::new(given, problem, rows)?];
    for s in 1..seeds.max(1) {
        let seed = derive_seed(problem.seed, "sweep-inputs", s as u64);
        let x = Inputs::generate(source, n, d, seed, problem.qk_scale);
        draws.push(Draw::new(std::rc::Rc::new(x), problem, rows)?);
        checkpoint(host).await?;
    }
    Ok(("input seeds", draws))
}

/// The twin's rel_err on one draw with these knobs and seed.
fn rel_err(
    problem: &AttentionProblem,
    params: &ParamValues,
    seed: u64,
    draw: &Draw,
    rows: &[usize],
) -> Result<f64, RunError> {
    let config = Config {
        causal: problem.causal,
        seed,
        params,
    };
    let twin = problem.method.method().cpu_twin(&draw.inputs, &config)?;
    let mut out = Array2::zeros((rows.len(), draw.inputs.dv()));
    for (slot, &i) in rows.iter().enumerate() {
        twin.compute_rows(
            i..i + 1,
            out.slice_mut(ndarray::s![slot..slot + 1, ..]),
            None,
        );
    }
    Ok(errors(out.view(), draw.exact.view()).rel_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Quiet;

    #[test]
    fn budgets_are_powers_of_two_within_the_knob() {
        assert_eq!(
            budgets(MethodId::Nystrom, 40).unwrap(),
            vec![2, 4, 8, 16, 32]
        );
        assert_eq!(
            budgets(MethodId::Performer, 40).unwrap().last(),
            Some(&1024)
        );
        assert!(budgets(MethodId::Full, 40).is_err());
    }

    #[test]
    fn slope_of_a_power_law() {
        let pts: Vec<(f64, f64)> = [4.0, 16.0, 64.0]
            .iter()
            .map(|&x| (x, 3.0 * f64::powf(x, -0.5)))
            .collect();
        assert!((log_log_slope(&pts).unwrap() + 0.5).abs() < 1e-12);
        assert_eq!(log_log_slope(&[(1.0, 1.0)]), None);
    }

    #[test]
    fn performer_sweep_follows_its_law_at_small_scale() {
        let problem = AttentionProblem::seeded(
            MethodId::Performer,
            InputSource::Gaussian,
            (64, 16),
            3,
            0.25,
        );
        let mut seen = 0;
        let s =
            pollster::block_on(sweep(&problem, &[8, 32, 128], 4, &Quiet, |_| seen += 1)).unwrap();
        assert_eq!((seen, s.points.len()), (3, 3));
        assert!(
            s.points
                .iter()
                .all(|p| p.rel_errs.len() == 4 && p.min <= p.mean && p.mean <= p.max)
        );
        let slope = s.fitted_slope.unwrap();
        assert!((-0.75..=-0.3).contains(&slope), "slope {slope}");
        assert_eq!(s.theory_slope, Some(-0.5));
        assert_eq!(s.spread, "method draws");
        let p = &s.points[0];
        assert!((p.baseline_zero_rel_err - 1.0).abs() < 1e-12);
        assert!(p.baseline_mean_v_rel_err > 0.0 && p.baseline_mean_v_rel_err < 1.0);
    }

    #[test]
    fn deterministic_methods_spread_over_input_seeds() {
        let problem =
            AttentionProblem::seeded(MethodId::Nystrom, InputSource::LowRank, (48, 8), 2, 1.0);
        let s = pollster::block_on(sweep(&problem, &[4, 16], 3, &Quiet, |_| {})).unwrap();
        assert_eq!(s.spread, "input seeds");
        for p in &s.points {
            // Three different inputs give three different errors, not one
            // value repeated.
            assert!(p.max > p.min, "{p:?}");
        }
        // With the user's own inputs there is nothing to vary.
        let own = AttentionProblem {
            inputs: std::rc::Rc::new(Inputs {
                source: InputSource::Npy,
                ..(*problem.inputs).clone()
            }),
            ..problem
        };
        let s = pollster::block_on(sweep(&own, &[4, 16], 3, &Quiet, |_| {})).unwrap();
        assert_eq!((s.spread.as_str(), s.points[0].rel_errs.len()), ("none", 1));
    }
}
