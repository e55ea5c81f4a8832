"""Packaging: one version number, every import of the library declared, no print in library code."""
import ast
import importlib.metadata
import os
import re
import subprocess
import sys

import pseg_d2
from conftest import REPO

# Not on PyPI: installed from source (setup.py's docstring says how).
UNDECLARED = {"detectron2"}


def _library_trees():
    for folder, _, files in os.walk(os.path.join(REPO, "pseg_d2")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path) as f:
                    yield path, ast.parse(f.read())


def _requirement_names(text):
    return {re.split(r"[<>=\[;]", r.strip().strip('"'))[0].lower().replace("_", "-") for r in text}


def test_version_is_the_one_setup_py_installs():
    out = subprocess.run([sys.executable, "setup.py", "--version"], cwd=REPO, capture_output=True, text=True)
    assert re.fullmatch(r"\d+\.\d+\.\d+", pseg_d2.__version__)
    assert out.stdout.strip().splitlines()[-1] == pseg_d2.__version__


def test_every_third_party_import_is_declared_in_setup_py():
    with open(os.path.join(REPO, "setup.py")) as f:
        setup = f.read()
    declared = _requirement_names(re.findall(r'"([A-Za-z][^"]*)"', setup.split("install_requires=")[1]))
    imports = set()
    for _, tree in _library_trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imports.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imports.add(node.module.split(".")[0])
    distributions = importlib.metadata.packages_distributions()
    third_party = imports - set(sys.stdlib_module_names) - {"pseg_d2", "__future__"} - UNDECLARED
    undeclared = {m: distributions.get(m) for m in third_party
                  if not {d.lower().replace("_", "-") for d in distributions.get(m, [m])} & declared}
    assert not undeclared, f"imported by pseg_d2 but not in setup.py: {undeclared}"


def test_library_code_logs_instead_of_printing():
    prints = [f"{os.path.relpath(path, REPO)}:{node.lineno}" for path, tree in _library_trees() for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"]
    assert not prints
