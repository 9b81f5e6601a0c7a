"""The optimisers, in one place: Adam on one flat tensor (:class:`FlatAdam`) with a
cosine-decayed rate (phase 1 and phase 2); Levenberg-Marquardt for N small networks at once
(:func:`levenberg_marquardt`, phase 2 as nonlinear least squares) and the linear solves under
it (:func:`solve_spd`); and the per-seed random streams that start every network.

A 4 x 5 network has about 90 weights and is fitted to a few hundred points: a small nonlinear
least-squares problem. Each LM iteration solves ``(J^T J + lam diag(J^T J)) delta = -J^T r``
per network with the exact Jacobian (:func:`tentnet.mlp.stack_jacobian`), accepts the step
where it lowers that network's loss and adapts that network's damping ``lam``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from .errors import TentnetError
from .mlp import (
    Stack,
    gram,
    matvec,
    rows_to_stack,
    stack_forward,
    stack_jacobian,
    stack_mse,
    stack_to_rows,
)

NetProgress = Callable[[str, int, int, Tensor], None]  # (phase, step, steps, per-network losses)


class FlatAdam:
    """Adam (as ``torch.optim.Adam``, no weight decay) on one flat tensor, in a few fused ops."""

    def __init__(self, param: Tensor, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.param = param
        self.b1, self.b2 = betas
        self.eps = eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    def step(self, grad: Tensor, lr: float) -> None:
        self.t += 1
        self.m.mul_(self.b1).add_(grad, alpha=1.0 - self.b1)
        self.v.mul_(self.b2).addcmul_(grad, grad, value=1.0 - self.b2)
        bc1 = 1.0 - self.b1**self.t
        bc2 = 1.0 - self.b2**self.t
        denom = (self.v.sqrt() / math.sqrt(bc2)).add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-lr / bc1)


def _cosine(step: int, steps: int) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * step / max(steps, 1)))


def _check_finite(loss: Tensor, phase: str, seeds: list[int] | None) -> None:
    if not bool(torch.isfinite(loss).all()):
        bad = torch.nonzero(~torch.isfinite(loss)).flatten().tolist()
        who = f"seed(s) {[seeds[i] for i in bad]}" if seeds else f"network(s) {bad}"
        raise TentnetError(
            f"training diverged in {phase} (non-finite loss for {who}); try a smaller learning "
            f"rate or check the target's scale"
        )


def adam_steps(
    flat: Tensor,
    loss_and_grad: Callable[[], tuple[Tensor, Tensor]],
    steps: int,
    lr: float,
    phase: str,
    record: Callable[[Tensor], None],
    progress: NetProgress | None,
    seeds: list[int],
) -> None:
    """Adam with a cosine-decayed rate on the flat tensor ``flat``, updated in place."""
    adam = FlatAdam(flat)
    report_every = max(1, steps // 100)
    for step in range(steps):
        per_net, grad = loss_and_grad()
        # A non-finite loss poisons the weights for good, so checking now and then (a check
        # waits for the device) still catches divergence, just a few steps later.
        if step % 25 == 0 or step == steps - 1:
            _check_finite(per_net, phase, seeds)
        record(per_net)
        adam.step(grad, lr * _cosine(step, steps))
        if progress is not None and (step % report_every == 0 or step == steps - 1):
            progress(phase, step + 1, steps, per_net)


def stream_generator(*key: int) -> torch.Generator:
    """A random stream of its own for ``key`` (``(seed, stream, ...)``). torch's CPU generator
    keeps only 32 bits of a seed, so the streams are derived by numpy's SeedSequence."""
    return torch.Generator().manual_seed(
        int(np.random.SeedSequence(list(key)).generate_state(1)[0])
    )


def init_generators(seeds: list[int], restarts: int = 1) -> list[torch.Generator]:
    # Independent of the generator that drew the training points (seeded by `seed` itself);
    # candidate r of a seed (restarts > 1) gets its own stream.
    return [stream_generator(seed, 1, r) for seed in seeds for r in range(restarts)]


def random_peaks(
    n_peaks: int, generators: list[torch.Generator], peak_range: tuple[float, float], dtype
) -> Tensor:
    """``(N, n_peaks)`` peaks uniform in ``peak_range``, one row per generator."""
    lo, hi = peak_range
    rows = [lo + (hi - lo) * torch.rand(n_peaks, generator=g, dtype=dtype) for g in generators]
    return torch.stack(rows)


# Systems are padded (an identity block) to a multiple of this many unknowns: the batched
# cholesky_solve rounded some systems of a batch differently from the same system alone (the
# second of two 97 x 97 systems, by 1e-17; not the first, and none once padded to 8-double
# rows, whose every system then starts 64-byte aligned), and LM on these networks turns such
# differences into minima 3x apart. A network trains to the same bits alone or in any batch
# (tested).
SOLVE_ALIGN = 8


