"""The ``relu_pgd`` problem: one ReLU teacher y = relu(<w*, x>), x ~ N(0, I_d), learned by
projected gradient descent from w_0 = 0 (Soltanolkotabi 2017; THEORY.md §6.1).

- parameters: :mod:`.params` (:class:`ReluPGDParams`); teacher and data: :mod:`.data`;
- one run: :mod:`.run` (``run``, PGD in kernels/pgd.py); what it records: :mod:`.variables`;
- theory: the 2^-t envelope and the sample scale n0_hat (:mod:`.theory`), held against
  the store in :mod:`.report` (checks, measured constants) and :mod:`.figures`.
"""
from __future__ import annotations

from sweep.problems.contract import Problem
from sweep.problems.relu_pgd.params import ReluPGDParams
from sweep.problems.relu_pgd.variables import layout

# Run-time model for task sizing (a heuristic: the per-entry terms from run() timed alone on
# this machine at (n, d) from (200, 500) to (4000, 2000), one BLAS thread; the per-run term from
# a task of tiny runs through run_many, benchmarks/bench_overhead.py).
SECONDS_PER_RUN = 40e-6               # parameters, seeding, measures, result dict, recording
SECONDS_PER_PRODUCT_ENTRY = 0.3e-9    # one entry of X in one of the 2T + 1 matrix-vector products
SECONDS_PER_DRAWN_ENTRY = 10e-9       # one Gaussian entry of X or X_test


def run_seconds(p: ReluPGDParams) -> float:
    """Estimated wall time of one run."""
    return (SECONDS_PER_RUN + SECONDS_PER_PRODUCT_ENTRY * (2 * p.iterations + 1) * p.n * p.d
            + SECONDS_PER_DRAWN_ENTRY * (p.n + p.n_test) * p.d)


PROBLEM = Problem(
    name="relu_pgd",
    summary="one ReLU teacher relu(<w*, x>) on Gaussian inputs, learned by projected gradient descent from 0 "
            "(l0, l1 or no constraint), n possibly < d",
    theory="THEORY.md §6.1 (Soltanolkotabi 2017)",
    params=ReluPGDParams,
    layout=layout,
    run="sweep.problems.relu_pgd.run:run",
    run_seconds=run_seconds,
    run_many="sweep.problems.relu_pgd.run:run_many",
    batch_key=ReluPGDParams.batch_key,
    report="sweep.problems.relu_pgd.report",
    replay="sweep.problems.relu_pgd.run:replay",
    presets=("relu_pgd_rate", "relu_pgd_phase", "relu_pgd_convention"),
)
