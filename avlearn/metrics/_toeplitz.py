"""Solvers for the symmetric positive (semi-)definite block-Toeplitz systems of BSS Eval.

The Gram matrix of the delayed references in BSS Eval (Vincent, Gribonval & Févotte, IEEE
TASLP 14(4), 2006, Sec. III.B) has L x L blocks of size S x S with ``T[a, b] = M(b - a)`` and
``M(-t) = M(t)ᵀ``. Its solution filters come from the block Levinson recursion (Akaike, "Block
Toeplitz matrix inversion", SIAM J. Appl. Math. 24(2), 1973), O(L² S³) instead of the O(L³ S³)
of a dense factorisation:

* :func:`block_levinson` runs one system at a time in a compiled loop (numba, which librosa
  already requires) and falls back to :func:`block_levinson_numpy`, the same recursion written
  as one matrix product per step, where numba is missing;
* :func:`toeplitz_matvec` applies ``T`` by one FFT convolution, so every solution is checked by
  its residual;
* :func:`dense_solve` is the last fallback for systems the recursion cannot solve accurately
  (numerically singular Gram matrices, e.g. tones): Cholesky of the diagonally loaded matrix.

Profiling note (2 and 3 sources of 6 s at 11025 Hz, L = 512): the recursion written with
numpy spent ~0.2-0.4 ms of Python and small-array overhead in each of its L steps, 0.1-0.3 s
in all, more than every other part together; compiled, it takes a few milliseconds.
"""

from __future__ import annotations

import importlib.util

import numpy as np

__all__ = ["block_levinson", "block_levinson_numpy", "toeplitz_matvec", "dense_solve", "HAVE_NUMBA"]

#: Whether numba can be imported (it comes with librosa, a dependency of avlearn); without it
#: the numpy recursion stands in. numba itself is imported on the first solve, not here.
HAVE_NUMBA = importlib.util.find_spec("numba") is not None
_JIT: dict[str, object] = {}


def _inv_small(a: np.ndarray) -> np.ndarray:
    """Inverse of a small square matrix by Gauss-Jordan with partial pivoting (NaN if singular)."""
    n = a.shape[0]
    m = a.copy()
    inv = np.eye(n)
    for col in range(n):
        piv = col
        for r in range(col + 1, n):
            if abs(m[r, col]) > abs(m[piv, col]):
                piv = r
        if not (abs(m[piv, col]) > 0.0):  # zero or NaN pivot
            inv[:] = np.nan
            return inv
        if piv != col:
            for c in range(n):
                m[col, c], m[piv, c] = m[piv, c], m[col, c]
                inv[col, c], inv[piv, c] = inv[piv, c], inv[col, c]
        d = 1.0 / m[col, col]
        for c in range(n):
            m[col, c] *= d
            inv[col, c] *= d
        for r in range(n):
            if r != col:
                g = m[r, col]
                if g != 0.0:
                    for c in range(n):
                        m[r, c] -= g * m[col, c]
                        inv[r, c] -= g * inv[col, c]
    return inv


