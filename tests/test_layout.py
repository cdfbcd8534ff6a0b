"""The house rules that keep the code one-way: viewers never load the trainer, no import cycles,
files and functions a newcomer can read in one sitting."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ganforge"
VIEWERS = ["ganforge.generate", "ganforge.evaluate", "ganforge.report", "ganforge.run", "ganforge.run.checkpoint",
           "ganforge.run.status", "ganforge.metrics", "ganforge.diagnose", "ganforge.walk", "ganforge.serve",
           "ganforge.serve.app", "ganforge.export", "ganforge.metrics.cas"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path) -> set[str]:
    """ganforge modules a file imports when it is loaded (imports inside functions are not counted)."""
    name, found = module_name(path), set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ganforge")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("ganforge"):
                found.add(base)
                found |= {f"{base}.{a.name}" for a in node.names}
    return found


@pytest.mark.parametrize("viewer", VIEWERS)
def test_viewers_never_load_the_trainer(viewer):
    code = f"import sys, {viewer}; print(sorted(m for m in sys.modules if m.startswith('ganforge.training')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"{viewer} loads {out.strip()}"


def test_no_import_cycles():
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: {m for m in top_level_imports(path) if m in files and m != name} for name, path in files.items()}
    # a package's __init__ that hands on names from its own modules is not a cycle with them
    graph = {n: {m for m in deps if not n.startswith(m + ".")} for n, deps in graph.items()}
    state, cycle = {}, []

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycle, f"import cycles: {cycle}"


def test_files_and_functions_stay_readable():
    too_long = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        if len(text.splitlines()) > 300:
            too_long.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                too_long.append(f"{path.name}:{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not too_long, too_long
