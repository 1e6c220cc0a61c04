"""SGD visiting orders drawn inside the kernels, from a counter-based generator.

Epoch e (1-based) of a run with seed s visits the points in the order of a Fisher-Yates
(Durstenfeld) shuffle of 0..n-1, whose bounded draws (Lemire's multiply-and-reject,
exactly uniform) take 32-bit words from Philox4x32-10 (Salmon, Moraes, Dror & Shaw,
SC11; Random123's reference algorithm) with key (s mod 2^32, s div 2^32) and counters
(b, e mod 2^32, e div 2^32, ORDERS_STREAM) for b = 0, 1, ...: the four words of counter b
are used in order. An epoch's order is thus a function of (s, e, n) alone: the same in
any process, whichever runs share a kernel call and wherever a run was cut into blocks.

:class:`SeededOrders` asks a kernel to draw the orders itself; :func:`seeded_orders`
writes them out (tests, benchmarks, peers that need explicit orders). The per-run kernel
draws with :func:`shuffle_epoch`, the runs-as-lanes kernel with :func:`shuffle_epoch_lanes`
(the same orders, Philox vectorised across the runs).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.jit import jit

_MASK = np.uint64(0xFFFFFFFF)
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)  # Philox4x32 multipliers
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)  # its key schedule (Weyl sequence)
ROUNDS = 10
ORDERS_STREAM = np.uint64(0x4F524452)  # counter word 3 of the visiting orders ("ORDR")
MAX_POINTS = 1 << 32                   # the 32-bit draws bound n
STREAM_WORDS = 10                      # the state of one stream (_next_word)


@jit(inline=True)
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of the counter (c0, c1, c2, c3) under the key (k0, k1); every
    argument and result a uint64 holding 32 bits."""
    for _ in range(ROUNDS):
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & _MASK, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & _MASK)
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
    return c0, c1, c2, c3


@jit(inline=True)
def _next_word(stream):
    """The next 32-bit word of the stream held in ``stream`` (uint64[10]: key 2, epoch
    words 2, next counter, words used of the current block, the block's 4 words)."""
    used = stream[5]
    if used == 4:
        w = philox4x32(stream[4], stream[2], stream[3], ORDERS_STREAM, stream[0], stream[1])
        stream[6], stream[7], stream[8], stream[9] = w[0], w[1], w[2], w[3]
        stream[4] += np.uint64(1)
        used = np.uint64(0)
    stream[5] = used + np.uint64(1)
    return stream[6 + used]


@jit
def shuffle_epoch(seed, epoch, perm, stream):
    """Write the visiting order of ``epoch`` (1-based) of the run with ``seed`` into perm
    (n,) int64 (see the module docstring). stream: a uint64[10] work array."""
    n = perm.shape[0]
    for i in range(n):
        perm[i] = i
    _stream_at(stream, seed, epoch, 0)
    _fisher_yates_from(perm, n - 1, stream)


