"""Plain ReLU MLPs held as stacked weights, so N networks run as one batched tensor program.

A stack is a list of ``(weight (N, out, in), bias (N, out))`` pairs, one per Linear layer, with
a ReLU between consecutive layers and none after the last (exactly ``nn.Sequential`` of
``Linear, ReLU, ..., Linear``).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import threading
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from .errors import TentnetError

Stack = list[tuple[Tensor, Tensor]]

INITS = ("kaiming", "xavier")


def rows_where(take: Tensor, a: Stack, b: Stack) -> Stack:
    """Network by network, ``a`` where ``take (N,)`` and ``b`` elsewhere."""
    return [
        (torch.where(take[:, None, None], wa, wb), torch.where(take[:, None], ba, bb))
        for (wa, ba), (wb, bb) in zip(a, b, strict=True)
    ]


def matvec(a: Tensor, v: Tensor) -> Tensor:
    """``a (N, M, K) @ v (N, K)`` for every entry of the batch, as an elementwise product and
    a sum: the same bits whatever the entry's place in the batch. Batched BLAS rounds a
    matrix-vector product (and a product with one inner column) differently alone and in a
    batch on some CPUs (seen with torch 2.13's MKL on an AVX-512 Xeon), and LM turns that into
    other minima."""
    return (a * v.unsqueeze(-2)).sum(-1)


def stack_forward(layers: Stack, x: Tensor) -> Tensor:
    """Evaluate N networks: ``x`` ``(N, P, in)`` -> ``(N, P, out)``.

    Internally features come first (``(N, features, P)``): a 4 x 4 weight times a 4 x P block is
    several times faster in batched BLAS than P x 4 times 4 x 4.
    """
    return _forward_cached(layers, x)[1].transpose(1, 2)


def weight_count(width: int, depth: int) -> int:
    """Weights and biases of a ``1 -> width x depth -> 1`` ReLU MLP (``depth`` hidden layers):
    ``3 width + 1`` for one hidden layer, ``20 depth - 7`` for width 4."""
    return (depth - 1) * (width + 1) * width + 3 * width + 1


def stack_mse(layers: Stack, x: Tensor, y: Tensor, weights: Tensor | None = None) -> Tensor:
    """Each network's MSE on its points, ``x (N, P, 1)``, ``y (N, P)`` -> ``(N,)`` (with
    ``weights (N, P)``, the weighted mean of the squared errors); a non-finite loss counts as
    ``inf`` (so a diverged network never looks best)."""
    with torch.no_grad():
        err = stack_forward(layers, x).squeeze(-1) - y
    sq = err * err
    loss = (sq if weights is None else weights * sq).mean(1)
    return torch.where(torch.isfinite(loss), loss, torch.full_like(loss, float("inf")))


def random_stack(
    init: str,
    sizes: list[int],
    generators: list[torch.Generator],
    dtype: torch.dtype = torch.float64,
) -> Stack:
    """Randomly initialised stacks, one network per generator.

    ``kaiming`` reproduces PyTorch's default ``nn.Linear`` init (Kaiming-uniform with
    ``a = sqrt(5)``, bias uniform in ``+-1/sqrt(fan_in)``); ``xavier`` is Glorot-uniform weights
    with zero bias. ``sizes`` are the layer widths, e.g. ``[1, 4, 4, 4, 4, 4, 1]``.
    """
    if init not in INITS:
        raise TentnetError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
    layers = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        ws, bs = [], []
        for g in generators:
            w = torch.empty(fan_out, fan_in, dtype=dtype)
            b = torch.empty(fan_out, dtype=dtype)
            if init == "kaiming":
                nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
                bound = 1.0 / math.sqrt(fan_in)
                nn.init.uniform_(b, -bound, bound, generator=g)
            else:
                nn.init.xavier_uniform_(w, generator=g)
                nn.init.zeros_(b)
            ws.append(w)
            bs.append(b)
        layers.append((torch.stack(ws), torch.stack(bs)))
    return layers


def fold_affine(
    layers: Stack, x_shift: float, x_scale: float, y_shift: Tensor, y_scale: Tensor
) -> Stack:
    """Fold input and output affine maps into the first and last layers.

    The stack was trained on ``t = (x - x_shift) / x_scale`` to predict ``(y - y_shift) / y_scale``
    (``y_shift, y_scale`` of shape ``(N,)``); the result maps raw x to raw y.
    """
    out = [(w.detach().clone(), b.detach().clone()) for w, b in layers]
    w0, b0 = out[0]
    b0 = b0 - w0.sum(-1) * (x_shift / x_scale)
    w0 = w0 / x_scale
    out[0] = (w0, b0)
    wl, bl = out[-1]
    out[-1] = (wl * y_scale[:, None, None], bl * y_scale[:, None] + y_shift[:, None])
    return out


def _forward_cached(layers: Stack, x: Tensor) -> tuple[list[Tensor], Tensor]:
    """Forward pass keeping what a backward pass needs, features first.

    Returns each layer's input ``(N, in, P)`` (after the ReLU for hidden layers: where it is
    positive is where the ReLU passes gradients) and the output ``(N, out, P)``.
    """
    inputs = [x.transpose(1, 2)]
    h = inputs[0]
    last = len(layers) - 1
    for k, (w, b) in enumerate(layers):
        if w.shape[2] == 1:  # one input: an outer product, elementwise (see matvec)
            h = w * h + b.unsqueeze(-1)
        else:
            h = torch.baddbmm(b.unsqueeze(-1), w, h)
        if k < last:
            h = torch.relu_(h)
            inputs.append(h)
    return inputs, h


def _relu_backward(grad: Tensor, activation: Tensor) -> Tensor:
    """``grad`` where the ReLU output ``activation`` is positive, else 0 (one fused kernel)."""
    return torch.ops.aten.threshold_backward(grad, activation, 0.0)


def stack_loss_and_grad(layers: Stack, x: Tensor, y: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Per-network MSE and its gradient by explicit backpropagation (no autograd graph).

    For a network this small the autograd machinery costs more than the arithmetic; the
    explicit backward pass is the same mathematics with a few batched matrix products.

    Args:
        layers: the stack; x: ``(N, P, in)``; y: ``(N, P, out)``.

    Returns:
        ``loss (N,)`` (mean over points and outputs) and the gradient of ``loss.sum()`` with
        respect to every weight and bias, in the order ``w0, b0, w1, b1, ...``.
    """
    inputs, h = _forward_cached(layers, x)
    last = len(layers) - 1
    err = h - y.transpose(1, 2)
    count = err.shape[1] * err.shape[2]
    loss = (err * err).sum((1, 2)) / count
    g = err.mul_(2.0 / count)
    grads: list[Tensor] = [torch.empty(0)] * (2 * len(layers))
    for k in range(last, -1, -1):
        if inputs[k].shape[1] == 1:  # one input: a matrix-vector product
            grads[2 * k] = matvec(g, inputs[k][:, 0]).unsqueeze(-1)
        else:
            grads[2 * k] = torch.bmm(g, inputs[k].transpose(1, 2))
        grads[2 * k + 1] = g.sum(2)
        if k > 0:
            g = _relu_backward(torch.bmm(layers[k][0].transpose(1, 2), g), inputs[k])
    return loss, grads


