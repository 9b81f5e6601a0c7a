"""TentNet: a width-4 ReLU network whose layers compose tent maps (exactly 2^depth pieces).

The mathematics (``shared/DESIGN.md`` section 2), with ``t`` the input mapped to [0, 1]::

    T_a(y) = min(y / a, (1 - y) / (1 - a))            for y in [0, 1], peak a in (0, 1)
    W_0(t) = t,   W_i = T_{a_i}(W_{i-1})              (W_i has exactly 2^i linear pieces)
    F(t)   = c_0 + c_1 t + sum_{i=1..d} s_i W_i(t)

With ``smooth=True`` the scales are tied to the peaks by the smoothness condition
``s_{i+1} = s_i (1 - a_{i+1}) a_{i+2}`` (one extra peak ``a_{d+1}``), so the free parameters are
the d + 1 peaks, one overall scale ``s_1`` and the linear part ``c_0, c_1``.

The functional helpers here take a leading batch dimension ``N`` so that many networks can be
evaluated (and trained) as one tensor program; :class:`TentNet` is the single-network module.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .errors import TentnetError
from .mlp import matvec, sequential_from_layers

DEFAULT_MARGIN = 0.05
"""Peaks live in [margin, 1 - margin] (the smoothness result assumes they stay away from 0, 1)."""

MAX_DEPTH = 64


def check_depth(depth: int) -> int:
    """Return ``depth`` if it is a whole number in 1..MAX_DEPTH, else raise TentnetError."""
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise TentnetError(f"depth must be a whole number from 1 to {MAX_DEPTH}, got {depth!r}")
    return depth


def check_domain(domain: tuple[float, float]) -> tuple[float, float]:
    """Return ``(lo, hi)`` as floats if finite with lo < hi, else raise TentnetError."""
    try:
        lo, hi = (float(v) for v in domain)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int past float range
        raise TentnetError(f"domain must be two numbers LO,HI, got {domain!r}") from None
    # In float64 (a float32 check called 1e39 infinite); the width must be finite too.
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi and math.isfinite(hi - lo)):
        raise TentnetError(
            f"domain must be finite with LO < HI and a finite width HI - LO, got {lo!r},{hi!r}"
        )
    return lo, hi


def peaks_from_logits(logits: Tensor, margin: float = DEFAULT_MARGIN) -> Tensor:
    """Smooth map R -> (margin, 1 - margin); never clamps, so gradients never vanish at a bound."""
    return margin + (1.0 - 2.0 * margin) * torch.sigmoid(logits)


def logits_from_peaks(peaks: Tensor, margin: float = DEFAULT_MARGIN) -> Tensor:
    """Inverse of :func:`peaks_from_logits`; peaks must lie strictly inside (margin, 1 - margin)."""
    p = (peaks - margin) / (1.0 - 2.0 * margin)
    if not bool(((p > 0) & (p < 1)).all()):
        raise TentnetError(f"peaks must lie strictly inside ({margin}, {1 - margin})")
    return torch.log(p) - torch.log1p(-p)


def smooth_scales(peaks: Tensor, scale: Tensor) -> Tensor:
    """Scales tied to the peaks by the smoothness condition.

    Args:
        peaks: ``(..., d + 1)`` peaks ``a_1 .. a_{d+1}``.
        scale: ``(...)`` the first scale ``s_1``.

    Returns:
        ``(..., d)`` scales with ``s_{i+1} = s_i (1 - a_{i+1}) a_{i+2}``.
    """
    ratios = (1.0 - peaks[..., 1:-1]) * peaks[..., 2:]
    ones = torch.ones_like(peaks[..., :1])
    return scale.unsqueeze(-1) * torch.cumprod(torch.cat([ones, ratios], dim=-1), dim=-1)


def smooth_scales_backward(
    peaks: Tensor, scale: Tensor, grad_scales: Tensor
) -> tuple[Tensor, Tensor]:
    """Pull the gradient of the scales back through :func:`smooth_scales`, explicitly.

    With ``s_j = s_1 R_j``, ``R_j = prod_{k<j} r_k`` and ``r_k = (1 - a_{k+1}) a_{k+2}``:
    ``dL/ds_1 = sum_j g_j R_j`` and ``dL/dr_k = sum_{j>k} g_j s_j / r_k``.

    Args:
        peaks: ``(N, d + 1)``; scale: ``(N,)``; grad_scales: ``(N, d)``.

    Returns:
        ``(grad_peaks (N, d + 1), grad_scale (N,))``.
    """
    ratios = (1.0 - peaks[:, 1:-1]) * peaks[:, 2:]
    cum = torch.cumprod(torch.cat([torch.ones_like(peaks[:, :1]), ratios], dim=1), dim=1)
    grad_scale = (grad_scales * cum).sum(1)
    u = grad_scales * cum * scale[:, None]  # g_j s_j
    tail = u.flip(1).cumsum(1).flip(1)[:, 1:]  # sum_{j > k} g_j s_j, k = 0 .. d - 2
    grad_r = tail / ratios
    grad_peaks = torch.zeros_like(peaks)
    grad_peaks[:, 1:-1] -= grad_r * peaks[:, 2:]
    grad_peaks[:, 2:] += grad_r * (1.0 - peaks[:, 1:-1])
    return grad_peaks, grad_scale


def tent_levels(t: Tensor, peaks: Tensor) -> Tensor:
    """The composed tents ``W_1 .. W_d`` at points ``t`` in [0, 1].

    Args:
        t: ``(N, P)`` points in [0, 1].
        peaks: ``(N, d)`` (extra trailing peaks are ignored only if the caller slices them).

    Returns:
        ``(N, P, d)`` with ``[..., i - 1] = W_i(t)``.
    """
    levels = []
    w = t
    for i in range(peaks.shape[-1]):
        a = peaks[:, i : i + 1]
        w = torch.minimum(w / a, (1.0 - w) / (1.0 - a))
        levels.append(w)
    return torch.stack(levels, dim=-1)


def tent_forward(t: Tensor, peaks: Tensor, scales: Tensor, c0: Tensor, c1: Tensor) -> Tensor:
    """Closed form ``F(t) = c0 + c1 t + sum_i s_i W_i(t)``, batched.

    Args:
        t: ``(N, P)`` in [0, 1]; peaks: ``(N, >= d)``; scales: ``(N, d)``; c0, c1: ``(N,)``.

    Returns:
        ``(N, P)``.
    """
    d = scales.shape[-1]
    levels = tent_levels(t, peaks[:, :d])
    return c0[:, None] + c1[:, None] * t + (levels * scales[:, None, :]).sum(-1)


def tent_mlp_layers(
    peaks: Tensor,
    scales: Tensor,
    c0: Tensor,
    c1: Tensor,
    domain: tuple[float, float] = (0.0, 1.0),
    smooth: bool = True,
) -> list[tuple[Tensor, Tensor]]:
    """Weights of the plain width-4 ReLU MLP that computes the tent network exactly on the domain.

    Hidden layer j (1..d) holds the neurons ``[sum, t1, t2, bias]``::

        sum = c1 t + sum_{i<j} s_i W_i + K     (K = |c1| + sum |s_i| keeps it non-negative)
        t1  = rho_j W_{j-1}
        t2  = rho_j relu(W_{j-1} - a_j)
        bias= rho_j                             (carried constant; replaces tiny bias terms)

    The carried scale ``rho_j`` follows the scales (``rho_{j+1}/rho_j = s_{j+1}/s_j`` under the
    smoothness condition, else 1/4), so every weight stays O(1) however deep the network is. The
    affine map from ``domain`` to [0, 1] is folded into the first layer.

    Args:
        peaks: ``(N, d + 1)`` if smooth else ``(N, >= d)``; scales: ``(N, d)``; c0, c1: ``(N,)``.

    Returns:
        ``d + 1`` pairs ``(weight (N, out, in), bias (N, out))``, differentiable in the inputs.
    """
    lo, hi = domain
    width = hi - lo
    n, d = scales.shape
    a = peaks[:, :d]
    if smooth and d > 1:
        q = (1.0 - peaks[:, 1:d]) * peaks[:, 2 : d + 1]
    else:
        q = torch.full((n, max(d - 1, 0)), 0.25, dtype=scales.dtype, device=scales.device)
    rho = torch.cumprod(torch.cat([torch.ones_like(scales[:, :1]), q], dim=1), dim=1)
    sr = scales / rho  # (N, d): weight of the formed level on the running sum
    k = c1.abs() + scales.abs().sum(1)
    zero = torch.zeros_like(c0)
    one = torch.ones_like(c0)

    def col(*vals: Tensor) -> Tensor:
        return torch.stack(vals, dim=-1)

    layers = []
    w_in = col(c1 / width, one / width, one / width, zero).unsqueeze(-1)
    b_in = col(k - c1 * lo / width, -lo / width * one, -lo / width - a[:, 0], one)
    layers.append((w_in, b_in))
    for j in range(d):
        inv_a = 1.0 / a[:, j]
        inv_ab = 1.0 / (a[:, j] * (1.0 - a[:, j]))
        if j == d - 1:
            w = col(one, sr[:, j] * inv_a, -sr[:, j] * inv_ab, zero).unsqueeze(1)
            layers.append((w, (c0 - k).unsqueeze(-1)))
            break
        qj = q[:, j]
        rows = [
            col(one, sr[:, j] * inv_a, -sr[:, j] * inv_ab, zero),
            col(zero, qj * inv_a, -qj * inv_ab, zero),
            col(zero, qj * inv_a, -qj * inv_ab, -a[:, j + 1] * qj),
            col(zero, zero, zero, qj),
        ]
        layers.append(
            (torch.stack(rows, dim=1), torch.zeros(n, 4, dtype=c0.dtype, device=c0.device))
        )
    return layers


class TentNet(nn.Module):
    """Width-4 ReLU network of ``depth`` hidden layers built from composed tent maps.

    ``depth`` counts hidden layers (= tent levels); the function has exactly ``2**depth``
    linear pieces on ``domain`` for any peaks in (0, 1).

    Args:
        depth: number of hidden layers d (1..64).
        domain: ``(lo, hi)``; inputs are mapped affinely to [0, 1].
        smooth: tie the scales to the peaks by the smoothness condition (d + 1 peaks, one scale);
            otherwise the d scales are free parameters.
        peaks: initial peaks, shape ``(d + 1,)`` if smooth else ``(d,)``; default all 1/2, which
            with the default linear part gives Yarotsky's interpolant of ``t**2``.
        margin: peaks are kept in ``(margin, 1 - margin)`` by a sigmoid, never clamped.
        dtype, device: of the parameters (float64 is recommended for errors below 1e-7).

    Shapes: ``forward`` maps ``(..., 1)`` raw inputs to ``(..., 1)`` outputs, like ``to_mlp()``.
    """

    def __init__(
        self,
        depth: int,
        domain: tuple[float, float] = (0.0, 1.0),
        *,
        smooth: bool = True,
        peaks: Tensor | None = None,
        margin: float = DEFAULT_MARGIN,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.depth = check_depth(depth)
        self.domain = check_domain(domain)
        self.smooth = bool(smooth)
        self.margin = float(margin)
        n_peaks = depth + 1 if smooth else depth
        kw = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        if peaks is None:
            peaks = torch.full((n_peaks,), 0.5, **kw)
        peaks = torch.as_tensor(peaks, **kw)
        if peaks.shape != (n_peaks,):
            raise TentnetError(f"peaks must have shape ({n_peaks},), got {tuple(peaks.shape)}")
        self.peak_logits = nn.Parameter(logits_from_peaks(peaks, self.margin))
        yarotsky = -(0.25 ** torch.arange(depth, **kw))  # s_i = -4^-i (times 4 for i = 1)
        if smooth:
            self.scale = nn.Parameter(torch.tensor(-0.25, **kw))
        else:
            self.scales_free = nn.Parameter(yarotsky * 0.25)
        self.c0 = nn.Parameter(torch.tensor(0.0, **kw))
        self.c1 = nn.Parameter(torch.tensor(1.0, **kw))

    @property
    def peaks(self) -> Tensor:
        """The peaks ``a_1 ..`` in (margin, 1 - margin): ``(d + 1,)`` if smooth else ``(d,)``."""
        return peaks_from_logits(self.peak_logits, self.margin)

    @property
    def scales(self) -> Tensor:
        """The scales ``s_1 .. s_d``, shape ``(d,)``."""
        if self.smooth:
            return smooth_scales(self.peaks[None], self.scale[None])[0]
        return self.scales_free

    def normalise(self, x: Tensor) -> Tensor:
        """Map raw inputs from the domain to t in [0, 1]."""
        lo, hi = self.domain
        return (x - lo) / (hi - lo)

    def forward(self, x: Tensor) -> Tensor:
        """Closed-form output; ``x`` of shape ``(..., 1)`` in raw units, returns ``(..., 1)``."""
        t = self.normalise(x).reshape(1, -1)
        y = tent_forward(t, self.peaks[None], self.scales[None], self.c0[None], self.c1[None])
        return y.reshape(x.shape)

    def levels(self, x: Tensor) -> Tensor:
        """The composed tents ``W_1 .. W_d`` at raw inputs ``x`` of shape ``(P,)``: ``(P, d)``."""
        return tent_levels(self.normalise(x).reshape(1, -1), self.peaks[None, : self.depth])[0]

    def mlp_layers(self) -> list[tuple[Tensor, Tensor]]:
        """The plain MLP's weights as stacked ``(weight (1, out, in), bias (1, out))`` pairs."""
        return tent_mlp_layers(
            self.peaks[None],
            self.scales[None],
            self.c0[None],
            self.c1[None],
            self.domain,
            self.smooth,
        )

    def to_mlp(self) -> nn.Sequential:
        """A plain ``nn.Sequential`` of Linear/ReLU (width 4, ``depth`` hidden layers) computing
        the same function on the domain (float64: max abs difference about 1e-12)."""
        with torch.no_grad():
            return sequential_from_layers(self.mlp_layers())

    def extra_repr(self) -> str:
        return f"depth={self.depth}, domain={self.domain}, smooth={self.smooth}"


