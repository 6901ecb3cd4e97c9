"""The Gradio app as the app tests run it: a blank reader field reads with the answer-key reader
(tests/answer_key_reader.py) instead of the 1.5B embedded reader, so the tests of the app's plumbing (evidence
highlighting, PDFs, refusals) take seconds. The real reader in the app is checked by the slow test
tests/apps/test_app_real_reader.py."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "apps"), str(ROOT / "tests")]

import gradio_app  # noqa: E402
from answer_key_reader import blank_reader_is_answer_key  # noqa: E402

gradio_app.get_pipeline = blank_reader_is_answer_key(gradio_app.get_pipeline)

if __name__ == "__main__":
    gradio_app.main()
