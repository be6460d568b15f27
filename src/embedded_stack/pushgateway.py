"""A local stand-in for the Prometheus Pushgateway: it speaks the push protocol
(`PUT`/`POST /metrics/job/<job>{/<label>/<value>}` with a text exposition body) and keeps
what each group was pushed, so tests can read back exactly what a run pushed."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from werkzeug.wrappers import Request, Response


@dataclass(frozen=True)
class Push:
    method: str
    grouping_key: dict[str, str]  # job and the other labels of the URL path
    samples: dict[str, float]  # "name{label=value,...}" -> value


class PushgatewayApp:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pushes: list[Push] = []

    @Request.application
    def __call__(self, request: Request) -> Response:
        # "metrics", then label/value pairs, the first of them job/<name>.
        parts = request.path.strip("/").split("/")
        if len(parts) < 3 or parts[:2] != ["metrics", "job"] or len(parts) % 2 == 0:
            return Response("not found", status=404)
        if request.method not in ("PUT", "POST"):
            return Response("method not allowed", status=405)
        grouping = dict(zip(parts[1::2], parts[2::2], strict=True))
        samples = {}
        for family in text_string_to_metric_families(request.get_data(as_text=True)):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}"] = sample.value
        with self._lock:
            self.pushes.append(Push(request.method, grouping, samples))
        return Response("", status=200)
