"""NumPy's seeded streams ``np.random.default_rng(entropy)`` drawn in Numba, bit for bit.

A run's data come from streams ``default_rng([seed_a, seed_b, k])`` (THEORY.md §6.1 for
``relu_pgd``). Building three such Generators costs about 60 us of Python per run, far
more than a tiny run's arithmetic; here a whole batch of streams is seeded and drawn in
one call. The algorithms are NumPy's (``numpy/random/bit_generator.pyx``: SeedSequence
with its default pool of 4 words; ``src/pcg64``: PCG64 seeded from 4 uint64 words of
``generate_state``, the XSL-RR output; ``src/distributions``: the 256-layer ziggurat of
``standard_normal`` and Lemire's bounded integers on buffered 32-bit halves;
``_generator.pyx``: ``choice(pop, size, replace=False)`` by Floyd's algorithm and a
shuffle, or for populations above 10,000 a partial shuffle), on the ziggurat tables NumPy
uses (Numba's copy). tests/test_streams.py holds them to NumPy's Generator.

A stream's state is a uint64 array of STATE_WORDS: the 128-bit state and increment (high
word first) and the buffered 32-bit half of ``next_uint32``.
"""
from __future__ import annotations

import math

import numpy as np
from numba.np.random._constants import fi_double, ki_double, wi_double, ziggurat_nor_inv_r, ziggurat_nor_r

from kernels.jit import jit

STATE_WORDS = 6                     # state hi, lo, increment hi, lo, has a buffered half, the half
POOL_SIZE = 4                       # SeedSequence's default pool (uint32 words)
TAIL_SHUFFLE_POPULATION = 10000     # choice: above this population (and for large samples), a partial shuffle

_U32 = np.uint64(0xFFFFFFFF)
_U64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_32 = np.uint64(32)
_MULT_HI = np.uint64(2549297995355413924)   # PCG_DEFAULT_MULTIPLIER_128
_MULT_LO = np.uint64(4865540595714422341)
_INIT_A, _MULT_A = np.uint32(0x43B0D7E5), np.uint32(0x931E8875)
_INIT_B, _MULT_B = np.uint32(0x8B51F9DD), np.uint32(0x58F38DED)
_MIX_L, _MIX_R = np.uint32(0xCA01F9DD), np.uint32(0x4973F715)
_XSHIFT = np.uint32(16)
_DOUBLE_UNIT = 1.0 / 9007199254740992.0


@jit(inline=True)
def _hashmix(value, hash_const):
    """SeedSequence's hashmix; ``hash_const`` (a 1-array) is updated in place. (Numba
    computes on uint32 in 64 bits: every product is cut back to 32.)"""
    value = np.uint32(value ^ hash_const[0])
    hash_const[0] = np.uint32(hash_const[0] * _MULT_A)
    value = np.uint32(value * hash_const[0])
    return np.uint32(value ^ (value >> _XSHIFT))


@jit(inline=True)
def _mix(x, y):
    result = np.uint32(_MIX_L * x - _MIX_R * y)
    return np.uint32(result ^ (result >> _XSHIFT))


@jit
def seed_sequence_state(entropy, n_words):
    """``SeedSequence(entropy).generate_state(n_words, np.uint32)`` for a uint32 word array
    (what SeedSequence makes of its entropy: each int as its 32-bit words, lowest first)."""
    pool = np.zeros(POOL_SIZE, np.uint32)
    hash_const = np.full(1, _INIT_A, np.uint32)
    for i in range(POOL_SIZE):
        pool[i] = _hashmix(entropy[i] if i < entropy.shape[0] else np.uint32(0), hash_const)
    for i_src in range(POOL_SIZE):
        for i_dst in range(POOL_SIZE):
            if i_src != i_dst:
                pool[i_dst] = _mix(pool[i_dst], _hashmix(pool[i_src], hash_const))
    for i_src in range(POOL_SIZE, entropy.shape[0]):
        for i_dst in range(POOL_SIZE):
            pool[i_dst] = _mix(pool[i_dst], _hashmix(entropy[i_src], hash_const))
    state = np.empty(n_words, np.uint32)
    constant = _INIT_B
    for i in range(n_words):
        value = np.uint32(pool[i % POOL_SIZE] ^ constant)
        constant = np.uint32(constant * _MULT_B)
        value = np.uint32(value * constant)
        state[i] = np.uint32(value ^ (value >> _XSHIFT))
    return state


