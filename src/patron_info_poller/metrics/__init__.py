"""Metrics and freshness, read from what a run reports (the pipeline never imports this).

`figures.py` turns a run's counts into named figures (pure); `emf.py` writes them as
CloudWatch Embedded Metric Format lines; `prometheus.py` pushes them to a Pushgateway or
serves them on /metrics in loop mode. METRICS chooses: none (default), emf, pushgateway.
"""
