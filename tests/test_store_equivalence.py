"""Stored numbers change only on purpose: slices of the shipped presets, rerun with the
current code, give the committed stores.

tests/data/<case>.zarr.zip are stores of slices of the shipped presets
(tests/data/preset_slices.yaml, written by ``python -m tests.committed_stores``); each
slice is run again, serially, with the current code, and the two stores must be equal:
every variable and coordinate with its attributes, the spec's parameters and grid; only
``wall_time`` and the provenance attributes (versions, git revision, format, the spec's
``problem`` key and hash, the BLAS kernels) may differ.

Bit for bit, on any machine of the project's kind: the kernels sum in written orders (no
fastmath, kernels/jit.py), so integers, statuses, strings and every float computed by our
own code are the same everywhere. The floats in BLAS_VALUED come out of BLAS or LAPACK
products (the loss pass W X^T of networks outside the canonical order, SciPy's SVM
solver behind ``margin_s`` and the bounds built on it), whose kernels sum in an order of
their own that differs between CPUs and ``OPENBLAS_CORETYPE`` settings: they are
compared bit for bit where this process runs the OpenBLAS kernels that wrote the
committed store (its ``blas_kernels`` attribute), and to BLAS_RTOL elsewhere. BLAS_RTOL
is a thousand times what another summation order can do to these values (products of
2-20 terms and sums of positive losses: a few ulps, 1e-15 relative); measured here,
OpenBLAS's Haswell and SkylakeX kernels (``OPENBLAS_CORETYPE`` set and unset) even give
these slices bit-identical stores.

Where the committed stores come from (``git_revision`` in their attributes): written
again by issue 23's code to hold its new variables (the certified potential bounds and
violating-steps bound, built on ``margin_s``, hence BLAS-valued; the counts
``violating_steps``, ``violating_steps_run``, exact), every variable the stores had before
bit for bit the same (this test, run against the stores before). Before, by issue 22's
code, which sums every dot product in a fixed order instead of letting LLVM reassociate
(before, a cache written by Dask workers changed the last bits of some runs).
A deliberate change of last bits: against the stores before, every
integer, status and accuracy is equal; ``max_angle`` moved by up to 5e-14 relative,
``cluster_ratio``, ``loss`` and ``final_loss`` of the default slice (networks outside the
canonical order) by up to 5e-14, 1.2e-15 and 1.1e-15, and ``fig7_clustering``'s
``margin_s`` by 8.9e-16 (its old solver's rounding). Before that, ``fig7_clustering``
(GD) had not changed since 16ec2d5 and the SGD slices since issue 17 (85a92aa, visiting
orders drawn in the kernel).

Changes allowed here: parameters added later (e.g. ``save_weight_history``) must sit at
their defaults, and the storage-only parameters STORAGE_ONLY (they add stored variables,
never change a number) may differ: a preset may keep more. Variables the old store lacks
are ignored.
"""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import zarr

from sweep.engine import run_sweep
from sweep.problems.separable.params import SeparableParams
from sweep.store import open_store
from sweep.provenance import blas_kernels
from tests.committed_stores import CASES, DATA, slice_spec

PROVENANCE = ("sweep_format", "spec_hash")  # the store's identity, kept on `done` too since format 2
STORAGE_ONLY = ("save_weights", "save_weight_history")
BLAS_VALUED = ("loss", "final_loss", "margin_s", "epochs_bound", "epochs_bound_instance", "epochs_bound_potential",
               "epochs_bound_potential_instance", "violating_steps_bound")
BLAS_RTOL = 1e-12


def comparable(ds: xr.Dataset, like: xr.Dataset | None = None) -> xr.Dataset:
    """The store without ``wall_time`` and the storage-only parameters, its spec's params
    and grid as attributes; with ``like``, only the variables and params ``like`` has."""
    spec = ds.attrs["spec"]
    params = {k: v for k, v in spec["params"].items() if k not in STORAGE_ONLY}
    if like is not None:
        defaults = SeparableParams.defaults()
        added = {k: v for k, v in params.items() if k not in like.attrs["params"]}
        assert added == {k: defaults[k] for k in added}, added  # new parameters at their defaults
        params = {k: v for k, v in params.items() if k in like.attrs["params"]}
        ds = ds[list(like.data_vars)]
    ds = ds.drop_vars(["wall_time"], errors="ignore").load()
    ds.attrs = {"params": params, "grid": spec["grid"]}
    ds["done"].attrs = {key: value for key, value in ds["done"].attrs.items() if key not in PROVENANCE}
    return ds


@pytest.mark.parametrize("case", sorted(CASES))
def test_store_equals_the_committed_one(case, tmp_path):
    run_sweep(slice_spec(case), tmp_path / "now.zarr")
    with zarr.storage.ZipStore(DATA / f"{case}.zarr.zip", mode="r") as store:
        old = xr.open_zarr(store).load()
    before = comparable(old)
    now = comparable(open_store(tmp_path / "now.zarr"), like=before)
    same_blas = old.attrs["blas_kernels"] == blas_kernels()
    blas_valued = [name for name in BLAS_VALUED if name in before] if not same_blas else []
    xr.testing.assert_identical(before.drop_vars(blas_valued), now.drop_vars(blas_valued))
    for name in blas_valued:
        xr.testing.assert_allclose(before[name], now[name], rtol=BLAS_RTOL, atol=0)


def test_the_comparison_sees_a_last_bit_change(tmp_path):
    """A one-ulp change of one stored number fails the comparison (exact variables) or
    passes only within BLAS_RTOL (BLAS-valued ones): the test above can fail."""
    with zarr.storage.ZipStore(DATA / "default.zarr.zip", mode="r") as store:
        old = comparable(xr.open_zarr(store).load())
    for name in ("max_angle", "final_loss"):
        changed = old.copy(deep=True)
        values = changed[name].values
        first = np.flatnonzero(np.isfinite(values))[0]
        values.flat[first] = np.nextafter(values.flat[first], np.inf)
        with pytest.raises(AssertionError):
            xr.testing.assert_identical(old, changed)
    xr.testing.assert_allclose(old["final_loss"], changed["final_loss"], rtol=BLAS_RTOL, atol=0)
