"""The shape of the code: no import circles, the lowest layers import nothing heavy, and no file asks a
model what kind it is (models answer through their interface, ram/models/base.py)."""

import ast
import re
import subprocess
import sys

from tests.conftest import REPO

PACKAGE = REPO / "ram"


def module_name(path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def imports(tree: ast.Module, known: set[str]) -> set[str]:
    """Every ram module this one imports, at the top or inside a function (a lazy import still runs), but
    not under ``if TYPE_CHECKING:``, which never runs. Importing a module imports its packages too."""
    found = set()

    def visit(node):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    with_parents = set()
    for name in found:
        parts = name.split(".")
        with_parents.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return with_parents & known


def test_no_module_imports_one_that_imports_it_back():
    trees = modules()
    graph = {name: imports(tree, set(trees)) - {name} for name, tree in trees.items()}
    state, path = {}, []  # state: 1 on the current path, 2 done

    def walk(name):
        state[name] = 1
        path.append(name)
        for dep in sorted(graph[name]):
            assert state.get(dep) != 1, "import circle: " + " -> ".join(path[path.index(dep):] + [dep])
            if dep not in state:
                walk(dep)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name)
    assert {"ram.build", "ram.training.trainer", "ram.tools.view"} <= set(graph)  # the walk saw the package


LIGHT = ("ram.errors", "ram.training.parallel", "ram.training.guard", "ram.records.logger")
CHECK_LIGHT = f"""
import importlib, sys
for module in {LIGHT!r}:  # each one only adds what it imports itself
    importlib.import_module(module)
    heavy = [m for m in sys.modules if m.split(".")[0] in ("gymnasium", "envs")
             or m.startswith(("ram.models", "ram.training.config", "ram.training.trainer"))]
    print(module, heavy)
"""


def test_the_logger_and_the_process_group_helpers_import_neither_gymnasium_nor_a_model():
    done = subprocess.run([sys.executable, "-c", CHECK_LIGHT], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{m} []" for m in LIGHT], done.stdout


# a model's kind asked by its class or its name, instead of through the interface
DISPATCH = re.compile(r"isinstance\([^,]+,\s*\(?\s*(RAM|FullImage|FullyConnected|PaperCNN|ModernCNN|Model)\b"
                      r"|\bhasattr\(\s*(self\.)?model\b"
                      r"|(model\.name|model_name|\[\"name\"\])\s*(==|!=|in|not in)\s"
                      r"|\.name\s*(==|!=)\s*[\"'](ram|fc|cnn_paper|cnn)[\"']")
MAY_NAME_MODELS = {"ram/models/registry.py"}  # the one table from model.name to a class


def test_no_file_dispatches_on_the_kind_of_model():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(REPO))
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if rel not in MAY_NAME_MODELS and DISPATCH.search(line.split("#")[0]):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
