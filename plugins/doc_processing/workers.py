"""In-hub workers: asyncio tasks that claim jobs from the database queue and run their processor.

Each worker holds a lease on the job it runs and renews it while the processor
works (every third of the lease, and at each report). When a hub dies its
leases run out, and the sweeper of any hub on the same database puts those
jobs back in the queue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

from hub import Conflict, Hub, HubError

from . import states
from .service import DocumentService, Job, NotHolder
from .states import StatusUpdate

log = logging.getLogger("hub.doc_processing")


class LeaseLost(Exception):
    """The job was taken away from this worker (its lease expired and another worker has it)."""


class WorkerPool:
    """``workers`` claiming loops and one lease sweeper, as hub background tasks."""

    def __init__(self, service: DocumentService) -> None:
        self.service = service
        self.tasks: list[asyncio.Task[Any]] = []
        self.prefix = f"{socket.gethostname()}-{os.getpid()}"

    def start(self, hub: Hub, workers: int) -> None:
        self.processing = hub.metrics.gauge("hub_doc_processing_processing", "Jobs this process's workers are running.")
        for number in range(workers):
            worker = f"{self.prefix}-{number + 1}"
            self.tasks.append(hub.start_task(self._loop(worker), name=f"doc_processing-{worker}"))
        self.tasks.append(hub.start_task(self._sweep(), name="doc_processing-sweeper"))

    async def stop(self) -> None:
        """Cancel the workers; a job under way goes back to the queue (see :meth:`_run`)."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()

    async def _loop(self, worker: str) -> None:
        service = self.service
        assert service.settings is not None
        interval = service.settings.poll_interval
        while True:
            try:
                row = await service.claim(worker, sorted(service.processors))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("doc_processing: claiming a job failed")
                row = None
            if row is None:
                service.wake.clear()
                try:
                    await asyncio.wait_for(service.wake.wait(), interval)
                except TimeoutError:
                    pass
                continue
            with self.processing.track_inprogress():
                await self._run(Job.from_row(row))

    async def _sweep(self) -> None:
        assert self.service.settings is not None
        interval = min(self.service.settings.poll_interval, self.service.settings.lease_seconds / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.service.requeue_expired()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("doc_processing: re-queueing expired jobs failed")

    async def _run(self, job: Job) -> None:
        service = self.service
        assert service.settings is not None
        lease = service.settings.lease_seconds
        processor = service.processors[job.processor]

        async def report(stage: str, progress: float | None = None, message: str | None = None) -> None:
            try:
                await service.update_status(
                    job.document_id, StatusUpdate(states.PROCESSING, stage, progress, message), worker=job.worker
                )
            except NotHolder:
                raise LeaseLost() from None

        work = asyncio.ensure_future(processor(job, report))
        try:
            while True:
                done, _ = await asyncio.wait({work}, timeout=lease / 3)
                if done:
                    break
                if not await service.extend(job.document_id, job.worker):
                    work.cancel()
                    raise LeaseLost()
            result = work.result()
            if result is not None and not isinstance(result, dict):
                raise TypeError(f"processor {job.processor!r} returned {type(result).__name__}, not a dict")
            await self._finish(job, StatusUpdate(states.COMPLETED, result=result or {}))
        except LeaseLost:
            log.warning("document %s: worker %s lost its lease; another worker has it", job.document_id, job.worker)
        except asyncio.CancelledError:
            work.cancel()
            await asyncio.shield(self._release(job))
            raise
        except HubError as exc:
            await self._finish(job, StatusUpdate(states.FAILED, error=exc.to_wire()))
        except Exception:
            log.exception("document %s: processor %s failed", job.document_id, job.processor)
            await self._finish(
                job, StatusUpdate(states.FAILED, error={"code": "internal", "message": "The processor failed."})
            )
        finally:
            if not work.done():
                work.cancel()

    async def _finish(self, job: Job, update: StatusUpdate) -> None:
        try:
            await self.service.update_status(job.document_id, update, worker=job.worker)
        except Conflict as exc:
            log.warning("document %s: could not record %s: %s", job.document_id, update.state, exc.message)

    async def _release(self, job: Job) -> None:
        """The hub is stopping: hand the job back to the queue now rather than after the lease."""
        try:
            await self.service.release(job.document_id, job.worker)
        except Exception:
            log.exception("document %s: could not put it back in the queue", job.document_id)
