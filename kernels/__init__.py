"""Numba-jitted numerics: the network, its loss, SGD and full-batch GD, and metrics.

Pure arrays in, arrays out: no I/O, no Dask, no xarray.
"""
from kernels.gd import gd_train
from kernels.metrics import METRIC_NAMES, training_metrics
from kernels.network import dataset_loss, loss_and_gradient, network_output
from kernels.sgd import SGDResult, SGDTrainer, sgd_train

__all__ = ["METRIC_NAMES", "SGDResult", "SGDTrainer", "dataset_loss", "gd_train", "loss_and_gradient",
           "network_output", "sgd_train", "training_metrics"]