@jit(inline=True)
def _product_and_sum(a_hi, a_lo, b_hi, b_lo, c_hi, c_lo):
    """(a b + c) mod 2^128 on (high, low) uint64 pairs."""
    a0, a1 = a_lo & _U32, a_lo >> _32
    b0, b1 = b_lo & _U32, b_lo >> _32
    p00, p01, p10 = a0 * b0, a0 * b1, a1 * b0
    middle = (p00 >> _32) + (p01 & _U32) + (p10 & _U32)
    lo = (middle << _32) | (p00 & _U32)
    hi = a1 * b1 + (p01 >> _32) + (p10 >> _32) + (middle >> _32) + a_hi * b_lo + a_lo * b_hi
    total_lo = lo + c_lo
    carry = np.uint64(1) if total_lo < lo else np.uint64(0)
    return hi + c_hi + carry, total_lo


@jit(inline=True)
def _step(state):
    state[0], state[1] = _product_and_sum(state[0], state[1], _MULT_HI, _MULT_LO, state[2], state[3])


@jit
def seed_pcg64(entropy, state):
    """``PCG64(SeedSequence(entropy))``: write the stream's state into ``state`` (STATE_WORDS)."""
    words = seed_sequence_state(entropy, 8)
    seed = np.empty(4, np.uint64)
    for i in range(4):  # little-endian pairs of uint32 words
        seed[i] = np.uint64(words[2 * i]) | (np.uint64(words[2 * i + 1]) << _32)
    state[0], state[1] = np.uint64(0), np.uint64(0)
    state[2] = (seed[2] << np.uint64(1)) | (seed[3] >> np.uint64(63))
    state[3] = (seed[3] << np.uint64(1)) | np.uint64(1)
    _step(state)
    total_lo = state[1] + seed[1]
    carry = np.uint64(1) if total_lo < state[1] else np.uint64(0)
    state[0] = state[0] + seed[0] + carry
    state[1] = total_lo
    _step(state)
    state[4], state[5] = np.uint64(0), np.uint64(0)


@jit(inline=True)
def next_uint64(state):
    """PCG64's next 64-bit output: a step, then XSL-RR of the new state."""
    _step(state)
    rotation = state[0] >> np.uint64(58)
    value = state[0] ^ state[1]
    return (value >> rotation) | (value << ((np.uint64(64) - rotation) & np.uint64(63)))


@jit(inline=True)
def next_uint32(state):
    """The low half of a new 64-bit output, or the buffered high half of the last one."""
    if state[4] != 0:
        state[4] = np.uint64(0)
        return state[5]
    value = next_uint64(state)
    state[4], state[5] = np.uint64(1), value >> _32
    return value & _U32


@jit(inline=True)
def next_double(state):
    return np.float64(next_uint64(state) >> np.uint64(11)) * _DOUBLE_UNIT


@jit
def standard_normal(state):
    """One draw of ``Generator.standard_normal`` (the ziggurat of random_standard_normal)."""
    while True:
        r = next_uint64(state)
        idx = np.int64(r & np.uint64(0xFF))
        r >>= np.uint64(8)
        rabs = (r >> np.uint64(1)) & np.uint64(0x000FFFFFFFFFFFFF)
        x = np.float64(rabs) * wi_double[idx]
        if r & np.uint64(1):
            x = -x
        if rabs < ki_double[idx]:
            return x
        if idx == 0:
            while True:
                xx = -ziggurat_nor_inv_r * math.log1p(-next_double(state))
                yy = -math.log1p(-next_double(state))
                if yy + yy > xx * xx:
                    return -(ziggurat_nor_r + xx) if (rabs >> np.uint64(8)) & np.uint64(1) else ziggurat_nor_r + xx
        elif (fi_double[idx - 1] - fi_double[idx]) * next_double(state) + fi_double[idx] < math.exp(-0.5 * x * x):
            return x


