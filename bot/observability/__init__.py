"""Watching the service: structured logs with a turn id on every turn (logs.py), Prometheus
metrics (metrics.py) served at /metrics (routes.py), the turn middleware that feeds both
(turns.py), and optional OpenTelemetry traces to Application Insights (tracing.py)."""
