"""Input checks for the kernels' Python entry points.

Each check raises ValueError naming the argument and the offending value, and returns
C-contiguous arrays of the requested dtype ready for the jitted loops.
"""
from __future__ import annotations

import math

import numpy as np
from kernels.jit import jit

_DTYPES = (np.float64, np.float32)


def check_finite_positive(name: str, value) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def check_alpha(alpha) -> float:
    alpha = float(alpha)
    if not (0.0 <= alpha < 1.0):
        raise ValueError(f"alpha must be in [0, 1), got {alpha!r}")
    return alpha


def check_training_inputs(X, y, W0, alpha, dtype=np.float64, binary_labels=True):
    """Validate a training set and an initial W; return (X, y, W) as fresh arrays.

    X (n, d) finite; y (n,) with values in {+1, -1} (finite reals unless
    ``binary_labels``); W0 (2k, d) finite with k >= 1; alpha in [0, 1); dtype float64
    or float32 (for X and W; y is float64).
    """
    dtype = np.dtype(dtype).type
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be float64 or float32, got {np.dtype(dtype).name!r}")
    check_alpha(alpha)
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must be a non-empty 2-D array (n, d), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(X))[0])
        raise ValueError(f"X must be finite, got {X[bad]!r} at index {bad}")
    n, d = X.shape
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match X, got {y.shape}")
    wrong = np.flatnonzero((y != 1.0) & (y != -1.0) if binary_labels else ~np.isfinite(y))
    if wrong.size:
        expected = "labels +1 or -1" if binary_labels else "finite labels"
        raise ValueError(f"y must hold {expected}, got {y[wrong[0]]!r} at index {wrong[0]}")
    W0 = np.asarray(W0)
    if W0.ndim != 2 or W0.shape[1] != d:
        raise ValueError(f"W0 must have shape (2k, {d}) to match X, got {W0.shape}")
    if W0.shape[0] < 2 or W0.shape[0] % 2:
        raise ValueError(f"W0 must have an even number 2k >= 2 of rows (width k >= 1), got {W0.shape[0]} rows")
    if not np.all(np.isfinite(W0)):
        raise ValueError("W0 must be finite")
    return (np.ascontiguousarray(X, dtype=dtype), np.ascontiguousarray(y),
            np.array(W0, dtype=dtype, order="C", copy=True))


def check_order(order, n: int) -> np.ndarray:
    """Validate visiting orders: an int array (epochs, n), each row a permutation of 0..n-1."""
    order = np.asarray(order)
    if order.ndim != 2 or order.shape[1] != n or not np.issubdtype(order.dtype, np.integer):
        raise ValueError(f"order must be an integer array of shape (epochs, {n}), got {order.dtype} {order.shape}")
    order = np.ascontiguousarray(order, dtype=np.int64)
    bad_row = _first_non_permutation(order)
    if bad_row >= 0:
        raise ValueError(f"order row {bad_row} is not a permutation of 0..{n - 1}")
    return order


@jit
def _first_non_permutation(order):
    """Index of the first row of ``order`` that is not a permutation of 0..n-1, or -1."""
    m, n = order.shape
    seen = np.zeros(n, dtype=np.int64)
    for r in range(m):
        for t in range(n):
            i = order[r, t]
            if i < 0 or i >= n or seen[i] == r + 1:
                return r
            seen[i] = r + 1
    return -1


def check_loss_at(loss_at) -> np.ndarray:
    """Validate the epochs at which the loss is wanted: 1-based, strictly ascending ints."""
    epochs = np.asarray(loss_at)
    if epochs.ndim != 1 or (epochs.size and not np.issubdtype(epochs.dtype, np.integer)):
        raise ValueError(f"loss_at must be a 1-D array of epochs, got {epochs.dtype} {epochs.shape}")
    epochs = np.ascontiguousarray(epochs, dtype=np.int64)
    if epochs.size and (epochs[0] < 1 or np.any(np.diff(epochs) <= 0)):
        raise ValueError(f"loss_at must hold strictly ascending epochs >= 1, got {epochs.tolist()[:10]}")
    return epochs


def check_delayed_steps(delayed_steps) -> int:
    """Points whose SGD updates are delayed and applied together: an integer >= 0 (0: none)."""
    if isinstance(delayed_steps, bool) or not isinstance(delayed_steps, (int, np.integer)) or delayed_steps < 0:
        raise ValueError(f"delayed_steps must be an integer >= 0 (0: fused steps), got {delayed_steps!r}")
    return int(delayed_steps)
