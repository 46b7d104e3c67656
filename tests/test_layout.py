"""The package's shape: small modules, no import cycles, the network item read by name only.

These read the source (ast), so they fail the moment a change breaks a rule, not when a reviewer
happens to look.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mqtt_surge

PACKAGE = Path(mqtt_surge.__file__).parent
MAX_LINES = 300
LONG_REASON = "Over 300 lines:"
ITEM_MODULE = PACKAGE / "transports" / "_base.py"


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


def test_no_module_is_long_without_saying_why() -> None:
    long = []
    for name, path in _modules().items():
        lines = len(path.read_text().splitlines())
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > MAX_LINES and LONG_REASON not in doc:
            long.append(f"{name}: {lines} lines")
    assert long == [], f"over {MAX_LINES} lines with no '{LONG_REASON} ...' in the docstring"


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
    banned = {"paho", "gmqtt", "pytest", "locust", "amqtt"}
    room = ["_buffer", "_dispatch", "_runner", "_pipeline", "_stats", "transports/_base"]
    found = []
    for module in room:
        tree = ast.parse((PACKAGE / f"{module}.py").read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            found += [f"{module}: {n}" for n in names if n.split(".")[0] in banned]
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
