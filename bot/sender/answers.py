"""What Teams' answer to a request means: transient (retry, honouring Retry-After) or
permanent (record as failed; forget a conversation that is gone). See docs/outbox.md."""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from msrest.exceptions import ClientException, HttpOperationError

from store.types import utcnow

RETRYABLE_STATUS = frozenset({412, 429, 502, 503, 504})


PERMANENT_CODES = frozenset(
    {
        "ConversationBlockedByUser",
        "BotNotInConversationRoster",
        "BotDisabledByAdmin",
        "ForbiddenOperationException",
        "ConversationNotFound",
        "MessageSizeTooBig",
    }
)


# The stored conversation can no longer be used: forget it.
DROP_REFERENCE_CODES = frozenset(
    {"ConversationBlockedByUser", "BotNotInConversationRoster", "ConversationNotFound"}
)


@dataclass(frozen=True)
class Problem:
    """A failed request: HTTP status (None: no answer), Teams' error code, Retry-After."""

    status: int | None
    code: str
    message: str
    retry_after: float | None = None

    @property
    def transient(self) -> bool:
        return self.status is None or self.status in RETRYABLE_STATUS

    def describe(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - (now or utcnow())).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), 3600.0)


def classify(exc: BaseException) -> Problem:
    """Status, Teams' error code and Retry-After from what the SDK (msrest) raised."""
    if isinstance(exc, HttpOperationError):
        response = exc.response
        # requests' response says status_code; aiohttp's (the transport we use) says status.
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
        headers = getattr(response, "headers", None) or {}
        code, message = _teams_error(exc, response)
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return Problem(
            int(status) if status is not None else None,
            code or f"HTTP{status}",
            message,
            retry_after,
        )
    name = type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    detail = f"{exc}" + (f" ({type(cause).__name__})" if cause is not None else "")
    return Problem(None, "NetworkError" if isinstance(exc, ClientException) else name, detail)


def _teams_error(exc: HttpOperationError, response: Any) -> tuple[str, str]:
    """Teams' `{"error": {"code", "message"}}`, via the SDK's model or the raw body."""
    model = getattr(getattr(exc, "error", None), "error", None)
    code = getattr(model, "code", None)
    message = getattr(model, "message", None)
    if not code:
        with contextlib.suppress(Exception):
            body = json.loads(getattr(response, "text", "") or "{}")
            error = body.get("error") or {}
            code, message = error.get("code"), error.get("message")
    return str(code or ""), str(message or "")