@torch.no_grad()  # written in place (out=), which autograd does not follow
def stack_jacobian(layers: Stack, x: Tensor) -> tuple[Tensor, Tensor]:
    """Outputs and the Jacobian of every output with respect to every weight, per network,
    transposed: one row per weight.

    For a one-output MLP, ``d out(x_p) / d W_k[o, i] = g_k[o](x_p) h_{k-1}[i](x_p)`` where
    ``g_k`` is the backpropagated vector of point p; computed for all points at once, each
    layer's block written straight into its rows (weights first is the layout in which a
    block is one contiguous piece per network, so nothing is permuted or concatenated).

    Args:
        layers: the stack (the last layer must have one output); x: ``(N, P, in)``.

    Returns:
        ``out (N, P)`` and ``jac_t (N, K, P)`` with K the number of weights, in the flat order
        ``w0, b0, w1, b1, ...`` (row-major weights): ``jac_t[n, k, p] = d out[n, p] / d w_k``.
    """
    inputs, h = _forward_cached(layers, x)
    last = len(layers) - 1
    n, _, p = h.shape
    sizes = _weight_sizes(layers)
    jac_t = h.new_empty(n, sum(sizes), p)
    rows = torch.split(jac_t, sizes, dim=1)  # views of jac_t, one per weight tensor
    g = torch.ones_like(h)  # (N, 1, P): d out / d z_last
    for k in range(last, -1, -1):
        hin = inputs[k]  # (N, in, P)
        block = rows[2 * k].view(n, g.shape[1], hin.shape[1], p)
        torch.mul(g.unsqueeze(2), hin.unsqueeze(1), out=block)
        rows[2 * k + 1].copy_(g)
        if k > 0:
            g = _relu_backward(torch.bmm(layers[k][0].transpose(1, 2), g), inputs[k])
    return h[:, 0, :], jac_t


