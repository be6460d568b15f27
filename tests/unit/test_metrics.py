"""Metrics from a run's counts: names, units, dimensions and freshness."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest

from patron_info_poller.geocoding.chain import ProviderTally
from patron_info_poller.metrics.emf import emf_lines, write_emf
from patron_info_poller.metrics.figures import COUNTERS, run_figures
from patron_info_poller.metrics.prometheus import PrometheusMetrics
from patron_info_poller.pipeline import StreamSummary

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def streams() -> list[StreamSummary]:
    new = StreamSummary(
        "new",
        read=120,
        sent=118,
        geocode_requested=100,
        geocode_matched=90,
        records_retried=4,
        skipped=Counter({"ptype_code outside the Avro int range": 2}),
        geocoding={
            "tiger": ProviderTally(100, 85, 10, 5),
            "census": ProviderTally(15, 5, 9, 1),
        },
    )
    return [new, StreamSummary("deleted", read=3, sent=3)]


def figures(succeeded: bool = True):
    return run_figures(
        environment="production",
        streams=streams(),
        caught_up_as_of={"new": NOW - timedelta(minutes=2)},
        duration_seconds=42.5,
        succeeded=succeeded,
        now=NOW,
    )


def test_every_emf_line_declares_what_it_carries():
    lines = [json.loads(line) for line in emf_lines(figures())]
    for line in lines:
        directive = line["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "PatronInfoPoller"
        assert line["_aws"]["Timestamp"] == int(NOW.timestamp() * 1000)
        assert all(dimension in line for dimension in directive["Dimensions"][0])
        for metric in directive["Metrics"]:
            assert metric["Unit"] == ("Seconds" if metric["Name"].endswith("seconds") else "Count")
            assert isinstance(line[metric["Name"]], int | float)
    overall, new, *providers, deleted = lines
    assert overall["last_success_timestamp_seconds"] == NOW.timestamp()
    assert overall["run_duration_seconds"] == 42.5
    assert {name: new[name] for name in COUNTERS} == {
        "records_read": 120,
        "records_sent": 118,
        "records_skipped": 2,
        "geocode_requested": 100,
        "geocode_matched": 90,
        "kinesis_records_retried": 4,
    }
    assert new["freshness_seconds"] == 120.0
    assert [(p["Provider"], p["geocode_matched"]) for p in providers] == [
        ("tiger", 85),
        ("census", 5),
    ]
    assert "freshness_seconds" not in deleted  # never caught up yet: no figure, not zero


def test_a_failed_run_reports_no_last_success():
    buffer = io.StringIO()
    write_emf(figures(succeeded=False), buffer)
    overall = json.loads(buffer.getvalue().splitlines()[0])
    assert "last_success_timestamp_seconds" not in overall
    assert overall["run_duration_seconds"] == 42.5


def test_prometheus_names_carry_the_prefix_total_and_base_units():
    metrics = PrometheusMetrics()
    metrics.record(figures())
    metrics.record(figures(succeeded=False))
    text = generate_latest(metrics.registry).decode()
    assert (
        'patron_info_poller_records_sent_total{environment="production",stream="new"} 236.0' in text
    )
    assert (
        'patron_info_poller_geocode_provider_matched_total{environment="production",'
        'provider="tiger",stream="new"} 170.0'
    ) in text
    assert 'patron_info_poller_runs_total{environment="production",outcome="failure"} 1.0' in text
    assert (
        'patron_info_poller_freshness_seconds{environment="production",stream="new"} 120.0' in text
    )
    assert "patron_info_poller_last_success_timestamp_seconds" in text
    assert "patron_info_poller_run_duration_seconds" in text
