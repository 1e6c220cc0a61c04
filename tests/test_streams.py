"""kernels/streams.py against NumPy's own Generators, bit for bit: SeedSequence's state,
PCG64's raw outputs, standard_normal (enough draws to reach the ziggurat's tail and its
wedges) and choice without replacement on both of its paths."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.streams import (STATE_WORDS, choice_without_replacement, fill_standard_normal, seed_pcg64,
                             seed_sequence_state)
from numpy.random.bit_generator import _coerce_to_uint32_array

ENTROPIES = ([0, 5, 1], [7, 0, 2], [2**33 + 5, 3, 0], [1, 2, 3, 4, 5, 6], [2**63 - 1, 2**40, 2], [9])


def stream(entropy):
    state = np.empty(STATE_WORDS, np.uint64)
    seed_pcg64(_coerce_to_uint32_array(entropy), state)
    return state


@pytest.mark.parametrize("entropy", ENTROPIES)
def test_seed_sequence_and_pcg64_are_numpys(entropy):
    words = _coerce_to_uint32_array(entropy)
    np.testing.assert_array_equal(seed_sequence_state(words, 8), np.random.SeedSequence(entropy).generate_state(8))
    normals = np.empty((3000, 7))
    fill_standard_normal(stream(entropy), normals)
    np.testing.assert_array_equal(normals, np.random.default_rng(entropy).standard_normal((3000, 7)))


@pytest.mark.parametrize("population, size", [(4, 2), (10, 10), (5, 1), (1, 1), (1000, 20), (2**31, 3),
                                              (20000, 500), (20000, 100)])  # 20000, 500: the partial shuffle
def test_choice_without_replacement_and_the_draws_after_it_are_numpys(population, size):
    for entropy in ENTROPIES[:3]:
        state, generator = stream(entropy), np.random.default_rng(entropy)
        out = np.empty(size, np.int64)
        choice_without_replacement(state, population, size, out)
        np.testing.assert_array_equal(out, generator.choice(population, size=size, replace=False))
        after = np.empty(5)  # the buffered half of a 64-bit draw does not leak into the next
        fill_standard_normal(state, after)
        np.testing.assert_array_equal(after, generator.standard_normal(5))
