"""The shape of the library, read with ``ast``: no import cycles (imports inside functions count),
no module taking another module's ``_private`` names, no module over 500 lines, shared modules
that import no chapter module, and chapter modules that never import ``rag``.

Each check is first shown to catch a fault in a small package written for the purpose."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lib" / "embedlab"
MAX_LINES = 500

#: The modules a chapter reads; every other module (but ``rag``) is shared and imports none of these.
CHAPTER_MODULES = {
    "representation",
    "word2vec", "negative_sampling", "word2vec_kernel",
    "analogy", "pmi", "debiasing",
    "contrastive", "sentence_encoder",
    "matryoshka", "quantisation", "two_stage",
    "beyond_search",
}


def module_name(path: Path, root: Path) -> str:
    """``rag/store.py`` -> ``rag.store``; ``rag/__init__.py`` -> ``rag``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, ast.Module]:
    return {module_name(p, root): ast.parse(p.read_text(encoding="utf-8")) for p in sorted(root.rglob("*.py"))}


def imports(tree: ast.Module, package: str, names: set) -> list[tuple[str, str | None]]:
    """(module imported, name taken from it or None) for every import of the package, anywhere in
    the file; ``from embedlab import x`` counts as importing module x when x is one."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name.removeprefix(package + "."), None) for a in node.names if a.name.startswith(package + ".")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == package:
                found += [(a.name, None) for a in node.names if a.name in names]
            elif node.module.startswith(package + "."):
                target = node.module.removeprefix(package + ".")
                found += [(f"{target}.{a.name}", None) if f"{target}.{a.name}" in names else (target, a.name)
                          for a in node.names]
    return found


def import_graph(root: Path, package: str) -> dict[str, set]:
    trees = modules(root)
    names = set(trees)
    return {name: {target for target, _ in imports(tree, package, names) if target != name}
            for name, tree in trees.items()}


def cycles(graph: dict[str, set]) -> list[list[str]]:
    """Every import cycle, found by depth-first search (each reported once per entry point)."""
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def private_reach_ins(root: Path, package: str) -> list[str]:
    """``module: other._name`` for each private name a module takes from another module, by
    ``from package.other import _name`` or by ``other._name`` on an imported module."""
    trees = modules(root)
    names = set(trees)
    found = []
    for name, tree in trees.items():
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith(package):
                for alias in node.names:
                    target = f"{node.module}.{alias.name}".removeprefix(package + ".")
                    if target in names:
                        aliases[alias.asname or alias.name] = target
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith(package + ".") and alias.asname:
                        aliases[alias.asname] = alias.name.removeprefix(package + ".")
        for target, taken in imports(tree, package, names):
            if taken and taken.startswith("_") and target != name:
                found.append(f"{name}: {target}.{taken}")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__") and aliases[node.value.id] != name):
                found.append(f"{name}: {aliases[node.value.id]}.{node.attr}")
    return found


def long_modules(root: Path, limit: int = MAX_LINES) -> list[str]:
    return [f"{module_name(p, root)}: {n} lines" for p in sorted(root.rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > limit]


@pytest.fixture
def faulty_package(tmp_path):
    """A package with one of each fault: a cycle through an import inside a function, a private
    name taken with ``from``, another taken as an attribute, and a long module."""
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("from pkg.b import helper\n")
    (root / "b.py").write_text("def helper():\n    from pkg import a\n    return a\n\n_secret = 1\n")
    (root / "c.py").write_text("from pkg.b import _secret\nfrom pkg import b\nx = b._secret\n")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "long.py").write_text("x = 1\n" * 501)
    return root


def test_the_checks_catch_a_cycle_a_reach_in_and_a_long_module(faulty_package):
    assert cycles(import_graph(faulty_package, "pkg")) == [["a", "b", "a"]]
    assert sorted(private_reach_ins(faulty_package, "pkg")) == ["c: b._secret", "c: b._secret"]
    assert long_modules(faulty_package) == ["sub.long: 501 lines"]


def test_no_import_cycles():
    assert cycles(import_graph(PACKAGE, "embedlab")) == []


def test_no_module_takes_another_modules_private_names():
    assert private_reach_ins(PACKAGE, "embedlab") == []


def test_every_module_can_be_read_in_one_sitting():
    assert long_modules(PACKAGE) == []


def test_shared_modules_import_no_chapter_module_and_chapters_never_import_rag():
    graph = import_graph(PACKAGE, "embedlab")
    assert CHAPTER_MODULES <= set(graph), "a chapter module listed here no longer exists"
    wrong = []
    for name, targets in graph.items():
        if name.split(".")[0] == "rag":
            continue
        if name in CHAPTER_MODULES:
            wrong += [f"{name} -> {t}" for t in targets if t.split(".")[0] == "rag"]
        else:
            wrong += [f"{name} -> {t}" for t in targets if t in CHAPTER_MODULES or t.split(".")[0] == "rag"]
    assert wrong == []
