import pytest

from mqtt_surge import BrokerURL, ConfigError, parse_broker


@pytest.mark.parametrize(
    ("text", "host", "port", "scheme"),
    [
        ("localhost", "localhost", 1883, "mqtt"),
        ("broker.example.com:1884", "broker.example.com", 1884, "mqtt"),
        ("mqtt://10.0.0.5", "10.0.0.5", 1883, "mqtt"),
        ("mqtts://host", "host", 8883, "mqtts"),
        ("tcp://host:2000", "host", 2000, "mqtt"),
        ("ssl://host", "host", 8883, "mqtts"),
        ("[::1]:1999", "::1", 1999, "mqtt"),
        ("  mqtt://h:1/ ", "h", 1, "mqtt"),
    ],
)
def test_parse_forms(text: str, host: str, port: int, scheme: str) -> None:
    url = parse_broker(text)
    assert (url.host, url.port, url.scheme) == (host, port, scheme)
    assert url.tls == (scheme == "mqtts")


def test_credentials_are_parsed_and_redacted() -> None:
    url = parse_broker("mqtt://alice:s%40cret@host:1884")
    assert (url.username, url.password) == ("alice", "s@cret")
    for shown in (str(url), repr(url), url.redacted, f"{url}", repr([url])):
        assert "s@cret" not in shown
        assert "s%40cret" not in shown
        assert "alice:***@host:1884" in shown
    assert parse_broker(url.full) == url


def test_ipv6_renders_with_brackets() -> None:
    assert str(parse_broker("[::1]:1999")) == "mqtt://[::1]:1999"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("mqtt://host:0", "out of range"),
        ("mqtt://host:70000", "70000"),
        ("host:abc", "invalid broker address"),
        ("http://host", "unsupported scheme 'http'"),
        ("mqtt://host/path", "path or query"),
        ("mqtt://:1883", "no host"),
    ],
)
def test_bad_input_names_the_value(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_broker(text)


def test_errors_never_echo_a_password() -> None:
    with pytest.raises(ConfigError) as info:
        parse_broker("http://bob:hunter2@host")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        parse_broker("mqtt://bob:hunter2@host:99999")
    assert "hunter2" not in str(info.value)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="password was given without a username"):
        BrokerURL(host="h", port=1, password="x")