def _levels_and_slopes(t: Tensor, a: Tensor) -> tuple[Tensor, list[Tensor]]:
    """``W_1 .. W_d`` as ``(N, P, d)`` and the list of ``dW_i/dW_{i-1}`` for peaks ``a (N, d)``."""
    # Per-level columns, unbound once (indexing inside the loop costs more than the arithmetic).
    a_col = a.t().unsqueeze(-1).unbind(0)
    inv_a = (1.0 / a).t().unsqueeze(-1).unbind(0)
    inv_b = (1.0 / (1.0 - a)).t().unsqueeze(-1).unbind(0)
    neg_inv_b = (-1.0 / (1.0 - a)).t().unsqueeze(-1).unbind(0)
    levels, slopes = [], []
    w = t
    for i in range(a.shape[1]):
        up = w <= a_col[i]
        w = torch.where(up, w * inv_a[i], (1.0 - w) * inv_b[i])
        levels.append(w)
        slopes.append(torch.where(up, inv_a[i], neg_inv_b[i]))
    return torch.stack(levels, dim=-1), slopes


def _backward(g: Tensor, lv: Tensor, slopes: list[Tensor], scales: Tensor) -> tuple[Tensor, ...]:
    """Gradients with respect to peaks and scales, given ``g = dL/dF`` of shape ``(N, P)``."""
    d = scales.shape[1]
    s_col = scales.t().unsqueeze(-1).unbind(0)
    grad_scales = (lv * g.unsqueeze(-1)).sum(1)  # g @ lv per network (see mlp.matvec)
    totals = [g] * d  # dL/dW_i, accumulated from the deeper levels
    total = torch.zeros_like(g)
    for i in range(d - 1, -1, -1):
        total = torch.addcmul(total, s_col[i], g)
        totals[i] = total
        total = total * slopes[i]
    # dW_i/da_i = -W_i * dW_i/dW_{i-1} on both sides of the tent.
    grad_peaks = -(torch.stack(totals, dim=-1) * lv * torch.stack(slopes, dim=-1)).sum(1)
    return grad_peaks, grad_scales


