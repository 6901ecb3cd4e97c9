"""Refuse, at run time, the library functions an assignment asks students to write themselves.

``grade.py`` copies this file into each submission's grading folder, next to a ``conftest.py`` that calls
:func:`install` before pytest imports any test, so the guard is in place before ``submission.py`` loads. Each
entry of ``forbidden`` is a dotted name: a module (``"mmkit.fusion"``, ``"sklearn"``: the module and everything
defined in it) or one object in a module (``"torch.nn.functional.scaled_dot_product_attention"``,
``"torch.nn.MultiheadAttention"``). Tests may use them (they compare against the library); the submission may not.

Two checks, both keyed on where the code runs rather than on how the source is spelled:

* **access**: imports and attribute reads made by code in ``submission.py`` go through patched ``__import__``,
  ``importlib.import_module`` and a module type whose ``__getattribute__`` looks at the reading frame, so
  ``from mmkit.fusion import GatedFusion``, ``F.scaled_dot_product_attention(...)`` and
  ``getattr(F, "scaled_" + "dot_product_attention")`` are all refused;
* **call**: forbidden functions (and the ``__init__`` of forbidden classes) are replaced by wrappers that refuse
  when ``submission.py`` is anywhere on the call stack, which catches indirect use such as an
  ``nn.TransformerEncoderLayer`` that runs ``nn.MultiheadAttention`` on the student's behalf.

A refusal raises :class:`ForbiddenError` and writes the message to ``forbidden.txt`` in the grading folder, which
``grade.py`` turns into a 0 score with the reason. This is a guard against shortcuts, not a security sandbox: code
that tries hard enough (C extensions, editing this module) can get around it, which a teacher reading the code
will see.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import importlib.util
import inspect
import sys
import types
from pathlib import Path


class ForbiddenError(ImportError):
    """Raised when the submission reaches a name the assignment forbids."""


_state: dict = {"submission": None, "marker": None, "modules": (), "objects": {}, "originals": {}, "seen": 0}


def _is_student(filename: str) -> bool:
    return filename == _state["submission"]


def _student_on_stack(frame) -> bool:
    while frame is not None:
        if _is_student(frame.f_code.co_filename):
            return True
        frame = frame.f_back
    return False


def _student_reads(frame) -> bool:
    """The frame doing the read is the submission's, or code it generated (exec/eval) while on the stack."""
    filename = frame.f_code.co_filename
    if _is_student(filename):
        return True
    return filename.startswith("<") and not filename.startswith("<frozen") and _student_on_stack(frame)


def refuse(name: str):
    message = (f"forbidden: this assignment asks you to write it yourself, so the submission may not use "
               f"{name} (作业要求自己实现，不能调用 {name})")
    if _state["marker"] is not None:
        with open(_state["marker"], "a", encoding="utf-8") as handle:
            handle.write(message + "\n")
    raise ForbiddenError(message)


def _forbidden_module(name: str) -> str | None:
    for module in _state["modules"]:
        if name == module or name.startswith(module + "."):
            return module
    return None


def _forbidden_value(value) -> str | None:
    """The forbidden name ``value`` is (a forbidden module, or an object defined in one, or a listed object)."""
    if isinstance(value, types.ModuleType):
        return _forbidden_module(value.__name__)
    try:
        if id(value) in _state["originals"]:
            return _state["originals"][id(value)]
        owner = getattr(value, "__module__", None)
    except Exception:  # objects with odd __getattr__ (mocks, proxies) are not library functions
        return None
    if isinstance(owner, str) and (inspect.isfunction(value) or inspect.isclass(value) or callable(value)):
        module = _forbidden_module(owner)
        return f"{module} ({owner}.{getattr(value, '__qualname__', '?')})" if module else None
    return None


