"""Naive definitions of the attention methods `torch_reference.py` times, in
plain Python on one head given as lists of rows, written straight from the
formulas in flt's src/attention/*.rs (loops, no re-association, no shifts):
the yardstick the vectorised references are checked against on tiny inputs
(`test_benchmarks.py` here, `torch_reference.py --self-check` on the GPU).
"""

import math


def matmul(a, b):
    """a (r × s) · b (s × c)."""
    cols = list(zip(*b))
    return [[sum(x * y for x, y in zip(row, col)) for col in cols] for row in a]


def transpose(a):
    return [list(r) for r in zip(*a)]


def softmax_row(row):
    finite = [x for x in row if x != -math.inf]
    top = max(finite)
    e = [math.exp(x - top) if x != -math.inf else 0.0 for x in row]
    s = sum(e)
    return [x / s for x in e]


def eye(size):
    return [[1.0 if i == j else 0.0 for j in range(size)] for i in range(size)]


def add(a, b, alpha=1.0, beta=1.0):
    return [[alpha * x + beta * y for x, y in zip(ra, rb)] for ra, rb in zip(a, b)]


def dot(x, y):
    return sum(a * b for a, b in zip(x, y))


def masked_attention(q, k, v, keep):
    """Oᵢ = Σ_{j: keep(i, j)} softmax_j(qᵢ·kⱼ/√d) vⱼ."""
    d = len(q[0])
    out = []
    for i, qi in enumerate(q):
        logits = [dot(qi, kj) / math.sqrt(d) if keep(i, j) else -math.inf for j, kj in enumerate(k)]
        p = softmax_row(logits)
        out.append([sum(p[j] * v[j][c] for j in range(len(v))) for c in range(len(v[0]))])
    return out


def full_attention(q, k, v, causal=False):
    """softmax(QKᵀ/√d)·V (j ≤ i when causal)."""
    return masked_attention(q, k, v, lambda i, j: j <= i or not causal)


def window_attention(q, k, v, w, causal=False):
    """Longformer's band without global tokens: |i − j| ≤ W (and j ≤ i)."""
    return masked_attention(q, k, v, lambda i, j: abs(i - j) <= w and (j <= i or not causal))


def kernel_attention(phi_q, phi_k, v, eps=1e-6):
    """Oᵢ = Σⱼ (φ(qᵢ)·φ(kⱼ)) vⱼ / (Σⱼ φ(qᵢ)·φ(kⱼ) + ε), pair by pair."""
    out = []
    for fq in phi_q:
        w = [dot(fq, fk) for fk in phi_k]
        den = sum(w) + eps
        out.append([sum(w[j] * v[j][c] for j in range(len(v))) / den for c in range(len(v[0]))])
    return out


def elu1(x):
    return x + 1.0 if x > 0 else math.exp(x)


def linear_attention(q, k, v, eps=1e-6):
    """Katharopoulos et al.: φ = elu + 1 on q and k."""
    return kernel_attention([[elu1(x) for x in r] for r in q], [[elu1(x) for x in r] for r in k], v, eps)


def favor_features(x, omega, shift):
    """exp(ωᵀx̂ − ‖x̂‖²/2 − c)/√m per row, x̂ = x/d^¼, with flt's shift c:
    `"row"` each row's largest exponent (queries), `"all"` the largest over
    every row (keys). The shifts cancel in the ratio; only ε sees them."""
    d, m = len(x[0]), len(omega)
    t = []
    for row in x:
        xs = [a * d ** -0.25 for a in row]
        half = 0.5 * dot(xs, xs)
        t.append([dot(w, xs) - half for w in omega])
    top = max(max(r) for r in t)
    return [[math.exp(e - (max(r) if shift == "row" else top)) / math.sqrt(m) for e in r] for r in t]


def performer(q, k, v, omega, eps=1e-6):
    """FAVOR+ with the given ω (m × d)."""
    return kernel_attention(favor_features(q, omega, "row"), favor_features(k, omega, "all"), v, eps)


def segment_bounds(n, segments):
    """Segment s covers ⌊s·n/S⌋ … ⌊(s+1)·n/S⌋ − 1."""
    return [(s * n // segments, (s + 1) * n // segments) for s in range(segments)]


def mean_pool_matrix(n, k):
    """E (k × n): row t averages segment t."""
    e = [[0.0] * n for _ in range(k)]
    for t, (first, end) in enumerate(segment_bounds(n, k)):
        for j in range(first, end):
            e[t][j] = 1.0 / max(end - first, 1)
    return e


def linformer(q, k, v, proj_dim, e=None, f=None):
    """softmax(Q(EK)ᵀ/√d)·(FV), mean-pool E = F (k ≤ n) unless given."""
    n, d = len(k), len(q[0])
    if e is None:
        e = mean_pool_matrix(n, min(proj_dim, n))
    f = e if f is None else f
    ek, fv = matmul(e, k), matmul(f, v)
    p = [softmax_row([x / math.sqrt(d) for x in row]) for row in matmul(q, transpose(ek))]
    return matmul(p, fv)


def segment_means(x, segments):
    out = []
    for first, end in segment_bounds(len(x), segments):
        out.append([sum(x[r][c] for r in range(first, end)) / (end - first) for c in range(len(x[0]))])
    return out


def pinv_iterative(a, iterations):
    """Z₀ = Ãᵀ/(‖Ã‖₁‖Ã‖∞), Z ← ¼·Z(13I − ÃZ(15I − ÃZ(7I − ÃZ)))."""
    size = len(a)
    col = max(sum(abs(a[i][j]) for i in range(size)) for j in range(size))
    row = max(sum(abs(x) for x in r) for r in a)
    z = [[x / (col * row) for x in r] for r in transpose(a)]
    identity = eye(size)
    for _ in range(iterations):
        az = matmul(a, z)
        t1 = add(identity, az, 7.0, -1.0)
        t3 = add(identity, matmul(az, t1), 15.0, -1.0)
        t5 = add(identity, matmul(az, t3), 13.0, -1.0)
        z = [[0.25 * x for x in r] for r in matmul(z, t5)]
    return z


def nystrom(q, k, v, landmarks, iterations):
    """softmax(QK̃ᵀ/√d)·Ã⁺·(softmax(Q̃Kᵀ/√d)·V), segment-mean landmarks."""
    n, d = len(q), len(q[0])
    landmarks = max(1, min(landmarks, n))
    q_l, k_l = segment_means(q, landmarks), segment_means(k, landmarks)

    def kernel(a, b):
        return [softmax_row([x / math.sqrt(d) for x in r]) for r in matmul(a, transpose(b))]

    f, a, b = kernel(q, k_l), kernel(q_l, k_l), kernel(q_l, k)
    z = pinv_iterative(a, iterations)
    return matmul(f, matmul(z, matmul(b, v)))
