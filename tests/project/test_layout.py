"""The package shows the pipeline: a folder per part, each importing only the parts below it.

The stack, top to bottom (stages/, bench/ and `__main__` sit above it all):
tuning; models and evaluation; serving; data, report and tracking; the package root's helpers.
"""

from __future__ import annotations

import ast
from itertools import pairwise

from conftest import REPO
from package_imports import SOURCE, imported_files, package_modules

# part -> its height in the stack; a module may import only parts at its height or below.
LAYERS = {
    "": 0,  # params, paths, files, errors, runtime, progress, cli
    "data": 1,
    "report": 1,
    "tracking": 1,
    "serving": 2,
    "models": 3,
    "evaluation": 3,
    "tuning": 4,
    "__main__": 5,  # the command line: every part's commands
}


def part_of(module) -> str:
    relative = module.relative_to(SOURCE)
    if len(relative.parts) == 1:
        return "__main__" if relative.stem == "__main__" else ""
    return relative.parts[0]


def part_imports() -> dict[tuple[str, str], list[str]]:
    """(importing part, imported part) -> the module pairs behind that edge, across parts."""
    edges: dict[tuple[str, str], list[str]] = {}
    for module in package_modules():
        for imported in imported_files(module):
            edge = (part_of(module), part_of(imported))
            if edge[0] != edge[1]:
                edges.setdefault(edge, []).append(f"{module} -> {imported}")
    return edges


def test_every_part_is_a_folder_with_a_known_place_in_the_stack():
    parts = {part_of(module) for module in package_modules()}
    assert parts == set(LAYERS)


def test_no_module_imports_a_part_above_its_own():
    upward = [
        line
        for (importer, imported), lines in part_imports().items()
        if LAYERS[imported] > LAYERS[importer]
        for line in lines
    ]
    assert upward == []


def test_no_two_parts_import_each_other():
    edges = part_imports()
    cycles = [lines for (a, b), lines in edges.items() if (b, a) in edges]
    assert cycles == []


def test_the_root_is_imported_by_every_part_and_imports_none():
    edges = part_imports()
    assert [edge for edge in edges if edge[0] == ""] == []
    assert {importer for importer, imported in edges if imported == ""} >= {
        "data",
        "models",
        "evaluation",
        "serving",
        "tracking",
        "tuning",
    }


def test_each_folder_says_what_it_does_and_re_exports_nothing():
    for init in sorted((REPO / SOURCE).glob("*/__init__.py")):
        body = ast.parse(init.read_text()).body
        assert len(body) == 1, f"{init.relative_to(REPO)} holds code beside its docstring"
        docstring = ast.get_docstring(ast.parse(init.read_text()))
        assert docstring and len(docstring.split()) >= 20, init.relative_to(REPO)


def test_names_lose_the_prefix_their_folder_gives():
    prefixed = [
        str(module)
        for module in package_modules()
        if len(module.relative_to(SOURCE).parts) == 2
        and module.stem.startswith(f"{module.relative_to(SOURCE).parts[0]}_")
    ]
    assert prefixed == []


def test_the_walk_sees_an_upward_import(tmp_path):
    # The check above only means something if the walk finds real edges, lazy ones included.
    edges = part_imports()
    assert ("models", "serving") in edges
    assert ("tuning", "models") in edges  # imported inside a function (workers.py)
    assert all(a != b for a, b in pairwise(sorted(LAYERS)))
