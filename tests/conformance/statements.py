# ruff: noqa: E501  (a table: one statement per line reads better than wrapped ones)
"""The normative statements of MQTT 3.1.1 and MQTT 5.0, chapters 1-4 and 6 (MQTT over
WebSocket), as the conformance matrix counts them.

Each statement is one line: its number, whom it binds, and what it asks (our words; the
specifications' text is at docs.oasis-open.org/mqtt). Whom it binds:

- ``server``: the server, and a client on a socket can see whether it is kept. Each of these has at
  least one test marked ``@pytest.mark.statements("5:MQTT-...")``, run on the embedded broker and on
  mosquitto (tests/conformance/test_matrix.py checks that none is left without).
- ``hidden``: the server, but a client on a socket cannot see it under the brokers' settings in the
  fixtures; the reason follows ``--``.
- ``client``: the client only (the sender of a CONNECT, a client's resends, its own ordering). A
  test may still cite one where the server must detect the client breaking it.

The table in docs/conformance.md is generated from this list and one run's outcomes
(``python benchmarks/conformance_table.py --run``).
"""

from __future__ import annotations

from typing import NamedTuple

VERSIONS = {"3.1.1": "3.1.1", "5": "5.0"}


class Statement(NamedTuple):
    version: str  # "3.1.1" or "5"
    number: str  # "MQTT-3.1.2-24"
    binds: str  # "server", "hidden" or "client"
    text: str
    reason: str  # why a hidden statement cannot be observed

    @property
    def key(self) -> str:
        return f"{self.version}:{self.number}"


def _parse(version: str, table: str) -> dict[str, Statement]:
    out: dict[str, Statement] = {}
    for line in table.strip().splitlines():
        number, binds, text = (part.strip() for part in line.split("|", 2))
        text, _, reason = text.partition(" -- ")
        assert binds in ("server", "hidden", "client"), line
        assert number not in out, f"{number} twice in {version}"
        assert (binds == "hidden") == bool(reason), line
        out[number] = Statement(version, number, binds, text, reason)
    return out


_NO_AUTH = "needs an enhanced-authentication method; neither engine offers one (section 4.12)"

