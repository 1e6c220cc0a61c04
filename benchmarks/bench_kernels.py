"""Single-thread throughput of the SGD kernel against the loops a user would write.

On identical data, init and visiting orders it times, in one process:
  ours       kernels.sgd_train (Numba), the loss after every epoch,
  numpy      a per-step NumPy loop, vectorised over neurons,
  torch      the same loop in PyTorch eager (if importable),
  jax        jit + lax.scan over the steps of each epoch (if importable),
every one computing the end-of-epoch loss (needed for E_conv, THEORY.md §2), and
  conv-only  ours with ``loss_at=[]``: the loss passes only settle E_conv, as a sweep
             run does at every epoch its recorded ladder skips (less work than the peers),
  fused      ours with ``delayed_steps=0``, where ours delays updates (sgd_loops).
It checks that all end the first epoch at the same W, excludes compile/JIT time
(reported apart), and prints per shape the median steps/s, GFLOP/s, the share of the
single-thread matmul peak measured in the same run, and ours / peer (median over rounds,
with its quartiles: the machine is shared and noisy). GFLOP/s counts the work every code
here does per point and epoch: 8kd flops for the step and 4kd for the loss pass (2k dot
products of length d each).
Run from anywhere:

    python benchmarks/bench_kernels.py [--quick]
"""
from __future__ import annotations

import os

# One thread everywhere, set before numpy, numba, torch or jax are imported.
for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kernels.sgd import sgd_train  # noqa: E402
from kernels.blas import BLAS_AS_WIDE_AS_NUMBA, openblas_core  # noqa: E402
from kernels.sgd_loops import delayed_steps_for  # noqa: E402
from kernels.sgd import _epoch_loss  # noqa: E402

ALPHA, V, LR, EPS = 0.2, 1.0, 0.01, 0.01
SHAPES = [(1000, 50, 5), (1000, 50, 50), (1000, 50, 500), (1000, 784, 50), (100, 50, 50)]
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-4}  # relative Frobenius error of W after 1 epoch


