"""Prometheus metrics of the web process."""

from prometheus_client import Counter, Histogram

http_requests_total = Counter("tp_http_requests_total", "HTTP requests served", ["method", "status"])
http_request_seconds = Histogram(
    "tp_http_request_seconds",
    "HTTP request latency",
    ["method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
