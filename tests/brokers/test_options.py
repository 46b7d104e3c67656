"""The broker options' boundary: each bad value refused at once, naming it; the ACL read as
mosquitto reads its acl_file (tests/conformance/test_options.py holds both engines to it)."""

from __future__ import annotations

import pytest

from mqtt_surge import AmqttBroker, BrokerURL, ConfigError, EmbeddedBroker, MosquittoBroker
from mqtt_surge.brokers import Acl, BrokerOptions
from mqtt_surge.runtime.url import parse_broker


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_packet_size": 0}, "max_packet_size must be an int from 2 to"),
        ({"receive_maximum": 0}, "receive_maximum must be an int from 1 to 65535, got 0"),
        ({"server_keepalive": 70000}, "server_keepalive must be an int from 1 to 65535"),
        ({"max_qos": 3}, "max_qos must be an int from 0 to 2, got 3"),
        ({"topic_alias_maximum": True}, "topic_alias_maximum must be an int"),
        ({"require_certificate": True}, "require_certificate=True needs tls=True"),
        (
            {"tls": True, "use_identity_as_username": True},
            "use_identity_as_username=True needs require_certificate=True",
        ),
        ({"tls": "yes"}, "tls must be True or False, got 'yes'"),
        ({"users": {"a:b": "x"}}, "user name 'a:b' in users"),
        ({"users": {}}, "users must be a dict of user name to password"),
        ({"ws_path": "mqtt"}, "ws_path must be a URL path such as '/mqtt', got 'mqtt'"),
        ({"allow_anonymous": False}, "allow_anonymous=False without users="),
        ({"acl": "topic read a/+/#/b"}, "acl line 1 'topic read a/+/#/b'"),
        ({"acl": "user a\n\ntopic sometimes x"}, "acl line 3 'topic sometimes x': access"),
        ({"acl": "group admins"}, "expected 'user', 'topic' or 'pattern', got 'group'"),
        ({"acl": "user"}, "'user' needs a user name"),
        ({"acl": "topic"}, "'topic' needs a topic filter"),
        ({"colour": "blue"}, "does not take colour"),
    ],
)
def test_a_bad_option_is_refused_at_once_naming_its_value(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        EmbeddedBroker(**options)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_mosquitto_refuses_what_its_config_parser_would_before_starting() -> None:
    with pytest.raises(
        ConfigError, match=r"server_keepalive=5: mosquitto 2\.0 refuses less than 10"
    ):
        MosquittoBroker(server_keepalive=5)
    with pytest.raises(ConfigError, match=r"mosquitto 2\.0 has no setting: it always grants them"):
        MosquittoBroker(wildcard_subscriptions=False)


def test_amqtt_refuses_every_option_with_the_way_out() -> None:
    with pytest.raises(ConfigError, match=r"amqtt broker cannot offer option tls .*use embedded"):
        AmqttBroker(tls=True)


def test_options_changed_from_their_defaults_are_what_an_engine_must_offer() -> None:
    options = BrokerOptions.check(tls=True, max_qos=1, retain_available=True)
    assert options.changed() == {"tls": True, "max_qos": 1}


ACL = """\
# comment
topic read public/#
user app
topic readwrite app/#
topic deny app/secret
user admin
topic #
pattern write devices/%c/up
pattern read devices/%u/down
pattern deny devices/blocked/#
"""


@pytest.mark.parametrize(
    ("username", "client_id", "topic", "access", "allowed"),
    [
        (None, "c", "public/x", "read", True),
        (None, "c", "public/x", "write", False),  # read only
        ("app", "c", "public/x", "read", False),  # anonymous rules are not a user's
        ("app", "c", "app/x", "write", True),
        ("app", "c", "app/secret", "read", False),  # deny comes first, wherever it is written
        ("admin", "c", "anything/at/all", "write", True),  # one word: the filter, readwrite
        ("admin", "c", "$SYS/x", "read", False),  # '#' does not match '$' topics
        ("app", "dev1", "devices/dev1/up", "write", True),  # %c
        ("app", "dev1", "devices/dev2/up", "write", False),
        ("app", "dev1", "devices/app/down", "read", True),  # %u
        (None, "dev1", "devices/None/down", "read", False),  # %u needs a user name
        ("a+b", "dev1", "devices/dev1/up", "write", False),  # wildcards in a name: no patterns
        ("blocked", "blocked", "devices/blocked/up", "write", False),  # deny pattern first
        ("stranger", "c", "app/x", "read", False),  # no rule: denied
    ],
)
def test_the_acl_answers_as_mosquittos_acl_file_does(
    username: str | None, client_id: str, topic: str, access: str, allowed: bool
) -> None:
    assert Acl.parse(ACL).allows(username, client_id, topic, access) is allowed  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("ws://h:9001", BrokerURL("h", 9001, "ws", path="/mqtt")),
        ("wss://u:p@h/ws", BrokerURL("h", 443, "wss", "u", "p", "/ws")),
    ],
)
def test_websocket_urls_parse_with_their_path(text: str, url: BrokerURL) -> None:
    parsed = parse_broker(text)
    assert parsed == url
    assert parsed.websocket
    assert parsed.tls is (url.scheme == "wss")


def test_only_websocket_urls_have_a_path() -> None:
    with pytest.raises(ConfigError, match="only ws:// and wss:// URLs have a path"):
        BrokerURL("h", 1, "mqtt", path="/x")
