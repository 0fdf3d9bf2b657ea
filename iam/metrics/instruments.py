"""Every metric of one process, on its own registry, and the bound children the hot paths use.

Built once by the runtime (`Metrics(enabled=...)`) and handed, part by part, to what counts:
the token cache, the audit trail, the attempts, the app. `enabled=False` (the setting
`IAM_METRICS_ENABLED`, there to measure their cost) makes every instrument a no-op.

Under `iam serve --workers N` prometheus_client keeps each value in a file per process in
`PROMETHEUS_MULTIPROC_DIR` (set before it is imported: `iam.metrics.exposition`) and a
scrape sums the files of every worker; the gauges say how they combine.
"""

from __future__ import annotations

from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: The endpoint label of the two kinds of token: the registry's and IAM's own.
ENDPOINTS = {"container-registry.token": "registry", "iam.identity.token": "identity"}
#: Seconds; a cache hit takes about a millisecond, a miss a few, argon2 a few hundred.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Count(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class Observe(Protocol):
    def observe(self, amount: float) -> None: ...


class Level(Protocol):
    def set(self, value: float) -> None: ...


class _Off:
    """Any instrument, doing nothing (metrics turned off)."""

    def labels(self, *_values: str, **_labels: str) -> _Off:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass

    def set(self, value: float) -> None:
        pass


OFF = _Off()


class RouteMetrics:
    """One route's request counter (a child per status, bound on first use) and, for the
    token endpoints, its latency histogram."""

    def __init__(self, requests: Counter | _Off, latency: Histogram | _Off | None, *,
                 route: str, method: str) -> None:
        self._requests = requests
        self._route, self._method = route, method
        self._by_status: dict[int, Count] = {}
        self._latency: Observe | None = (latency.labels(route=route)
                                         if latency is not None else None)

    def answered(self, status: int, seconds: float) -> None:
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = self._requests.labels(
                route=self._route, method=self._method, status=str(status))
        child.inc()
        if self._latency is not None:
            self._latency.observe(seconds)


class TokenOutcomes:
    """Tokens issued, refused (by reason) and throttled, per endpoint and registry; each
    child bound on first use (registries come from the settings, reasons from the domain's
    short list: the label sets stay few)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._issued: dict[tuple[str, str], Count] = {}
        self._refused: dict[tuple[str, str, str], Count] = {}
        self._throttled: dict[str, Count] = {}

    def issued(self, action: str, registry: str) -> None:
        key = (action, registry)
        child = self._issued.get(key)
        if child is None:
            child = self._issued[key] = self._metrics.tokens_issued.labels(
                endpoint=ENDPOINTS.get(action, action), registry=registry)
        child.inc()

    def refused(self, action: str, registry: str, reason: str) -> None:
        key = (action, registry, reason)
        child = self._refused.get(key)
        if child is None:
            child = self._refused[key] = self._metrics.tokens_refused.labels(
                endpoint=ENDPOINTS.get(action, action), registry=registry, reason=reason)
        child.inc()

    def throttled(self, action: str) -> None:
        child = self._throttled.get(action)
        if child is None:
            child = self._throttled[action] = self._metrics.throttled.labels(
                endpoint=ENDPOINTS.get(action, action))
        child.inc()


class Metrics:
    """The instruments of one process. Names follow Prometheus's conventions (`_total`,
    `_seconds`); the README's Metrics section lists them."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        on = enabled
        self.requests = Counter(
            "iam_http_requests", "HTTP requests answered, by route template, method and "
            "status", ["route", "method", "status"], registry=registry) if on else OFF
        self.token_latency = Histogram(
            "iam_token_request_duration_seconds", "Time to answer a token request (GET and "
            "POST /token, POST /identity/token), from its first byte to its last",
            ["route"], buckets=LATENCY_BUCKETS, registry=registry) if on else OFF
        self.tokens_issued = Counter(
            "iam_tokens_issued", "Tokens issued to an authenticated caller, by endpoint "
            "(registry, identity) and registry", ["endpoint", "registry"],
            registry=registry) if on else OFF
        self.tokens_refused = Counter(
            "iam_tokens_refused", "Failed authentications at the token endpoints, by "
            "endpoint, registry and reason (the audit trail's)",
            ["endpoint", "registry", "reason"], registry=registry) if on else OFF
        self.throttled = Counter(
            "iam_auth_throttled", "Failed authentications answered 429 by the failure "
            "limiter, by endpoint", ["endpoint"], registry=registry) if on else OFF
        self.cache_lookups = Counter(
            "iam_token_cache_lookups", "Look-ups in the token path's caches (principals, "
            "held actions, whole decisions), by result (hit, miss)", ["memo", "result"],
            registry=registry) if on else OFF
        self.audit_queue = Gauge(
            "iam_audit_queue_events", "Audit events recorded but not yet in the database "
            "(summed over live workers)", registry=registry,
            multiprocess_mode="livesum") if on else OFF
        self.audit_flush = Histogram(
            "iam_audit_flush_duration_seconds", "Time to write one batch of audit events",
            buckets=LATENCY_BUCKETS, registry=registry) if on else OFF
        self.audit_written = Counter(
            "iam_audit_events_written", "Audit events written to the database",
            registry=registry) if on else OFF
        self.database_errors = Counter(
            "iam_database_errors", "Database errors, by where they happened (request, "
            "audit_flush, activity_flush, generation_poll, startup)", ["where"],
            registry=registry) if on else OFF
        self.build = Gauge(
            "iam_build_info", "The running version and database schema revision (always 1)",
            ["version", "schema"], registry=registry, multiprocess_mode="max") if on else OFF
        self.tokens = TokenOutcomes(self)

    def route(self, route: str, method: str, *, latency: bool = False) -> RouteMetrics:
        return RouteMetrics(self.requests, self.token_latency if latency else None,
                            route=route, method=method)

    def lookups(self, memo: str) -> tuple[Count, Count]:
        """(hit, miss) counters of one cache memo."""
        return (self.cache_lookups.labels(memo=memo, result="hit"),
                self.cache_lookups.labels(memo=memo, result="miss"))

    def database_error(self, where: str) -> Count:
        return self.database_errors.labels(where=where)


#: What a part built without the runtime's counts with (tests, local commands).
NO_METRICS = Metrics(enabled=False)
