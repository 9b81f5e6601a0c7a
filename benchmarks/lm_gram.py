"""Levenberg-Marquardt's normal matrices: torch's general product against numpy's syrk.

`tentnet.mlp.gram` forms ``J J^T`` for every network's transposed Jacobian ``J (K, P)``: K
weights, P points. This times, on one thread, torch's ``J @ J.T`` (what it did before the
twenty-fourth session) against `gram` (numpy's ``m @ m.T``, which its BLAS computes as a
symmetric rank-k update), on the shapes LM meets: a width-4 network on 500 points and on a
2,048-point reconstruction, and knot networks on grids of up to 4,000 points.

    python benchmarks/lm_gram.py
"""

from __future__ import annotations

import argparse
import time

import torch

from tentnet.mlp import gram

SHAPES = ((93, 500), (193, 2048), (150, 4000), (233, 4000))


def per_call_ms(fn, repeats: int) -> float:
    """Median wall time of one call in milliseconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| K weights x P points | torch J @ J.T (ms) | gram, syrk (ms) | speed-up | rel. diff |")
    print("|---|---|---|---|---|")
    g = torch.Generator().manual_seed(0)
    for k, p in SHAPES:
        jac_t = torch.randn(1, k, p, generator=g, dtype=torch.float64)
        general = per_call_ms(lambda j=jac_t[0]: j @ j.T, args.repeats)
        syrk = per_call_ms(lambda j=jac_t: gram(j), args.repeats)
        want = jac_t[0] @ jac_t[0].T
        diff = float((gram(jac_t)[0] - want).abs().max() / want.abs().max())
        print(f"| {k} x {p} | {general:.2f} | {syrk:.2f} | {general / syrk:.2f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