def make_problem(n, d, k, epochs, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    y = np.where(X @ rng.standard_normal(d) >= 0, 1.0, -1.0)
    W0 = 0.3 * rng.standard_normal((2 * k, d)) / np.sqrt(d)
    order = np.stack([rng.permutation(n) for _ in range(epochs)])
    return X.astype(dtype), y, W0.astype(dtype), order


# --- the peers: each returns (W, epoch losses) after the epochs of ``order`` -------------

def run_ours(X, y, W0, order):
    res = sgd_train(X, y, W0, order, alpha=ALPHA, lr=LR, eps=EPS, v=V, dtype=X.dtype.type)
    return res.W, res.loss


def run_ours_conv_only(X, y, W0, order):
    """Ours asked for the loss at the last epoch only: the other loss passes only settle
    E_conv (cut short while L_S >= eps is certain), as a sweep run does at every epoch
    its recorded ladder skips (all but 20 per decade after epoch 50)."""
    res = sgd_train(X, y, W0, order, alpha=ALPHA, lr=LR, eps=EPS, v=V, dtype=X.dtype.type, loss_at=[])
    return res.W, res.loss


def run_ours_fused(X, y, W0, order):
    """Ours with the fused steps, for the shapes where ours delays updates."""
    res = sgd_train(X, y, W0, order, alpha=ALPHA, lr=LR, eps=EPS, v=V, dtype=X.dtype.type, delayed_steps=0)
    return res.W, res.loss


def run_numpy(X, y, W0, order):
    k = W0.shape[0] // 2
    signs = np.r_[np.ones(k), -np.ones(k)].astype(X.dtype)
    W = W0.copy()
    losses = []
    for perm in order:
        for i in perm:
            x = X[i]
            h = W @ x
            z = y[i] * V * float(np.sum(signs * np.maximum(h, ALPHA * h)))
            g = 1.0 / (1.0 + math.exp(z)) if z < 0 else math.exp(-z) / (1.0 + math.exp(-z))
            c = (LR * g * y[i] * V) * signs * np.where(h > 0, 1.0, ALPHA).astype(X.dtype)
            W += c[:, None] * x[None, :]
        H = X @ W.T
        zs = y * V * (np.maximum(H, ALPHA * H) @ signs)
        losses.append(np.mean(np.logaddexp(0.0, -zs)))
    return W, np.array(losses)


def make_torch_runner():
    import torch
    torch.set_num_threads(1)

    def run_torch(X, y, W0, order):
        k = W0.shape[0] // 2
        Xt, yt, W = torch.from_numpy(X), torch.from_numpy(y.astype(X.dtype)), torch.from_numpy(W0.copy())
        signs = torch.cat([torch.ones(k), -torch.ones(k)]).to(W.dtype)
        one, alpha = torch.tensor(1.0, dtype=W.dtype), torch.tensor(ALPHA, dtype=W.dtype)
        losses = []
        with torch.no_grad():
            for perm in order.tolist():
                for i in perm:
                    x = Xt[i]
                    h = torch.mv(W, x)
                    z = yt[i] * V * torch.dot(signs, torch.maximum(h, ALPHA * h))
                    step = LR * torch.sigmoid(-z) * yt[i] * V
                    c = step * signs * torch.where(h > 0, one, alpha)
                    W.add_(torch.outer(c, x))
                H = Xt @ W.T
                zs = yt * V * (torch.maximum(H, ALPHA * H) @ signs)
                losses.append(float(torch.nn.functional.softplus(-zs.double()).mean()))
        return W.numpy(), np.array(losses)

    return run_torch


def jax_sgd_run(k, dtype):
    """One SGD run in JAX, not yet jitted: ``train(X, y, W, order) -> (W, loss per epoch)``, a
    ``lax.scan`` over epochs of a ``lax.scan`` over steps (also the peer of bench_batched.py)."""
    import jax
    import jax.numpy as jnp

    signs = jnp.concatenate([jnp.ones(k), -jnp.ones(k)]).astype(dtype)

    def train(X, y, W, order):
        def step(W, i):
            x = X[i]
            h = W @ x
            z = y[i] * V * jnp.dot(signs, jnp.maximum(h, ALPHA * h))
            c = (LR * jax.nn.sigmoid(-z) * y[i] * V).astype(dtype) * signs * jnp.where(h > 0, 1.0, ALPHA).astype(dtype)
            return W + c[:, None] * x[None, :], None

        def epoch(W, perm):
            W, _ = jax.lax.scan(step, W, perm)
            H = X @ W.T
            zs = y * V * (jnp.maximum(H, ALPHA * H) @ signs)
            return W, jnp.mean(jnp.logaddexp(0.0, -zs))

        return jax.lax.scan(epoch, W, order)

    return train


def make_jax_runner():
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    compiled = {}

    def build(k, dtype):
        return jax.jit(jax_sgd_run(k, dtype))

    def run_jax(X, y, W0, order):
        key = (W0.shape[0] // 2, X.dtype)
        if key not in compiled:
            compiled[key] = build(key[0], X.dtype)
        W, losses = compiled[key](jnp.asarray(X), jnp.asarray(y, dtype=X.dtype), jnp.asarray(W0), jnp.asarray(order))
        return np.asarray(jax.block_until_ready(W)), np.asarray(losses)

    return run_jax


# --- measurement -------------------------------------------------------------------------

def timed(fn, args, repeats):
    """(median seconds, seconds of the first call, last result)."""
    t0 = time.perf_counter()
    out = fn(*args)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), first, out


def matmul_peak(dtype, repeats, size=1024):
    a = np.random.default_rng(1).standard_normal((size, size)).astype(dtype)
    b = a.T.copy()
    seconds, _, _ = timed(np.matmul, (a, b), repeats)
    return 2 * size**3 / seconds / 1e9


@njit(nogil=True)
def _loss_passes(X, XT, y, W, HT, net, alpha, v, times):
    """The kernel's exact end-of-epoch loss pass, ``times`` times."""
    total = 0.0
    for _ in range(times):
        total += _epoch_loss(X, XT, y, W, alpha, v, HT, net, 0, 0.0, 0.0)[0]
    return total


def rel_err(W, ref):
    return float(np.linalg.norm(W.astype(np.float64) - ref) / np.linalg.norm(ref))


def bench_shape(n, d, k, dtype, peers, peak, args):
    """Time ours and every peer round-robin, so that each round sees the same machine load;
    a peer's ratio is the median over rounds of ours / peer within the round, with the
    quartiles of those ratios."""
    flops_point = 8 * k * d + 4 * k * d  # the step, and the point's share of the loss pass
    fast_epochs = int(np.clip(round(args.flops / (flops_point * n)), 1, 200))
    X, y, W0, order = make_problem(n, d, k, fast_epochs, dtype)
    runs = {"ours": (run_ours, fast_epochs), "conv_only": (run_ours_conv_only, fast_epochs)}
    delayed = delayed_steps_for(2 * k, d)
    if delayed:
        runs["fused"] = (run_ours_fused, fast_epochs)
    runs.update({nm: (fn, fast_epochs if nm == "jax" else 1) for nm, fn in peers.items()})
    compile_s, results, rates = {}, {}, {nm: [] for nm in runs}
    for nm, (fn, epochs) in runs.items():  # the first call compiles; timed apart
        t0 = time.perf_counter()
        results[nm] = fn(X, y, W0, order[:epochs])
        compile_s[nm] = time.perf_counter() - t0
    for _ in range(args.repeats):
        for nm, (fn, epochs) in runs.items():
            t0 = time.perf_counter()
            fn(X, y, W0, order[:epochs])
            rates[nm].append(epochs * n / (time.perf_counter() - t0))
    ours = np.array(rates["ours"])
    row = dict(ours=float(np.median(ours)), delayed=delayed)
    row["over_fused"] = float(np.median(ours / np.array(rates["fused"]))) if delayed else 1.0
    row["gflops"] = row["ours"] * flops_point / 1e9
    row["peak_share"] = row["gflops"] / peak
    row["compile"] = compile_s["ours"] - fast_epochs * n / row["ours"]
    conv_only = np.array(rates["conv_only"])
    row["conv_only"] = float(np.median(conv_only))
    if "jax" in peers:
        row["conv_only_jax"] = float(np.median(conv_only / np.array(rates["jax"])))
    # Agreement after one epoch: over many float32 steps, rounding alone can flip a
    # pre-activation across the kink at 0 and move W by O(lr) (seen with jax at k = 500).
    W_ours_one = run_ours(X, y, W0, order[:1])[0].astype(np.float64)
    for nm in peers:
        epochs = runs[nm][1]
        W_one = results[nm][0] if epochs == 1 else peers[nm](X, y, W0, order[:1])[0]
        err = rel_err(W_one, W_ours_one)
        rate = float(np.median(rates[nm]))
        ratios = ours / np.array(rates[nm])
        row[nm] = dict(rate=rate, ratio=float(np.median(ratios)), quartiles=np.percentile(ratios, [25, 75]), err=err,
                       ok=err <= TOLERANCE[dtype], compile=compile_s[nm] - epochs * n / rate)
    return row


def loss_share(dtype, args):
    """Share of an epoch spent in the end-of-epoch loss pass at (n, d, k) = (1000, 50, 50):
    with the loss every epoch (as the peers), and when only E_conv is settled."""
    n, d, k = 1000, 50, 50
    epochs = 20
    X, y, W0, order = make_problem(n, d, k, epochs, dtype)
    t_all, _, _ = timed(run_ours, (X, y, W0, order), args.repeats)
    t_conv_only, _, _ = timed(run_ours_conv_only, (X, y, W0, order), args.repeats)
    XT, HT = np.ascontiguousarray(X.T), np.empty((2 * k, n), dtype=dtype)
    t_loss, _, _ = timed(_loss_passes, (X, XT, y, W0, HT, np.empty(n), ALPHA, V, epochs), args.repeats)
    t_steps = t_all - t_loss
    return t_loss / t_all, max(t_conv_only - t_steps, 0.0) / t_conv_only


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and epochs (about a minute)")
    args = parser.parse_args(argv)
    args.repeats, args.flops = (3, 2e8) if args.quick else (7, 1e9)

    peers, skipped = {"numpy": run_numpy}, []
    for name, factory in (("torch", make_torch_runner), ("jax", make_jax_runner)):
        try:
            peers[name] = factory()
        except ImportError as exc:
            skipped.append(f"{name} ({exc})")
    import numba
    print(f"numba {numba.__version__}, numpy {np.__version__}; single thread; "
          f"median of {args.repeats} rounds, each timing every code once; numpy and torch on 1 epoch")
    print(f"SciPy's OpenBLAS runs {openblas_core() or 'unknown'} kernels (OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', 'unset')}); delayed updates "
          f"{'on where they pay' if BLAS_AS_WIDE_AS_NUMBA else 'only for 2k, d >= 100: BLAS narrower than Numba'}")
    if skipped:
        print("skipped peers: " + "; ".join(skipped))
    names = list(peers)
    for dtype in (np.float64, np.float32):
        peak = matmul_peak(dtype, args.repeats)
        print(f"\n{np.dtype(dtype).name}: matmul peak (1024^3, 1 thread) {peak:.1f} GFLOP/s; "
              f"err: W after 1 epoch vs ours (relative, Frobenius), tolerance {TOLERANCE[dtype]:g}")
        head = f"{'n':>5} {'d':>4} {'k':>4} | {'ours steps/s':>12} {'GFLOP/s':>7} {'%peak':>5} {'steps':>10} {'/fused':>6} |"
        head += "".join(f" {nm + ' steps/s':>14} {'ours/' + nm + ' (quartiles)':>22} {'err':>6} |" for nm in names)
        head += " compile s (ours" + "".join(f", {nm}" for nm in names if nm == "jax") + ")"
        head += " | conv-only steps/s" + (" conv-only/jax" if "jax" in names else "")
        print(head)
        for n, d, k in SHAPES:
            r = bench_shape(n, d, k, dtype, peers, peak, args)
            steps = f"delayed {r['delayed']}" if r["delayed"] else "fused"
            line = (f"{n:>5} {d:>4} {k:>4} | {r['ours']:>12,.0f} {r['gflops']:>7.2f} {100 * r['peak_share']:>4.0f}% "
                    f"{steps:>10} {r['over_fused']:>5.2f}x |")
            for nm in names:
                p = r[nm]
                flag = "" if p["ok"] else "!"
                spread = "({:.1f}-{:.1f})".format(*p["quartiles"])
                line += f" {p['rate']:>14,.0f} {p['ratio']:>9.1f}x {spread:>12} {p['err']:>6.0e}{flag or ' '}|"
            line += f" {r['compile']:.2f}" + "".join(f", {r[nm]['compile']:.2f}" for nm in names if nm == "jax")
            line += f" | {r['conv_only']:>17,.0f}" + (f" {r['conv_only_jax']:>12.1f}x" if "jax" in names else "")
            print(line, flush=True)
        every, conv_only = loss_share(dtype, args)
        print(f"loss pass share of an epoch at (n, d, k) = (1000, 50, 50): {100 * every:.1f}% with the loss every "
              f"epoch, {100 * conv_only:.1f}% when only E_conv is settled")
    print("\n'!' after err: W disagrees with ours beyond the tolerance.")


if __name__ == "__main__":
    main()
