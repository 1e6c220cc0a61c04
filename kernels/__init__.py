"""Numba-jitted numerics: the network, its loss, SGD (one run or many per call) and full-batch GD, and metrics.

Pure arrays in, arrays out: no I/O, no Dask, no xarray.
"""
from kernels.gd import gd_train
from kernels.metrics import METRIC_NAMES, training_metrics
from kernels.network import dataset_loss, loss_and_gradient, network_output
from kernels.orders import SeededOrders, seeded_orders
from kernels.sgd import SGDResult, SGDTrainer, sgd_train
from kernels.sgd_batched import SGDBatchResult, SGDBatchTrainer, sgd_train_many

__all__ = ["METRIC_NAMES", "SGDBatchResult", "SGDBatchTrainer", "SGDResult", "SGDTrainer", "SeededOrders",
           "dataset_loss", "gd_train", "loss_and_gradient", "network_output", "seeded_orders", "sgd_train",
           "sgd_train_many", "training_metrics"]
