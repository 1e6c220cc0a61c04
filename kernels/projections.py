"""Euclidean projections onto constraint sets, for projected gradient methods (THEORY.md §6.1).

Picked by name from :data:`PROJECTIONS` (a code the kernels branch on); each projects a
vector in place onto a set given by one number, ``level``:

- ``none``: R^d (identity);
- ``l0``: vectors with at most ``level`` = s non-zero entries: hard thresholding H_s,
  which keeps the s entries of largest |z_j|, ties broken towards the lower index
  (deterministic), and zeroes the rest;
- ``l1``: the l1 ball of radius ``level``: the sort-based projection (Duchi, Shalev-Shwartz,
  Singer & Chandra 2008): z_j -> sign(z_j) max(|z_j| - tau, 0) with the threshold tau
  found from the sorted magnitudes; z itself when ||z||_1 <= radius.
"""
from __future__ import annotations

import numpy as np

from kernels.jit import jit

NONE, L0, L1 = 0, 1, 2
PROJECTIONS = {"none": NONE, "l0": L0, "l1": L1}


def projection_code(name: str) -> int:
    """The code of projection ``name``; ValueError naming the known ones otherwise."""
    if name not in PROJECTIONS:
        raise ValueError(f"projection must be one of {sorted(PROJECTIONS)}, got {name!r}")
    return PROJECTIONS[name]


@jit
def hard_threshold(z, s):
    """Keep the s entries of largest |z_j| (ties: lower index first), zero the rest, in place."""
    d = z.shape[0]
    if s >= d:
        return
    if s <= 0:
        z[:] = 0.0
        return
    # A stable sort of -|z| puts larger magnitudes first and, among equal ones, lower indices.
    order = np.argsort(-np.abs(z), kind="mergesort")
    for j in order[s:]:
        z[j] = 0.0


@jit
def l1_ball(z, radius):
    """Project z onto {w : ||w||_1 <= radius} in place (radius >= 0)."""
    magnitude = np.abs(z)
    if magnitude.sum() <= radius:
        return
    if radius <= 0.0:
        z[:] = 0.0
        return
    # tau = (sum of the rho largest magnitudes - radius) / rho, for the largest rho with
    # the rho-th largest magnitude above that tau.
    ordered = np.sort(magnitude)[::-1]
    running = 0.0
    tau = 0.0
    for rho in range(ordered.shape[0]):
        running += ordered[rho]
        candidate = (running - radius) / (rho + 1)
        if ordered[rho] > candidate:
            tau = candidate
    for j in range(z.shape[0]):
        shrunk = magnitude[j] - tau
        z[j] = np.sign(z[j]) * shrunk if shrunk > 0.0 else 0.0


@jit
def project(z, kind, level):
    """Project the vector z in place onto the set ``kind`` (a code of PROJECTIONS) at ``level``."""
    if kind == L0:
        hard_threshold(z, int(level))
    elif kind == L1:
        l1_ball(z, level)
