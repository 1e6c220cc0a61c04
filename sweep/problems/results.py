"""What one run returns to the engine: its status, the same for every problem, and its values."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Run statuses (CF flag_values / flag_meanings of the stored ``status``; README, "status").
STATUS = {"done": 0, "diverged": 1, "max_epochs": 2, "failed": 3}
STATUS_NOT_RUN = -1


@dataclass
class RunResult:
    """What one run returns: its status (a key of STATUS) and a value per variable.

    A scalar variable gets a scalar; a variable with extra dims gets an array whose
    shape may be smaller than those dims (the rest stays fill), e.g. a curve cut at the
    run's last epoch or a weight matrix of a narrower network than the widest.
    """

    status: str
    values: dict[str, Any]