@jit
def fill_standard_normal(state, out):
    """``out`` (any shape, C order) filled as ``Generator.standard_normal(out.shape)`` fills it."""
    flat = out.reshape(-1)
    for i in range(flat.shape[0]):
        flat[i] = standard_normal(state)


@jit(inline=True)
def bounded(state, top):
    """``random_bounded_uint64(0, top)``: uniform on 0 .. top (Lemire's method on 32-bit
    halves for top < 2^32 - 1, as every index draw here)."""
    if top == 0:
        return np.uint64(0)
    if top == _U32:
        return next_uint32(state)
    exclusive = top + np.uint64(1)
    m = next_uint32(state) * exclusive
    leftover = m & _U32
    if leftover < exclusive:
        threshold = (_U32 - top) % exclusive
        while leftover < threshold:
            m = next_uint32(state) * exclusive
            leftover = m & _U32
    return m >> _32


@jit(inline=True)
def _shuffle(state, data, first):
    """NumPy's ``_shuffle_int``: positions n-1 down to ``first`` swapped with a bounded draw."""
    for i in range(data.shape[0] - 1, first - 1, -1):
        j = np.int64(bounded(state, np.uint64(i)))
        data[i], data[j] = data[j], data[i]


@jit
def choice_without_replacement(state, population, size, out):
    """``Generator.choice(population, size, replace=False)`` into ``out`` (``size`` int64)."""
    if population > TAIL_SHUFFLE_POPULATION and size > population // 50:
        every = np.arange(population)
        _shuffle(state, every, max(population - size, 1))
        out[:] = every[population - size:]
        return
    set_size = np.uint64(1.2 * size)
    mask = set_size
    for shift in (1, 2, 4, 8, 16, 32):
        mask |= mask >> np.uint64(shift)
    table = np.full(np.int64(mask) + 1, _U64, np.uint64)
    for j in range(population - size, population):
        value = bounded(state, np.uint64(j))
        loc = value & mask
        while table[loc] != _U64 and table[loc] != value:
            loc = (loc + np.uint64(1)) & mask
        if table[loc] == _U64:
            table[loc] = value
            out[j - population + size] = np.int64(value)
        else:
            loc = np.uint64(j) & mask
            while table[loc] != _U64:
                loc = (loc + np.uint64(1)) & mask
            table[loc] = np.uint64(j)
            out[j - population + size] = j
    _shuffle(state, out, 1)


@jit
def draw_sparse_teachers_and_inputs(entropy, lengths, support, values, X, X_test):
    """The draws of a batch of runs, run r from the streams ``default_rng([*entropy[r,
    :lengths[r]], k])``: from k = 0 ``support[r] = choice(d, s, replace=False)`` and then
    ``values[r] = standard_normal(s)``; ``X[r] = standard_normal((n, d))`` from k = 1,
    ``X_test[r]`` likewise from k = 2 (``support``, ``values``: (R, s); ``X``: (R, n, d);
    ``X_test``: (R, n_test, d), float64)."""
    state = np.empty(STATE_WORDS, np.uint64)
    for r in range(X.shape[0]):
        words = np.empty(lengths[r] + 1, np.uint32)
        words[:lengths[r]] = entropy[r, :lengths[r]]
        words[lengths[r]] = 0
        seed_pcg64(words, state)
        choice_without_replacement(state, X.shape[2], support.shape[1], support[r])
        fill_standard_normal(state, values[r])
        words[lengths[r]] = 1
        seed_pcg64(words, state)
        fill_standard_normal(state, X[r])
        words[lengths[r]] = 2
        seed_pcg64(words, state)
        fill_standard_normal(state, X_test[r])
