"""The Gradio app in a subprocess, for tests: bench/load.py's ``start_app`` / ``stop_app``, loaded by path (bench is
not a package), so the benchmarks and the tests start the server the same way. The tests run the app wrapped by
tests/apps/answer_key_app.py (a blank reader field reads with the answer-key reader)."""

import functools
import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_mmkit_bench_load", Path(__file__).resolve().parents[1] / "bench" / "load.py"
)
bench_load = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_load)
ANSWER_KEY_APP = Path(__file__).resolve().parent / "apps" / "answer_key_app.py"
start_app = functools.partial(bench_load.start_app, script=ANSWER_KEY_APP)
stop_app = bench_load.stop_app
