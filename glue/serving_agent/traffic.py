"""The agent's traffic reader: per-version request counters from Triton's Prometheus endpoint.

Triton exports, per model and version (labels ``model``, ``version``):

- ``nv_inference_request_success`` and ``nv_inference_request_failure`` (counters; the failure
  counter has a ``reason`` label: ``OTHER``, ``BACKEND``, ``CANCELED``, ``REJECTED``, summed
  here);
- ``nv_inference_request_duration_us`` (counter of cumulative request microseconds);
- ``nv_inference_request_summary_us`` (a summary, only when tritonserver runs with
  ``--metrics-config=summary_latencies=true``): its ``quantile="0.99"`` sample is the p99 over
  Triton's sliding summary window, NaN while that window holds no request.

These names and labels are those of the tritonserver 2.51 binary of nvidia-pytriton (checked
against it in the tests). The agent sends them with each pod report; the registry sums them per
window (``glue.model_registry.service.traffic``). A request Triton refuses before it reaches a
model (an unknown input name: HTTP 400) is counted by none of them; and tritonserver 2.51's python
backend counts a response that carries an error (``InferenceResponse(error=...)``) as a success:
only a raising ``execute`` is a failure (``reason="BACKEND"``). Failed requests add nothing to
the duration or the summary. The endpoint writes a quantile of an empty window as ``Nan``.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

import httpx
from prometheus_client.parser import text_string_to_metric_families

from glue.model_registry.schemas import DNS1123_LABEL, TrafficCounters

SUCCESS = "nv_inference_request_success"
FAILURE = "nv_inference_request_failure"
DURATION = "nv_inference_request_duration_us"
SUMMARY = "nv_inference_request_summary_us"
P99 = "0.99"
_NAME = re.compile(DNS1123_LABEL)
#: Largest counter value a report carries (``TrafficCounters``: JSON-exact integers).
_MAX = 2**53 - 1


class TrafficUnavailable(Exception):  # noqa: N818 - reads as a state in `except` clauses
    """Triton's metrics endpoint could not be read or parsed (the message says why)."""


def parse(text: str) -> list[TrafficCounters]:
    """The per-version counters in Prometheus text ``text``, ordered by (model, version).

    Versions whose model name is not a registry name (DNS-1123 label) or whose version label is
    not a positive integer are left out. Raises ``ValueError`` when ``text`` is not Prometheus
    text.
    """
    counts: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        if family.name not in (SUCCESS, FAILURE, DURATION, SUMMARY):
            continue
        for sample in family.samples:
            model, label = sample.labels.get("model", ""), sample.labels.get("version", "")
            if not _NAME.match(model) or not label.isdigit() or int(label) < 1:
                continue
            row = counts[(model, int(label))]
            if family.name == SUMMARY:
                if sample.name == SUMMARY and sample.labels.get("quantile") == P99:
                    row["p99"] = sample.value
            else:
                row[family.name] = row.get(family.name, 0.0) + sample.value
    result = []
    for (model, version), row in sorted(counts.items()):
        if SUCCESS not in row:
            continue  # a summary without counters: not a version Triton serves
        p99 = row.get("p99")
        result.append(
            TrafficCounters(
                model=model,
                version=version,
                success=_counter(row.get(SUCCESS)),
                failure=_counter(row.get(FAILURE)),
                duration_us=_counter(row.get(DURATION)),
                p99_us=p99 if p99 is not None and math.isfinite(p99) and p99 >= 0 else None,
            )
        )
    return result


def _counter(value: float | None) -> int:
    if value is None or not math.isfinite(value) or value < 0:
        return 0
    return min(int(value), _MAX)


class TrafficReader:
    """Reads one tritonserver's metrics endpoint (``url``, e.g.
    ``http://127.0.0.1:8002/metrics``) with ``timeout`` seconds per request."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self.url = url
        self._http = httpx.Client(timeout=timeout)

    def read(self) -> list[TrafficCounters]:
        """The current per-version counters; ``TrafficUnavailable`` when the endpoint cannot be
        read or its answer is not Prometheus text."""
        try:
            response = self._http.get(self.url)
            response.raise_for_status()
            return parse(response.text)
        except httpx.HTTPError as exc:
            raise TrafficUnavailable(f"triton metrics {self.url} unreadable: {exc}") from exc
        except ValueError as exc:
            raise TrafficUnavailable(
                f"triton metrics {self.url} not Prometheus text: {exc}"
            ) from exc

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()
