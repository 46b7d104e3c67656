"""Plumbing every part shares: the error and warning types, broker URLs, event-loop and child
process threads, signal handling, the start/stop lifecycle, and an MQTT session on a plain
socket (the readiness probe). Nothing here knows of subscribers, brokers or tests."""
