"""Numba-jitted numerics, in topical modules picked by their callers (nothing is
re-exported here, so that importing one module loads only what it needs).

Pure arrays in, arrays out: no I/O, no Dask, no xarray. For the linear-teacher problem
(THEORY.md §1-5): ``kernels.sgd`` (one SGD run), ``kernels.sgd_batched`` (many per call),
``kernels.gd`` (full-batch GD), ``kernels.network`` (the network and its loss),
``kernels.metrics`` (metrics along training), ``kernels.orders`` (visiting orders).
"""
