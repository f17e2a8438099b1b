"""The architecture, checked: dependencies point one way, and the prose names what exists.

The pipeline (data, models, training, io, serving, and the shared config,
errors, evaluate and report modules) never imports the analyses, the app or
the benchmarks; the package `sentiment` stands alone: it imports nothing from
the app (`webapp`, `app`, Gradio), `benchmarks` or `scripts`. Imports inside
functions count too.

Docstrings, comments, the README and docs/*.md name modules and files
(`sentiment.analysis.bench`, `webapp/server.py`); each must still exist, so a
module that moves cannot leave its old name behind.
"""

import ast
import functools
import io
import re
import tokenize
from pathlib import Path

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
FORBIDDEN_FOR_PACKAGE = ("webapp", "app", "gradio", "benchmarks", "scripts")


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


def test_the_package_stands_alone():
    # Not the app, not the scripts above it: `python -m sentiment` works from the package alone.
    assert _violations(_files(["sentiment"]), FORBIDDEN_FOR_PACKAGE) == []


def test_the_check_catches_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def later():\n    from sentiment.analysis import gradients\n    import gradio as gr\n")
    found = _violations([bad], FORBIDDEN_FOR_PIPELINE)
    assert found == [
        "bad.py imports gradio",
        "bad.py imports sentiment.analysis",
        "bad.py imports sentiment.analysis.gradients",
    ]


def test_the_package_check_catches_each_folder_above_it(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import scripts.pick_examples\n"
        "def later():\n"
        "    from benchmarks.bench import run_bench\n"
        "    import webapp\n"
        "    from benchmarks import bench\n"
    )
    assert _violations([bad], FORBIDDEN_FOR_PACKAGE) == [
        "bad.py imports benchmarks",
        "bad.py imports benchmarks.bench",
        "bad.py imports benchmarks.bench.run_bench",
        "bad.py imports scripts.pick_examples",
        "bad.py imports webapp",
    ]
    # A name that only starts the same is not the folder.
    bad.write_text("import webapps\nfrom scriptsmith import tool\n")
    assert _violations([bad], FORBIDDEN_FOR_PACKAGE) == []


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


# ---------------------------------------------------------------- names of modules and files in the prose

# Where the prose is: docstrings and comments of these Python files, and this Markdown.
PROSE_PYTHON = ["app.py", "sentiment", "webapp", "benchmarks", "tests", "scripts"]
PROSE_MARKDOWN = ["README.md", "docs"]
# `sentiment.analysis.bench` or `webapp.views.compare`: a module, then perhaps a name in it. Not after a word,
# a dot, a slash or a hyphen, so `.venv-gpu/...`, `../webapp/...` and `my_webapp.x` are not read.
DOTTED_NAME = re.compile(r"(?<![\w./-])(?:sentiment|webapp|benchmarks)(?:\.\w+)+")
# `webapp/server.py`, `docs/bench/`. A pattern (`tests/test_*.py`, `docs/<kind>/`) is not a path, nor is a
# value given on a command line (`TOUR_DIR=docs/tour`): that names where a run will write.
FILE_PATH = re.compile(r"(?<![\w./=-])(?:sentiment|webapp|benchmarks|tests|scripts|notebooks|docs)/[\w./*<>{}-]*")


