"""The broker engines behind one interface, outside pytest."""

from mqtt_surge import EmbeddedBroker, MosquittoBroker, broker_from_spec

with EmbeddedBroker() as broker:  # MQTT 3.1.1 and 5 on 127.0.0.1, a free port
    print(broker.url)  # mqtt://127.0.0.1:41237

with MosquittoBroker(username="u", password="p") as broker:  # noqa: S106  (only that login gets in)
    print(broker.url)  # mqtt://u:***@127.0.0.1:38211  (never the password)
    assert broker.url.full.startswith("mqtt://u:p@")  # the URL with the password, for a client

broker = broker_from_spec("embedded")  # or "mosquitto", "amqtt", or "mqtt://user:pass@host:1883"
