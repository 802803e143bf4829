"""The ``/{id}/events`` stream of a job-backed resource (run, evaluation, …): its job's events.

A route fetches its resource (the fetch-or-404 dependency) and hands the resource's job id to
:data:`JobEventsDep`, which adds the ``poll`` query parameter of every job event stream.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from sse_starlette.sse import EventSourceResponse

from tradeopt_common.jobs.routes import PollQuery, job_events_response
from tradeopt_common.web.deps import StateDep

JobEvents = Callable[[uuid.UUID | None], EventSourceResponse]


def _job_events(request: Request, state: StateDep, poll: PollQuery = 1.0) -> JobEvents:
    def respond(job_id: uuid.UUID | None) -> EventSourceResponse:
        assert job_id is not None  # a job-backed resource gets its job when it is created
        return job_events_response(job_id, request, state, poll)

    return respond


JobEventsDep = Annotated[JobEvents, Depends(_job_events)]
"""Server-Sent Events of a job (progress messages, then the terminal state), given its id."""