def solve_spd(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Solve ``a x = b`` for symmetric positive definite ``a`` (``(..., K, K)``; ``b``
    ``(..., K)``) by Cholesky; returns ``x`` and ``solved`` (``(...)``, False where ``a`` was not
    numerically positive definite even for a pivoted LU, one matrix at a time; ``x`` is 0 there).

    Cholesky, not ``torch.linalg.solve``: torch 2.13's batched LU on the CPU fails ("Pivots given
    to lu_solve must all be greater or equal to 1") or returns wrong solutions for matrices
    larger than about 64 once ``torch.set_num_threads`` has been called with 2 or more threads.
    """
    k = a.shape[-1]
    pad = -k % SOLVE_ALIGN
    if pad:  # the same bits for a system whatever its place in the batch (see SOLVE_ALIGN)
        ones = torch.cat([a.new_zeros(k), a.new_ones(pad)])
        x, solved = solve_spd(F.pad(a, (0, pad, 0, pad)) + torch.diag(ones), F.pad(b, (0, pad)))
        return x[..., :k], solved
    chol, info = torch.linalg.cholesky_ex(a)
    x = torch.cholesky_solve(b.unsqueeze(-1), chol).squeeze(-1)
    solved = info == 0
    if not bool(solved.all()):
        flat_a, flat_b = a.reshape(-1, *a.shape[-2:]), b.reshape(-1, b.shape[-1])
        # A copy: cholesky_solve's backward needs its own output unchanged (optimal_pwl
        # differentiates through this solve).
        flat_x, flat_ok = x.reshape(flat_b.shape).clone(), solved.reshape(-1).clone()
        for i in torch.nonzero(~flat_ok).flatten().tolist():
            xi, info_i = torch.linalg.solve_ex(flat_a[i], flat_b[i])  # unbatched LU is sound
            ok = int(info_i) == 0 and bool(torch.isfinite(xi).all())
            flat_x[i] = xi if ok else 0.0
            flat_ok[i] = ok
        x, solved = flat_x.reshape(b.shape), flat_ok.reshape(solved.shape)
    return x, solved


def gradient(jac_t: Tensor, r: Tensor) -> Tensor:
    """``jac_t (N, K, P) @ r (N, P)`` per network, the same in bits whatever the network's place
    in the batch or in memory (torch.bmm and torch.mv round a network differently alone and in
    a batch, and LM turns that into other minima; an elementwise product and a sum do not)."""
    return matvec(jac_t, r)


# Levenberg-Marquardt's damping never rises above MAX_DAMPING nor falls below MIN_DAMPING.
MAX_DAMPING = 1e12
MIN_DAMPING = 1e-12


def levenberg_marquardt(
    flat: Tensor,
    unflatten: Callable[[Tensor], Stack],
    x: Tensor,
    y: Tensor,
    iterations: int,
    record: Callable[[Tensor], None] | None = None,
    progress: Callable[[str, int, int, Tensor], None] | None = None,
    damping: float = 1e-3,
    weights: Tensor | None = None,
    judge: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Minimise each network's MSE by Levenberg-Marquardt; returns the new ``flat (N, K)``.

    Args:
        flat: ``(N, K)`` weights; ``unflatten`` maps it to a stack.
        x: ``(N, P, 1)`` inputs; y: ``(N, P)`` targets.
        iterations: LM iterations (each one Jacobian and one trial step per network).
        record: called with the per-network losses after every iteration.
        progress: called now and then as ``progress("LM", it, iterations, losses)`` with the
            per-network losses ``(N,)``.
        weights: optional ``(N, P)`` non-negative point weights with mean 1: the loss is then
            the weighted mean of the squared errors.
        judge: optional ``(x (N, Q, 1), y (N, Q))`` points not fitted: each network's
            iterate with the lowest MSE there is returned (early stopping), not its last.
    """
    w = weights

    def weighted(t: Tensor, rows: Tensor | None = None) -> Tensor:
        """Residuals ``t (N, P)`` times the point weights (of ``rows``); ``t`` without them."""
        return t if w is None else (w if rows is None else w[rows]) * t

    flat = flat.clone()
    n = flat.shape[0]
    lam = torch.full((n,), damping, dtype=flat.dtype, device=flat.device)
    out, jac_t = stack_jacobian(unflatten(flat), x)
    res = out - y
    loss = (weighted(res) * res).mean(1)
    jtj = gram(jac_t, w)
    jtr = gradient(jac_t, weighted(res))
    eye = torch.eye(flat.shape[1], dtype=flat.dtype, device=flat.device)
    report_every = max(1, iterations // 100)
    if judge is not None:
        x_j, y_j = judge

        def judged(rows: Tensor, idx: Tensor | None = None) -> Tensor:
            xs, ys = (x_j, y_j) if idx is None else (x_j[idx], y_j[idx])
            return (stack_forward(unflatten(rows), xs).squeeze(-1) - ys).square().mean(1)

        best, best_loss = flat.clone(), judged(flat)
    for it in range(iterations):
        diag = jtj.diagonal(dim1=1, dim2=2)
        tiny = 1e-9 * diag.mean(1).clamp_min(1e-300)
        system = jtj + lam[:, None, None] * (torch.diag_embed(diag) + tiny[:, None, None] * eye)
        step, solved = solve_spd(system, -jtr)  # not solved: no step, more damping
        trial = flat + step
        t_res = stack_forward(unflatten(trial), x).squeeze(-1) - y
        t_loss = (weighted(t_res) * t_res).mean(1)
        better = solved & torch.isfinite(t_loss) & (t_loss < loss)
        idx = torch.nonzero(better).flatten()
        if idx.numel():
            # Only the networks that moved need a new Jacobian and normal equations.
            flat[idx] = trial[idx]
            res[idx] = t_res[idx]
            loss[idx] = t_loss[idx]
            _, j_new = stack_jacobian(unflatten(flat[idx]), x[idx])
            jtj[idx] = gram(j_new, None if w is None else w[idx])
            jtr[idx] = gradient(j_new, weighted(res[idx], idx))
            if judge is not None:
                j_loss = judged(flat[idx], idx)
                gain = j_loss < best_loss[idx]
                best[idx[gain]] = flat[idx[gain]]
                best_loss[idx[gain]] = j_loss[gain]
        stuck = not bool(better.any()) and bool((lam >= MAX_DAMPING).all())
        lam = torch.where(
            better, (lam / 3).clamp_min(MIN_DAMPING), (lam * 4).clamp_max(MAX_DAMPING)
        )
        if stuck:
            # Every network rejected its step at the largest damping: the next iteration would
            # solve the same system, reject the same step and leave everything as it is, and so
            # would every one after it. Stop, with what the remaining iterations would record.
            if record is not None:
                for _ in range(it, iterations):
                    record(loss)
            if progress is not None:
                progress("LM", iterations, iterations, loss)
            break
        if record is not None:
            record(loss)
        if progress is not None and (it % report_every == 0 or it == iterations - 1):
            progress("LM", it + 1, iterations, loss)
    return flat if judge is None else best


def lm_on_stack(
    layers: Stack,
    x: Tensor,
    y: Tensor,
    iterations: int,
    progress: Callable[[str, int, int, Tensor], None] | None = None,
    weights: Tensor | None = None,
    judge: tuple[Tensor, Tensor] | None = None,
) -> Stack:
    """:func:`levenberg_marquardt` on a stack (the networks as weights in rows): returns the
    trained stack, in tensors of its own."""
    rows = levenberg_marquardt(
        stack_to_rows(layers),
        lambda v: rows_to_stack(v, layers),
        x,
        y,
        iterations,
        None,
        progress,
        weights=weights,
        judge=judge,
    )
    return [(w.clone(), b.clone()) for w, b in rows_to_stack(rows, layers)]


def basin_hops(
    layers: Stack,
    x: Tensor,
    y: Tensor,
    rounds: int,
    iterations: int,
    noise: float,
    generators: list[torch.Generator],
    weights: Tensor | None = None,
    judge: tuple[Tensor, Tensor] | None = None,
    progress: NetProgress | None = None,
) -> Stack:
    """``rounds`` hops from each network of ``layers``: every weight multiplied by
    ``1 + noise * N(0, 1)`` (drawn from the network's own generator, so a network's hops do not
    depend on the batch), ``iterations`` LM iterations from there, and the hop kept where it
    lowers the network's MSE on ``judge`` (else its training loss). LM from a trained network
    ends in a nearby minimum, often a lower one; the network returned is never worse by that
    measure. ``x, y, weights, judge`` as for :func:`levenberg_marquardt`; ``progress`` is
    called after every hop as ``progress("hops", hop, rounds, measures)``."""
    rows = stack_to_rows(layers)

    def unflatten(v: Tensor) -> Stack:
        return rows_to_stack(v, layers)

    def score(v: Tensor) -> Tensor:
        return (
            stack_mse(unflatten(v), x, y, weights)
            if judge is None
            else stack_mse(unflatten(v), *judge)
        )

    best = score(rows)
    for hop in range(rounds):
        kicks = torch.stack(
            [torch.randn(rows.shape[1], generator=g, dtype=rows.dtype) for g in generators]
        ).to(rows.device)
        trial = levenberg_marquardt(
            rows * (1.0 + noise * kicks), unflatten, x, y, iterations, weights=weights, judge=judge
        )
        new = score(trial)
        keep = torch.isfinite(new) & (new < best)
        rows = torch.where(keep[:, None], trial, rows)
        best = torch.where(keep, new, best)
        if progress is not None:
            progress("hops", hop + 1, rounds, best)
    return [(w.clone(), b.clone()) for w, b in unflatten(rows)]
