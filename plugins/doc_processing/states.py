"""A document's state machine: what a status change may be, checked before anything is written.

``queued -> processing -> completed | failed``, and ``failed -> queued`` (a retry).
``processing -> processing`` reports progress: within one stage it never goes back.
Losing a worker (an expired lease) moves ``processing -> queued`` too, but only the
hub does that (:func:`requeued`), never a status report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


from hub import Conflict, InvalidMessage, encode_json

QUEUED, PROCESSING, COMPLETED, FAILED = "queued", "processing", "completed", "failed"
STATES = (QUEUED, PROCESSING, COMPLETED, FAILED)
FINAL = (COMPLETED, FAILED)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    QUEUED: (PROCESSING,),
    PROCESSING: (PROCESSING, COMPLETED, FAILED),
    FAILED: (QUEUED,),
    COMPLETED: (),
}
STAGE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
ERROR_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_MESSAGE = 1000
FIELDS = ("state", "stage", "progress", "message", "result", "error", "worker")


@dataclass(frozen=True)
class StatusUpdate:
    """A status change as a worker reports it (``PUT .../status`` or an in-hub processor)."""

    state: str
    stage: str | None = None
    progress: float | None = None
    message: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


def parse_update(body: Mapping[str, Any], max_result_bytes: int) -> StatusUpdate:
    """A :class:`StatusUpdate` from a JSON body; ``InvalidMessage`` naming what is wrong."""
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise InvalidMessage(f"Unknown field(s): {', '.join(unknown)}.")
    state = body.get("state")
    if state not in STATES:
        raise InvalidMessage(f"'state' must be one of {', '.join(STATES)}.")
    return checked(
        StatusUpdate(
            state=state, stage=body.get("stage"), progress=body.get("progress"), message=body.get("message"),
            result=body.get("result"), error=body.get("error"),
        ),
        max_result_bytes,
    )


def checked(update: StatusUpdate, max_result_bytes: int) -> StatusUpdate:
    """``update`` if every field is well formed (the Python API goes through here too)."""
    if update.state not in STATES:
        raise InvalidMessage(f"'state' must be one of {', '.join(STATES)}.")
    if update.stage is not None and (not isinstance(update.stage, str) or not STAGE.match(update.stage)):
        raise InvalidMessage("'stage' is a short name like 'ocr' or 'page-render' (lower case, up to 64 characters).")
    progress = update.progress
    if progress is not None:
        if isinstance(progress, bool) or not isinstance(progress, (int, float)) or not 0 <= progress <= 100:
            raise InvalidMessage("'progress' is a number from 0 to 100 (percent of the stage).")
    if update.message is not None and (not isinstance(update.message, str) or len(update.message) > MAX_MESSAGE):
        raise InvalidMessage(f"'message' is a string of at most {MAX_MESSAGE} characters.")
    if update.result is not None:
        if update.state != COMPLETED:
            raise InvalidMessage("'result' goes with the state completed.")
        if not isinstance(update.result, dict):
            raise InvalidMessage("'result' must be a JSON object.")
        try:
            size = len(encode_json(update.result))
        except TypeError:
            raise InvalidMessage("'result' must be JSON.") from None
        if size > max_result_bytes:
            raise InvalidMessage(f"'result' is limited to {max_result_bytes} bytes of JSON.")
    if update.error is not None:
        if update.state != FAILED:
            raise InvalidMessage("'error' goes with the state failed.")
        error = update.error
        if (
            not isinstance(error, dict) or set(error) != {"code", "message"}
            or not isinstance(error["code"], str) or not ERROR_CODE.match(error["code"])
            or not isinstance(error["message"], str) or len(error["message"]) > MAX_MESSAGE
        ):
            raise InvalidMessage("'error' is {\"code\": \"a_code\", \"message\": \"for people\"}.")
    return StatusUpdate(
        state=update.state, stage=update.stage, progress=None if progress is None else float(progress),
        message=update.message, result=update.result, error=update.error,
    )


def transition(row: Mapping[str, Any], update: StatusUpdate) -> dict[str, Any]:
    """The row's new status columns after ``update``; ``Conflict`` when the change is not allowed."""
    current = row["state"]
    if update.state not in TRANSITIONS[current]:
        if current in FINAL and update.state != QUEUED:
            raise Conflict(f"The document is already {current}.")
        raise Conflict(f"A {current} document cannot become {update.state}.")
    if update.state == PROCESSING:
        stage = update.stage or (row["stage"] if current == PROCESSING else "processing")
        same_stage = current == PROCESSING and stage == row["stage"]
        if update.progress is None:
            progress = row["progress"] if same_stage else 0.0
        else:
            progress = update.progress
            if same_stage and progress < row["progress"]:
                raise Conflict(
                    f"Progress within the stage {stage!r} never goes back ({progress:g} < {row['progress']:g})."
                )
        return {"state": PROCESSING, "stage": stage, "progress": progress, "message": update.message,
                "result": None, "error": None}
    if update.state == COMPLETED:
        return {"state": COMPLETED, "stage": update.stage or row["stage"], "progress": 100.0,
                "message": update.message, "result": update.result or {}, "error": None}
    if update.state == FAILED:
        error = update.error or {"code": "internal", "message": "Processing failed."}
        return {"state": FAILED, "stage": update.stage or row["stage"], "progress": row["progress"],
                "message": update.message, "result": None, "error": error}
    # failed -> queued: a retry starts again from nothing.
    return {"state": QUEUED, "stage": "queued", "progress": 0.0, "message": update.message or "Queued again.",
            "result": None, "error": None, "attempts": 0, "worker": None, "lease_until": None}


def requeued(message: str) -> dict[str, Any]:
    """The status columns of a job put back in the queue because its worker stopped answering."""
    return {"state": QUEUED, "stage": "queued", "progress": 0.0, "message": message, "result": None,
            "error": None, "worker": None, "lease_until": None}


def status(row: Mapping[str, Any]) -> dict[str, Any]:
    """The ``doc.status`` data of a row: ``{document_id, state, stage, progress, message?, result?, error?}``."""
    data: dict[str, Any] = {
        "document_id": row["document_id"], "state": row["state"], "stage": row["stage"], "progress": row["progress"],
    }
    for key in ("message", "result", "error"):
        if row[key] is not None:
            data[key] = row[key]
    return data