def _levinson_one(mflip: np.ndarray, mfwd: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Block Levinson for one system, delays innermost so every inner loop is a SIMD dot/axpy.

    Args:
        mflip: (S, S, L) with ``mflip[j, i, L-1-t] = M(t)_ji``.
        mfwd: (S, S, L) with ``mfwd[i, j, t] = M(t)_ij``.
        y: (S, K, L) right-hand sides, ``y[i, k, a]``.

    Returns:
        x: (S, K, L); all NaN where a pivot was singular.

    Keeps the forward and backward block vectors ``f``, ``b`` (``T_n f = [I, 0..]ᵀ``,
    ``T_n b = [.., 0, I]ᵀ``) and the solution ``x`` of the leading n-block system and grows them
    by one block per step; ``b`` is stored one delay later (``bs[.., p+1] = b_p``) so the padded
    ``[f; 0]`` and ``[0; b]`` of the update share their delay index.
    """
    s, k, flen = y.shape
    f = np.zeros((s, s, flen + 1))
    nf = np.zeros((s, s, flen + 1))
    bs = np.zeros((s, s, flen + 1))
    nbs = np.zeros((s, s, flen + 1))
    x = np.zeros((s, k, flen))
    ef = np.zeros((s, s))
    eb = np.zeros((s, s))
    r = np.zeros((s, k))
    m0 = mfwd[:, :, 0].copy()
    inv0 = _inv_small(m0)
    if not np.isfinite(inv0[0, 0]):
        x[:] = np.nan
        return x
    for i in range(s):
        for c in range(s):
            f[i, c, 0] = inv0[i, c]
            bs[i, c, 1] = inv0[i, c]
        for c in range(k):
            v = 0.0
            for j in range(s):
                v += inv0[i, j] * y[j, c, 0]
            x[i, c, 0] = v
    couple = np.eye(2 * s)
    for n in range(1, flen):
        lo = flen - 1 - n
        # eps_f = sum_p M(n-p)ᵀ f_p and eps_x (last block row of T_{n+1} [f; 0], [x; 0]);
        # eps_b = sum_p M(p+1) b_p (first block row of T_{n+1} [0; b]).
        for i in range(s):
            for c in range(s):
                vf = 0.0
                vb = 0.0
                for j in range(s):
                    for p in range(n):
                        vf += mflip[j, i, lo + p] * f[j, c, p]
                        vb += mfwd[i, j, p + 1] * bs[j, c, p + 1]
                ef[i, c] = vf
                eb[i, c] = vb
            for c in range(k):
                vx = 0.0
                for j in range(s):
                    for p in range(n):
                        vx += mflip[j, i, lo + p] * x[j, c, p]
                r[i, c] = y[i, c, n] - vx
        for i in range(s):
            for j in range(s):
                couple[i, s + j] = eb[i, j]
                couple[s + i, j] = ef[i, j]
        mix = _inv_small(couple)  # [[X, U], [Y, V]]
        if not np.isfinite(mix[0, 0]):
            x[:] = np.nan
            return x
        # new f = [f; 0] X + [0; b] Y, new b = [f; 0] U + [0; b] V, x += [new b] r
        for i in range(s):
            for c in range(s):
                for p in range(n + 1):
                    nf[i, c, p] = 0.0
                    nbs[i, c, p + 1] = 0.0
                for j in range(s):
                    a_x = mix[j, c]
                    a_u = mix[j, s + c]
                    a_y = mix[s + j, c]
                    a_v = mix[s + j, s + c]
                    for p in range(n + 1):
                        fv = f[i, j, p]
                        bv = bs[i, j, p]
                        nf[i, c, p] += fv * a_x + bv * a_y
                        nbs[i, c, p + 1] += fv * a_u + bv * a_v
            for c in range(k):
                for j in range(s):
                    rj = r[j, c]
                    for p in range(n + 1):
                        x[i, c, p] += nbs[i, j, p + 1] * rj
        f, nf = nf, f
        bs, nbs = nbs, bs
    return x


def _compiled():
    """The compiled recursion (numba's on-disk cache makes later processes skip compiling)."""
    if "levinson" not in _JIT:
        import numba

        global _inv_small
        _inv_small = numba.njit(cache=True)(_inv_small)  # the kernel calls it by this global name
        _JIT["levinson"] = numba.njit(cache=True, fastmath={"reassoc", "contract"})(_levinson_one)
    return _JIT["levinson"]


def block_levinson_numpy(mpos: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Solve ``T x = y`` for a batch of block-Toeplitz systems with numpy (no compiler).

    The same recursion as :func:`block_levinson`, written with one matrix product per step: the
    backward vector is stored one block down, so the padded ``[f; 0]`` and ``[0; b]`` of the
    update are the same rows of one array and the step is ``rows @ [mix | mix_b r]``.

    Args:
        mpos: (B, L, S, S) blocks ``M(0) ... M(L-1)``.
        y: (B, L, S, K) right-hand sides.

    Returns:
        x: (B, L, S, K); NaN or inf where a pivot was singular.
    """
    b, flen, s, _ = mpos.shape
    k = y.shape[-1]
    cols = 2 * s + k
    # rev[:, i, (L-1-t) S + j] = M(t)ᵀ_ij and fwd[:, i, t S + j] = M(t)_ij: a slice of delays is
    # a matrix with a row stride, so each product is one BLAS call.
    rev = np.ascontiguousarray(np.swapaxes(mpos, 2, 3)[:, ::-1].transpose(0, 2, 1, 3)).reshape(b, s, flen * s)
    fwd = np.ascontiguousarray(mpos.transpose(0, 2, 1, 3)).reshape(b, s, flen * s)
    w = np.zeros((b, (flen + 1) * s, cols))  # rows p*S..: [f_p | b_{p-1} | x_p]
    with np.errstate(all="ignore"):
        try:
            inv0 = np.linalg.inv(mpos[:, 0])  # (B, S, S)
        except np.linalg.LinAlgError:
            return np.full(y.shape, np.nan)
        w[:, :s, :s] = inv0
        w[:, s : 2 * s, s : 2 * s] = inv0
        w[:, :s, 2 * s :] = inv0 @ y[:, 0]
        couple = np.zeros((b, 2 * s, 2 * s))  # [[I, eps_b], [eps_f, I]]
        couple[:, np.arange(2 * s), np.arange(2 * s)] = 1.0
        rhs = np.empty((b, 2 * s, cols))
        for n in range(1, flen):
            ns = n * s
            eps = rev[:, :, (flen - 1 - n) * s : (flen - 1) * s] @ w[:, :ns]  # (B, S, 2S+K)
            couple[:, s:, :s] = eps[..., :s]
            couple[:, :s, s:] = fwd[:, :, s : ns + s] @ w[:, s : ns + s, s : 2 * s]
            try:
                mix = np.linalg.inv(couple)  # (B, 2S, 2S)
            except np.linalg.LinAlgError:
                return np.full(y.shape, np.nan)
            rhs[..., : 2 * s] = mix
            rhs[..., 2 * s :] = mix[..., s:] @ (y[:, n] - eps[..., 2 * s :])
            prod = w[:, : ns + s, : 2 * s] @ rhs  # (B, (n+1)S, 2S+K)
            w[:, : ns + s, 2 * s :] += prod[..., 2 * s :]
            w[:, : ns + s, :s] = prod[..., :s]
            w[:, s : ns + 2 * s, s : 2 * s] = prod[..., s : 2 * s]
    return w[:, : flen * s, 2 * s :].reshape(b, flen, s, k)


def block_levinson(mpos: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Solve ``T x = y`` for a batch of symmetric block-Toeplitz systems (block Levinson).

    ``T`` has L x L blocks of size S x S, ``T[a, b] = M(b - a)`` with ``M(-t) = M(t)ᵀ``.

    Args:
        mpos: (B, L, S, S) blocks ``M(0) ... M(L-1)``.
        y: (B, L, S, K) right-hand sides.

    Returns:
        x: (B, L, S, K); NaN where the recursion met a singular pivot (check the residual
        with :func:`toeplitz_matvec` either way: the recursion is not stable on
        ill-conditioned systems).
    """
    if not HAVE_NUMBA:
        return block_levinson_numpy(mpos, y)
    mfwd = np.ascontiguousarray(mpos.transpose(0, 2, 3, 1), dtype=np.float64)  # (B, S, S, L): [i, j, t] = M(t)_ij
    mflip = np.ascontiguousarray(mfwd[..., ::-1])  # (B, S, S, L): [j, i, L-1-t] = M(t)_ji
    yt = np.ascontiguousarray(y.transpose(0, 2, 3, 1), dtype=np.float64)  # (B, S, K, L)
    out = np.empty(yt.shape)
    kernel = _compiled()
    for i in range(y.shape[0]):
        out[i] = kernel(mflip[i], mfwd[i], yt[i])
    return out.transpose(0, 3, 1, 2)  # (B, L, S, K)


def toeplitz_matvec(xc: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``T c`` for the block-Toeplitz ``T[a, b] = M(b - a)`` with ``M(t)_ij = xc[i, j, t]``.

    Args:
        xc: (B, S, S, n) cross-correlations indexed by lag modulo n (n >= 2L).
        c: (B, L, S, K).

    Returns:
        (B, L, S, K), by one FFT convolution of length 2L.
    """
    flen = c.shape[1]
    n2 = 2 * flen
    u = np.arange(n2)
    u = np.where(u < flen, u, u - n2)  # circular lag of each slot; slot L (lag ±L) is never read
    g = xc[..., (-u) % xc.shape[-1]]  # (B, S, S, 2L): g[u] = M(-u)
    g[..., flen] = 0.0
    cf = np.fft.rfft(c, n=n2, axis=1)  # (B, F, S, K)
    out = np.einsum("bijf,bfjk->bfik", np.fft.rfft(g, axis=-1), cf)  # (B, F, S, K)
    return np.fft.irfft(out, n=n2, axis=1)[:, :flen]


def dense_gram(xc: np.ndarray, flen: int) -> np.ndarray:
    """The dense (B, L·S, L·S) Gram matrix, rows (delay a, source i), columns (delay b, source j)."""
    b, s = xc.shape[:2]
    lag = np.arange(flen)
    gram = xc[..., (lag[None, :] - lag[:, None]) % xc.shape[-1]]  # (B, S, S, L, L): [i, j, a, b] = M(b-a)_ij
    return gram.transpose(0, 3, 1, 4, 2).reshape(b, flen * s, flen * s)


def dense_solve(xc: np.ndarray, y: np.ndarray, load: np.ndarray) -> np.ndarray:
    """Dense fallback of :func:`block_levinson`: Cholesky of ``T + load I`` (LU if that fails).

    Args:
        xc: (B, S, S, n) cross-correlations indexed by lag modulo n.
        y: (B, L, S, K) right-hand sides.
        load: (B,) diagonal loading.

    Returns:
        x: (B, L, S, K).
    """
    import scipy.linalg

    b, flen, s, k = y.shape
    gram = dense_gram(xc, flen)
    gram[:, np.arange(flen * s), np.arange(flen * s)] += load[:, None]
    rhs = y.reshape(b, flen * s, k)
    out = np.empty(rhs.shape)
    for i in range(b):
        try:
            out[i] = scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram[i], check_finite=False), rhs[i], check_finite=False)
        except np.linalg.LinAlgError:
            out[i] = np.linalg.lstsq(gram[i], rhs[i], rcond=None)[0]
    return out.reshape(b, flen, s, k)
