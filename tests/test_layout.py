"""The architecture, checked: dependencies point one way.

The pipeline (data, models, training, io, serving, and the shared config,
errors, evaluate and report modules) never imports the analyses, the app or
the benchmarks; nothing in `sentiment` imports Gradio or the app. Imports
inside functions count too.
"""

import ast

import pytest

from conftest import ROOT

PIPELINE = [
    "sentiment/config.py",
    "sentiment/errors.py",
    "sentiment/evaluate.py",
    "sentiment/report.py",
    "sentiment/models.py",
]
PIPELINE += [f"sentiment/{stage}" for stage in ("data", "training", "io", "serving")]
FORBIDDEN_FOR_PIPELINE = ("sentiment.analysis", "sentiment.cli", "webapp", "benchmarks", "gradio", "app")


def imported_modules(path):
    """Every module a file imports, at top level or inside a function."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def _files(entries):
    for entry in entries:
        path = ROOT / entry
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _violations(files, forbidden):
    return [
        f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name} imports {module}"
        for path in files
        for module in sorted(imported_modules(path))
        if any(module == name or module.startswith(name + ".") for name in forbidden)
    ]


def test_the_pipeline_never_imports_analysis_the_app_or_benchmarks():
    assert _violations(_files(PIPELINE), FORBIDDEN_FOR_PIPELINE) == []


def test_the_package_never_imports_gradio_or_the_app():
    assert _violations(_files(["sentiment"]), ("gradio", "webapp", "app", "benchmarks.load_test")) == []


def test_the_check_catches_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def later():\n    from sentiment.analysis import gradients\n    import gradio as gr\n")
    found = _violations([bad], FORBIDDEN_FOR_PIPELINE)
    assert found == [
        "bad.py imports gradio",
        "bad.py imports sentiment.analysis",
        "bad.py imports sentiment.analysis.gradients",
    ]


@pytest.mark.parametrize("folder", ["sentiment", "webapp", "benchmarks", "tests", "scripts", "notebooks"])
def test_nothing_edits_the_import_path(folder):
    # The project is installed (pip install -e .): no file needs sys.path tricks.
    trick = "sys.path." + "insert"  # spelled apart, so this file does not match itself
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".ipynb") and trick in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
