import mqtt_surge


def test_all_is_sorted_and_complete() -> None:
    exported = mqtt_surge.__all__
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(mqtt_surge).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("mqtt_surge")
    }
    assert public <= set(exported), public - set(exported)
    for name in exported:
        assert hasattr(mqtt_surge, name), name


def test_version_comes_from_metadata() -> None:
    from importlib.metadata import version

    assert mqtt_surge.__version__ == version("mqtt-surge")


def test_broker_features_are_public_and_each_is_documented() -> None:
    """The names ``mqtt_broker(needs=[...])`` takes, as the docs and ``pytest --markers``
    name them, each listed in the docs with its meaning."""
    from pathlib import Path

    from mqtt_surge.brokers import FEATURES

    docs = (Path(__file__).parents[1] / "docs" / "pytest-plugin.md").read_text()
    missing = [name for name, meaning in FEATURES.items() if f"| `{name}` | {meaning}" not in docs]
    assert missing == []


def test_broker_options_are_each_documented_with_the_engines_that_have_them() -> None:
    """docs/brokers.md lists every option with its meaning and, per engine, what that engine's
    capabilities declare; the README's table names every option."""
    from pathlib import Path

    from mqtt_surge import AmqttBroker, EmbeddedBroker, MosquittoBroker
    from mqtt_surge.brokers import OPTIONS

    root = Path(__file__).parents[1]
    docs = (root / "docs" / "brokers.md").read_text()
    engines = (EmbeddedBroker, MosquittoBroker, AmqttBroker)
    missing = [
        name
        for name, meaning in OPTIONS.items()
        if f"| `{name}` | {meaning} | "
        + " | ".join("yes" if name in e.capabilities.options else "no" for e in engines)
        + " |"
        not in docs
    ]
    assert missing == []
    readme = (root / "README.md").read_text()
    assert [name for name in OPTIONS if f"`{name}`" not in readme] == []
