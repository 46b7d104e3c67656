"""A broker that listens with TLS only, under a certificate authority of its own."""

import paho.mqtt.client as mqtt

from mqtt_surge import EmbeddedBroker  # MosquittoBroker(tls=True) is configured the same

with EmbeddedBroker(tls=True) as broker:
    print(broker.url)  # mqtts://127.0.0.1:38211
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    # by file; or client.tls_set_context(broker.tls.client_context())
    client.tls_set(ca_certs=str(broker.tls.ca_file))
    client.connect(broker.host, broker.port)
    client.disconnect()
