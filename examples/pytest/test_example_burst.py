"""A burst of sequence-numbered messages: check for gaps, duplicates and reordering."""

from mqtt_surge.testing import sequence_report


def test_a_burst_arrives_whole_and_in_order(mqtt_subscriber, mqtt_publisher, mqtt_topic):
    sub = mqtt_subscriber(mqtt_topic, qos=1, worker_threads=1)

    sent = mqtt_publisher.burst(mqtt_topic, 200, qos=1)

    sub.wait_for(len(sent), timeout=10)
    report = sequence_report(sub.messages, expected={mqtt_publisher.publisher_id: len(sent)})
    assert report.clean, report