V311 = _parse(
    "3.1.1",
    """
MQTT-1.5.3-1  | server | ill-formed UTF-8 in a string closes the connection
MQTT-1.5.3-2  | server | U+0000 in a string closes the connection
MQTT-1.5.3-3  | server | U+FEFF (EF BB BF) in a string is neither skipped nor stripped
MQTT-2.2.2-1  | server | reserved fixed-header flag bits carry the listed values
MQTT-2.2.2-2  | server | invalid fixed-header flags close the connection
MQTT-2.3.1-1  | server | SUBSCRIBE, UNSUBSCRIBE and PUBLISH QoS>0 carry a non-zero packet id
MQTT-2.3.1-2  | client | a client's new packet gets an unused packet id
MQTT-2.3.1-3  | client | a client's resend keeps its packet id
MQTT-2.3.1-4  | server | the server's QoS>0 PUBLISH gets an unused id, kept on resend
MQTT-2.3.1-5  | server | a QoS 0 PUBLISH has no packet id
MQTT-2.3.1-6  | server | PUBACK, PUBREC, PUBREL carry the PUBLISH's packet id
MQTT-2.3.1-7  | server | SUBACK and UNSUBACK carry the request's packet id
MQTT-3.1.0-1  | server | the first packet from the client is CONNECT
MQTT-3.1.0-2  | server | a second CONNECT is a protocol violation: disconnect
MQTT-3.1.2-1  | server | a wrong protocol name is not processed as MQTT 3.1.1
MQTT-3.1.2-2  | server | an unsupported protocol level gets CONNACK 0x01, then disconnect
MQTT-3.1.2-3  | server | the CONNECT reserved flag is 0, else disconnect
MQTT-3.1.2-4  | server | clean session 0 resumes the session, or creates one; it is stored
MQTT-3.1.2-5  | server | QoS 1/2 messages for a disconnected clean-session-0 client are stored
MQTT-3.1.2-6  | server | clean session 1 discards the previous session; nothing of it reused
MQTT-3.1.2-7  | server | retained messages are not deleted when a session ends
MQTT-3.1.2-8  | server | a will is stored and published when the connection ends without DISCONNECT
MQTT-3.1.2-9  | server | will flag 1: will topic and will message are present
MQTT-3.1.2-10 | server | the will is removed once published or on DISCONNECT
MQTT-3.1.2-11 | server | will flag 0: will QoS and retain 0, no will fields
MQTT-3.1.2-12 | server | will flag 0: no will is published
MQTT-3.1.2-13 | server | will flag 0: will QoS is 0
MQTT-3.1.2-14 | server | will QoS is 0, 1 or 2, never 3
MQTT-3.1.2-15 | server | will flag 0: will retain is 0
MQTT-3.1.2-16 | server | will retain 0: the will is published non-retained
MQTT-3.1.2-17 | server | will retain 1: the will is published retained
MQTT-3.1.2-18 | server | user name flag 0: no user name in the payload
MQTT-3.1.2-19 | server | user name flag 1: a user name in the payload
MQTT-3.1.2-20 | server | password flag 0: no password in the payload
MQTT-3.1.2-21 | server | password flag 1: a password in the payload
MQTT-3.1.2-22 | server | user name flag 0: password flag 0
MQTT-3.1.2-23 | client | the client sends PINGREQ when it has nothing else to send
MQTT-3.1.2-24 | server | nothing received for 1.5 keepalives: disconnect
MQTT-3.1.3-1  | client | payload fields come in the listed order
MQTT-3.1.3-2  | server | the client id identifies the session state
MQTT-3.1.3-3  | client | the client id is present, first in the payload
MQTT-3.1.3-4  | client | the client id is a UTF-8 string
MQTT-3.1.3-5  | server | client ids of 1-23 bytes of [0-9a-zA-Z] are allowed
MQTT-3.1.3-6  | server | a zero-byte client id allowed gets a unique id assigned
MQTT-3.1.3-7  | client | a zero-byte client id comes with clean session 1
MQTT-3.1.3-8  | server | a zero-byte client id with clean session 0 gets CONNACK 0x02, then close
MQTT-3.1.3-9  | server | a rejected client id gets CONNACK 0x02, then close
MQTT-3.1.3-10 | client | the will topic is a UTF-8 string
MQTT-3.1.3-11 | client | the user name is a UTF-8 string
MQTT-3.1.4-1  | server | a CONNECT that does not conform closes without CONNACK
MQTT-3.1.4-2  | server | a client id already connected: the existing client is disconnected
MQTT-3.1.4-3  | server | clean session is processed
MQTT-3.1.4-4  | server | an accepted CONNECT gets CONNACK 0
MQTT-3.1.4-5  | server | after a rejected CONNECT, nothing the client sent is processed
MQTT-3.2.0-1  | server | the server's first packet is CONNACK
MQTT-3.2.2-1  | server | clean session 1 accepted: session present 0
MQTT-3.2.2-2  | server | clean session 0 with a stored session: session present 1
MQTT-3.2.2-3  | server | clean session 0 without one: session present 0
MQTT-3.2.2-4  | server | a non-zero CONNACK code has session present 0
MQTT-3.2.2-5  | server | a non-zero CONNACK code is followed by close
MQTT-3.2.2-6  | server | no listed code applies: close without CONNACK
MQTT-3.3.1-1  | server | a redelivered PUBLISH has DUP 1
MQTT-3.3.1-2  | server | a QoS 0 PUBLISH has DUP 0
MQTT-3.3.1-3  | server | an outgoing DUP depends only on whether that packet is a resend
MQTT-3.3.1-4  | server | a PUBLISH with QoS bits 11 closes the connection
MQTT-3.3.1-5  | server | RETAIN 1: the message and its QoS are stored, replacing the last
MQTT-3.3.1-6  | server | a new subscription gets the last retained message of each match
MQTT-3.3.1-7  | server | a QoS 0 retained message replaces the one retained before
MQTT-3.3.1-8  | server | a retained message sent for a new subscription has RETAIN 1
MQTT-3.3.1-9  | server | a message sent to an established subscription has RETAIN 0
MQTT-3.3.1-10 | server | RETAIN 1 with an empty payload removes the retained message
MQTT-3.3.1-11 | server | an empty retained message is not stored
MQTT-3.3.1-12 | server | RETAIN 0: nothing stored, removed or replaced
MQTT-3.3.2-1  | server | the topic name comes first, a UTF-8 string
MQTT-3.3.2-2  | server | a topic name has no wildcards
MQTT-3.3.2-3  | server | the server's PUBLISH topic matches the subscription's filter
MQTT-3.3.4-1  | server | a PUBLISH is answered as its QoS requires
MQTT-3.3.5-1  | server | overlapping subscriptions: delivered at the highest of their QoS
MQTT-3.3.5-2  | server | a PUBLISH not authorised is acked or closed
MQTT-3.6.1-1  | server | PUBREL flags are 0010, else malformed: close
MQTT-3.8.1-1  | server | SUBSCRIBE flags are 0010, else malformed: close
MQTT-3.8.3-1  | client | topic filters are UTF-8 strings
MQTT-3.8.3-2  | server | a server without wildcard support refuses wildcard filters (both support them)
MQTT-3.8.3-3  | server | a SUBSCRIBE has at least one filter
MQTT-3.8.3-4  | server | reserved option bits or a QoS of 3 in SUBSCRIBE: malformed, close
MQTT-3.8.4-1  | server | a SUBSCRIBE gets a SUBACK
MQTT-3.8.4-2  | server | the SUBACK has the SUBSCRIBE's packet id
MQTT-3.8.4-3  | server | an identical filter replaces the subscription; retained re-sent, nothing lost
MQTT-3.8.4-4  | server | several filters are handled as several SUBSCRIBEs, one SUBACK
MQTT-3.8.4-5  | server | the SUBACK has a return code per filter: granted QoS or failure
MQTT-3.8.4-6  | server | delivered at the lower of published and granted QoS
MQTT-3.9.3-1  | server | SUBACK return codes are in the order of the filters
MQTT-3.9.3-2  | server | SUBACK return codes are 0x00, 0x01, 0x02 or 0x80
MQTT-3.10.1-1 | server | UNSUBSCRIBE flags are 0010, else malformed: close
MQTT-3.10.3-1 | client | UNSUBSCRIBE filters are UTF-8 strings
MQTT-3.10.3-2 | server | an UNSUBSCRIBE has at least one filter
MQTT-3.10.4-1 | server | UNSUBSCRIBE compares filters character by character, deletes a match
MQTT-3.10.4-2 | server | after UNSUBSCRIBE no new messages are added for that filter
MQTT-3.10.4-3 | server | QoS 1/2 deliveries already started are completed
MQTT-3.10.4-4 | server | an UNSUBSCRIBE gets an UNSUBACK with its packet id
MQTT-3.10.4-5 | server | an UNSUBACK even when nothing was deleted
MQTT-3.10.4-6 | server | several filters are handled as several UNSUBSCRIBEs, one UNSUBACK
MQTT-3.12.4-1 | server | a PINGREQ gets a PINGRESP
MQTT-3.14.1-1 | server | DISCONNECT reserved bits are 0, else disconnect
MQTT-3.14.4-1 | client | after DISCONNECT the client closes the connection
MQTT-3.14.4-2 | client | after DISCONNECT the client sends nothing more
MQTT-3.14.4-3 | server | on DISCONNECT the will is discarded unpublished
MQTT-4.1.0-1  | server | session state is kept for the whole session
MQTT-4.1.0-2  | server | a session lasts at least as long as its connection
MQTT-4.3.1-1  | server | QoS 0 is sent with QoS 0 and DUP 0
MQTT-4.3.2-1  | server | QoS 1 sender: unused id, DUP 0, unacknowledged until PUBACK
MQTT-4.3.2-2  | server | QoS 1 receiver: PUBACK with the id; the same id later is a new message
MQTT-4.3.3-1  | server | QoS 2 sender: unused id, DUP 0, PUBREL on PUBREC, no PUBLISH resend after PUBREL
MQTT-4.3.3-2  | server | QoS 2 receiver: PUBREC, duplicates not delivered again, PUBCOMP on PUBREL
MQTT-4.4.0-1  | server | on resumption unacknowledged PUBLISH and PUBREL are resent with their ids
MQTT-4.5.0-1  | server | an accepted message is added to the sessions with matching subscriptions
MQTT-4.5.0-2  | client | the client acknowledges every PUBLISH as its QoS requires
MQTT-4.6.0-1  | client | the client resends in the original order
MQTT-4.6.0-2  | client | the client sends PUBACKs in order
MQTT-4.6.0-3  | client | the client sends PUBRECs in order
MQTT-4.6.0-4  | client | the client sends PUBRELs in order
MQTT-4.6.0-5  | server | every topic is an Ordered Topic by default
MQTT-4.6.0-6  | server | an Ordered Topic's messages go out in the order each client sent them
MQTT-4.7.1-1  | server | wildcards are for filters, never topic names
MQTT-4.7.1-2  | server | '#' stands alone or after '/', and last
MQTT-4.7.1-3  | server | '+' fills a whole level
MQTT-4.7.2-1  | server | filters starting with a wildcard do not match topics starting with '$'
MQTT-4.7.3-1  | server | topic names and filters are at least one character
MQTT-4.7.3-2  | server | topic names and filters hold no U+0000
MQTT-4.7.3-3  | hidden | topic names and filters are at most 65,535 bytes -- the two-byte length prefix cannot say more
MQTT-4.7.3-4  | server | no normalisation of topics or filters when matching
MQTT-4.8.0-1  | server | a protocol violation closes the connection
MQTT-4.8.0-2  | hidden | a transient error closes the connection -- a client cannot cause a transient error in the server on purpose
MQTT-6.0.0-1  | server | over WebSocket, a frame other than binary closes the connection
MQTT-6.0.0-2  | server | over WebSocket, packets are not assumed aligned on frame boundaries
MQTT-6.0.0-3  | client | the client offers the WebSocket subprotocol "mqtt"
MQTT-6.0.0-4  | server | the server selects the WebSocket subprotocol "mqtt"
""",
)