def _weight_sizes(layers: Stack) -> list[int]:
    """How many weights each tensor of one network holds, in the flat order ``w0, b0, w1, ...``."""
    return [t[0].numel() for layer in layers for t in layer]


def stack_to_rows(layers: Stack) -> Tensor:
    """``(N, K)``: each network's weights in the order ``w0, b0, w1, b1, ...`` (row-major)."""
    n = layers[0][0].shape[0]
    return torch.cat([p.reshape(n, -1) for layer in layers for p in layer], dim=1)


def rows_to_stack(rows: Tensor, like: Stack) -> Stack:
    """Inverse of :func:`stack_to_rows` for a stack shaped like ``like``."""
    sizes = _weight_sizes(like)
    parts = torch.split(rows, sizes, dim=1)
    n = rows.shape[0]
    views = [
        part.view(n, *p.shape[1:])  # views: writing them writes ``rows``
        for part, p in zip(parts, [p for layer in like for p in layer], strict=True)
    ]
    return [(views[2 * k], views[2 * k + 1]) for k in range(len(like))]


def sequential_from_layers(layers: Stack, index: int = 0) -> nn.Sequential:
    """One network (``index`` in the batch) of a stack as ``nn.Sequential`` of Linear/ReLU."""
    modules: list[nn.Module] = []
    for k, (w, b) in enumerate(layers):
        out_f, in_f = w.shape[1:]
        lin = nn.Linear(in_f, out_f, dtype=w.dtype, device=w.device)
        with torch.no_grad():
            lin.weight.copy_(w[index])
            lin.bias.copy_(b[index])
        modules.append(lin)
        if k < len(layers) - 1:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def parallel_layers(a: Stack, b: Stack) -> Stack:
    """One MLP computing ``net_a(x) + net_b(x)``: hidden layers side by side (block diagonal)."""
    out = []
    last = len(a) - 1
    for k, ((wa, ba), (wb, bb)) in enumerate(zip(a, b, strict=True)):
        if k == 0:
            out.append((torch.cat([wa, wb], 1), torch.cat([ba, bb], 1)))
        elif k == last:
            out.append((torch.cat([wa, wb], 2), ba + bb))
        else:
            n, oa, ia = wa.shape
            _, ob, ib = wb.shape
            w = torch.zeros(n, oa + ob, ia + ib, dtype=wa.dtype, device=wa.device)
            w[:, :oa, :ia] = wa
            w[:, oa:, ia:] = wb
            out.append((w, torch.cat([ba, bb], 1)))
    return out


