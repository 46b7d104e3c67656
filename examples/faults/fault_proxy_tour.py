"""A FaultProxy between a subscriber and its broker: every fault it offers, in turn."""

from mqtt_surge import MosquittoBroker, Subscriber
from mqtt_surge.faults import FaultProxy


def handle(message):
    pass


with MosquittoBroker() as broker, FaultProxy(broker) as proxy:
    sub = Subscriber(proxy.url, "sensors/#", handle, keepalive=4).start()
    proxy.cut()  # reset every connection (cut(reset=False): a FIN)
    with proxy.blackhole():  # forward nothing, keep sockets open: only keepalives notice
        pass
    proxy.refuse_new()
    proxy.latency(50, jitter_ms=10)
    proxy.throttle(10_000)
    proxy.heal()
    print(proxy.counts())  # connections, open, answered, refused, bytes_up, bytes_down
    sub.stop()
