"""The lifetime of a batch job's Dask worker (``lifetime`` in scheduler.yaml's
``jobqueue`` section, sweep/cluster.py): it leaves before its job's walltime without
cutting a run short, so that no two tasks ever write the same block of the store."""
from __future__ import annotations

import asyncio
import random
import time

from dask.utils import parse_timedelta
from distributed.core import Status
from distributed.diagnostics.plugin import WorkerPlugin


class DrainedLifetime(WorkerPlugin):
    """Each worker, ``lifetime`` +/- ``stagger`` (uniform) after it starts, stops taking
    tasks, waits for its running tasks to finish and their results to be collected, then
    leaves the scheduler and closes with its nanny, so that its job ends (and is replaced).

    Dask's own ``--lifetime`` retires the worker at once: the scheduler gives its running
    task to another worker while the first one still runs it, and both then write the same
    block of the store. A run still running at the job's walltime is killed with its
    worker and rerun, as any task of a killed worker.
    """

    name = "sweep-drained-lifetime"

    def __init__(self, lifetime: str, stagger: str):
        self.lifetime, self.stagger = parse_timedelta(lifetime), parse_timedelta(stagger)

    def setup(self, worker) -> None:
        delay = self.lifetime + (2 * random.random() - 1) * self.stagger
        asyncio.get_running_loop().call_later(max(delay, 0.0), lambda: asyncio.ensure_future(self._leave(worker)))

    async def _leave(self, worker) -> None:
        if worker.status not in (Status.running, Status.paused):
            return  # closing already
        worker.status = Status.closing_gracefully  # no new task, from the scheduler or its own queue
        while worker.state.executing or worker.state.long_running or worker.data:
            await asyncio.sleep(0.1)
        await worker.scheduler.retire_workers(workers=[worker.address], close_workers=False, remove=True,
                                              stimulus_id=f"worker-lifetime-reached-{time.time()}")
        await worker.close(nanny=True, reason="worker-lifetime-reached")
