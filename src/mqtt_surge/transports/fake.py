"""``mqtt_surge.transports.fake.FakeBroker``, the documented path of
:class:`mqtt_surge.subscriber.transports.fake.FakeBroker`."""

from ..subscriber.transports.fake import FakeBroker, FakeTransport

__all__ = ["FakeBroker", "FakeTransport"]
