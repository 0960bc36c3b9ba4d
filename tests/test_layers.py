"""The layers point one way (docs/architecture.md): the core package
(``vivicam.*`` under src/) below ``engines`` and ``calibrate``, those below
``realtime`` and ``benchmarks``; and no two modules import each other, even
through a chain or from inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {
    "vivicam": ROOT / "src" / "vivicam",
    "vivicam.realtime": ROOT / "realtime",
    "vivicam.engines": ROOT / "engines",
    "vivicam.calibrate": ROOT / "calibrate",
    "vivicam.benchmarks": ROOT / "benchmarks",
}
# the layer of each top-level part: a module may import its own layer or lower ones
LAYER = {"core": 0, "calibrate": 1, "engines": 1, "realtime": 2, "benchmarks": 3, "cli": 3}
# the package's front doors reach the app on purpose (lazily): they are the top
FRONT_DOORS = {"vivicam", "vivicam.__main__"}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if name not in found:  # src/vivicam/... does not contain the mapped folders
                found[name] = path
    return found


def _part(module: str) -> str:
    pieces = module.split(".")
    if module.startswith("vivicam.realtime.cli"):
        return "cli"  # the front ends: the command line and the benchmarks share argument helpers
    return pieces[1] if len(pieces) > 1 and pieces[1] in LAYER else "core"


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """Every vivicam module ``module`` imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in known:  # `from pkg import func` -> pkg
                name = name.rpartition(".")[0]
            if name and name != module and name.startswith("vivicam"):
                out.add(name)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {m: _imports(p, m, known) for m, p in modules.items()}


def test_no_module_imports_a_higher_layer() -> None:
    upward = [
        f"{m} -> {t}"
        for m, targets in _graph().items()
        if m not in FRONT_DOORS
        for t in targets
        if t not in FRONT_DOORS and LAYER[_part(t)] > LAYER[_part(m)]
    ]
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_engines_and_calibrate_do_not_import_each_others_internals_upward() -> None:
    graph = _graph()
    wrong = [f"{m} -> {t}" for m, ts in graph.items() if _part(m) == "calibrate" for t in ts if _part(t) == "engines"]
    assert not wrong, "calibrate must not depend on engines:\n" + "\n".join(wrong)


def test_no_import_cycles() -> None:
    graph = _graph()
    # a package imports its own children (re-exports) without that being a cycle
    edges = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt in FRONT_DOORS:
                continue
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
