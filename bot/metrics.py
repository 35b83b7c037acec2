"""Prometheus metrics, in a registry per running bot (so tests and benches can run several)."""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class RequestCounter(Collector):
    """A counter by label values for what happens on every request: an increment costs a
    dict lookup and an addition. (prometheus_client's own takes a lock and checks the labels
    on every call.) The registry reads it at scrape time, as it reads its own. Updated and
    read on the event loop's thread only."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...],
                 registry: CollectorRegistry) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self.counts: dict[tuple[str, ...], float] = {}
        self.created: dict[tuple[str, ...], float] = {}
        registry.register(self)

    def inc(self, *values: str) -> None:
        counts = self.counts
        if values in counts:
            counts[values] += 1
        else:
            counts[values] = 1
            self.created[values] = time.time()

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, count in self.counts.items():
            family.add_metric(values, count, created=self.created[values])
        yield family


class RequestHistogram(Collector):
    """A histogram by label values for what happens on every request: an observation costs a
    bisect and two additions (prometheus_client's own locks and walks its buckets in Python).
    Event loop thread only, as RequestCounter."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...],
                 registry: CollectorRegistry, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self.bounds = [float(b) for b in buckets]
        self.series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}  # (bucket counts, [sum])
        registry.register(self)

    def observe(self, value: float, *values: str) -> None:
        series = self.series.get(values)
        if series is None:
            series = self.series[values] = ([0] * (len(self.bounds) + 1), [0.0])
        series[0][bisect.bisect_left(self.bounds, value)] += 1
        series[1][0] += value

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        edges = [*map(floatToGoString, self.bounds), "+Inf"]
        for values, (counts, total) in self.series.items():
            cumulative, running = [], 0
            for edge, count in zip(edges, counts, strict=True):
                running += count
                cumulative.append((edge, running))
            family.add_metric(values, cumulative, total[0])
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = RequestCounter(
            "bot_http_requests", "HTTP requests by route", ("route", "method", "status"), r)
        self.http_latency = RequestHistogram(
            "bot_http_request_seconds", "HTTP request latency by route", ("route",), r)
        self.slack_requests = RequestCounter(
            "bot_slack_requests", "Slack requests by kind (slash command, view, action, event) and status",
            ("kind", "status"), r)
        self.slack_latency = RequestHistogram(
            "bot_slack_ack_seconds", "Time to answer Slack, by kind", ("kind",), r)
        self.provider_calls = RequestCounter(
            "bot_provider_operations", "Provisioning outcomes by action", ("action", "outcome"), r)
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
        self.webhooks = RequestCounter(
            "bot_webhook_requests", "CINNOX webhook requests by answer", ("answer",), r)
        self.webhook_fixes = RequestCounter(
            "bot_webhook_normalised", "Call events stored after a field was normalised (an ID sent "
            "as a number, no serviceId), by what was done", ("normalised",), r)

    def http_answered(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http_requests.inc(route, method, str(status))
        self.http_latency.observe(seconds, route)

    def slack_answered(self, kind: str, status: int | str, seconds: float) -> None:
        self.slack_requests.inc(kind, str(status))
        self.slack_latency.observe(seconds, kind)

    def webhook_answered(self, label: str) -> None:
        self.webhooks.inc(label)

    def webhook_normalised(self, what: str) -> None:
        self.webhook_fixes.inc(what)

    def render(self) -> bytes:
        return generate_latest(self.registry)
