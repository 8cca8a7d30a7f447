"""OpenTelemetry traces, exported to Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING
is set; off otherwise (nothing imported, nothing exported).

The exporter is an optional dependency (`pip install 'impact-bot[azure]'`; the container image
has it). Each turn is a span named "turn <activity type>" with the turn id, verb, outcome and
HTTP status as attributes: ids and verbs only, never text or names.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.observability.logs import TurnInfo

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)

SERVICE_NAME = "impact-bot"


class TurnSpan:
    def __init__(self, span: Any) -> None:
        self._span = span

    def end_turn(self, turn: TurnInfo, status: int) -> None:
        self._span.set_attribute("impact.verb", turn.verb)
        self._span.set_attribute("impact.outcome", turn.outcome)
        self._span.set_attribute("http.response.status_code", status)
        if turn.outcome == "error":
            from opentelemetry.trace import Status, StatusCode

            self._span.set_status(Status(StatusCode.ERROR))
        self._span.end()


class Tracer:
    """Spans for turns, from a tracer provider of our own (not the process-wide global)."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("impact_bot")

    def start_turn(self, turn: TurnInfo) -> TurnSpan:
        span = self._tracer.start_span(
            f"turn {turn.activity_type}",
            attributes={"impact.turn_id": turn.turn_id, "impact.activity_type": turn.activity_type},
        )
        return TurnSpan(span)

    def shutdown(self) -> None:
        self.provider.shutdown()


def build_tracer(connection_string: str, exporter: SpanExporter | None = None) -> Tracer | None:
    """A tracer exporting to Application Insights (or to `exporter`, for tests), or None when
    tracing is off or its packages are missing (said once, at start-up)."""
    if not connection_string and exporter is None:
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        if exporter is None:
            from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter

            processor: Any = BatchSpanProcessor(
                AzureMonitorTraceExporter(connection_string=connection_string)
            )
        else:
            processor = SimpleSpanProcessor(exporter)
    except ImportError as exc:
        log.warning(
            "APPLICATIONINSIGHTS_CONNECTION_STRING is set but tracing is off: %s "
            "(install impact-bot[azure])",
            exc,
        )
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_span_processor(processor)
    log.info("tracing on: turns are exported as OpenTelemetry spans")
    return Tracer(provider)