def python_prose(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment and every docstring (any string statement) in a Python source."""
    pieces = [
        (node.lineno, node.value.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    ]
    pieces += [
        (token.start[0], token.string)
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    ]
    return pieces


def _names_in_scope(body: list[ast.stmt]) -> dict[str, ast.AST]:
    """The names a module or class body defines: functions, classes, assignments, imports (not inside functions)."""
    names: dict[str, ast.AST] = {}
    pending: list[ast.AST] = list(body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update({(alias.asname or alias.name).split(".")[0]: node for alias in node.names})
        else:
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names[node.id] = node
            pending.extend(ast.iter_child_nodes(node))
    return names


@functools.cache
def _module_scope(module: Path) -> dict[str, ast.AST]:
    return _names_in_scope(ast.parse(module.read_text(encoding="utf-8")).body)


def _class_has(node: ast.ClassDef, name: str, scope: dict[str, ast.AST]) -> bool:
    """Whether a class defines `name` (or sets it on `self`), or a base class of the same module does.

    A base from elsewhere (`keras.layers.Layer`) may define anything, so a class with one is given the benefit.
    """
    own = set(_names_in_scope(node.body)) | {
        target.attr
        for target in ast.walk(node)
        if isinstance(target, ast.Attribute)
        and isinstance(target.ctx, ast.Store)
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    }
    if name in own:
        return True
    for base in node.bases:
        local = scope.get(base.id) if isinstance(base, ast.Name) else None
        if not isinstance(local, ast.ClassDef):
            return True
        if _class_has(local, name, scope):
            return True
    return False


def dotted_name_exists(name: str, root: Path = ROOT) -> bool:
    """Whether `a.b.c` is a module of the tree, or a name defined in one (a class's too: `module.Class.method`)."""
    parts = name.split(".")
    folder = root / parts[0]
    for index, part in enumerate(parts[1:], start=1):
        if (folder / part).is_dir():
            folder = folder / part
        elif (folder / f"{part}.py").is_file():
            module, attributes = folder / f"{part}.py", parts[index + 1 :]
            break
        else:
            module, attributes = folder / "__init__.py", parts[index:]
            break
    else:
        return True
    if not module.is_file():
        return False
    if not attributes:
        return True
    scope = _module_scope(module)
    first = scope.get(attributes[0])
    if first is None:
        return False
    if len(attributes) > 1 and isinstance(first, ast.ClassDef):
        return _class_has(first, attributes[1], scope)
    return True  # deeper than one name into a function, a value or an import: not followed


def stale_references(text: str, root: Path = ROOT) -> list[str]:
    """The module names, then the file paths, in `text` that do not exist under `root`."""
    stale = [name for name in DOTTED_NAME.findall(text) if not dotted_name_exists(name, root)]
    for match in FILE_PATH.findall(text):
        path = match.rstrip(".")
        if not any(character in path for character in "*<>{}") and not (root / path).exists():
            stale.append(path)
    return stale


def _prose_files():
    for entry in PROSE_PYTHON:
        path = ROOT / entry
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            source = file.read_text(encoding="utf-8")
            # The prose is part of the source: where the whole source names nothing stale, skip the slow parse.
            if stale_references(source):
                yield file, python_prose(source)
    for entry in PROSE_MARKDOWN:
        path = ROOT / entry
        for file in sorted(path.glob("*.md")) if path.is_dir() else [path]:
            yield file, [(1, file.read_text(encoding="utf-8"))]


def test_every_module_and_file_named_in_the_prose_exists():
    found = []
    for file, pieces in _prose_files():
        for first_line, text in pieces:
            for line_offset, line in enumerate(text.splitlines()):
                found += [
                    f"{file.relative_to(ROOT)}:{first_line + line_offset}: {name}" for name in stale_references(line)
                ]
    assert found == []


def test_the_reference_check_catches_a_moved_module():
    source = (
        '"""Start-up lives in `webapp.layout.main` (webapp/layout.py), plots in webapp/plotting.py."""\n'
        "# See sentiment.analysis.nowhere and sentiment.serving.predict.Predictor.no_such_method.\n"
        "x = 'sentiment.not_read_in_code'\n"
    )
    prose = " ".join(text for _, text in python_prose(source))
    assert stale_references(prose) == [
        "webapp.layout.main",
        "sentiment.analysis.nowhere",
        "sentiment.serving.predict.Predictor.no_such_method",
        "webapp/plotting.py",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "`python -m sentiment bench` runs sentiment.analysis.bench.run_bench; see sentiment/analysis/bench.py.",
        "webapp.server.main, sentiment.training.loop.TrainingStep.on_iterator and docs/BENCHMARKS.md.",
        "Patterns and other folders: tests/test_*.py, docs/<kind>/, ../webapp/gone.py, .venv-gpu/bin/python.",
        "The package: sentiment/ and sentiment. A sentence ends at webapp/views.py.",
        "Inherited: sentiment.cells.MinGRU.chrono_initialize. Written by a run: TOUR_DIR=docs/tour.",
    ],
)
def test_the_reference_check_passes_names_that_exist(text):
    assert stale_references(text) == []
