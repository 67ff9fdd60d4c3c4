"""The package's import graph, read from the source with ``ast`` (nothing is imported).

Function-level imports count as edges like module-level ones, so an import moved into a
function cannot hide a cycle or an upward arrow. Checked:

- layers: ``io -> tokenizers -> models -> train | tasks -> cli``; a lower layer never imports a
  higher one, ``tasks`` never imports ``train`` (nor ``train`` ``tasks``); ``bioseq`` itself,
  ``bioseq.data`` and the top-level modules (``bioseq.errors``, ``bioseq.runtime``...) are the
  bottom layer, ``bioseq.__main__`` belongs with the CLI;
- no import cycles among modules;
- a function-level import outside ``bioseq/cli`` (whose lazy imports keep start-up fast) says
  why it is deferred, in a comment on its line or the line above.

``import a.b.c`` is an edge to ``a.b.c``; ``from a.b import c`` to the submodule ``a.b.c`` when
there is one, else to ``a.b`` (or, when ``a.b`` exports ``c`` lazily through an ``_EXPORTS``
table, to the submodule named there). Parent packages run on import too, but are not edges: a
package ``__init__`` that re-exports its submodules would otherwise tie every sibling together.
``if TYPE_CHECKING:`` imports never run: they count for the layers, not for the cycles.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bioseq"

LAYERS = {"data": 0, "io": 1, "tokenizers": 2, "models": 3, "train": 4, "tasks": 4, "cli": 5}
SIBLINGS = {("tasks", "train"), ("train", "tasks")}  # same rank, no arrow either way


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    deferred: bool  # inside a function
    typing_only: bool  # under ``if TYPE_CHECKING:``

    def __str__(self) -> str:
        where = " (in a function)" if self.deferred else ""
        return f"{self.source} -> {self.target} (line {self.line}){where}"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def lazy_exports(tree: ast.Module) -> dict[str, str]:
    """A package's ``_EXPORTS = {name: submodule}`` table, when it has one."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets
        ):
            table = ast.literal_eval(node.value)
            return {name: str(sub) for name, sub in table.items()}
    return {}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(tree: ast.AST):
    """``(node, deferred, typing_only)`` for every import statement in ``tree``."""

    def walk(node: ast.AST, deferred: bool, typing_only: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, deferred, typing_only
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from walk(child, True, typing_only)
            elif isinstance(child, ast.If) and is_type_checking(child.test):
                for stmt in child.body:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), deferred, True)
                for stmt in child.orelse:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), deferred, typing_only)
            else:
                yield from walk(child, deferred, typing_only)

    yield from walk(tree, False, False)


def known_prefix(name: str, known: set[str]) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in known:
            return ".".join(parts[:end])
    return None


def import_graph() -> tuple[list[Edge], dict[str, ast.Module], dict[str, Path]]:
    found = modules()
    trees = {name: ast.parse(path.read_text(), str(path)) for name, path in found.items()}
    exports = {name: lazy_exports(tree) for name, tree in trees.items()}
    known = set(found)
    edges = []
    for source, tree in trees.items():
        package = source if found[source].name == "__init__.py" else source.rpartition(".")[0]
        for node, deferred, typing_only in imports(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [known_prefix(alias.name, known) for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    if full in known:
                        targets.append(full)
                    elif base in exports and alias.name in exports[base]:
                        targets.append(f"{base}.{exports[base][alias.name]}")
                    else:
                        targets.append(known_prefix(base, known))
            for target in dict.fromkeys(targets):
                if target is not None and target != source:
                    edges.append(Edge(source, target, node.lineno, deferred, typing_only))
    return edges, trees, found


def layer(module: str) -> tuple[int, str]:
    """``(rank, name)`` of the layer ``module`` belongs to."""
    if module == "bioseq.__main__":
        return LAYERS["cli"], "cli"
    parts = module.split(".")
    if len(parts) == 1 or (len(parts) == 2 and not (PACKAGE / parts[1]).is_dir()):
        return 0, "bottom"  # bioseq/__init__.py and the top-level modules
    assert parts[1] in LAYERS, f"{module}: a new package; give it a place in LAYERS"
    return LAYERS[parts[1]], parts[1]


def cycles(edges: list[Edge]) -> list[list[Edge]]:
    """The edges inside each strongly connected group of modules (Tarjan): every group of two or
    more modules holds at least one cycle."""
    graph: dict[str, dict[str, Edge]] = {}
    for edge in edges:
        graph.setdefault(edge.source, {}).setdefault(edge.target, edge)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [
        [edge for edge in edges if edge.source in group and edge.target in group]
        for group in groups
    ]


def test_lower_layers_never_import_higher_ones():
    edges, _, _ = import_graph()
    upward = []
    for edge in edges:
        (source_rank, source_layer), (target_rank, target_layer) = (
            layer(edge.source),
            layer(edge.target),
        )
        if target_rank > source_rank or (source_layer, target_layer) in SIBLINGS:
            upward.append(f"{edge}: {source_layer} imports {target_layer}")
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_no_import_cycles_even_through_function_level_imports():
    edges, _, _ = import_graph()
    found = cycles([e for e in edges if not e.typing_only])
    listing = "\n\n".join("\n".join(f"  {edge}" for edge in cycle) for cycle in found)
    assert not found, f"{len(found)} import cycle(s):\n{listing}"


def test_deferred_imports_say_why():
    edges, trees, paths = import_graph()
    silent = []
    for name, tree in trees.items():
        if name.startswith("bioseq.cli") or name == "bioseq.__main__":
            continue
        lines = paths[name].read_text().splitlines()
        for node, deferred, typing_only in imports(tree):
            if not deferred or typing_only:
                continue
            here, above = lines[node.lineno - 1], lines[node.lineno - 2].strip()
            if "#" not in here and not above.startswith("#"):
                silent.append(f"{name} line {node.lineno}: {here.strip()}")
    assert not silent, "function-level imports without a reason:\n" + "\n".join(silent)


def test_the_checker_sees_function_level_imports_and_cycles():
    """The graph builder on a made-up pair of edges: a cycle closed by a deferred import."""
    a_to_b = Edge("bioseq.tasks.a", "bioseq.tasks.b", 1, False, False)
    b_to_a = Edge("bioseq.tasks.b", "bioseq.tasks.a", 9, True, False)
    c_to_a = Edge("bioseq.tasks.c", "bioseq.tasks.a", 1, False, False)
    assert cycles([a_to_b, c_to_a]) == []
    assert cycles([a_to_b, b_to_a, c_to_a]) == [[a_to_b, b_to_a]]
    tree = ast.parse("import x\ndef f():\n    from y import z\nif TYPE_CHECKING:\n    import w\n")
    assert [(n.lineno, d, t) for n, d, t in imports(tree)] == [
        (1, False, False),
        (3, True, False),
        (5, False, True),
    ]
