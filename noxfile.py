"""One session per supported Python: ``nox`` runs them all, ``nox -s tests-3.13`` one.

A Python that is not installed is skipped, and nox says so. pyenv's installs are found without
activating them. ``tests`` is the whole suite (about 12 minutes each); ``quick`` is the part that
differs most between versions (the MQTT core, the subscriber with TLS, the pytest plugin), in
about a minute. CI runs the whole suite once, on the machine's python3 (``bash .ci/run``).
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

for bin_dir in sorted(Path.home().glob(".pyenv/versions/3.1[0-3].*/bin")):
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"

nox.options.error_on_missing_interpreters = False


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python=PYTHONS)
def quick(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run(
        "python", "-m", "pytest", "-p", "no:cacheprovider", "-q",
        "tests/unit", "tests/subscriber/test_tls.py", "tests/brokers/test_tls_listener.py",
        "tests/plugin", "tests/test_docs.py",
        *session.posargs,
    )  # fmt: skip
