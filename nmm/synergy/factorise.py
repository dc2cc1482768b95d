"""Muscle synergies of measured excitations: non-negative matrix factorisation and PCA.

The measured matrix ``E`` (argument ``x``: T samples × M channels) is written as k synergy
excitations ("commands", ``C``: T × k) times weights (``W``: k × M):

- :func:`nmf` ``E ≈ C W`` with ``C, W >= 0``: Lee & Seung (2001) multiplicative updates for the
  Frobenius norm, as MATLAB's ``nnmf(..., 'algorithm', 'mult')`` that the NMSM Pipeline's SynX
  calls (``getSynergyCommands.m``: 20 replicates, TolX = TolFun = 1e-10), several random
  starts run side by side and the best kept. The scale between ``C`` and ``W`` is fixed as SynX
  fixes it (commands multiplied by the row sums of the weights): each row of ``W`` sums to 1,
  so a command is on the scale of the excitations it builds. Synergies are ordered by
  decreasing contribution ``||C_k|| · ||W_k||``.
- :func:`pca` ``E ≈ mean + C W`` with ``C`` the principal-component scores and ``W`` the
  orthonormal loadings (MATLAB ``pca``'s ``score``/``coeff``, as ``getPcaCommands.m`` uses
  them); each loading's largest-magnitude entry is made positive (MATLAB's sign convention).

Both return a :class:`Factorisation` (it unpacks as ``C, W``) whose ``vaf`` is the variance
accounted for, ``1 - ||E - Ê||² / ||E||²`` (uncentred, the usual synergy-analysis definition;
Torres-Oviedo et al. 2006), so NMF and PCA are compared on one scale.

Bad input (non-finite values, negative values for NMF, k outside 1..M, an empty matrix) raises
:class:`FactorisationError` saying which.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["Factorisation", "FactorisationError", "check_matrix", "nmf", "pca", "vaf"]

# Floor of the denominators of the multiplicative updates (MATLAB nnmf and sklearn use eps).
_EPS = 1e-12
# How often (iterations) convergence is checked; each check costs one reconstruction.
_CHECK_EVERY = 10


class FactorisationError(ValueError):
    """The matrix cannot be factorised as asked (shape, values, or number of synergies)."""


@dataclass(frozen=True)
class Factorisation:
    """``E ≈ offset + commands @ weights`` (T samples, k synergies, M channels).

    Attributes:
        method: ``"nmf"`` or ``"pca"``.
        commands: ``(T, k)`` synergy excitations C (>= 0 for NMF; PCA scores otherwise).
        weights: ``(k, M)`` synergy weights W (rows sum to 1 for NMF; orthonormal for PCA).
        offset: ``(M,)`` the channel means for PCA, zeros for NMF.
        vaf: variance accounted for, ``1 - ||E - Ê||² / ||E||²``.
        iterations: NMF iterations of the kept replicate (0 for PCA).
    """

    method: str
    commands: np.ndarray
    weights: np.ndarray
    offset: np.ndarray
    vaf: float
    iterations: int = 0

    @property
    def n_synergies(self) -> int:
        return int(self.weights.shape[0])

    def __iter__(self) -> Iterator[np.ndarray]:
        """Unpacks as ``(commands, weights)``: ``C, W = nmf(x, k)``."""
        return iter((self.commands, self.weights))

    def reconstruct(self) -> np.ndarray:
        """``(T, M)`` Ê = offset + C W."""
        return self.offset + self.commands @ self.weights


def check_matrix(x: np.ndarray, k: int, *, non_negative: bool, where: str = "") -> np.ndarray:
    """``x`` (E) as a float64 ``(T, M)`` array, or :class:`FactorisationError`.

    Args:
        x: ``(T, M)`` measured excitations E.
        k: number of synergies, 1 <= k <= M.
        non_negative: require E >= 0 (NMF).
        where: what the matrix is (e.g. ``"subject S01"``), for the message.
    """
    prefix = f"{where}: " if where else ""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise FactorisationError(f"{prefix}expected a (time x channels) matrix, got {x.shape}")
    n_t, n_m = x.shape
    if n_m == 0:
        raise FactorisationError(f"{prefix}no measured channel to factorise")
    if n_t == 0:
        raise FactorisationError(f"{prefix}no samples to factorise")
    bad = ~np.isfinite(x)
    if bad.any():
        t, m = np.argwhere(bad)[0]
        raise FactorisationError(
            f"{prefix}{int(bad.sum())} non-finite value(s) (NaN or inf), first at sample {t}, "
            f"channel {m}"
        )
    if not 1 <= int(k) <= n_m:
        raise FactorisationError(
            f"{prefix}{k} synergies asked for {n_m} measured channel(s); choose 1 <= k <= {n_m}"
        )
    if non_negative and (x < 0).any():
        raise FactorisationError(
            f"{prefix}NMF needs non-negative excitations; minimum is {x.min():.3g} "
            "(rectified envelopes are >= 0)"
        )
    if not np.any(x):
        raise FactorisationError(f"{prefix}every value is zero: nothing to factorise")
    return x


def vaf(x: np.ndarray, reconstruction: np.ndarray) -> float:
    """Variance accounted for, ``1 - ||E - Ê||² / ||E||²`` (uncentred)."""
    x = np.asarray(x, dtype=float)
    return 1.0 - float(np.sum((x - reconstruction) ** 2)) / float(np.sum(x**2))


def nmf(
    x: np.ndarray,
    k: int,
    *,
    replicates: int = 20,
    max_iter: int = 1000,
    tol: float = 1e-6,
    seed: int = 0,
) -> Factorisation:
    """Non-negative ``E ≈ C W`` by multiplicative updates, best of ``replicates`` random starts.

    Updates (Lee & Seung 2001, Frobenius norm; MATLAB ``nnmf`` 'mult')::

        W <- W ⊙ (Cᵀ E) / (Cᵀ C W)        C <- C ⊙ (E Wᵀ) / (C W Wᵀ)

    Each replicate starts from uniform random factors scaled to E's mean (sklearn's 'random'
    initialisation); all replicates iterate together (stacked arrays) and stop when the
    relative decrease of every replicate's residual norm over ``_CHECK_EVERY`` iterations is
    below ``tol``, or after ``max_iter``. The replicate with the smallest residual is kept.

    Args:
        x: ``(T, M)`` non-negative excitations E.
        k: synergies, 1 <= k <= M.
        replicates: random starts (SynX: 20).
        max_iter: iteration limit.
        tol: relative residual change that counts as converged.
        seed: seed of the random starts.

    Returns:
        A :class:`Factorisation` (rows of ``weights`` summing to 1).

    Raises:
        FactorisationError: see :func:`check_matrix`.
    """
    x = check_matrix(x, k, non_negative=True)
    k, replicates = int(k), max(1, int(replicates))
    n_t, n_m = x.shape
    rng = np.random.default_rng(seed)
    scale = np.sqrt(x.mean() / k)
    c = rng.uniform(0.0, 1.0, (replicates, n_t, k)) * scale
    w = rng.uniform(0.0, 1.0, (replicates, k, n_m)) * scale
    norm_e = np.linalg.norm(x)

    def residual(c: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.linalg.norm(x - c @ w, axis=(1, 2)) / norm_e

    last = residual(c, w)
    it = 0
    while it < max_iter:
        w *= (c.transpose(0, 2, 1) @ x) / (c.transpose(0, 2, 1) @ c @ w + _EPS)
        c *= (x @ w.transpose(0, 2, 1)) / (c @ (w @ w.transpose(0, 2, 1)) + _EPS)
        it += 1
        if it % _CHECK_EVERY == 0 or it == max_iter:
            now = residual(c, w)
            converged = np.all(last - now <= tol * np.maximum(last, _EPS))
            last = now
            if converged:
                break
    best = int(np.argmin(last))
    c, w = c[best], w[best]
    # SynX's scaling: commands times the row sums of the weights, so rows of W sum to 1
    sums = w.sum(axis=1)
    sums = np.where(sums > 0, sums, 1.0)
    c, w = c * sums, w / sums[:, None]
    order = np.argsort(-(np.linalg.norm(c, axis=0) * np.linalg.norm(w, axis=1)), kind="stable")
    c, w = c[:, order], w[order]
    return Factorisation("nmf", c, w, np.zeros(n_m), vaf(x, c @ w), it)


def pca(x: np.ndarray, k: int) -> Factorisation:
    """``x`` = E ≈ mean + C W: the first ``k`` principal components (SVD of the centred matrix).

    ``C`` are the scores (T × k, MATLAB ``pca``'s ``score``), ``W`` the loadings (k × M,
    orthonormal rows, ``coeff'``), ``offset`` the channel means. SynX adds a free constant per
    muscle to the PCA commands (``calcMuscleExcitationsSynX.m``); the offset is that constant's
    natural start.

    Raises:
        FactorisationError: see :func:`check_matrix`.
    """
    x = check_matrix(x, k, non_negative=False)
    k = int(k)
    mean = x.mean(axis=0)
    u, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    w = vt[:k]
    c = u[:, :k] * s[:k]
    # MATLAB's convention: the largest-magnitude loading of each component is positive
    flip = np.sign(w[np.arange(k), np.argmax(np.abs(w), axis=1)])
    flip = np.where(flip == 0, 1.0, flip)
    c, w = c * flip, w * flip[:, None]
    return Factorisation("pca", c, w, mean, vaf(x, mean + c @ w), 0)
