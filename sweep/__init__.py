"""The sweep engine: the problem registry (``sweep.problems``), the sweep spec, the grid's
tasks, Dask, the Zarr store and the ``sweep`` command line.

Importing this package registers the ``ds.sweep`` accessor of results stores
(:mod:`sweep.accessor`, which imports xarray) and imports nothing else:
``sweep.problems.run_one(name, params)`` runs one run of a problem;
``sweep.engine.run_sweep`` runs a whole spec.
"""
import sweep.accessor  # noqa: F401  (registers ds.sweep)
