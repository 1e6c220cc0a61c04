"""The sweep engine: run parameters, one run end to end, the grid, Dask, the Zarr store, the CLI."""
from sweep.params import ParamError, RunParams
from sweep.run import RunResult, train_one

__all__ = ["ParamError", "RunParams", "RunResult", "train_one"]
