"""Safe loading, read from the sources of mmkit/ and apps/: nothing unpickles, no remote code, upload limits set.

Parsed with ``ast`` rather than grepped, so docstrings that mention ``pickle`` or ``trust_remote_code`` (as
mmkit/hub.py's does, to say it stays off) do not count, and aliased calls (``from torch import load``) do.
Zip members that try to escape the upload folder are covered by tests/test_inputs.py
(``test_zip_refuses_paths_outside_dest``, ``test_zip_refuses_symlinks``); typed text that becomes a server path by
tests/hardening/test_hardening_gradio.py.
"""

import ast
from pathlib import Path

import pytest
import tomllib

from mmkit.inputs import MAX_UPLOAD_BYTES

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for folder in ("mmkit", "apps") for p in (ROOT / folder).rglob("*.py"))
UNPICKLERS = {("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("dill", "load"), ("dill", "loads"),
              ("joblib", "load"), ("cloudpickle", "load"), ("cloudpickle", "loads"), ("pandas", "read_pickle"),
              ("shelve", "open"), ("marshal", "load"), ("marshal", "loads")}


def _calls(tree: ast.AST):
    """(module, function, call node) for every call, resolving ``import x as y`` and ``from x import f as g``."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                aliases[name.asname or name.name] = (name.name, None)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for name in node.names:
                aliases[name.asname or name.name] = (node.module, name.name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            module, attr = aliases.get(func.value.id, (func.value.id, None))
            yield (f"{module}.{attr}" if attr else module), func.attr, node
        elif isinstance(func, ast.Name) and func.id in aliases and aliases[func.id][1]:
            yield aliases[func.id][0], aliases[func.id][1], node


def _keyword(node: ast.Call, name: str):
    for keyword in node.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


@pytest.fixture(scope="module")
def trees():
    return {path.relative_to(ROOT).as_posix(): ast.parse(path.read_text(encoding="utf-8")) for path in SOURCES}


def test_the_sources_are_found(trees):
    assert "mmkit/index.py" in trees and "apps/gradio_app.py" in trees and len(trees) > 30


def test_every_torch_load_passes_weights_only_true(trees):
    offenders = []
    for name, tree in trees.items():
        for module, function, node in _calls(tree):
            if module == "torch" and function == "load":
                flag = _keyword(node, "weights_only")
                if not (isinstance(flag, ast.Constant) and flag.value is True):
                    offenders.append(f"{name}:{node.lineno}")
    assert offenders == []


def test_nothing_unpickles(trees):
    offenders = [f"{name}:{node.lineno} {module}.{function}" for name, tree in trees.items()
                 for module, function, node in _calls(tree) if (module.split(".")[0], function) in UNPICKLERS]
    offenders += [f"{name}:{node.lineno} np.load(allow_pickle=True)" for name, tree in trees.items()
                  for module, function, node in _calls(tree)
                  if module == "numpy" and function == "load"
                  and getattr(_keyword(node, "allow_pickle"), "value", False) is not False]
    assert offenders == []


def test_remote_code_is_never_trusted_by_default(trees):
    offenders = []
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "trust_remote_code":
                if not (isinstance(node.value, ast.Constant) and node.value.value is False):
                    offenders.append(f"{name}:{node.value.lineno} trust_remote_code={ast.unparse(node.value)}")
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                arguments = node.args.args + node.args.kwonlyargs
                defaults = [None] * (len(node.args.args) - len(node.args.defaults)) + node.args.defaults
                defaults += node.args.kw_defaults
                for argument, default in zip(arguments, defaults):
                    if argument.arg == "trust_remote_code" and getattr(default, "value", None) is not False:
                        offenders.append(f"{name}:{node.lineno} def {node.name}(trust_remote_code=...)")
            if isinstance(node, ast.Dict):  # kwargs built as a dict: {"trust_remote_code": True}
                for key, value in zip(node.keys, node.values):
                    if getattr(key, "value", None) == "trust_remote_code" and getattr(value, "value", None) is True:
                        offenders.append(f"{name}:{node.lineno} {{'trust_remote_code': True}}")
    assert offenders == []


def test_gradio_app_limits_upload_size(trees):
    launches = [node for module, function, node in _calls(trees["apps/gradio_app.py"])
                if function == "launch"]
    assert launches, "apps/gradio_app.py never calls launch()"
    for launch in launches:
        limit = _keyword(launch, "max_file_size")
        assert limit is not None, f"launch() at line {launch.lineno} sets no max_file_size"
        assert ast.unparse(limit) == "MAX_UPLOAD_BYTES" and MAX_UPLOAD_BYTES <= 25_000_000


def test_streamlit_app_limits_upload_size():
    """Streamlit's default maxUploadSize is 200 MB; the Space must lower it to the library's 25 MB."""
    config = ROOT / ".streamlit" / "config.toml"
    assert config.is_file(), "no .streamlit/config.toml at the repository root: Streamlit accepts 200 MB uploads"
    server = tomllib.loads(config.read_text(encoding="utf-8")).get("server", {})
    assert 0 < server.get("maxUploadSize", 200) <= MAX_UPLOAD_BYTES // 1_000_000


def test_apps_never_build_paths_from_uploaded_names(trees):
    """An upload's own name may lend a suffix (``Path(upload.name).suffix``), never a path or a file name."""
    offenders = []
    for name, tree in trees.items():
        if not name.startswith("apps/"):
            continue
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and node.attr in ("name", "orig_name")
                    and isinstance(node.value, ast.Name) and "upload" in node.value.id):
                continue
            call = parents.get(node)
            suffix_only = (isinstance(call, ast.Call) and ast.unparse(call.func) == "Path"
                           and isinstance(parents.get(call), ast.Attribute) and parents[call].attr == "suffix")
            if not suffix_only:
                offenders.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    assert offenders == []
