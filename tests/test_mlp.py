"""Stacked plain MLPs: the explicit gradient and Jacobian against autograd."""

import pytest
import torch

from tentnet.mlp import (
    gram,
    random_stack,
    rows_to_stack,
    stack_forward,
    stack_jacobian,
    stack_loss_and_grad,
    stack_to_rows,
)


def _stack(sizes, n=3, seed=0):
    gens = [torch.Generator().manual_seed(seed + i) for i in range(n)]
    return random_stack("kaiming", sizes, gens, torch.float64)


@pytest.mark.parametrize("sizes", [[1, 4, 1], [1, 4, 4, 4, 1], [1, 7, 4, 4, 1], [2, 5, 3, 1]])
def test_jacobian_matches_autograd(sizes):
    layers = _stack(sizes)
    n, p = layers[0][0].shape[0], 40
    x = torch.rand(n, p, sizes[0], generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    out, jac_t = stack_jacobian(layers, x)
    rows = stack_to_rows(layers)
    assert jac_t.shape == (n, rows.shape[1], p)
    jac = jac_t.transpose(1, 2)
    for i in range(n):

        def f(r, i=i):
            return stack_forward(
                rows_to_stack(r[None], [(w[i : i + 1], b[i : i + 1]) for w, b in layers]),
                x[i : i + 1],
            )[0, :, 0]

        want = torch.autograd.functional.jacobian(f, rows[i])
        assert torch.allclose(jac[i], want, atol=1e-12, rtol=1e-10)
        assert torch.allclose(out[i], f(rows[i]), atol=1e-14)


def test_loss_gradient_matches_autograd():
    layers = _stack([1, 4, 4, 1])
    n = layers[0][0].shape[0]
    x = torch.rand(n, 30, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    y = torch.sin(3 * x)
    params = [p.clone().requires_grad_(True) for layer in layers for p in layer]
    stack = [(params[2 * k], params[2 * k + 1]) for k in range(len(layers))]
    per_net, grads = stack_loss_and_grad([(w.detach(), b.detach()) for w, b in stack], x, y)
    ((stack_forward(stack, x) - y) ** 2).mean(dim=(1, 2)).sum().backward()
    flat = grads  # w0, b0, w1, b1, ...
    for got, p in zip(flat, params, strict=True):
        assert torch.allclose(got, p.grad, atol=1e-12, rtol=1e-10)
    assert per_net.shape == (n,)


@pytest.mark.parametrize("weighted", [False, True])
def test_gram_is_the_weighted_normal_matrix_the_same_alone_or_in_a_batch(weighted):
    g = torch.Generator().manual_seed(3)
    a = torch.randn(3, 37, 300, generator=g, dtype=torch.float64)
    w = torch.rand(3, 300, generator=g, dtype=torch.float64) * 2 if weighted else None
    got = gram(a, w)
    for i in range(3):
        wi = torch.ones(300, dtype=torch.float64) if w is None else w[i]
        want = a[i] @ (wi[:, None] * a[i].T)
        assert torch.allclose(got[i], want, rtol=1e-12, atol=1e-11)
        assert torch.equal(got[i], got[i].T)  # exactly symmetric: Cholesky and LU see the same
        alone = gram(a[i : i + 1], None if w is None else w[i : i + 1])[0]
        assert torch.equal(alone, got[i])  # LM turns last-bit differences into other minima
    needs_grad = a.clone().requires_grad_()
    assert torch.allclose(gram(needs_grad, w).detach(), got, rtol=1e-12, atol=1e-11)


def _blas_threads(blas) -> int:
    return blas.info()[0]["num_threads"]


def test_one_blas_thread_while_overlapping_calls_last_and_the_count_restored_after():
    from threadpoolctl import threadpool_limits

    from tentnet.mlp import _ONE_BLAS_THREAD, _symmetric_blas

    blas = _symmetric_blas()
    if blas is None:
        pytest.skip("numpy's BLAS threads cannot be set here; gram keeps to torch")
    with threadpool_limits(limits=3, user_api="blas"):
        first, second = _ONE_BLAS_THREAD.held(blas), _ONE_BLAS_THREAD.held(blas)
        first.__enter__()
        second.__enter__()
        assert _blas_threads(blas) == 1
        first.__exit__(None, None, None)  # the first call leaves while the second computes
        assert _blas_threads(blas) == 1
        second.__exit__(None, None, None)
        assert _blas_threads(blas) == 3


def test_gram_from_several_threads_at_once_gives_the_same_bits():
    from concurrent.futures import ThreadPoolExecutor

    from tentnet.mlp import _symmetric_blas

    g = torch.Generator().manual_seed(5)
    batches = [torch.randn(2, 40, 500, generator=g, dtype=torch.float64) for _ in range(8)]
    alone = [gram(a) for a in batches]
    blas = _symmetric_blas()
    before = None if blas is None else _blas_threads(blas)
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(gram, batches * 4))
    for i, got in enumerate(together):
        assert torch.equal(got, alone[i % len(batches)])
    if blas is not None:
        assert _blas_threads(blas) == before


def test_lm_gradient_is_the_same_alone_in_a_batch_or_anywhere_in_memory():
    from tentnet.optim import gradient

    g = torch.Generator().manual_seed(4)
    jac_t = torch.randn(4, 45, 301, generator=g, dtype=torch.float64)
    r = torch.randn(4, 301, generator=g, dtype=torch.float64)
    got = gradient(jac_t, r)
    assert torch.allclose(got, torch.bmm(jac_t, r.unsqueeze(-1)).squeeze(-1), rtol=1e-12)
    for i in range(4):
        shifted = torch.empty(45 * 301 + 3, dtype=torch.float64)[3:].view(1, 45, 301)
        shifted.copy_(jac_t[i : i + 1])  # another address, another alignment
        assert torch.equal(gradient(shifted, r[i : i + 1])[0], got[i])
