"""The ``ds.sweep`` accessor on a results store's Dataset, registered when the package
``sweep`` is imported: one import gives a notebook the store's problem, its finished runs,
its problem's checks and summary, seed summaries, a tidy table and the replay of a run.

::

    import sweep, xarray as xr
    ds = xr.open_zarr("results/default.zarr")
    ds.sweep.progress            # '144 of 144 runs finished'
    ds.sweep.checks()            # the problem's checks of its theory (e.g. Theorem 4.1's bound)
    ds.sweep.slopes("epochs_clean")  # log-log slopes in each swept parameter, bootstrap intervals
    ds.sweep.to_frame()          # one row per run
    ds.sweep.replay(seed=3, width=16)

Everything reads the finished runs only (:func:`sweep.reading.finished_only`: ``done`` is
read once, when first asked): a store that a `sweep run` is still writing gives what is
finished so far, and its lock is never read nor touched.
"""
from __future__ import annotations

from functools import cached_property
from typing import Any

import xarray as xr

from analysis.stats import DONE, STATUS, grid_dims


@xr.register_dataset_accessor("sweep")
class SweepAccessor:
    """``ds.sweep``: a results store's analysis (module docstring)."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    @cached_property
    def problem(self):
        """The store's problem (a :class:`sweep.problems.contract.Problem`)."""
        from sweep.report import stored_problem

        return stored_problem(self._ds)

    @cached_property
    def results(self) -> xr.Dataset:
        """The store as its problem's analysis reads it (:func:`sweep.report.as_analysed`:
        every parameter in its spec, numeric grid dims in ascending order, the runs not
        finished at their fill), the view ``sweep report`` uses."""
        from sweep.report import as_analysed

        return as_analysed(self._ds, self.problem)

    @property
    def finished(self) -> xr.DataArray:
        """The finished-run mask over the grid (``done``, as read)."""
        return self.results[DONE]

    @property
    def progress(self) -> str:
        """'N of M runs finished'."""
        from sweep.reading import progress

        return progress(self.results)

    def status_counts(self) -> dict[str, int]:
        """Runs by status name, ``not_run`` for those not finished."""
        from analysis.stats import status_counts

        return status_counts(self.results)

    def checks(self) -> list:
        """The problem's checks of its theory (``analysis.checks.Check``; e.g. separable's
        Theorem 4.1 bound check), on the finished runs; [] for a problem without a report."""
        module = self.problem.report_module()
        return module.checks(self.results) if module else []

    def summary(self):
        """The problem's per-setting table (``summary.csv`` of ``sweep report``), a DataFrame."""
        module = self.problem.report_module()
        if module is None:
            raise ValueError(f"problem {self.problem.name!r} declares no report, so no summary")
        return module.summary(self.results)

    def seed_summary(self, *names: str) -> xr.Dataset:
        """Per grid point: median, bootstrap interval and count over seeds of each variable
        ``names`` (finished runs; counts and epochs only where > 0, ``analysis.stats.counted``)."""
        from analysis.stats import seed_summary

        return seed_summary(self._per_run(names))

    def slopes(self, *names: str) -> list:
        """Log-log slopes (``analysis.stats.Slope``, with bootstrap intervals over seeds) of
        the seed medians of each variable ``names`` in every numeric grid dim but ``seed``
        with at least two positive values (THEORY.md §2's scaling laws, for ``separable``)."""
        from analysis.stats import scaling_parameters, scaling_slopes

        results = self.results
        candidates = tuple(dim for dim in grid_dims(results) if dim != "seed" and results[dim].dtype.kind in "iuf")
        return scaling_slopes(results, self._per_run(names), scaling_parameters(results, candidates))

    def _per_run(self, names: tuple[str, ...]) -> dict[str, xr.DataArray]:
        """Each variable of ``names`` per finished run, NaN where a run does not count (a
        count or epoch number only where > 0, ``analysis.stats.counted``)."""
        from analysis.stats import counted

        results = self.results
        return {name: counted(results, name) if results[name].dtype.kind in "iu"
                else results[name].where(results[DONE]).astype(float) for name in names}

    def to_frame(self):
        """A tidy pandas table, one row per run: the grid's parameters, ``done``, ``status``
        (its name) and every scalar variable (those on the grid dims alone)."""
        results = self.results
        dims = grid_dims(results)
        scalars = [name for name, array in results.data_vars.items() if array.dims == dims]
        frame = results[scalars].to_dataframe().reset_index()
        meanings = dict(zip(results[STATUS].attrs["flag_values"], results[STATUS].attrs["flag_meanings"].split()))
        frame[STATUS] = frame[STATUS].map(meanings)
        return frame[[*dims, DONE, STATUS, *(name for name in scalars if name not in (DONE, STATUS))]]

    def replay(self, at: Any = None, **values: Any) -> xr.Dataset:
        """The trajectory of the stored run at ``at`` ("seed=3,width=16", a mapping, or
        keywords), checked against the store (:func:`sweep.replay.replay_run`)."""
        from sweep.replay import replay_run

        return replay_run(self._ds, at if at is not None else values)
