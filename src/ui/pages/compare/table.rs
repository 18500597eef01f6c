//! The comparison table (`data-testid="compare-table"`): one
//! `<tr data-method="KEY">` per registered method — the survey's
//! complexity, "best for" and causal support beside the FLOPs and bytes
//! (needed and executed), the time and rel_err with its baselines measured
//! here — sortable by clicking a column's header (`aria-sort` says how),
//! each method linking to its explorer with the same settings.

use leptos::prelude::*;

use crate::attention::MethodId;
use crate::data::timing::Timing;
use crate::format;
use crate::pipeline::compare::recommendations::{BEYOND_ATTENTION, lab_route};
use crate::pipeline::compare::{CompareRow, RowStatus, SortKey, sort_rows};
use crate::pipeline::labs::LABS;
use crate::settings::compare::CompareSettings;
use crate::ui::components::num;

/// The explorer's address for `method` with `settings`.
pub fn explorer_href(base: &str, settings: &CompareSettings, method: MethodId) -> String {
    format!(
        "{base}{}?{}",
        lab_route("attention").unwrap_or("/attention"),
        settings.explorer_query(method)
    )
}

/// The current sort: a column and whether it is descending.
type Sort = Option<(SortKey, bool)>;

/// A sortable column's header: a button that sorts by it (again: the other
/// way), with `aria-sort` on the header cell.
fn sortable(
    key: SortKey,
    label: &'static str,
    title: &'static str,
    class: &'static str,
    sort: ReadSignal<Sort>,
    set_sort: WriteSignal<Sort>,
) -> impl IntoView {
    let aria = move || match sort.get() {
        Some((k, true)) if k == key => "descending",
        Some((k, false)) if k == key => "ascending",
        _ => "none",
    };
    let arrow = move || match sort.get() {
        Some((k, true)) if k == key => "▼",
        Some((k, false)) if k == key => "▲",
        _ => "↕",
    };
    let click = move |_| {
        set_sort.update(|s| {
            *s = Some(match *s {
                Some((k, descending)) if k == key => (key, !descending),
                _ => (key, false),
            })
        })
    };
    view! {
        <th scope="col" class=class aria-sort=aria title=title>
            <button class="sort" data-testid=format!("sort-{}", key.key()) on:click=click>
                {label}
                <span class="arrow" aria-hidden="true">
                    {arrow}
                </span>
            </button>
        </th>
    }
}

/// The table.
#[component]
pub fn CompareTable(
    /// Every method's row (placeholders before their run), registry order.
    rows: Memo<Vec<CompareRow>>,
    /// The method running now.
    current: Memo<Option<&'static str>>,
    /// The settings the rows are for (their explorer links).
    settings: Memo<CompareSettings>,
    /// The site's base path.
    base: String,
) -> impl IntoView {
    let (sort, set_sort) = signal(None::<(SortKey, bool)>);
    let sorted = Memo::new(move |_| {
        let mut rows = rows.get();
        if let Some((key, descending)) = sort.get() {
            sort_rows(&mut rows, key, descending);
        }
        rows
    });
    let head = |key, label, title, class| sortable(key, label, title, class, sort, set_sort);
    let base_beyond = base.clone();
    let order = move || {
        sort.get()
            .map(|(k, d)| format!("{} {}", k.key(), if d { "descending" } else { "ascending" }))
            .unwrap_or_else(|| "registry".into())
    };
    view! {
        <section class="card compare-card">
            <div class="card-head">
                <h2>"Every method at these settings"</h2>
                <span class="muted small">
                    "Sorted: " <span data-testid="compare-sort">{order}</span>
                    {move || sort.get().is_some().then(|| view! {
                        " · "
                        <button class="link" data-testid="sort-reset" on:click=move |_| set_sort.set(None)>
                            "registry order"
                        </button>
                    })}
                </span>
            </div>
            <div class="table-scroll">
                <table class="compare-table" data-testid="compare-table">
                    <thead>
                        <tr>
                            {head(SortKey::Name, "Method", "Sort by name", "method")}
                            {head(
                                SortKey::Complexity,
                                "Survey: time · space",
                                "The survey's time and space complexity (its Summary Table, or the source named below); sorted by the growth of time in n",
                                "complexity",
                            )}
                            <th scope="col" class="best-for" title="What the survey's Summary Table says the method is best for">
                                "Best for (survey)"
                            </th>
                            <th scope="col" class="causal" title="Whether the method can mask keys j > i">
                                "Causal"
                            </th>
                            {head(
                                SortKey::FlopsNeeded,
                                "FLOPs needed",
                                "Algorithmic FLOPs: the pairs of the method's pattern, the products of its factors",
                                "num",
                            )}
                            {head(
                                SortKey::Flops,
                                "FLOPs executed",
                                "What the timed kernels execute (on the CPU backend, the twin)",
                                "num",
                            )}
                            {head(
                                SortKey::BytesNeeded,
                                "Bytes needed",
                                "Compulsory bytes: inputs, parameters and output moved once",
                                "num",
                            )}
                            {head(
                                SortKey::Bytes,
                                "Bytes moved",
                                "What the timed kernels read and write, re-reads included",
                                "num",
                            )}
                            {head(
                                SortKey::Time,
                                "Time",
                                "GPU: warm median of the kernels; CPU twin: median of whole passes",
                                "num",
                            )}
                            {head(
                                SortKey::RelErr,
                                "rel_err",
                                "‖O − O_exact‖_F / ‖O_exact‖_F against the exact model in f64",
                                "num",
                            )}
                            <th scope="col" class="num baselines" title="rel_err of outputting the mean of V and of outputting zeros">
                                "Baselines"
                            </th>
                        </tr>
                    </thead>
                    <tbody>
                        {move || {
                            let now = current.get();
                            let s = settings.get();
                            sorted
                                .get()
                                .into_iter()
                                .map(|row| {
                                    let running = now == Some(row.method.as_str());
                                    let href = MethodId::from_key(&row.method)
                                        .map(|m| explorer_href(&base, &s, m))
                                        .unwrap_or_default();
                                    row_view(row, running, href)
                                })
                                .collect_view()
                        }}
                    </tbody>
                </table>
            </div>
            <BeyondAttention base=base_beyond/>
        </section>
    }
}

