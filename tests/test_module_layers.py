"""The module map of docs/architecture.md, checked on the import statements of mmkit/: no import climbs a layer."""

import ast
from pathlib import Path

import pytest

MMKIT = Path(__file__).resolve().parents[1] / "mmkit"
RECIPES = {
    "mmkit.training.recipes",
    "mmkit.training.image_text",
    "mmkit.training.captioner",
    "mmkit.training.topic_classifier",
}


def _module(path: Path) -> str:
    parts = path.relative_to(MMKIT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every mmkit module named by an import in ``path``, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "mmkit" or name.startswith("mmkit.")}


IMPORTS = {_module(path): _imports(path) for path in MMKIT.rglob("*.py")}


def _importers_of(prefix: str) -> set[str]:
    return {module for module, names in IMPORTS.items()
            if not module.startswith(prefix) and any(n == prefix or n.startswith(prefix + ".") for n in names)}


def test_the_map_sees_the_packages():
    assert {"mmkit.datasets.topics", "mmkit.training.loop", "mmkit.models.gguf_cache"} <= set(IMPORTS)
    assert "mmkit.datasets.topics" in IMPORTS["mmkit.training.topic_classifier"]


@pytest.mark.parametrize("package", ["mmkit.datasets"])
def test_data_sets_stand_on_errors_only_and_only_recipes_use_them(package):
    for module, names in IMPORTS.items():
        if module.startswith(package + "."):
            assert names <= {"mmkit.errors", "mmkit.errors.InputError", "mmkit.errors.MissingDependencyError"}, module
    assert _importers_of(package) <= RECIPES


def test_the_training_loop_knows_no_model_and_no_recipe_is_imported_by_the_library():
    core = [m for m in IMPORTS if m.startswith("mmkit.training") and m not in RECIPES]
    for module in core:
        assert not any(n.startswith(("mmkit.models", "mmkit.datasets", "mmkit.pipelines")) for n in IMPORTS[module])
    for recipe in RECIPES:
        assert _importers_of(recipe) <= RECIPES, recipe


def test_models_never_reach_up_to_pipelines_longtext_or_apps():
    for module, names in IMPORTS.items():
        if module.startswith("mmkit.models"):
            climbing = {n for n in names if n.startswith(("mmkit.pipelines", "mmkit.longtext", "mmkit.cli"))}
            assert not climbing, (module, climbing)
