"""The integration's modules import each other without a circle through `runtime`.

Read from the source (ast), not by importing: an import inside a function counts, as it runs
whenever that function does; one under `if TYPE_CHECKING:` does not, as it never runs.
"""

import ast
from pathlib import Path
import re

PACKAGE = Path(__file__).parent.parent / "custom_components" / "trygghetskamera"
NAME = "custom_components.trygghetskamera"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((NAME, *parts))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(module: str, path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `module` imports when it runs."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            target = f"{base}.{node.module}" if node.level and node.module else node.module
            target = target or base
            for alias in node.names:
                if f"{target}.{alias.name}" in modules:
                    found.add(f"{target}.{alias.name}")
                elif target in modules:
                    found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports at run time."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {module: _imported(module, path, set(paths)) for module, path in paths.items()}


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module that importing `start` imports, directly or not."""
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


def test_nothing_runtime_imports_imports_runtime() -> None:
    graph = import_graph()
    runtime = f"{NAME}.runtime"
    below = reachable(graph, runtime)
    assert f"{NAME}.gate" in below  # the graph is read at all
    assert runtime not in below, sorted(m for m in below if runtime in reachable(graph, m))


def test_the_package_has_no_import_circle() -> None:
    """Below `__init__` (which sets everything up), no module imports one that imports it."""
    graph = import_graph()
    circles = sorted(
        module for module in graph if module != NAME and module in reachable(graph, module)
    )
    assert circles == []


def test_a_circle_is_seen(tmp_path: Path) -> None:
    """The reader finds an import inside a function, and skips one only for type checkers."""
    source = tmp_path / "audit_trail.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .gate import Gate\n"
        "def handler():\n    from .services import entry_for_device\n",
        encoding="utf-8",
    )
    modules = {f"{NAME}.services", f"{NAME}.gate"}
    assert _imported(f"{NAME}.audit_trail", source, modules) == {f"{NAME}.services"}


def test_tasks_belong_to_the_home_they_serve() -> None:
    """A home's tasks are its entry's, so unloading it waits for them or cancels them.

    Only what is no single home's may use a task of Home Assistant's own: the audit trail (one
    log for every home), the watchdog's publication for a home that is not running, the
    config flow's probe of a camera before its home exists, and the installation's heartbeat.
    """
    not_a_homes = {"audit_trail.py", "mqtt_publish.py", "config_flow.py", "heartbeat.py"}
    bare = re.compile(r"\b(?:hass\.async_create(?:_background)?_task|create_task)\(")
    found = {
        f"{path.name}:{number}"
        for path in PACKAGE.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if bare.search(line)
    }
    assert {name.split(":")[0] for name in found} <= not_a_homes, sorted(found)
    mqtt = [name for name in found if name.startswith("mqtt_publish.py")]
    assert len(mqtt) == 1, mqtt
