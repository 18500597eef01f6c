//! What the selected method is: its equation, its paper, and how it runs.

use leptos::prelude::*;

use crate::settings::Settings;

/// The method description card.
#[component]
pub fn MethodCard(settings: Memo<Settings>) -> impl IntoView {
    view! {
        <section class="card method-card">
            {move || {
                let info = settings.get().method.info();
                view! {
                    <h2>{format!("{} ({})", info.label, info.family)}</h2>
                    <p class="equation">{info.equation}</p>
                    <p class="muted">{info.paper}</p>
                    <p>{explanation(info.key)}</p>
                }
            }}
        </section>
    }
}

fn explanation(key: &str) -> &'static str {
    match key {
        "full" => {
            "Every query is scored against every key, so time grows as n²·d and a materialised \
             attention matrix needs 4n² bytes — the bottleneck the survey sets out to remove. \
             On the GPU it runs twice: a materialising path (scores, row softmax, P·V) whose matrix \
             feeds the heatmap when it fits, and a fused online-softmax kernel in the style of \
             FlashAttention that never stores the n×n matrix (O(n) memory); the fused kernel is the \
             one timed, and its row statistics let the GPU pool the heatmap at any n."
        }
        "longformer" => {
            "Each token attends to a sliding window of W neighbours on each side, and a few global \
             tokens (like [CLS]) attend to, and are attended by, every position: O(n·W) pairs. The GPU \
             kernel visits only the key tiles that touch the band or the global rows and columns; \
             the pattern view colours window and global pairs, and the readout says how much of \
             exact attention's weight falls outside them."
        }
        "sparse-strided" => {
            "Two factorised heads in one pattern: a local band of L keys and every L-th key before \
             it, so any position reaches any earlier one in two steps with O(n·(L + n/L)) pairs. \
             The strided offsets cross many key tiles with one pair each: the kernel's tile work \
             (shown next to the pattern's pairs) is the honest price of that layout on a GPU."
        }
        "sparse-fixed" => {
            "Keys of the query's own block of L, plus the last c positions of every block, which act \
             as summaries that later queries read. With c = L it becomes full causal attention."
        }
        "bigbird" => {
            "Blocks of B positions: a few global blocks, a window of neighbouring blocks, and R random \
             blocks per query block drawn from the seed. The survey notes that the random part often \
             matters less than the window and global parts — compare the mass readout with R = 0."
        }
        "reformer" => {
            "Locality-sensitive hashing puts similar vectors in the same bucket (argmax of a random \
             rotation); positions are sorted by bucket and cut into chunks, and each query attends to \
             its chunk and the previous one. More rounds hash again and unite the pairs, lowering the \
             error. In shared-QK mode the keys are the normalised queries and a token avoids itself; \
             its error is then measured against exact shared-QK attention, the model it approximates \
             (the figures name the reference). The strips below show the buckets before and after \
             sorting."
        }
        "linformer" => {
            "Keys and values are projected along the sequence to k rows by matrices E and F, so the \
             attention map is n × k instead of n × n: O(nk) time and memory. The paper learns E and F; \
             untrained, mean-pool projections (segment means of K and V) approximate attention on smooth \
             inputs — try inputs=local or low-rank and sweep k, exact at k = n — while Gaussian \
             projections (N(0, 1/n), so FV stays on V's scale) mix unrelated positions and never beat \
             outputting zeros, however large k grows. The factor view shows the n × k map, the weights \
             view its back-projection (not a distribution). Projecting along the sequence mixes past \
             and future, so Linformer cannot be causal."
        }
        "synthesizer-dense" => {
            "The attention logits of token i come from token i alone through a two-layer network, with no \
             query–key dot product. These weights are untrained: the error against exact attention shows \
             how much a trained Synthesizer would have to recover — the survey's point is that trained ones \
             often do nearly as well as dot-product attention."
        }
        "synthesizer-random" => {
            "The logits are a fixed random low-rank matrix R₁R₂ᵀ, independent of the input: attention \
             becomes a learned mixing pattern. Untrained here, so its error is what training would recover."
        }
        "nystrom" => {
            "L landmarks (segment means of Q and K) stand in for all keys: three small softmax kernels and \
             the pseudo-inverse of the L × L one reconstruct the n × n matrix (the Nyström method). The \
             pseudo-inverse comes from a few iterations, not exactly: the residual ‖ÃZÃ − Ã‖/‖Ã‖ in the \
             figures says how far it is, and rel_err depends on pinv-iters and on how well conditioned Ã \
             is — the truncated iteration regularises an ill-conditioned Ã. The error falls with L when \
             the inputs have low-rank structure (try inputs=low-rank); on Gaussian inputs it need not — \
             the error law shows which, its spread taken over seeds of the inputs (the method itself \
             has no randomness)."
        }
        "linear" => {
            "The softmax kernel exp(q·k) is replaced by φ(q)·φ(k) with φ(x) = elu(x) + 1, so the product can \
             be re-associated as φ(Q)(φ(K)ᵀV): linear in n. Causal attention becomes a running sum — an RNN — \
             which the GPU computes with a parallel scan over chunks of keys."
        }
        "performer" => {
            "FAVOR+ estimates the softmax kernel without bias with positive orthogonal random features; its \
             variance grows like exp(‖q‖² + ‖k‖²), so the error falls like 1/√m only at moderate norms — \
             sweep the features at Q, K scale 0.25, then at 1, and compare the slopes."
        }
        "cosformer" => {
            "ReLU features keep the weights non-negative, and a cos(π(i − j)/2n) re-weighting favours nearby \
             tokens; since cos(a − b) = cos a cos b + sin a sin b it still factorises, so the cost stays linear."
        }
        _ => "",
    }
}
