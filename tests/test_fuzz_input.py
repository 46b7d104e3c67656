"""Bad input, fuzzed (hypothesis): every bad option, topic filter or broker URL is refused at
construction with ConfigError/TypeError naming the value; every good one is taken as given.

Filters are built from the rules of the specification rather than checked against a copy of
the validator: valid ones from valid levels, invalid ones by breaking exactly one rule.
MQTT 3.1.1 numbers: [MQTT-4.7.1-1] wildcards only in filters, [MQTT-4.7.1-2] '#' alone and
last, [MQTT-4.7.1-3] '+' a whole level, [MQTT-4.7.3-1] at least one character,
[MQTT-4.7.3-2] no NUL, [MQTT-1.5.3-2] no NUL in any UTF-8 string, 65,535 bytes at most
([MQTT-1.5.3], the two-byte length); MQTT 5 section 4.8.2: '$share/{ShareName}/{filter}', the
ShareName at least one character and without '/', '+' or '#'.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from mqtt_surge import BrokerURL, ConfigError, Subscriber, parse_broker
from mqtt_surge.subscriber._message import validate_filter

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BASE: dict[str, Any] = {"broker": "localhost", "topic": "t", "callback": print}


def _refused(options: dict[str, Any]) -> Exception:
    kwargs = {**BASE, **options}
    with pytest.raises((ConfigError, TypeError)) as info:
        Subscriber(**kwargs)
    return info.value


def _names(error: Exception, value: object) -> bool:
    return repr(value) in str(error)


# -- options ------------------------------------------------------------------------------------

NOT_INT = st.one_of(
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.binary(max_size=3),
)
BAD_COUNT = st.one_of(st.integers(max_value=0), NOT_INT)


@pytest.mark.parametrize("option", ["max_queue_size", "worker_threads", "max_concurrency"])
@FAST
@given(value=BAD_COUNT)
def test_a_bad_count_is_refused_naming_it(option: str, value: object) -> None:
    error = _refused({option: value})
    assert isinstance(error, ConfigError)
    assert option in str(error), error
    assert _names(error, value), error


@pytest.mark.parametrize("option", ["max_queue_size", "worker_threads", "max_concurrency"])
@FAST
@given(value=st.integers(1, 10**9))
def test_a_good_count_is_taken_as_given(option: str, value: int) -> None:
    assert getattr(Subscriber(**{**BASE, option: value}), option) == value


@FAST
@given(
    value=st.one_of(st.integers(max_value=-1), st.integers(min_value=65536), NOT_INT).filter(
        lambda v: v is not None
    )
)
def test_a_bad_keepalive_is_refused_naming_it(value: object) -> None:
    error = _refused({"keepalive": value})
    assert isinstance(error, ConfigError), error
    assert _names(error, value), error


@FAST
@given(value=st.one_of(st.integers(max_value=-1), st.integers(min_value=2**32), NOT_INT))
def test_a_bad_session_expiry_is_refused_naming_it(value: object) -> None:
    assume(value is not None)
    error = _refused({"session_expiry": value, "protocol": 5, "client_id": "c"})
    assert isinstance(error, ConfigError), error
    assert _names(error, value), error


@FAST
@given(value=st.one_of(st.integers(), NOT_INT, st.sampled_from([1.0, 2.0, 0.0])))
def test_a_bad_qos_is_refused_naming_it(value: object) -> None:
    assume(value not in (0, 1, 2) or isinstance(value, (bool, float)))
    error = _refused({"qos": value})
    assert isinstance(error, ConfigError), error
    assert _names(error, value), error


CHOICES: dict[str, tuple[object, ...]] = {
    "overflow": ("drop_oldest", "drop_newest", "block", None),
    "ack": ("on_receive", "after_processing"),
    "ordered": (False, "topic"),
    "protocol": (4, 5, "3.1.1", "4", "5", "5.0"),
    "engine": ("paho", "gmqtt", None),
}


@pytest.mark.parametrize("option", sorted(CHOICES))
@FAST
@given(value=st.one_of(st.text(max_size=12), st.integers(), NOT_INT))
def test_a_value_outside_the_choices_is_refused_naming_it(option: str, value: object) -> None:
    allowed = CHOICES[option]
    # equal is not enough: 4.0 == 4 and 0 == False, and neither is a valid choice
    assume(not any(type(value) is type(a) and value == a for a in allowed))
    error = _refused({option: value})
    assert isinstance(error, ConfigError), error
    shown = "nan" if isinstance(value, float) and math.isnan(value) else repr(value)
    assert shown in str(error), error


@FAST
@given(
    option=st.sampled_from(["callback", "on_error"]),
    value=st.one_of(st.integers(), st.text(max_size=5), st.binary(max_size=3), st.floats()),
)
def test_a_callable_option_refuses_what_cannot_be_called(option: str, value: object) -> None:
    error = _refused({option: value})
    assert isinstance(error, TypeError), error
    assert option in str(error), error


@FAST
@given(
    option=st.sampled_from(["client_id", "username"]),
    value=st.one_of(
        st.integers(),
        st.binary(min_size=1, max_size=5),
        st.text(max_size=8).map(lambda t: t + "\x00"),
        st.just("\ud800"),  # a lone surrogate: not encodable as UTF-8
    ),
)
def test_a_bad_mqtt_string_is_refused_naming_it(option: str, value: object) -> None:
    error = _refused({option: value})
    assert isinstance(error, ConfigError), error
    assert option in str(error), error
    assert _names(error, value), error


@FAST
@given(secret=st.text(min_size=1, max_size=10).map(lambda t: "S3cret-" + t + "\x00"))
def test_a_bad_password_is_refused_without_showing_it(secret: str) -> None:
    error = _refused({"username": "user", "password": secret})
    assert isinstance(error, ConfigError)
    assert "password" in str(error)
    assert "S3cret" not in str(error)
    assert "S3cret" not in repr(error)


# -- topic filters ------------------------------------------------------------------------------

# a level: any text without the separator, the wildcards or NUL (non-ASCII and '$' included)
PLAIN = st.text(
    alphabet=st.characters(blacklist_characters="/+#\x00", blacklist_categories=("Cs",)),
    max_size=6,
)
LEVEL = st.one_of(PLAIN, st.just("+"))


@st.composite
def valid_filters(draw: st.DrawFn) -> str:
    levels = draw(st.lists(LEVEL, min_size=1, max_size=6))
    if draw(st.booleans()):
        levels.append("#")
    text = "/".join(levels)
    assume(text)  # [MQTT-4.7.3-1]: a single empty level is the empty string
    if draw(st.booleans()):
        group = draw(PLAIN.filter(bool))
        text = f"$share/{group}/{text}"
    return text


@st.composite
def invalid_filters(draw: st.DrawFn) -> str:
    base = draw(valid_filters())
    rule = draw(st.sampled_from(["hash_mid", "hash_in_level", "plus_in_level", "nul", "share"]))
    levels = base.split("/")
    where = draw(st.integers(0, len(levels) - 1))
    if rule == "hash_mid":  # [MQTT-4.7.1-2]: '#' followed by another level
        levels.insert(where, "#")
        levels.append(draw(PLAIN))
    elif rule == "hash_in_level":  # [MQTT-4.7.1-2]: '#' sharing its level
        levels[where] += "#" + draw(PLAIN.filter(bool))
    elif rule == "plus_in_level":  # [MQTT-4.7.1-3]
        levels[where] = draw(PLAIN.filter(bool)) + "+"
    elif rule == "nul":  # [MQTT-4.7.3-2]
        levels[where] += "\x00"
    else:  # MQTT 5, 4.8.2: a ShareName with a wildcard, or no filter after it
        return draw(st.sampled_from(["$share/g+/a", "$share/#/a", "$share//a", "$share/g"]))
    return "/".join(levels)


@FAST
@given(topic_filter=valid_filters())
@example(topic_filter="#")
@example(topic_filter="+")
@example(topic_filter="/")
@example(topic_filter="$SYS/#")
def test_a_valid_filter_is_accepted_unchanged(topic_filter: str) -> None:
    assert validate_filter(topic_filter) == topic_filter
    assert Subscriber(**{**BASE, "topic": topic_filter}).topics == [(topic_filter, 0)]


@FAST
@given(topic_filter=invalid_filters())
@example(topic_filter="a/#/b")
@example(topic_filter="a+")
def test_an_invalid_filter_is_refused_naming_it(topic_filter: str) -> None:
    error = _refused({"topic": topic_filter})
    assert isinstance(error, ConfigError), error
    assert _names(error, topic_filter), error
    # routes are filters too, checked the same way
    error = _refused({"callback": None, "callbacks": {topic_filter: print}})
    assert isinstance(error, ConfigError), error
    assert _names(error, topic_filter), error


def test_a_filter_over_65535_bytes_is_refused() -> None:  # [MQTT-1.5.3]
    ok = "a" * 65535
    assert validate_filter(ok) == ok
    error = _refused({"topic": "é" * 32768})  # 65,536 bytes in UTF-8
    assert isinstance(error, ConfigError)
    assert "65,535" in str(error)


NOT_A_FILTER = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.binary(max_size=4),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@FAST
@given(topic=NOT_A_FILTER, in_a_list=st.booleans())
def test_a_topic_that_is_no_filter_is_refused_naming_it(topic: object, in_a_list: bool) -> None:
    error = _refused({"topic": [topic] if in_a_list else topic})
    assert isinstance(error, ConfigError), error
    assert _names(error, topic), error


@FAST
@given(text=st.text(max_size=30))
def test_any_text_is_either_a_filter_or_a_config_error(text: str) -> None:
    # anything else escaping (IndexError, UnicodeError ...) fails the test
    with contextlib.suppress(ConfigError):
        assert validate_filter(text) == text


# -- broker URLs --------------------------------------------------------------------------------

HOST = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z0-9]{1,8}){0,3}", fullmatch=True)
USER = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8)


@FAST
@given(
    scheme=st.sampled_from(["mqtt", "mqtts", "tcp", "ssl", None]),
    host=st.one_of(HOST, st.sampled_from(["::1", "127.0.0.1", "fe80::1"])),
    port=st.one_of(st.none(), st.integers(1, 65535)),
    user=st.one_of(st.none(), USER),
    password=st.one_of(st.none(), USER.map(lambda t: "PW-" + t)),
)
def test_a_good_url_parses_to_its_parts_and_never_shows_the_password(
    scheme: str | None, host: str, port: int | None, user: str | None, password: str | None
) -> None:
    from urllib.parse import quote

    assume(password is None or user is not None)
    userinfo = ""
    if user is not None:
        userinfo = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "") + "@"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    text = (f"{scheme}://" if scheme else ("mqtt://" if userinfo else "")) + userinfo + netloc
    url = parse_broker(text)
    tls = scheme in ("mqtts", "ssl")
    assert (url.host, url.port, url.tls) == (host, port or (8883 if tls else 1883), tls)
    assert (url.username, url.password) == (user, password)
    assert parse_broker(url.full) == url  # the form handed to child processes reads back
    if password is not None:
        for shown in (str(url), repr(url), url.redacted):
            assert "PW-" not in shown
            assert quote(password, safe="") not in shown


@FAST
@given(
    port=st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=65536, max_value=10**6),
        st.text(alphabet="abcxyz-!", min_size=1, max_size=4),
    ),
    secret=USER.map(lambda t: "PW-" + t),
)
def test_a_bad_port_is_refused_naming_it_but_not_the_password(port: object, secret: str) -> None:
    from urllib.parse import quote

    text = f"mqtt://user:{quote(secret, safe='')}@broker.example:{port}"
    with pytest.raises(ConfigError) as info:
        parse_broker(text)
    message = str(info.value)
    assert "PW-" not in message
    assert str(port) in message or "port" in message, message


@FAST
@given(text=st.text(max_size=40))
@example(text="mqtt://[::1")
@example(text="mqtt://:1883")
@example(text="http://h")
def test_any_text_is_either_a_broker_url_or_a_config_error(text: str) -> None:
    try:
        url = parse_broker(text)
    except ConfigError as exc:
        message = str(exc)
    else:
        assert isinstance(url, BrokerURL)
        assert url.host
        assert 1 <= url.port <= 65535
        return
    assert message  # a message, not a bare class
