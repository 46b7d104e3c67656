"""Examples the README shows and the tests run (a package, so that ``examples.app`` is ours:
gmqtt's wheel installs a top-level ``examples`` package of its own)."""
