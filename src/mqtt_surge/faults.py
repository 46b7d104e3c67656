"""``mqtt_surge.faults``, the documented path of :mod:`mqtt_surge.testing.faults`."""

from .testing.faults import FaultProxy, ProxyCounts

__all__ = ["FaultProxy", "ProxyCounts"]
