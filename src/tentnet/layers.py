"""TentLayer: a drop-in for ``nn.Linear`` + activation with a learned 1-D function per channel.

``TentLayer(in_features, out_features, depth)`` computes ``u = W x + b`` and then, for every
output channel j, ``phi_j(clamp(g_j u_j + h_j, 0, 1))`` where ``phi_j`` is the sum of two tent
networks of depth ``depth`` (so it can be non-convex; up to ``2 * 2^depth - 1`` pieces). The
affine map ``(g, h)`` brings each channel's pre-activation into the tent domain [0, 1]; it is set
from data by :meth:`TentLayer.calibrate` (the channel's observed range, with a margin) and the
clamp makes ``phi_j`` constant outside it. The clamp is two ReLUs, so the layer is exactly a
plain ReLU MLP (:meth:`TentLayer.to_mlp`) with block-diagonal hidden weights (one block per
channel).

Phase 1 trains a model with TentLayers on their peaks and scales (autograd through the closed
form); :func:`free_tent_layers` then swaps every TentLayer for a :class:`FreeTentLayer` holding
the raw per-channel weights, and phase 2 trains those directly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .errors import TentnetError
from .mlp import parallel_layers, stack_forward
from .tent import (
    DEFAULT_MARGIN,
    check_depth,
    logits_from_peaks,
    peaks_from_logits,
    smooth_scales,
    tent_forward,
    tent_mlp_layers,
)


class TentLayer(nn.Module):
    """``Linear(in_features, out_features)`` then a learned 1-D tent function per channel.

    Args:
        in_features, out_features: as ``nn.Linear``.
        depth: tent levels of each channel's function (2^depth pieces per tent network).
        generator: for the random initial peaks (uniform in [0.25, 0.75]) and the Linear init.

    Shapes: ``(..., in_features)`` to ``(..., out_features)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        depth: int,
        *,
        margin: float = DEFAULT_MARGIN,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device=None,
    ) -> None:
        super().__init__()
        check_depth(depth)
        if in_features < 1 or out_features < 1:
            raise TentnetError("in_features and out_features must be at least 1")
        kw = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        self.depth, self.margin = depth, margin
        self.linear = nn.Linear(in_features, out_features, **kw)
        if generator is not None:
            bound = 1.0 / in_features**0.5
            with torch.no_grad():
                self.linear.weight.uniform_(-bound, bound, generator=generator)
                self.linear.bias.uniform_(-bound, bound, generator=generator)
        peaks = 0.25 + 0.5 * torch.rand(2, out_features, depth + 1, generator=generator, **kw)
        self.peak_logits = nn.Parameter(logits_from_peaks(peaks, margin))
        # phi starts as the identity-like t - t^2/2 split as a convex-minus-convex pair.
        self.scale = nn.Parameter(
            torch.tensor([-0.05, 0.05], **kw)[:, None].repeat(1, out_features)
        )
        self.c0 = nn.Parameter(torch.zeros(out_features, **kw))
        self.c1 = nn.Parameter(torch.ones(out_features, **kw))
        self.register_buffer("gain", torch.ones(out_features, **kw))
        self.register_buffer("shift", torch.zeros(out_features, **kw))

    @torch.no_grad()
    def calibrate(self, x: Tensor, margin: float = 0.05) -> None:
        """Set each channel's map into [0, 1] from the pre-activations of the batch ``x``."""
        u = self.linear(x).reshape(-1, self.linear.out_features)
        lo, hi = u.amin(0), u.amax(0)
        span = (hi - lo).clamp_min(1e-12)
        lo, span = lo - margin * span, span * (1 + 2 * margin)
        self.gain.copy_(1.0 / span)
        self.shift.copy_(-lo / span)

    def _unit(self, x: Tensor) -> Tensor:
        z = self.linear(x) * self.gain + self.shift
        return z.clamp(0.0, 1.0)

    def _params(self):
        peaks = peaks_from_logits(self.peak_logits, self.margin)  # (2, C, d + 1)
        scales = [smooth_scales(peaks[k], self.scale[k]) for k in range(2)]
        return peaks, scales

    def forward(self, x: Tensor) -> Tensor:
        v = self._unit(x)
        flat = v.reshape(-1, v.shape[-1]).T  # (C, B)
        peaks, scales = self._params()
        zero = torch.zeros_like(self.c0)
        out = tent_forward(flat, peaks[0], scales[0], self.c0, self.c1)
        out = out + tent_forward(flat, peaks[1], scales[1], zero, zero)
        return out.T.reshape(v.shape)

    def channel_layers(self) -> list[tuple[Tensor, Tensor]]:
        """Per-channel 1-D MLPs on [0, 1] (width 8) as a stack over channels."""
        peaks, scales = self._params()
        zero = torch.zeros_like(self.c0)
        a = tent_mlp_layers(peaks[0], scales[0], self.c0, self.c1)
        b = tent_mlp_layers(peaks[1], scales[1], zero, zero)
        return parallel_layers(a, b)

    def free(self) -> FreeTentLayer:
        """The same function with the raw per-channel weights as parameters (phase 2)."""
        with torch.no_grad():
            stack = [(w.clone(), b.clone()) for w, b in self.channel_layers()]
        return FreeTentLayer(self.linear, self.gain, self.shift, stack)

    def to_mlp(self) -> nn.Sequential:
        """The layer as a plain ReLU MLP (block-diagonal hidden weights, one block per channel)."""
        with torch.no_grad():
            return _plain(self.linear, self.gain, self.shift, self.channel_layers())


