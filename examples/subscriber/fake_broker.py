"""Your subscriber logic without a broker: the FakeBroker transport."""

from mqtt_surge import Subscriber
from mqtt_surge.testing import Recorder
from mqtt_surge.transports.fake import FakeBroker

fake = FakeBroker()  # FakeBroker(refuse=5), FakeBroker(unreachable=True), FakeBroker(reject=[...])
seen = Recorder()
sub = Subscriber("fake", "sensors/#", seen, qos=1, ack="after_processing", engine=fake).start()
mid = fake.publish("sensors/1", b"21.5", qos=1)  # handed over as the network thread would
seen.wait_for(1)
assert fake.wait_acks(1) == [(mid, 1)]  # the PUBACK went out once the callback returned
fake.drop()  # the connection is lost and comes back; acks of earlier messages count as stale
sub.stop()
