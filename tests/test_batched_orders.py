"""Visiting orders drawn in the kernels (kernels.orders) and e^x by arithmetic (kernels.exp):
against published known answers, an independent Python Fisher-Yates, libm, and the
uniform distribution."""
from __future__ import annotations

import math
import subprocess
import sys
from itertools import permutations

import numpy as np
import pytest
from numba import njit
from scipy import stats

from kernels.exp import exp_nonpositive
from kernels.orders import ORDERS_STREAM, STREAM_WORDS, philox4x32, seeded_orders, shuffle_epoch_lanes

MASK = 0xFFFFFFFF


@njit
def _philox(c, k):
    return philox4x32(c[0], c[1], c[2], c[3], k[0], k[1])


@pytest.mark.parametrize("counter,key,expected", [  # Random123's kat_vectors, "philox4x32 10"
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([MASK] * 4, [MASK] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
])
def test_philox_known_answers(counter, key, expected):
    words = _philox(np.array(counter, dtype=np.uint64), np.array(key, dtype=np.uint64))
    assert [int(w) for w in words] == expected


def python_philox(counter, key):
    """Philox4x32-10 from the SC11 paper's definition, in Python integers."""
    c, k = list(counter), list(key)
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & MASK, (p0 >> 32) ^ c[3] ^ k[1], p0 & MASK]
        k = [(k[0] + 0x9E3779B9) & MASK, (k[1] + 0xBB67AE85) & MASK]
    return c


def python_order(seed, epoch, n):
    """Fisher-Yates with Lemire's bounded draws from the (seed, epoch) stream (kernels.orders)."""
    words, block = [], 0

    def word():
        nonlocal block
        if not words:
            words.extend(python_philox([block, epoch & MASK, epoch >> 32, int(ORDERS_STREAM)], [seed & MASK, seed >> 32]))
            block += 1
        return words.pop(0)

    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        size = i + 1
        product = word() * size
        if product & MASK < size:
            threshold = (2**32 - size) % size
            while product & MASK < threshold:
                product = word() * size
        j = product >> 32
        perm[i], perm[j] = perm[j], perm[i]
    return perm


@pytest.mark.parametrize("seed,first,n", [(0, 1, 7), (12345, 3, 50), (2**64 - 1, 2**33, 33)])
def test_orders_are_the_python_fisher_yates(seed, first, n):
    orders = seeded_orders(seed, 3, n, first_epoch=first)
    assert orders.tolist() == [python_order(seed, first + e, n) for e in range(3)]


@pytest.mark.parametrize("n,lanes", [(20, 64), (2**17, 3)])
def test_lanes_draw_the_orders_of_shuffle_epoch(n, lanes):
    """shuffle_epoch_lanes (Philox across lanes, then the draws lane by lane) gives each
    lane its run's order. With 2^17 points some lanes meet a word that Lemire's test may
    reject (checked below) and go on from there as shuffle_epoch does; others do not."""
    seeds = np.array([(2**61 + 977 * l) * (l + 3) % 2**64 for l in range(lanes)], dtype=np.uint64)
    epoch = 9
    permT = np.empty((n, lanes), dtype=np.int64)
    words = np.empty((4 * ((n + 2) // 4), lanes), dtype=np.uint64)
    shuffle_epoch_lanes(seeds, np.uint64(epoch), permT, words, np.empty(STREAM_WORDS, dtype=np.uint64))
    for l, seed in enumerate(seeds):
        np.testing.assert_array_equal(permT[:, l], seeded_orders(int(seed), 1, n, first_epoch=epoch)[0])
    if n > 2**16:
        sizes = np.arange(n, 1, -1, dtype=np.uint64)[:, None]  # the k-th draw is over n - k points
        maybe_rejected = ((words[:n - 1] * sizes) & np.uint64(MASK) < sizes).any(axis=0)
        assert maybe_rejected.any() and not maybe_rejected.all()  # both paths (here 2 lanes of 3)


def test_orders_are_uniform_permutations():
    """Each of the 24 orders of 4 points about equally often over 24,000 epochs (chi-square),
    and every point equally often at the first visit over seeds (n = 10)."""
    orders = seeded_orders(7, 24000, 4)
    index = {perm: i for i, perm in enumerate(permutations(range(4)))}
    counts = np.bincount([index[tuple(o)] for o in orders], minlength=24)
    assert stats.chisquare(counts).pvalue > 1e-3
    first = np.bincount([seeded_orders(s, 1, 10)[0, 0] for s in range(5000)], minlength=10)
    assert stats.chisquare(first).pvalue > 1e-3


def test_orders_depend_on_seed_and_epoch_only():
    whole = seeded_orders(3, 10, 20)
    np.testing.assert_array_equal(seeded_orders(3, 4, 20, first_epoch=7), whole[6:])
    assert not np.array_equal(seeded_orders(4, 10, 20), whole)
    code = "from kernels.orders import seeded_orders; print(seeded_orders(3, 10, 20).tolist())"
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert there.stdout.strip() == str(whole.tolist())


@njit
def _exp_loop(x, out):
    for i in range(x.shape[0]):  # vectorised
        out[i] = exp_nonpositive(x[i])


def test_exp_within_one_ulp_of_libm_and_the_same_in_any_lane():
    rng = np.random.default_rng(0)
    x = np.concatenate([-rng.random(20000) * 750.0, -rng.random(2000), -rng.random(500) * 1e-12,
                        np.linspace(-745.2, -700.0, 2000), [0.0, -0.0, -5e-324, -708.4, -745.13, -745.14, -800.0]])
    out = np.empty_like(x)
    _exp_loop(x, out)
    libm = np.array([math.exp(v) for v in x])
    assert np.max(np.abs(out.view(np.int64) - libm.view(np.int64))) <= 1
    scalar = np.array([exp_nonpositive(v) for v in x[::97]])
    np.testing.assert_array_equal(scalar, out[::97])
    special = np.array([-np.inf, np.nan, -1e308])
    _exp_loop(special, out[:3])
    assert out[0] == 0.0 and np.isnan(out[1]) and out[2] == 0.0
