"""The layout's two rules (docs/ARCHITECTURE.md): one Celery boundary, and no import cycle between packages."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "graphwiz_monitoring"
BANNED = ("celery", "kombu", "redis")
# Modules allowed to import celery/kombu/redis: the Celery package, the task modules, the store.
BOUNDARY = ("graphwiz_monitoring.celery", "graphwiz_monitoring.state.store", "graphwiz_monitoring.workers")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library_modules() -> list[str]:
    return sorted(module_name(p) for p in PACKAGE.rglob("*.py"))


def inside_boundary(name: str) -> bool:
    return any(name == b or name.startswith(b + ".") for b in BOUNDARY)


def test_only_the_celery_boundary_imports_celery_kombu_or_redis():
    """Import every other module with celery, kombu and redis blocked (after the boundary loaded them)."""
    others = [m for m in library_modules() if not inside_boundary(m)]
    script = textwrap.dedent(f"""
        import importlib, sys
        import graphwiz_monitoring.state.store  # the store may import redis: load it first
        for name in list(sys.modules):
            if name.split(".")[0] in {BANNED!r}:
                del sys.modules[name]  # so that any later import of them reaches the blocker

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {BANNED!r}:
                    raise ImportError(f"{{name}} is imported outside the Celery boundary")
                return None

        sys.meta_path.insert(0, Blocker())
        failed = []
        for module in {others!r}:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                failed.append(f"{{module}}: {{exc}}")
        print("\\n".join(failed))
        sys.exit(1 if failed else 0)
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"modules importing celery/kombu/redis:\n{run.stdout}{run.stderr[-2000:]}"
    assert len(others) > 50  # the test saw the library, not an empty list


def _imports(path: Path) -> set[str]:
    """Absolute names imported by one module, in functions too; not under ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for n in ast.walk(node)}
    this = module_name(path)
    package = this.split(".") if path.name == "__init__.py" else this.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:  # `from pkg import module` imports the module
                candidate = f"{module}.{alias.name}"
                is_module = (ROOT / candidate.replace(".", "/")).with_suffix(".py").exists() or \
                    (ROOT / candidate.replace(".", "/") / "__init__.py").exists()
                found.add(candidate if is_module else module)
    return found


def unit_of(name: str) -> str | None:
    """The layout unit a module belongs to: a subpackage, or a top-level module (tasks, events, ...)."""
    parts = name.split(".")
    if parts[0] != "graphwiz_monitoring" or len(parts) == 1:
        return None
    return ".".join(parts[:2])


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        source = unit_of(module_name(path))
        for target in map(unit_of, _imports(path)):
            if source and target and target != source:
                graph[source].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_between_packages():
    graph = package_graph()
    assert "graphwiz_monitoring.alerting" in graph and "graphwiz_monitoring.config" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


def _run_script_calls(root: Path) -> list[tuple[str, str]]:
    """(module path, script name) of every ``run_script(...)`` call under ``root``."""
    scripts = {p.stem for p in (PACKAGE / "state" / "scripts").glob("*.lua")}
    calls = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {t.id: n.value.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                     for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "run_script" and node.args:
                first = node.args[0]
                name = first.value if isinstance(first, ast.Constant) else constants.get(getattr(first, "id", ""), "?")
                calls.append((str(path.relative_to(ROOT)), name if name in scripts else f"unknown:{name}"))
    return calls


def test_each_lua_script_has_exactly_one_named_caller():
    calls = _run_script_calls(PACKAGE)
    scripts = sorted(p.stem for p in (PACKAGE / "state" / "scripts").glob("*.lua"))
    by_script: dict[str, list[str]] = defaultdict(list)
    for module, script in calls:
        by_script[script].append(module)
    assert sorted(by_script) == scripts, "a script with no caller, or a call naming no script"
    assert {s: m for s, m in by_script.items() if len(m) != 1} == {}, "one wrapper per script"
    others = [c for c in _run_script_calls(ROOT / "tests") + _run_script_calls(ROOT / "bench")
              if c[0] != "tests/integration/test_store.py"]  # the store's own tests
    assert others == [], "tests and benches call the scripts' wrappers, not run_script"