@jit(inline=True)
def _stream_at(stream, seed, epoch, word):
    """Set ``stream`` (_next_word) to the run's stream of ``epoch`` at its word ``word``."""
    stream[0], stream[1] = seed & _MASK, seed >> np.uint64(32)
    stream[2], stream[3] = epoch & _MASK, epoch >> np.uint64(32)
    stream[4], stream[5] = np.uint64(word // 4), np.uint64(4)  # block word // 4 is drawn next ...
    if word % 4:  # ... from its word word % 4
        _next_word(stream)
        stream[5] = np.uint64(word % 4)


@jit(inline=True)
def _fisher_yates_from(perm, top, stream):
    """The Fisher-Yates draws i = top, top - 1, ..., 1 on perm, from ``stream``."""
    for i in range(top, 0, -1):
        size = np.uint64(i + 1)
        product = _next_word(stream) * size
        if product & _MASK < size:  # Lemire: reject the low words that would bias the draw
            threshold = ((_MASK + np.uint64(1)) - size) % size
            while product & _MASK < threshold:
                product = _next_word(stream) * size
        j = np.int64(product >> np.uint64(32))
        perm[i], perm[j] = perm[j], perm[i]


@jit
def shuffle_epoch_lanes(seeds, epoch, permT, words, stream):
    """``shuffle_epoch`` of many runs at once: permT[:, l] (permT (n, L) int64) becomes the
    order of epoch ``epoch`` of the run with seed seeds[l] (uint64 (L,)), the same numbers.

    The Philox blocks of all lanes are computed in one loop over the lanes (vectorised),
    into words (uint64 (>= 4 ceil((n - 1) / 4), L)); the draws then go lane by lane, the
    k-th from word k until a word that Lemire's test could reject (probability below
    n / 2^32 per draw), from where that lane goes on as ``shuffle_epoch`` does (work
    array stream). Faster than ``shuffle_epoch`` run by run up to a few hundred points,
    slower above (benchmarks/README.md).
    """
    n, lanes = permT.shape
    e0, e1 = epoch & _MASK, epoch >> np.uint64(32)
    for b in range((n + 2) // 4):  # the n - 1 draws, four words per block
        c = np.uint64(b)
        w0, w1, w2, w3 = words[4 * b], words[4 * b + 1], words[4 * b + 2], words[4 * b + 3]
        for l in range(lanes):
            r = philox4x32(c, e0, e1, ORDERS_STREAM, seeds[l] & _MASK, seeds[l] >> np.uint64(32))
            w0[l], w1[l], w2[l], w3[l] = r[0], r[1], r[2], r[3]
    for t in range(n):
        permT[t] = t
    for l in range(lanes):
        column = permT[:, l]
        for i in range(n - 1, 0, -1):
            size = np.uint64(i + 1)
            product = words[n - 1 - i, l] * size
            if product & _MASK < size:  # maybe rejected: draw i again as shuffle_epoch does
                _stream_at(stream, seeds[l], epoch, n - 1 - i)
                _fisher_yates_from(column, i, stream)
                break
            j = np.int64(product >> np.uint64(32))
            column[i], column[j] = column[j], column[i]


@jit
def _shuffle_epochs(seed, first_epoch, out):
    stream = np.empty(STREAM_WORDS, dtype=np.uint64)
    for e in range(out.shape[0]):
        shuffle_epoch(seed, np.uint64(first_epoch + e), out[e], stream)


def check_seeds(seeds, count: int | None = None) -> np.ndarray:
    """Seeds as a uint64 array (R,): integers in [0, 2^64); ValueError naming the bad one."""
    values = np.asarray(seeds, dtype=object).reshape(-1)
    for value in values:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not 0 <= value < 2**64:
            raise ValueError(f"seeds must be integers in [0, 2**64), got {value!r}")
    if count is not None and values.size != count:
        raise ValueError(f"seeds must hold one seed per run ({count}), got {values.size}")
    return np.array([int(v) for v in values], dtype=np.uint64)


def check_points(n: int) -> None:
    if n >= MAX_POINTS:
        raise ValueError(f"drawn visiting orders need n < 2**32 points, got {n}")


def seeded_orders(seed: int, epochs: int, n: int, first_epoch: int = 1) -> np.ndarray:
    """The visiting orders (epochs, n) of epochs first_epoch, first_epoch + 1, ... of the
    run with ``seed``: what a kernel given ``SeededOrders`` draws."""
    (seed,) = check_seeds([seed])
    check_points(n)
    out = np.empty((int(epochs), int(n)), dtype=np.int64)
    _shuffle_epochs(seed, int(first_epoch), out)
    return out


@dataclass(frozen=True)
class SeededOrders:
    """Visiting orders for ``epochs`` more epochs of each run, drawn in the kernel from
    the runs' ``seeds`` (one int for one run, or one per run); each run continues its
    own stream from the epochs it has run (module docstring)."""

    seeds: object
    epochs: int

    def __post_init__(self):
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, (int, np.integer)) or self.epochs < 0:
            raise ValueError(f"epochs must be an integer >= 0, got {self.epochs!r}")