def tent_loss_and_grad(
    t: Tensor,
    y: Tensor,
    peaks: Tensor | list[Tensor],
    scales: Tensor | list[Tensor],
    c0: Tensor,
    c1: Tensor,
) -> tuple[Tensor, tuple]:
    """Per-network MSE of the closed form and its gradient, by an explicit backward pass.

    With ``W_i = W_{i-1} / a_i`` on the rising side and ``(1 - W_{i-1}) / (1 - a_i)`` on the
    falling side, ``dW_i/dW_{i-1}`` is ``1/a_i`` or ``-1/(1 - a_i)`` and ``dW_i/da_i`` is
    ``-W_i/a_i`` or ``W_i/(1 - a_i)``; the gradient flows back level by level.

    Args:
        t, y: ``(N, P)``; peaks: ``(N, >= d)``; scales: ``(N, d)``; c0, c1: ``(N,)``. Peaks and
            scales may also be lists (one entry per tent network, for a sum of networks such
            as a difference-of-convex pair); the output is then ``c0 + c1 t`` plus every
            network's levels.

    Returns:
        ``loss (N,)`` and the gradients of ``loss.sum()`` with respect to
        ``(peaks[:, :d], scales, c0, c1)`` (peaks and scales as lists when given as lists).
    """
    many = isinstance(peaks, list)
    peak_list = peaks if many else [peaks]
    scale_list = scales if many else [scales]
    out = (c0[:, None] + c1[:, None] * t).unsqueeze(-1)
    parts = []
    for p, s in zip(peak_list, scale_list, strict=True):
        lv, slopes = _levels_and_slopes(t, p[:, : s.shape[1]])
        out = out + matvec(lv, s).unsqueeze(-1)
        parts.append((lv, slopes, s))
    err = out.squeeze(-1) - y
    count = t.shape[1]
    loss = (err * err).sum(1) / count
    g = err * (2.0 / count)
    grads = [_backward(g, lv, slopes, s) for lv, slopes, s in parts]
    gp = [gr[0] for gr in grads]
    gs = [gr[1] for gr in grads]
    if not many:
        gp, gs = gp[0], gs[0]
    return loss, (gp, gs, g.sum(1), (g * t).sum(1))
