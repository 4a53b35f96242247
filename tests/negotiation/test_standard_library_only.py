"""negotiation/ is the pure domain: it imports nothing outside the standard library."""

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "negotiation"


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_every_import_in_the_source_is_standard_library_or_the_package_itself():
    for path in sorted(PACKAGE.glob("*.py")):
        foreign = imported_roots(path) - set(sys.stdlib_module_names) - {"negotiation"}
        assert not foreign, f"{path.name} imports {sorted(foreign)}"


def test_importing_every_module_loads_nothing_from_site_packages():
    # A fresh interpreter without site-packages on its path (-S): a third-party import
    # anywhere in the package fails outright. The test run's own imports don't count.
    script = """
import importlib, json, pkgutil, sys
import negotiation
for info in pkgutil.iter_modules(negotiation.__path__):
    if info.name != "__main__":
        importlib.import_module("negotiation." + info.name)
paths = {name: getattr(module, "__file__", None) or "" for name, module in sys.modules.items()}
print(json.dumps(paths))
"""
    result = subprocess.run(
        [sys.executable, "-S", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE.parent,
    )
    loaded = json.loads(result.stdout)
    outside = {
        name: path
        for name, path in loaded.items()
        if ("site-packages" in path or "dist-packages" in path)
        and not name.startswith("negotiation")
    }
    assert outside == {}
    assert not {"flask", "sqlalchemy", "stripe", "portal"} & set(loaded)
