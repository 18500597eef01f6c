//! The home page (`/`): the survey's map of efficiency methods
//! ([`crate::pipeline::taxonomy::TAXONOMY`]) as the app's navigation.
//! Every approach says whether it runs here today — each attention method
//! of its family (from the registry, with its complexity) or the page that
//! runs it — or, without a link, what is still to come and why.

use leptos::prelude::*;

use crate::pipeline::taxonomy::{Approach, Branch, START_HERE, TAXONOMY, links, status};
use crate::ui::components::site_base;

/// The page.
#[component]
pub fn MapPage() -> impl IntoView {
    view! {
        <main class="lab map" data-testid="map-page">
            <section class="card map-intro">
                <h2>"Faster and lighter Transformers: the survey's map"</h2>
                <p>
                    "The survey sorts its methods in two branches: mechanisms that make attention itself cheaper, "
                    "and general approaches that make any network smaller or faster. Every box below says where it "
                    "runs in this app — on your GPU through WebGPU, with a CPU twin that must agree — or that it is "
                    "still to come. Each method page shows its equations as the survey writes them, its complexity, "
                    "and what it costs on this machine."
                </p>
                {links(&START_HERE)
                    .into_iter()
                    .map(|l| {
                        view! {
                            <p class="map-start">
                                "New here, or teaching? "
                                <a href=format!("{}{}", site_base(), l.href) data-testid="map-lessons">
                                    {l.label}
                                </a>
                                {format!(" — {}.", l.note)}
                            </p>
                        }
                    })
                    .collect_view()}
            </section>
            <div class="map-tree">
                {TAXONOMY
                    .iter()
                    .enumerate()
                    .map(|(i, branch)| view! { <BranchView branch=branch index=i/> })
                    .collect_view()}
            </div>
        </main>
    }
}

/// One branch and its approaches.
#[component]
fn BranchView(branch: &'static Branch, index: usize) -> impl IntoView {
    view! {
        <section class="map-branch" data-testid=format!("map-branch-{index}")>
            <h2>{branch.title}</h2>
            <p class="muted">{branch.summary}</p>
            <div class="map-nodes">
                {branch
                    .approaches
                    .iter()
                    .map(|a| view! { <ApproachView approach=a/> })
                    .collect_view()}
            </div>
        </section>
    }
}

/// One approach: what it does, and its links or why it has none.
#[component]
fn ApproachView(approach: &'static Approach) -> impl IntoView {
    let base = site_base();
    let state = status(approach);
    let runs = state.is_ok();
    let links: Vec<_> = approach.runs.iter().flat_map(links).collect();
    view! {
        <article
            class="map-node"
            class:to-come=!runs
            data-testid=format!("map-node-{}", approach.key)
            data-status=if runs { "runs" } else { "to-come" }
        >
            <div class="map-node-head">
                <h3>{approach.title}</h3>
                <span class="badge" class:badge-gpu=runs>
                    {if runs { "runs here" } else { "to come" }}
                </span>
            </div>
            <p>{approach.summary}</p>
            {match state {
                Ok(()) => {
                    view! {
                        <ul class="map-links">
                            {links
                                .into_iter()
                                .map(|l| {
                                    view! {
                                        <li>
                                            <a href=format!("{base}{}", l.href) data-testid="map-link">
                                                {l.label}
                                            </a>
                                            <span class="muted">{format!(" — {}", l.note)}</span>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                        .into_any()
                }
                Err(why) => view! { <p class="muted">{format!("Still to come: {why}.")}</p> }.into_any(),
            }}
        </article>
    }
}
