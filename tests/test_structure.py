"""The package's shape: no import cycle (module-level or inside functions), no module over
400 lines, no private name imported from another package."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "tentnet"


def _modules() -> dict[str, Path]:
    out = {}
    for f in ROOT.rglob("*.py"):
        parts = f.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


def _imports(name: str, path: Path):
    """``(target module, imported names)`` for every import in the module, at any depth."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.module == "__future__":
                continue
            base = package.split(".")
            if node.level:
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


def test_no_import_cycle():
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for target, names in _imports(m, path):
            for t in [target, *(f"{target}.{n}" for n in names)]:
                # The package itself only re-exports; importing it is not an edge back.
                if t in mods and t != m and t != "tentnet":
                    graph[m].add(t)
    state: dict[str, int] = {}
    cycles = []

    def visit(u: str, stack: list[str]) -> None:
        state[u] = 1
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                cycles.append([*stack[stack.index(v) :], v])
            elif v not in state:
                visit(v, [*stack, v])
        state[u] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_no_module_over_400_lines():
    long = {
        str(f.relative_to(ROOT)): n
        for f in ROOT.rglob("*.py")
        if (n := len(f.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}


def test_no_private_name_imported_from_another_package():
    mods = _modules()
    found = []
    for m, path in mods.items():
        package = m if path.name == "__init__.py" else m.rpartition(".")[0]
        for target, names in _imports(m, path):
            target_package = (
                target
                if target in mods and mods[target].name == "__init__.py"
                else (target.rpartition(".")[0])
            )
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and target.startswith("tentnet") and target_package != package:
                found.append((m, target, private))
    assert found == []
