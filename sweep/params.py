"""The parameters of one training run, with defaults and validation.

Every field may appear in a sweep spec, either fixed (``params:``) or swept
(``grid:``). Validation raises :class:`ParamError`, whose message names the
field and the offending value.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any, Mapping


class ParamError(ValueError):
    """A run parameter has a wrong type or value; the message names the field."""


@dataclass(frozen=True)
class RunParams:
    """One run: data set, network, optimiser and stopping rule (THEORY.md §1-2)."""

    dataset: str = "linear_teacher"  # a key of sweep.datasets.DATASETS
    n: int = 200                     # training points
    n_test: int = 500                # held-out points
    d: int = 20                      # input dimension (fixed by the data for MNIST)
    margin: float = 0.05             # gamma: points this close to the teacher's hyperplane are rejected
    spread: float = 0.25             # std of each coordinate in the Gaussian data sets
    bias: bool = False               # append a constant coordinate to x (paper, Appendix K)
    data_seed: int = 0               # drives the data
    seed: int = 0                    # drives the init and the visiting orders
    width: int = 16                  # k: neurons of each sign (2k in all)
    alpha: float = 0.1               # Leaky-ReLU slope, 0 <= alpha < 1
    v: float = 1.0                   # fixed second-layer weight
    init_scale: float = 0.01         # expected row norm of W0 (R_0 is recorded as realised)
    optimizer: str = "sgd"           # a key of sweep.optimizers.OPTIMIZERS
    lr: float = 0.05                 # eta
    eps: float = 0.01                # loss level of E_clean and E_conv
    max_epochs: int = 1000
    stop_early: bool = True          # stop once E_clean and E_conv are both reached
    dtype: str = "float64"           # float64 or float32
    record_metrics: bool = True      # metrics along training (THEORY.md §3-4) at the recorded epochs
    save_weights: bool = False       # keep the final W in the store

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "RunParams":
        """Build and validate from a mapping; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParamError(f"unknown parameter {unknown[0]!r}; known parameters: {sorted(known)}")
        coerced = {name: _coerce(name, value) for name, value in values.items()}
        params = cls(**coerced)
        params.validate()
        return params

    def replace(self, **changes: Any) -> "RunParams":
        return RunParams.from_mapping({**self.as_dict(), **changes})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Raise ParamError naming the first field whose value is out of range."""
        from sweep.datasets import DATASETS
        from sweep.optimizers import OPTIMIZERS

        _require(self.dataset in DATASETS, "dataset", self.dataset, f"one of {sorted(DATASETS)}")
        _require(self.optimizer in OPTIMIZERS, "optimizer", self.optimizer, f"one of {sorted(OPTIMIZERS)}")
        _require(self.dtype in ("float64", "float32"), "dtype", self.dtype, "'float64' or 'float32'")
        for name in ("n", "n_test", "d", "width", "max_epochs"):
            _require(getattr(self, name) >= 1, name, getattr(self, name), ">= 1")
        _require(0.0 <= self.alpha < 1.0, "alpha", self.alpha, "in [0, 1)")
        for name in ("v", "lr", "eps", "init_scale", "spread"):
            value = getattr(self, name)
            _require(math.isfinite(value) and value > 0, name, value, "a finite number > 0")
        _require(math.isfinite(self.margin) and self.margin >= 0, "margin", self.margin, "a finite number >= 0")


_FIELD_TYPES = {f.name: f.type for f in fields(RunParams)}


def _coerce(name: str, value: Any) -> Any:
    """Check the type of one field (ints are accepted where floats are expected)."""
    kind = _FIELD_TYPES[name]
    ok = {
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
    }[kind]
    if not ok:
        raise ParamError(f"parameter {name!r} must be of type {kind}, got {value!r} ({type(value).__name__})")
    return float(value) if kind == "float" else value


def _require(condition: bool, name: str, value: Any, expected: str) -> None:
    if not condition:
        raise ParamError(f"parameter {name!r} must be {expected}, got {value!r}")