class FreeTentLayer(nn.Module):
    """A TentLayer after conversion: linear map, clamp to [0, 1], per-channel free ReLU MLPs."""

    def __init__(
        self, linear: nn.Linear, gain: Tensor, shift: Tensor, stack: list[tuple[Tensor, Tensor]]
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(
            linear.in_features,
            linear.out_features,
            dtype=linear.weight.dtype,
            device=linear.weight.device,
        )
        with torch.no_grad():
            self.linear.weight.copy_(linear.weight)
            self.linear.bias.copy_(linear.bias)
        self.register_buffer("gain", gain.clone())
        self.register_buffer("shift", shift.clone())
        self.weights = nn.ParameterList([nn.Parameter(w) for w, _ in stack])
        self.biases = nn.ParameterList([nn.Parameter(b) for _, b in stack])

    def forward(self, x: Tensor) -> Tensor:
        v = (self.linear(x) * self.gain + self.shift).clamp(0.0, 1.0)
        flat = v.reshape(-1, v.shape[-1]).T.unsqueeze(-1)  # (C, B, 1)
        out = stack_forward(list(zip(self.weights, self.biases, strict=True)), flat)
        return out.squeeze(-1).T.reshape(v.shape)

    def to_mlp(self) -> nn.Sequential:
        with torch.no_grad():
            return _plain(
                self.linear,
                self.gain,
                self.shift,
                list(zip(self.weights, self.biases, strict=True)),
            )


def _plain(
    linear: nn.Linear, gain: Tensor, shift: Tensor, stack: list[tuple[Tensor, Tensor]]
) -> nn.Sequential:
    """Linear -> clamp (two ReLUs per channel) -> per-channel MLPs, as one plain MLP."""
    c = linear.out_features
    dt, dev = linear.weight.dtype, linear.weight.device
    w0 = linear.weight * gain[:, None]
    b0 = linear.bias * gain + shift
    first = nn.Linear(linear.in_features, 2 * c, dtype=dt, device=dev)
    first.weight.copy_(torch.cat([w0, w0]))
    first.bias.copy_(torch.cat([b0, b0 - 1.0]))  # relu(z) and relu(z - 1): clamp = difference
    modules: list[nn.Module] = [first, nn.ReLU()]
    for k, (w, b) in enumerate(stack):
        out_f, in_f = w.shape[1:]
        in_total = 2 * c if k == 0 else c * in_f
        lin = nn.Linear(in_total, c * out_f, dtype=dt, device=dev)
        lin.weight.zero_()
        for j in range(c):
            rows = slice(j * out_f, (j + 1) * out_f)
            if k == 0:  # the channel's input is relu(z_j) - relu(z_j - 1)
                lin.weight[rows, j] = w[j, :, 0]
                lin.weight[rows, c + j] = -w[j, :, 0]
            else:
                lin.weight[rows, j * in_f : (j + 1) * in_f] = w[j]
        lin.bias.copy_(b.reshape(-1))
        modules.append(lin)
        if k < len(stack) - 1:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def free_tent_layers(model: nn.Module) -> nn.Module:
    """Replace every TentLayer in ``model`` (in place) by its FreeTentLayer; returns the model."""
    for name, child in list(model.named_children()):
        if isinstance(child, TentLayer):
            setattr(model, name, child.free())
        else:
            free_tent_layers(child)
    return model
