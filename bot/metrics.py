"""Prometheus metrics, in a registry per running bot (so tests and benches can run several)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "bot_http_requests_total", "HTTP requests by route", ["route", "method", "status"], registry=r
        )
        self.http_latency = Histogram(
            "bot_http_request_seconds", "HTTP request latency by route", ["route"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.slack_requests = Counter(
            "bot_slack_requests_total",
            "Slack requests by kind (slash command, view, action, event) and status",
            ["kind", "status"], registry=r,
        )
        self.slack_latency = Histogram(
            "bot_slack_ack_seconds", "Time to answer Slack, by kind", ["kind"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.provider_calls = Counter(
            "bot_provider_operations_total", "Provisioning outcomes by action",
            ["action", "outcome"], registry=r,
        )
        # Call-event relay
        self.outbox_depth = Gauge(
            "bot_outbox_depth", "Call events stored and not yet delivered to Slack", registry=r
        )
        self.delivery_latency = Histogram(
            "bot_relay_delivery_seconds", "Webhook received to Slack message posted",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.delivery_failures = Counter(
            "bot_relay_delivery_failures_total", "Failed Slack deliveries by reason", ["reason"], registry=r
        )
        self.webhooks = Counter(
            "bot_webhook_requests_total", "CINNOX webhook requests by answer", ["answer"], registry=r
        )

        # Labelled children by label values: prometheus_client's labels() validates and locks on
        # every call; a request's metrics cost a dict lookup and the increments instead.
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *values: str) -> Any:
        key = (id(metric), *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def http_answered(self, route: str, method: str, status: int, seconds: float) -> None:
        self._child(self.http_requests, route, method, str(status)).inc()
        self._child(self.http_latency, route).observe(seconds)

    def slack_answered(self, kind: str, status: int | str, seconds: float) -> None:
        self._child(self.slack_requests, kind, str(status)).inc()
        self._child(self.slack_latency, kind).observe(seconds)

    def webhook_answered(self, label: str) -> None:
        self._child(self.webhooks, label).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