class _GuardedModule(types.ModuleType):
    def __getattribute__(self, name):
        value = super().__getattribute__(name)
        if name.startswith("__") and name != "__dict__":
            return value
        frame = sys._getframe(1)
        if _student_reads(frame):
            if name == "__dict__" and _forbidden_module(super().__getattribute__("__name__")):
                refuse(super().__getattribute__("__name__"))
            found = _forbidden_value(value)
            if found:
                refuse(found)
        return value


def _guard_module(module) -> None:
    if isinstance(module, types.ModuleType) and type(module) is types.ModuleType:
        module.__class__ = _GuardedModule


def _watched(name: str) -> bool:
    """Modules whose attributes can lead to a forbidden name: the forbidden ones and their parent packages."""
    targets = [*_state["modules"], *_state["objects"]]
    return any(t == name or t.startswith(name + ".") or name.startswith(t + ".") for t in targets)


def _guard_loaded() -> None:
    if len(sys.modules) == _state["seen"]:  # nothing new imported since the last scan
        return
    for name, module in list(sys.modules.items()):
        if _watched(name):
            _guard_module(module)
    _state["seen"] = len(sys.modules)


def _check_import(name: str, result, fromlist) -> None:
    found = _forbidden_module(name)
    if found:
        refuse(found)
    for item in fromlist or ():
        value = getattr(result, item, None) if item != "*" else None
        found = _forbidden_value(value) if value is not None else _forbidden_module(f"{name}.{item}")
        if found:
            refuse(found)


def _patched_import(original):
    @functools.wraps(original)
    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        result = original(name, globals, locals, fromlist, level)
        _guard_loaded()
        frame = sys._getframe(1)
        if level == 0 and _student_reads(frame):
            _check_import(name, result, fromlist)
        return result

    return guarded_import


def _patched_import_module(original):
    @functools.wraps(original)
    def guarded_import_module(name, package=None):
        module = original(name, package)
        _guard_loaded()
        if _student_reads(sys._getframe(1)) and _forbidden_module(module.__name__):
            refuse(module.__name__)
        return module

    return guarded_import_module


def _call_guard(function, name: str):
    @functools.wraps(function)
    def guarded(*args, **kwargs):
        if _student_on_stack(sys._getframe(1)):
            refuse(name)
        return function(*args, **kwargs)

    return guarded


def _resolve(dotted: str):
    """(owner module, attribute, object) for 'package.module.attr', importing the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        value = owner
        for part in parts[cut:]:
            value = getattr(value, part)
        return owner, parts[-1], value
    raise ImportError(f"cannot resolve {dotted}")


def _wrap_object(dotted: str) -> None:
    owner, attribute, value = _resolve(dotted)
    _state["originals"][id(value)] = dotted
    if inspect.isclass(value):
        value.__init__ = _call_guard(value.__init__, dotted)
        return
    wrapper = _call_guard(value, dotted)
    _state["originals"][id(wrapper)] = dotted
    # Replace every module-level alias (torch.nn.functional and torch._C._nn hold the same builtin, for example).
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if isinstance(namespace, dict) and namespace.get(attribute) is value:
            namespace[attribute] = wrapper


def install(submission: str | Path, forbidden: list[str], marker: str | Path | None = None) -> None:
    """Guard ``forbidden`` names against the code in ``submission`` (see the module docstring)."""
    _state["submission"] = str(Path(submission).resolve())
    _state["marker"] = str(marker) if marker else None
    modules, objects = [], {}
    for dotted in forbidden:
        try:
            module = importlib.util.find_spec(dotted)
        except (ImportError, ValueError, AttributeError):
            module = None
        if module is not None:
            modules.append(dotted)
        else:
            objects[dotted] = True
    _state["modules"], _state["objects"] = tuple(modules), objects
    for dotted in objects:
        try:
            _wrap_object(dotted)
        except (ImportError, AttributeError):
            pass  # an optional library that is not installed cannot be used either
    builtins.__import__ = _patched_import(builtins.__import__)
    importlib.import_module = _patched_import_module(importlib.import_module)
    _guard_loaded()
