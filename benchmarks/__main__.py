"""``python -m benchmarks``: every side-by-side benchmark in one invocation.

Subscribers (raw paho, mqtt-surge, the original design, aiomqtt, gmqtt; QoS 0 and 1, live and
receiver-bound; slow and async callbacks; the 1,000,000-message burst), the scale-out
(processes=1 and 2), then the broker engines (start-up, and the embedded broker's throughput
beside amqtt and mosquitto). Needs the extra ``bench``.
"""

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # the scripts import their shared helpers as _common

SCRIPTS = (
    ("subscriber.py", ["--receiver-bound", "--scenarios", "--burst"]),
    ("scale_out.py", []),
    ("brokers.py", []),
)

# guarded: the scale-out's child processes (spawn) import this module again
if __name__ == "__main__":
    for script, args in SCRIPTS:
        sys.argv = [script, *args]
        try:
            runpy.run_path(str(HERE / script), run_name="__main__")
        except SystemExit as exit_:
            if exit_.code:
                raise
