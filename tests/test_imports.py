import subprocess
import sys


def test_import_does_not_pull_amqtt_locust_or_gmqtt() -> None:
    code = (
        "import sys, mqtt_surge, mqtt_surge.brokers, mqtt_surge.cli\n"
        "heavy = {'amqtt', 'locust', 'gevent', 'gmqtt'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
