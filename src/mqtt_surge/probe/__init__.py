"""The subscriber under a load test, in a process of its own (``mqtt-surge probe``): it reports
stats, latency and sequence checks as JSON lines until SIGTERM."""

from ..testing.sequence import Sequences
from ._probe import Histogram, Probe, emit, rss_kb, run

__all__ = ["Histogram", "Probe", "Sequences", "emit", "rss_kb", "run"]
