"""The package's shape: a folder per owner, small modules, no import cycles, one MQTT codec, the
network item read by name only.

These read the source (ast), so they fail the moment a change breaks a rule, not when a reviewer
happens to look.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import mqtt_surge

PACKAGE = Path(mqtt_surge.__file__).parent
MAX_LINES = 350
ITEM_MODULE = PACKAGE / "subscriber" / "transports" / "_base.py"
CORE = PACKAGE / "mqtt"
# struct outside the core, for bytes that are not MQTT's: the load suite's sequence header in a
# payload, and SO_LINGER for a reset
STRUCT_ALLOWED = {PACKAGE / "testing" / "sequence.py", PACKAGE / "testing" / "_proxy.py"}
CODEC_NAMES = re.compile(r"varint|^(encode|decode)_|read_head|split_packet|matches|_problem$")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules ``name`` imports, at its top or inside a function: a lazy import
    hides a cycle from the interpreter, not from a reader."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    deps = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            target = ".".join([*base, node.module] if node.module else base)
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                deps.add(submodule if submodule in modules else target)
    return {d for d in deps if d in modules and d != name}


def test_no_module_is_long() -> None:
    long = [
        f"{name}: {lines} lines"
        for name, path in _modules().items()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert long == [], f"over {MAX_LINES} lines: split by what each part is for"


def test_no_private_module_sits_at_the_top() -> None:
    """Each owner has a folder (subscriber, scaleout, probe, runtime, brokers, testing, mqtt,
    loadtest); the top holds the public faces only."""
    flat = sorted(
        p.name for p in PACKAGE.glob("_*.py") if p.name not in ("__init__.py", "__main__.py")
    )
    assert flat == []


def test_only_the_core_encodes_decodes_or_matches_mqtt() -> None:
    """One codec and one topic module: no module outside ``mqtt/`` frames packets (struct),
    defines a codec or matching function, or splits a topic into levels."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(CORE):
            continue
        where = path.relative_to(PACKAGE)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import) and path not in STRUCT_ALLOWED:
                found += [f"{where}: imports struct" for a in node.names if a.name == "struct"]
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if CODEC_NAMES.search(node.name):
                    found.append(f"{where}:{node.lineno}: defines {node.name}")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "split"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == "/"
                and len(node.args) == 1
            ):
                found.append(f"{where}:{node.lineno}: splits a topic into levels")
    assert found == []


def test_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    cycles = []

    def visit(name: str, stack: list[str], done: set[str]) -> None:
        for dep in sorted(graph[name]):
            if dep in stack:
                cycles.append(" -> ".join([*stack[stack.index(dep) :], dep]))
            elif dep not in done:
                visit(dep, [*stack, dep], done)
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name], done)
    assert cycles == []


def test_the_item_is_read_by_name_outside_its_module() -> None:
    """``item[7]`` means nothing to a reader; ``item.generation`` does."""
    positional = []
    for path in PACKAGE.rglob("*.py"):
        if path == ITEM_MODULE:
            continue
        positional += [
            f"{path.relative_to(PACKAGE)}:{node.lineno}"
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id in {"item", "dropped"}
            and isinstance(node.slice, ast.Constant)
        ]
    assert positional == []


def test_the_engine_room_imports_no_client_library_pytest_or_locust() -> None:
    """Everything in subscriber/ but the engine modules themselves (and the MQTT core) can be
    run with plain objects."""
    banned = {"paho", "gmqtt", "pytest", "locust", "amqtt"}
    engines = {"paho.py", "gmqtt.py", "_paho_hooks.py", "_gmqtt_hooks.py"}
    room = [
        path
        for folder in (PACKAGE / "subscriber", CORE)
        for path in folder.rglob("*.py")
        if path.name not in engines
    ]
    assert len(room) > 10
    found = []
    for path in room:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            where = path.relative_to(PACKAGE)
            found += [f"{where}: {n}" for n in names if n.split(".")[0] in banned]
    assert found == []


def test_test_runs_write_their_figures_to_an_ignored_folder() -> None:
    """A test run leaves the work tree clean: the suites that record figures write them where
    git ignores them (the committed figures come from benchmark commands run on purpose)."""
    import subprocess

    from . import _support
    from .conformance import conftest as conformance
    from .reliability import conftest as reliability

    root = Path(__file__).parents[1]
    for results in (reliability.RESULTS, conformance.RESULTS):
        assert results.parent == _support.RESULTS_DIR
        relative = results.relative_to(root) if results.is_relative_to(root) else None
        if relative is not None:
            ignored = subprocess.run(
                ["git", "check-ignore", "-q", str(relative)], cwd=root, check=False
            )
            assert ignored.returncode == 0, f"{relative} is not ignored by git"


def test_the_core_and_the_plumbing_import_nothing_above_them() -> None:
    """``mqtt/`` is sans-IO and imports nothing else of the package; ``runtime/`` imports only
    the core: every other folder may build on them, never the reverse."""
    modules = _modules()
    allowed = {
        "mqtt_surge.mqtt": ("mqtt_surge.mqtt",),
        "mqtt_surge.runtime": ("mqtt_surge.mqtt", "mqtt_surge.runtime"),
    }
    found = []
    for name, path in modules.items():
        for folder, ok in allowed.items():
            if name == folder or name.startswith(folder + "."):
                found += [
                    f"{name} imports {dep}"
                    for dep in _imports(name, path, modules)
                    if not dep.startswith(ok)
                ]
    assert found == []