def gram(a: Tensor, w: Tensor | None = None) -> Tensor:
    """``a_i diag(w_i) a_i^T`` for every matrix of the batch ``a (N, K, P)`` (``w (N, P)``,
    non-negative, or None for ones): the normal matrices of least squares and LM, ``a`` being
    a transposed Jacobian or basis (one row per unknown).

    One product per matrix, so a matrix's Gram is the same in bits whatever the other matrices
    of the batch (torch.bmm rounds some of a batch's products differently from the same product
    alone, and LM on these networks turns that into minima 3x apart). On the CPU the product is
    numpy's ``m @ m.T``, which its BLAS computes as a symmetric rank-k update (syrk): half the
    arithmetic of torch's general product, and 1.3x-1.7x faster on the Jacobians LM forms
    (``benchmarks/lm_gram.py``), on one BLAS thread so that the bits do not depend on the
    thread count. Elsewhere (a GPU, other dtypes, a tensor that needs gradients, a numpy
    without a BLAS whose threads can be set) it is torch's product.
    """
    if w is not None:
        a = a * w.sqrt().unsqueeze(1)
    on_cpu = a.device.type == "cpu" and a.dtype in (torch.float32, torch.float64)
    blas = _symmetric_blas() if on_cpu and not a.requires_grad else None
    if blas is None:
        return torch.stack([ai @ ai.transpose(0, 1) for ai in a])
    with _ONE_BLAS_THREAD.held(blas):
        return torch.stack([_syrk(ai) for ai in a])


def _syrk(m: Tensor) -> Tensor:
    """``m m^T`` by numpy (syrk: numpy recognises a matrix times its own transpose)."""
    v = m.contiguous().numpy()
    return torch.from_numpy(v @ v.T)


class _OneBlasThread:
    """numpy's BLAS on one thread while any thread is inside :meth:`held`: the first to enter
    sets the limit and the last to leave restores the count that was there. threadpoolctl's
    limiter, entered per call, is not safe when calls overlap: the first to leave restores
    the count under the other's product (whose bits then depend on it), and the other, leaving
    last, restores the 1 it found, for good."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._limiter = None

    @contextlib.contextmanager
    def held(self, blas) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._limiter = blas.limit(limits=1)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._limiter.restore_original_limits()
                    self._limiter = None


_ONE_BLAS_THREAD = _OneBlasThread()


@functools.cache  # found once
def _symmetric_blas():
    """The thread controller of numpy's BLAS (None: numpy has none, or threadpoolctl cannot
    set its threads, and :func:`gram` keeps to torch)."""
    import numpy as np
    from threadpoolctl import ThreadpoolController

    np.ones((2, 2)) @ np.ones((2, 2))  # loads numpy's BLAS if it is not loaded yet
    found = ThreadpoolController().select(user_api="blas")
    return found if found.lib_controllers else None


def row_variance(y: Tensor) -> Tensor:
    """The population variance of each row of ``(N, P)``, the same in bits whatever the other
    rows: ``torch.var`` over dim 1 rounds a lone row differently from one in a batch (LM then
    amplifies that into different minima: x^3 with tent-warp ended 3x apart)."""
    return (y - y.mean(1, keepdim=True)).square().mean(1)


def scaled_std(y: Tensor) -> Tensor:
    """Standard deviation of each row with its scale factored out first, so that targets of
    1e-300 (whose squares underflow) or 1e200 (whose squares overflow) keep their spread."""
    scale = y.abs().amax(1).clamp_min(torch.finfo(y.dtype).tiny)
    return row_variance(y / scale[:, None]).sqrt() * scale


def stack_errors(layers: Stack, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per row, from one forward pass: the MSE, the largest |error|, and the MSE over the
    variance of ``y`` computed in units of the row's largest |y| (scale-free and free of
    underflow; NaN for constant targets)."""
    with torch.no_grad():
        err = stack_forward(layers, x.unsqueeze(-1)).squeeze(-1) - y
    scale = y.abs().amax(1, keepdim=True).clamp_min(torch.finfo(y.dtype).tiny)
    scaled = (err / scale).pow(2).mean(1)
    var = row_variance(y / scale)
    relative = torch.where(var > 0, scaled / var, torch.full_like(scaled, float("nan")))
    return (err**2).mean(1), err.abs().amax(1), relative
