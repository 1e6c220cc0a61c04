"""The kernels of this tree against those of an earlier commit, in one process.

The baseline's ``kernels/`` is taken from git (``git archive``) into a temporary package
``kernels_baseline`` (its imports rewritten), so both versions compile here, from the
same Numba, on the same data. Each case calls the same entry point of both with the same
arguments; a round times each once (CPU time of this process, so both see the same
load), and the figure printed is the median over rounds of the within-round ratio
baseline time / this tree's time (> 1: this tree is faster), with its quartiles. Cases:
every SGD path of tests/conformance.py at its benchmark shape in both dtypes
(``sgd_train``, or ``sgd_train_many`` for the lanes), and the ordered-sum users: relu_student's training steps,
biased_relu's SGD steps, hermite's moment sums, metrics.max_intra_angle. Threads are
pinned to 1 (Numba, BLAS).

    .venv/bin/python benchmarks/bench_against_commit.py [--baseline 9cbaaf1] [--rounds 7]
"""
from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib  # noqa: E402
import io  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conformance import SGD_PATHS  # noqa: E402

ROUNDS_WORK = 1e8  # about n d k epochs per SGD call: tens of milliseconds


def baseline_kernels(commit: str, into: Path):
    """The package ``kernels_baseline``: kernels/ at ``commit``, importable from ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "kernels"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    package = into / "kernels_baseline"
    (into / "kernels").rename(package)
    for path in package.glob("*.py"):
        text = re.sub(r"\bkernels\.", "kernels_baseline.", path.read_text())
        path.write_text(re.sub(r"\bimport kernels\b", "import kernels_baseline", text))
    sys.path.insert(0, str(into))
    return importlib.import_module("kernels_baseline")


def module(package: str, name: str):
    return importlib.import_module(f"{package}.{name}")


def sgd_case(package, path, dtype):
    """The path's benchmark shape (tests/conformance.py), one call of sgd_train (one run)
    or sgd_train_many (lanes), visiting orders drawn in the kernel or passed in."""
    n, d, k, runs = path.bench_shape
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    y = np.sign(X @ rng.standard_normal(d))
    W0s = 1e-3 * rng.standard_normal((runs, 2 * k, d))
    epochs = max(3, int(ROUNDS_WORK // (n * k * max(d, 20) * runs ** 0.5)))
    orders = module(package, "orders")
    seeds = np.arange(runs)
    given = np.stack([orders.seeded_orders(int(s), epochs, n) for s in seeds])
    settings = dict(alpha=0.1, lr=0.05, eps=1e-9, dtype=dtype, loss_at=[])
    if runs > 1:
        batched = module(package, "sgd_batched")
        block = orders.SeededOrders(seeds, epochs) if path.seeded else given
        return lambda: batched.sgd_train_many(X, y, W0s, block, **settings)
    sgd = module(package, "sgd")
    block = orders.SeededOrders(0, epochs) if path.seeded else given[0]
    return lambda: sgd.sgd_train(X, y, W0s[0], block, delayed_steps=path.delayed_steps, **settings)


def relu_student_case(package, d, M, n, batch):
    rs = module(package, "relu_student")
    rng = np.random.default_rng(2)
    XT = rng.standard_normal((d, n))
    y = np.maximum(XT[:3].sum(axis=0), 0.0)
    a0, W0 = np.full(M, 0.01), 0.01 * rng.standard_normal((M, d))
    order = rng.integers(0, n, (200, batch))

    def run():
        a, W = a0.copy(), W0.copy()
        rs.training_set_steps(a, W, XT, y, order, 1e-3, rs.TV, rs.CONIC, 4.0, 0.05)
    return run


def biased_relu_case(package, d, m, batch, steps):
    br = module(package, "biased_relu")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((steps * batch, d))
    y = np.maximum(X[:, 0] + 0.5, 0.0)
    W0, b0, a0 = 0.1 * rng.standard_normal((m, d)), np.zeros(m), np.full(m, 1.0 / m)
    losses = np.empty(steps)

    def run():
        W, b, a = W0.copy(), b0.copy(), a0.copy()
        br.sgd_steps(X, y, W, b, a, 0.01, batch, steps, losses)
    return run


def hermite_case(package, n, d, r):
    he = module(package, "hermite")
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    U = rng.standard_normal((r, d))
    shape = (r + 1, he.feature_count(d))
    return lambda: he.accumulate_moments(X, y, U, np.zeros(shape), np.zeros(shape))


def angle_case(package, two_k, d, reps):
    metrics = module(package, "metrics")
    W = np.random.default_rng(5).standard_normal((two_k, d))

    def run():
        for _ in range(reps):
            metrics.max_intra_angle(W)
    return run


def cases():
    for dtype in (np.float64, np.float32):
        for path in SGD_PATHS:
            n, d, k, runs = path.bench_shape
            name = f"{path.name} {dtype.__name__} {(n, d, k)}" + (f" x{runs}" if runs > 1 else "")
            yield name, sgd_case, (path, dtype)
    yield "relu_student.training_set_steps d=20 M=300 batch=200", relu_student_case, (20, 300, 4000, 200)
    yield "biased_relu.sgd_steps d=20 m=50 batch=32", biased_relu_case, (20, 50, 32, 4000)
    yield "hermite.accumulate_moments n=40000 d=20 r=4", hermite_case, (40000, 20, 4)
    yield "metrics.max_intra_angle (200, 50) x200", angle_case, (200, 50, 200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="9cbaaf1", help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tmp) / "numba"))
        baseline_kernels(args.baseline, Path(tmp))
        print(f"baseline {args.baseline}; load average {os.getloadavg()[0]:.2f}; "
              f"ratio = baseline time / this tree's time (median [quartiles] of {args.rounds} rounds)")
        for name, make, arguments in cases():
            if args.only not in name:
                continue
            old, new = make("kernels_baseline", *arguments), make("kernels", *arguments)
            old(), new()  # compile
            ratios, seconds = [], []
            for _ in range(args.rounds):
                t0 = time.process_time()
                old()
                t1 = time.process_time()
                new()
                t2 = time.process_time()
                ratios.append((t1 - t0) / (t2 - t1))
                seconds.append(t2 - t1)
            q1, median, q3 = np.percentile(ratios, [25, 50, 75])
            print(f"{name:58s} {median:5.2f} [{q1:.2f}, {q3:.2f}]   ({np.median(seconds) * 1e3:7.1f} ms)",
                  flush=True)


if __name__ == "__main__":
    main()
