"""Contract: the layout ARCHITECTURE.md describes is the layout on disk, and imports point one way."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mats_eval"

# Pipeline order: a module may import only from its own stage or an earlier one.
STAGE_ORDER = ["constants", "errors", "data", "estimands", "simulation", "models", "checks", "runfolder",
               "inference", "decisions", "report", "pipeline", "studies", "cli_options", "cli"]


def package_modules() -> list[str]:
    """Every module of the package as a path relative to mats_eval/ (e.g. 'data/io.py')."""
    def described(p: Path) -> bool:  # a stage's __init__ counts when it holds code (e.g. the model registry)
        return p.name != "__init__.py" or (p.parent != PACKAGE and len(p.read_text(encoding="utf-8")) > 200)
    return sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if described(p))


def listed_modules() -> set[str]:
    """Module paths in the first column of ARCHITECTURE.md's module table (`stage/module.py`)."""
    lines = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines()
    return {m.group(1) for line in lines if (m := re.match(r"\| `([a-z_]+(?:/[a-z_]+)*\.py)` \|", line))}


def test_every_module_is_listed_in_architecture():
    missing = [m for m in package_modules() if m not in listed_modules()]
    assert not missing, f"modules not described in ARCHITECTURE.md: {missing}"


def test_architecture_lists_nothing_that_does_not_exist():
    ghosts = [m for m in listed_modules() if not (PACKAGE / m).is_file()]
    assert not ghosts, f"ARCHITECTURE.md lists modules that do not exist: {ghosts}"


def stage_of(module: str) -> str:
    """'mats_eval.data.io' -> 'data'; 'mats_eval.cli' -> 'cli'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "package"


def imports_of(path: Path) -> set[str]:
    """mats_eval modules imported anywhere in a file (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mats_eval"):
            found.add(node.module)
            if node.module == "mats_eval":
                found |= {f"mats_eval.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mats_eval")}
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_pipeline(path):
    source = stage_of("mats_eval." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
    if source in ("package", "__init__"):
        return  # the package's lazy front door may name any stage
    backward = []
    for module in imports_of(path):
        target = stage_of(module)
        if target in ("package", "__version__"):
            continue
        if STAGE_ORDER.index(target) > STAGE_ORDER.index(source):
            backward.append(module)
    assert not backward, f"{path.relative_to(ROOT)} ({source}) imports later stages: {sorted(backward)}"


def test_report_and_decisions_do_not_import_pymc():
    code = ("import sys; import mats_eval.report.build, mats_eval.report.plots, mats_eval.decisions.plans; "
            "bad = [m for m in ('pymc', 'pytensor', 'nutpie') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, f"report/decisions pull in {done.stdout.strip()} {done.stderr[-500:]}"


def test_no_library_module_sets_the_matplotlib_backend():
    offenders = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
                 if re.search(r"matplotlib\.use\(|pyplot\.switch_backend\(", p.read_text(encoding="utf-8"))]
    assert not offenders, offenders


def test_fit_is_a_plain_function_and_no_module_is_called_fit():
    import inspect

    import mats_eval

    assert inspect.isfunction(mats_eval.fit)
    assert not (PACKAGE / "fit.py").exists()