V5 = _parse(
    "5",
    f"""
MQTT-1.5.4-1  | server | ill-formed UTF-8 (surrogates included) in a string is malformed
MQTT-1.5.4-2  | server | U+0000 in a string is malformed
MQTT-1.5.4-3  | server | U+FEFF (EF BB BF) in a string is neither skipped nor stripped
MQTT-1.5.5-1  | server | variable byte integers use the fewest bytes
MQTT-1.5.7-1  | server | both strings of a string pair are well-formed UTF-8
MQTT-2.1.3-1  | server | reserved fixed-header flags carry the listed values, else malformed
MQTT-2.2.1-2  | server | a QoS 0 PUBLISH has no packet id
MQTT-2.2.1-3  | client | a client's new packet gets an unused non-zero packet id
MQTT-2.2.1-4  | server | the server's QoS>0 PUBLISH gets an unused non-zero packet id
MQTT-2.2.1-5  | server | PUBACK, PUBREC, PUBREL, PUBCOMP carry the PUBLISH's packet id
MQTT-2.2.1-6  | server | SUBACK and UNSUBACK carry the request's packet id
MQTT-2.2.2-1  | server | no properties is sent as a property length of 0
MQTT-3.1.0-1  | server | the first packet from the client is CONNECT
MQTT-3.1.0-2  | server | a second CONNECT is a protocol error: close
MQTT-3.1.2-1  | server | a protocol name other than "MQTT" is refused (CONNACK 0x84 at most), then close
MQTT-3.1.2-2  | server | a protocol version not supported may get CONNACK 0x84, then close
MQTT-3.1.2-3  | server | the CONNECT reserved flag is 0, else malformed
MQTT-3.1.2-4  | server | clean start 1 discards any existing session
MQTT-3.1.2-5  | server | clean start 0 with a session resumes it
MQTT-3.1.2-6  | server | clean start 0 without a session creates one
MQTT-3.1.2-7  | server | will flag 1: the will is stored with the session
MQTT-3.1.2-8  | server | the will is published after the close, once the delay passed or the session ended
MQTT-3.1.2-9  | server | will flag 1: will properties, topic and payload are present
MQTT-3.1.2-10 | server | the will is removed once published or on DISCONNECT 0x00
MQTT-3.1.2-11 | server | will flag 0: will QoS 0
MQTT-3.1.2-12 | server | will QoS is 0, 1 or 2
MQTT-3.1.2-13 | server | will flag 0: will retain 0
MQTT-3.1.2-14 | server | will retain 0: the will is published non-retained
MQTT-3.1.2-15 | server | will retain 1: the will is published retained
MQTT-3.1.2-16 | server | user name flag 0: no user name in the payload
MQTT-3.1.2-17 | server | user name flag 1: a user name in the payload
MQTT-3.1.2-18 | server | password flag 0: no password in the payload
MQTT-3.1.2-19 | server | password flag 1: a password in the payload
MQTT-3.1.2-20 | client | the client sends PINGREQ when it has nothing else to send
MQTT-3.1.2-21 | client | the client uses the Server Keep Alive
MQTT-3.1.2-22 | server | nothing received for 1.5 keepalives: close
MQTT-3.1.2-23 | server | session state is stored after the close while Session Expiry > 0
MQTT-3.1.2-24 | server | no packet over the client's Maximum Packet Size is sent
MQTT-3.1.2-25 | server | a packet too large is discarded as if sent
MQTT-3.1.2-26 | server | no Topic Alias above the client's Topic Alias Maximum is sent
MQTT-3.1.2-27 | server | no Topic Alias is sent when the client's maximum is absent or 0
MQTT-3.1.2-28 | server | Request Response Information 0: no Response Information
MQTT-3.1.2-29 | server | Request Problem Information 0: no Reason String or User Property except on PUBLISH, CONNACK, DISCONNECT
MQTT-3.1.2-30 | client | with an Authentication Method the client sends only AUTH or DISCONNECT before CONNACK
MQTT-3.1.3-1  | client | payload fields come in the listed order
MQTT-3.1.3-2  | server | the client id identifies the session state
MQTT-3.1.3-3  | client | the client id is present, first in the payload
MQTT-3.1.3-4  | client | the client id is a UTF-8 string
MQTT-3.1.3-5  | server | client ids of 1-23 bytes of [0-9a-zA-Z] are allowed
MQTT-3.1.3-6  | server | a zero-byte client id gets a unique client id assigned
MQTT-3.1.3-7  | server | ... processed as if the client gave it, returned as Assigned Client Identifier
MQTT-3.1.3-8  | server | a rejected client id may get CONNACK 0x85, and the connection closes
MQTT-3.1.3-9  | server | a new connection to the session before the Will Delay passed: no will
MQTT-3.1.3-10 | server | the will's user properties keep their order
MQTT-3.1.3-11 | client | the will topic is a UTF-8 string
MQTT-3.1.3-12 | client | the user name is a UTF-8 string
MQTT-3.1.4-1  | server | a CONNECT that does not match section 3.1 closes the connection
MQTT-3.1.4-2  | server | a CONNECT failing further checks (authentication) closes
MQTT-3.1.4-3  | server | a client id already connected: the existing connection gets DISCONNECT 0x8E and closes
MQTT-3.1.4-4  | server | clean start is processed
MQTT-3.1.4-5  | server | an accepted CONNECT gets CONNACK 0x00
MQTT-3.1.4-6  | server | after a rejected CONNECT, nothing but AUTH is processed
MQTT-3.2.0-1  | server | CONNACK 0x00 comes before any packet other than AUTH
MQTT-3.2.0-2  | server | at most one CONNACK per connection
MQTT-3.2.2-1  | server | CONNACK flag bits 7-1 are 0
MQTT-3.2.2-2  | server | clean start 1 accepted: session present 0
MQTT-3.2.2-3  | server | clean start 0: session present 1 with a session, else 0
MQTT-3.2.2-4  | client | a client without a session that gets session present 1 closes
MQTT-3.2.2-5  | client | a client with a session that gets session present 0 discards it
MQTT-3.2.2-6  | server | a non-zero CONNACK reason has session present 0
MQTT-3.2.2-7  | server | a CONNACK reason >= 0x80 is followed by close
MQTT-3.2.2-8  | server | CONNACK reasons come from the CONNACK list
MQTT-3.2.2-9  | server | a server without QoS 1 or 2 says its Maximum QoS (absent: QoS 2 is accepted)
MQTT-3.2.2-10 | server | SUBSCRIBE at QoS 0, 1, 2 is accepted whatever the Maximum QoS
MQTT-3.2.2-11 | client | the client publishes at most at the Maximum QoS
MQTT-3.2.2-12 | server | a will QoS above the server's capability is refused (0x9B)
MQTT-3.2.2-13 | server | a retained will on a server without retain is refused (0x9A)
MQTT-3.2.2-14 | client | the client does not publish retained when Retain Available is 0
MQTT-3.2.2-15 | client | the client sends no packet over the server's Maximum Packet Size
MQTT-3.2.2-16 | server | a zero-length client id gets an Assigned Client Identifier no other session uses
MQTT-3.2.2-17 | client | the client's Topic Alias stays within the server's maximum
MQTT-3.2.2-18 | client | the client sends no Topic Alias when the server's maximum is 0
MQTT-3.2.2-19 | server | no Reason String that would take the CONNACK over the client's Maximum Packet Size
MQTT-3.2.2-20 | server | no User Property that would take the CONNACK over the client's Maximum Packet Size
MQTT-3.2.2-21 | client | the client uses the Server Keep Alive
MQTT-3.2.2-22 | server | without a Server Keep Alive, the server uses the client's Keep Alive
MQTT-3.3.1-1  | server | a redelivered PUBLISH has DUP 1
MQTT-3.3.1-2  | server | a QoS 0 PUBLISH has DUP 0
MQTT-3.3.1-3  | server | an outgoing DUP depends only on whether that packet is a resend
MQTT-3.3.1-4  | server | a PUBLISH with QoS bits 11 is malformed
MQTT-3.3.1-5  | server | RETAIN 1: the message replaces the topic's retained message
MQTT-3.3.1-6  | server | RETAIN 1 with an empty payload removes the retained message
MQTT-3.3.1-7  | server | an empty retained message is not stored
MQTT-3.3.1-8  | server | RETAIN 0: nothing stored, removed or replaced
MQTT-3.3.1-9  | server | Retain Handling 0: retained messages are sent on subscribe
MQTT-3.3.1-10 | server | Retain Handling 1: sent only if the subscription did not exist
MQTT-3.3.1-11 | server | Retain Handling 2: never sent
MQTT-3.3.1-12 | server | Retain As Published 0: forwarded with RETAIN 0
MQTT-3.3.1-13 | server | Retain As Published 1: forwarded with RETAIN as received
MQTT-3.3.2-1  | server | the topic name comes first, a UTF-8 string
MQTT-3.3.2-2  | server | a topic name has no wildcards
MQTT-3.3.2-3  | server | the server's PUBLISH topic matches the subscription's filter
MQTT-3.3.2-4  | server | the Payload Format Indicator is forwarded unaltered
MQTT-3.3.2-5  | server | a message past its Message Expiry is not delivered
MQTT-3.3.2-6  | server | the forwarded Message Expiry is less the time it waited
MQTT-3.3.2-7  | server | topic alias mappings do not outlive their connection
MQTT-3.3.2-8  | server | no Topic Alias of 0 is sent (and one received is an error)
MQTT-3.3.2-9  | client | the client's Topic Alias stays within the server's maximum
MQTT-3.3.2-10 | client | the client accepts aliases up to its own maximum
MQTT-3.3.2-11 | server | no Topic Alias above the client's maximum is sent
MQTT-3.3.2-12 | server | aliases 1 to the server's maximum are accepted
MQTT-3.3.2-13 | client | the Response Topic is a UTF-8 string
MQTT-3.3.2-14 | client | the Response Topic has no wildcards
MQTT-3.3.2-15 | server | the Response Topic is forwarded unaltered
MQTT-3.3.2-16 | server | the Correlation Data is forwarded unaltered
MQTT-3.3.2-17 | server | User Properties are forwarded unaltered
MQTT-3.3.2-18 | server | User Properties keep their order
MQTT-3.3.2-19 | client | the Content Type is a UTF-8 string
MQTT-3.3.2-20 | server | the Content Type is forwarded unaltered
MQTT-3.3.4-1  | server | a PUBLISH is answered as its QoS requires
MQTT-3.3.4-2  | server | overlapping subscriptions: delivered at the highest of their QoS
MQTT-3.3.4-3  | server | the Subscription Identifiers of matching subscriptions are sent
MQTT-3.3.4-4  | server | one copy for overlapping subscriptions carries all their identifiers
MQTT-3.3.4-5  | server | one copy per subscription carries that subscription's identifier
MQTT-3.3.4-6  | client | a client's PUBLISH has no Subscription Identifier
MQTT-3.3.4-7  | client | the client keeps within the server's Receive Maximum
MQTT-3.3.4-8  | client | the client delays nothing but PUBLISH for Receive Maximum
MQTT-3.3.4-9  | server | at most Receive Maximum unacknowledged QoS 1/2 PUBLISH to a client
MQTT-3.3.4-10 | server | nothing but PUBLISH is delayed by Receive Maximum
MQTT-3.4.2-1  | server | PUBACK reasons come from the PUBACK list
MQTT-3.4.2-2  | server | no Reason String that would take a PUBACK over the maximum size
MQTT-3.4.2-3  | server | no User Property that would take a PUBACK over the maximum size
MQTT-3.5.2-1  | server | PUBREC reasons come from the PUBREC list
MQTT-3.5.2-2  | server | no Reason String that would take a PUBREC over the maximum size
MQTT-3.5.2-3  | server | no User Property that would take a PUBREC over the maximum size
MQTT-3.6.1-1  | server | PUBREL flags are 0010, else malformed: close
MQTT-3.6.2-1  | server | PUBREL reasons come from the PUBREL list
MQTT-3.6.2-2  | server | no Reason String that would take a PUBREL over the maximum size
MQTT-3.6.2-3  | server | no User Property that would take a PUBREL over the maximum size
MQTT-3.7.2-1  | server | PUBCOMP reasons come from the PUBCOMP list
MQTT-3.7.2-2  | server | no Reason String that would take a PUBCOMP over the maximum size
MQTT-3.7.2-3  | server | no User Property that would take a PUBCOMP over the maximum size
MQTT-3.8.1-1  | server | SUBSCRIBE flags are 0010, else malformed: close
MQTT-3.8.3-1  | client | topic filters are UTF-8 strings
MQTT-3.8.3-2  | server | a SUBSCRIBE has at least one filter
MQTT-3.8.3-3  | server | No Local: not forwarded to the publishing client id
MQTT-3.8.3-4  | server | No Local on a shared subscription is a protocol error
MQTT-3.8.3-5  | server | reserved subscription option bits are malformed
MQTT-3.8.4-1  | server | a SUBSCRIBE gets a SUBACK
MQTT-3.8.4-2  | server | the SUBACK has the SUBSCRIBE's packet id
MQTT-3.8.4-3  | server | an identical non-shared filter replaces the subscription
MQTT-3.8.4-4  | server | ... with Retain Handling 0 retained messages are re-sent, nothing lost
MQTT-3.8.4-5  | server | several filters are handled as several SUBSCRIBEs, one SUBACK
MQTT-3.8.4-6  | server | the SUBACK has a reason code per filter
MQTT-3.8.4-7  | server | each code is the granted QoS or a failure
MQTT-3.8.4-8  | server | delivered at the lower of published and granted QoS
MQTT-3.9.2-1  | server | no Reason String that would take a SUBACK over the maximum size
MQTT-3.9.2-2  | server | no User Property that would take a SUBACK over the maximum size
MQTT-3.9.3-1  | server | SUBACK reasons are in the order of the filters
MQTT-3.9.3-2  | server | SUBACK reasons come from the SUBACK list
MQTT-3.10.1-1 | server | UNSUBSCRIBE flags are 0010, else malformed: close
MQTT-3.10.3-1 | client | UNSUBSCRIBE filters are UTF-8 strings
MQTT-3.10.3-2 | server | an UNSUBSCRIBE has at least one filter
MQTT-3.10.4-1 | server | UNSUBSCRIBE compares filters character by character, deletes a match
MQTT-3.10.4-2 | server | after UNSUBSCRIBE no new messages are added for that filter
MQTT-3.10.4-3 | server | QoS 1/2 deliveries already started are completed
MQTT-3.10.4-4 | server | an UNSUBSCRIBE gets an UNSUBACK
MQTT-3.10.4-5 | server | the UNSUBACK has the packet id, even when nothing was deleted
MQTT-3.10.4-6 | server | several filters are handled as several UNSUBSCRIBEs, one UNSUBACK
MQTT-3.11.2-1 | server | no Reason String that would take an UNSUBACK over the maximum size
MQTT-3.11.2-2 | server | no User Property that would take an UNSUBACK over the maximum size
MQTT-3.11.3-1 | server | UNSUBACK reasons are in the order of the filters
MQTT-3.11.3-2 | server | UNSUBACK reasons come from the UNSUBACK list
MQTT-3.12.4-1 | server | a PINGREQ gets a PINGRESP
MQTT-3.14.0-1 | server | no DISCONNECT before a CONNACK under 0x80
MQTT-3.14.1-1 | server | DISCONNECT reserved bits are 0, else malformed
MQTT-3.14.2-1 | server | DISCONNECT reasons come from the DISCONNECT list
MQTT-3.14.2-2 | server | the server's DISCONNECT has no Session Expiry Interval
MQTT-3.14.2-3 | server | no Reason String that would take a DISCONNECT over the maximum size
MQTT-3.14.2-4 | server | no User Property that would take a DISCONNECT over the maximum size
MQTT-3.14.4-1 | server | nothing is sent after a DISCONNECT
MQTT-3.14.4-2 | server | the sender of a DISCONNECT closes the connection
MQTT-3.14.4-3 | server | DISCONNECT 0x00 discards the will unpublished
MQTT-3.15.1-1 | server | AUTH flags are 0000, else malformed
MQTT-3.15.2-1 | hidden | AUTH reasons come from the AUTH list -- {_NO_AUTH}
MQTT-3.15.2-2 | hidden | no Reason String that would take an AUTH over the maximum size -- {_NO_AUTH}
MQTT-3.15.2-3 | hidden | no User Property that would take an AUTH over the maximum size -- {_NO_AUTH}
MQTT-4.1.0-1  | server | session state is kept while the connection is open
MQTT-4.1.0-2  | server | session state is discarded when the connection closed and the expiry passed
MQTT-4.2-1    | hidden | the transport is an ordered, lossless byte stream -- a property of TCP, not of a broker's behaviour
MQTT-4.3.1-1  | server | QoS 0 is sent with QoS 0 and DUP 0
MQTT-4.3.2-1  | server | QoS 1 sender: an unused packet id per message
MQTT-4.3.2-2  | server | QoS 1 sender: QoS 1, DUP 0
MQTT-4.3.2-3  | server | QoS 1 sender: unacknowledged until PUBACK
MQTT-4.3.2-4  | server | QoS 1 receiver: PUBACK with the PUBLISH's id
MQTT-4.3.2-5  | server | QoS 1 receiver: after PUBACK the same id is a new message
MQTT-4.3.3-1  | server | QoS 2 sender: an unused packet id per message
MQTT-4.3.3-2  | server | QoS 2 sender: QoS 2, DUP 0
MQTT-4.3.3-3  | server | QoS 2 sender: unacknowledged until PUBREC
MQTT-4.3.3-4  | server | QoS 2 sender: PUBREL with the id on a PUBREC under 0x80
MQTT-4.3.3-5  | server | QoS 2 sender: PUBREL unacknowledged until PUBCOMP
MQTT-4.3.3-6  | server | QoS 2 sender: no PUBLISH resend after PUBREL
MQTT-4.3.3-7  | server | QoS 2 sender: no message expiry once the PUBLISH was sent
MQTT-4.3.3-8  | server | QoS 2 receiver: PUBREC with the PUBLISH's id
MQTT-4.3.3-9  | server | QoS 2 receiver: after a PUBREC >= 0x80 the same id is new
MQTT-4.3.3-10 | server | QoS 2 receiver: until PUBREL a duplicate gets PUBREC and is not delivered again
MQTT-4.3.3-11 | server | QoS 2 receiver: PUBCOMP with the PUBREL's id
MQTT-4.3.3-12 | server | QoS 2 receiver: after PUBCOMP the same id is a new message
MQTT-4.3.3-13 | server | QoS 2 receiver: the flow continues even when the message expired
MQTT-4.4.0-1  | server | on resumption unacknowledged PUBLISH and PUBREL are resent, and only then
MQTT-4.4.0-2  | server | a PUBLISH answered with >= 0x80 counts as acknowledged, never resent
MQTT-4.5.0-1  | server | an accepted message is added to the sessions with matching subscriptions
MQTT-4.5.0-2  | client | the client acknowledges every PUBLISH as its QoS requires
MQTT-4.6.0-1  | client | the client resends in the original order
MQTT-4.6.0-2  | client | the client sends PUBACKs in order
MQTT-4.6.0-3  | client | the client sends PUBRECs in order
MQTT-4.6.0-4  | client | the client sends PUBRELs in order
MQTT-4.6.0-5  | server | an Ordered Topic's messages go out in the order each client sent them
MQTT-4.6.0-6  | server | every topic is ordered for non-shared subscriptions by default
MQTT-4.7.0-1  | server | wildcards are for filters, never topic names
MQTT-4.7.1-1  | server | '#' stands alone or after '/', and last
MQTT-4.7.1-2  | server | '+' fills a whole level
MQTT-4.7.2-1  | server | filters starting with a wildcard do not match topics starting with '$'
MQTT-4.7.3-1  | server | topic names and filters are at least one character
MQTT-4.7.3-2  | server | topic names and filters hold no U+0000
MQTT-4.7.3-3  | hidden | topic names and filters are at most 65,535 bytes -- the two-byte length prefix cannot say more
MQTT-4.7.3-4  | server | no normalisation of topics or filters when matching
MQTT-4.8.2-1  | server | a shared filter is $share/ with a ShareName of one character or more
MQTT-4.8.2-2  | server | the ShareName has no '/', '+' or '#' and is followed by '/' and a filter
MQTT-4.8.2-3  | server | a shared subscriber gets the QoS granted to it
MQTT-4.8.2-4  | server | a QoS 2 message to a shared subscriber that dropped is completed on its return
MQTT-4.8.2-5  | server | ... and not sent to another member if its session ended
MQTT-4.8.2-6  | server | a shared subscriber's PUBACK/PUBREC >= 0x80 discards the message for all
MQTT-4.9.0-1  | server | the send quota starts non-zero, at most Receive Maximum
MQTT-4.9.0-2  | server | with the send quota at 0 no QoS>0 PUBLISH is sent
MQTT-4.9.0-3  | server | with the send quota at 0 other packets are still processed
MQTT-4.12.0-1 | server | an unsupported Authentication Method gets CONNACK 0x8C or 0x87, then close
MQTT-4.12.0-2 | hidden | a server needing more authentication data sends AUTH 0x18 -- {_NO_AUTH}
MQTT-4.12.0-3 | client | the client answers AUTH with AUTH 0x18
MQTT-4.12.0-4 | hidden | a refused authentication gets CONNACK >= 0x80 and close -- {_NO_AUTH}
MQTT-4.12.0-5 | hidden | AUTH and CONNACK carry the CONNECT's Authentication Method -- {_NO_AUTH}
MQTT-4.12.0-6 | server | no Authentication Method in CONNECT: no AUTH, none in CONNACK
MQTT-4.12.0-7 | client | no Authentication Method in CONNECT: the client sends no AUTH
MQTT-4.12.1-1 | client | a re-authentication uses the original Authentication Method
MQTT-4.12.1-2 | hidden | a failed re-authentication gets a DISCONNECT -- {_NO_AUTH}
MQTT-4.13.1-1 | server | a malformed packet or protocol error closes the connection
MQTT-4.13.2-1 | server | a CONNACK or DISCONNECT reason >= 0x80 closes the connection
MQTT-6.0.0-1  | server | over WebSocket, a frame other than binary closes the connection
MQTT-6.0.0-2  | server | over WebSocket, packets are not assumed aligned on frame boundaries
MQTT-6.0.0-3  | client | the client offers the WebSocket subprotocol "mqtt"
MQTT-6.0.0-4  | server | the server selects the WebSocket subprotocol "mqtt"
""",
)

ALL: dict[str, Statement] = {s.key: s for table in (V311, V5) for s in table.values()}