/// The survey's Summary Table rows that are not attention methods, with
/// the labs that run them.
#[component]
fn BeyondAttention(base: String) -> impl IntoView {
    let rows = BEYOND_ATTENTION
        .iter()
        .map(|r| {
            let link = lab_route(r.family).map(|route| {
                let title = LABS
                    .iter()
                    .find(|l| l.family == r.family)
                    .map_or(r.family, |l| l.title);
                view! {
                    <a href=format!("{base}{route}?{}", r.query)>{title}</a>
                    {format!(" — {}", r.shows)}
                }
            });
            view! {
                <tr data-technique=r.method>
                    <th scope="row">{r.method}</th>
                    <td>{r.time}</td>
                    <td>{r.space}</td>
                    <td>{r.best_for}</td>
                    <td>{link}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="beyond">
            <h3>"The rest of the survey's Summary Table: beyond attention"</h3>
            <table class="figure-table beyond-table" data-testid="summary-beyond">
                <thead>
                    <tr>
                        <th scope="col">"Technique"</th>
                        <th scope="col">"Time"</th>
                        <th scope="col">"Space"</th>
                        <th scope="col">"Best for"</th>
                        <th scope="col">"Runs here in"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// One method's row.
fn row_view(row: CompareRow, running: bool, href: String) -> impl IntoView + use<> {
    let state = if running { "running" } else { row.status.key() };
    let causal = if row.causal_supported {
        view! { <span class="yes" title="can be causal">"✓"</span> }.into_any()
    } else {
        let why = row.causal_unsupported.clone().unwrap_or_default();
        let title = why.clone();
        view! { <span class="no" title=title>"✗"<span class="sr-only">{why}</span></span> }
            .into_any()
    };
    let source = row.complexity_source.clone();
    let figures = figures(&row, running);
    view! {
        <tr
            data-method=row.method.clone()
            data-state=state
            data-time-ms=row.time_ms.map(|t| t.to_string())
            data-rel-err=row.rel_err.map(|e| e.to_string())
            data-flops=row.flops.map(|f| f.to_string())
            data-bytes=row.bytes.map(|b| b.to_string())
            class=format!("row-{state}")
        >
            <th scope="row" class="method">
                <a href=href data-testid=format!("explore-{}", row.method) title="Open in the explorer with these settings">
                    {row.label.clone()}
                </a>
                <div class="small muted">
                    {row.family.clone()} " · " <code>{row.method.clone()}</code>
                </div>
            </th>
            <td class="complexity x-label">
                <span class="big-o" title="time">{row.complexity_time.clone()}</span>
                <span class="muted">" · "</span>
                <span class="big-o" title="space">{row.complexity_space.clone()}</span>
                <div class="small muted source">{source}</div>
            </td>
            <td class="best-for x-label">{row.best_for.clone()}</td>
            <td class="causal x-label">{causal}</td>
            {figures}
        </tr>
    }
}

/// The measured cells, or one cell saying why there are none.
fn figures(row: &CompareRow, running: bool) -> AnyView {
    match row.status {
        RowStatus::Measured => measured(row).into_any(),
        RowStatus::Pending => {
            let text = if running { "running…" } else { "not run yet" };
            view! { <td colspan="7" class="pending muted">{text}</td> }.into_any()
        }
        RowStatus::Skipped => view! {
            <td colspan="7" class="skipped muted" data-testid=format!("why-{}", row.method)>
                {row.error.clone().unwrap_or_default()}
            </td>
        }
        .into_any(),
        RowStatus::Failed => view! {
            <td colspan="7" class="failed error" data-testid=format!("why-{}", row.method)>
                {format!("failed: {}", row.error.clone().unwrap_or_default())}
            </td>
        }
        .into_any(),
    }
}

/// A count, explained by what it counts and its formula.
fn count_cell(
    value: Option<u64>,
    formula: &Option<String>,
    bytes: bool,
    what: &'static str,
) -> impl IntoView + use<> {
    let text = value.map(|v| {
        let shown = if bytes {
            format::bytes3(v)
        } else {
            format::sig3(v as f64)
        };
        let explain = match formula {
            Some(f) => format!("{what}: {} = {f}", format::int(v)),
            None => format!("{what}: {}", format::int(v)),
        };
        num(shown, explain)
    });
    view! {
        <td class="num">
            {text.map_or_else(|| "—".into_any(), IntoAny::into_any)}
        </td>
    }
}

fn measured(row: &CompareRow) -> impl IntoView + use<> {
    let device = match row.backend.as_deref() {
        Some("gpu") => "GPU kernels",
        _ => "CPU twin",
    };
    let ratio = row.time_vs_full.map(|r| {
        if row.method == crate::pipeline::compare::REFERENCE_METHOD {
            " · the reference".into_any()
        } else {
            view! {
                " · "
                {num(format!("{r:.2}×"), "This method's time / full attention's time, same settings and backend")}
                " full"
            }
            .into_any()
        }
    });
    // The browser's wall clock ticks in 0.1 ms: no more digits than that.
    let time = row.time_ms.map_or("—".into(), |t| match row.timing {
        Some(Timing::WallClock) if t < 10.0 => format!("{t:.1} ms"),
        _ => format::ms(t),
    });
    let err = row.rel_err.map_or("—".into(), format::err);
    let (verdict, verdict_class) = match row.beats_mean_v {
        Some(true) => ("✓ beats mean of V", "verdict good"),
        _ => ("✗ no better than mean of V", "verdict poor"),
    };
    let baseline = |x: Option<f64>, explain: &'static str| {
        x.map_or_else(
            || "—".into_any(),
            |x| num(format!("{x:.3}"), explain).into_any(),
        )
    };
    let baselines = baseline(
        row.baseline_mean_v_rel_err,
        "rel_err of answering every row with the mean of V: ‖mean(V) − O_exact‖_F / ‖O_exact‖_F",
    );
    let zeros = baseline(
        row.baseline_zero_rel_err,
        "rel_err of answering zeros: ‖0 − O_exact‖_F / ‖O_exact‖_F",
    );
    let reference = row.reference.clone().unwrap_or_default();
    let notes = row.notes.join("\n");
    let time_explain = format!(
        "Time: {}",
        row.time_source.clone().unwrap_or_else(|| {
            "GPU: warm median of the kernels; CPU twin: median of whole passes".into()
        })
    );
    let err_explain = format!("rel_err: ‖O − O_exact‖_F / ‖O_exact‖_F against {reference}");
    view! {
        {count_cell(row.flops_algorithmic, &row.flops_algorithmic_formula, false, "FLOPs the method needs")}
        {count_cell(row.flops, &row.flops_formula, false, "FLOPs the timed kernels execute")}
        {count_cell(row.bytes_compulsory, &row.bytes_compulsory_formula, true, "Compulsory bytes (inputs, parameters, output moved once)")}
        {count_cell(row.bytes, &row.bytes_formula, true, "Bytes the timed kernels read and write")}
        <td class="num time">
            <span class="strong">{num(time, time_explain)}</span>
            <div class="small muted">{device}{ratio}</div>
        </td>
        <td class="num err">
            <span class="strong">{num(err, err_explain)}</span>
            <div class=verdict_class>{verdict}</div>
        </td>
        <td class="num baselines small" title=notes>
            <div>"mean of V " {baselines}</div>
            <div class="muted">"zeros " {zeros}</div>
        </td>
    }
}
