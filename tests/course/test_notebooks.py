"""Every course notebook runs top to bottom in a fresh kernel (outputs are not compared).

Each notebook is copied into a temporary directory and executed there, so a run neither rewrites the committed
notebook nor depends on the working directory. Run one chapter with ``-k ch04``.
"""

import importlib.util
import shutil
from pathlib import Path

import pytest

COURSE_DIR = Path(__file__).resolve().parents[2] / "course"
NOTEBOOKS = sorted(COURSE_DIR.glob("ch*.ipynb"))

pytest.importorskip("nbclient", reason="the course extra is needed: pip install -e '.[course]'")
_spec = importlib.util.spec_from_file_location("run_notebooks", COURSE_DIR / "run_notebooks.py")
run_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_notebooks)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(notebook: Path, tmp_path: Path):
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    copy = tmp_path / notebook.name
    shutil.copy(notebook, copy)
    try:
        run_notebooks.execute(copy, timeout=600, cwd=tmp_path)
    except (CellExecutionError, CellTimeoutError) as err:
        pytest.fail(f"{notebook.name}: a cell failed\n{err}", pytrace=False)


def _tagged_stdout(notebook: Path, tag: str) -> str:
    """The stored stdout of the one cell tagged ``tag`` in the committed notebook (which must have been run)."""
    import nbformat

    cells = [c for c in nbformat.read(notebook, as_version=4).cells if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{notebook.name} must have exactly one cell tagged {tag!r}"
    return "".join(o.get("text", "") for o in cells[0].get("outputs", []) if o.output_type == "stream")


def test_ch12_stored_results_show_what_each_stage_adds():
    """ch12's committed table (run with course/run_notebooks.py): the best prefix VLM names most held-out views, and
    each stage the chapter adds helps. Measured 0.784 / 0.725 / 0.284 / 0.200 / 0.028; floors leave a margin."""
    import json

    results = json.loads(_tagged_stdout(COURSE_DIR / "ch12_vision_language_model.ipynb", "vlm-results"))
    em = list(results["em_held_out"].values())  # random enc. / clip+projector / +LoRA / +full LM / +encoder
    assert results["best_em_held_out"] == max(em) >= 0.6
    assert em[0] < 0.1 < em[1] < em[2] < em[3]


def test_ch12a_stored_results_generalise_to_unheard_voices():
    """ch12a's committed accuracies on spoken digits: measured 1.0 (train), 0.925 (held-out accents), 0.985
    (held-out speed), 0.912 (both); floors leave a margin, and unheard accents are the hardest condition."""
    import json

    acc = json.loads(_tagged_stdout(COURSE_DIR / "ch12a_speech_digits.ipynb", "speech-results"))
    assert acc["train"] >= 0.95
    assert min(acc["held_out_accent"], acc["held_out_speed"], acc["held_out_both"]) >= 0.8
    assert acc["held_out_accent"] <= acc["held_out_speed"]


def _tagged_plain(notebook: Path, tag: str) -> str:
    """The text/plain of the last rich output (a table) of the one cell tagged ``tag`` in the committed notebook."""
    import nbformat

    cells = [c for c in nbformat.read(notebook, as_version=4).cells if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{notebook.name} must have exactly one cell tagged {tag!r}"
    plain = [o["data"]["text/plain"] for o in cells[0].get("outputs", []) if "data" in o and "text/plain" in o["data"]]
    assert plain, f"{notebook.name}: the cell tagged {tag!r} has no stored table (run course/run_notebooks.py)"
    return plain[-1]


def test_ch04_stored_checks_all_pass():
    """ch04 compares every formula with mmkit and PyTorch; its summary cell must report all of them passed."""
    import re

    text = _tagged_stdout(COURSE_DIR / "ch04_math.ipynb", "checks-summary")
    passed, total = map(int, re.search(r"(\d+) / (\d+) checks passed", text).groups())
    assert passed == total >= 30


def test_ch02_stored_fusion_table_beats_every_single_modality():
    """ch02's fusion table (four fusions on the same frozen features): each single modality is capped at 25% on the
    paint task, each fusion is far above it (measured 0.965-0.978), and the model-level fusions cost the most
    parameters (measured 63,760 and 63,952 against 19,088 and 21,026)."""
    import ast
    import re

    notebook = COURSE_DIR / "ch02_core_concepts.ipynb"
    unimodal = ast.literal_eval(_tagged_stdout(notebook, "unimodal-accuracy").split("unimodal test accuracy:")[1]
                                .splitlines()[0].strip())
    assert max(unimodal.values()) < 0.35
    table = _tagged_plain(notebook, "fusion-table")
    names = ["EarlyFusion \\(concat\\)", "LateFusion", "CrossAttentionFusion", "TokenFusion"]
    first = {n: re.findall(rf"{n}\s+([\d.]+)", table) for n in names}
    accuracy = {n: float(v[0]) for n, v in first.items()}
    parameters = {n: float(v[1]) for n, v in first.items()}
    assert min(accuracy.values()) >= 0.9 > 0.35 > max(unimodal.values())
    cheap = max(parameters["EarlyFusion \\(concat\\)"], parameters["LateFusion"])
    assert min(parameters["CrossAttentionFusion"], parameters["TokenFusion"]) > cheap


def test_ch05_stored_few_label_curve_leaves_the_ceiling():
    """ch05's few-label curve (frozen MiniLM + linear head, mean of 5 draws): measured 0.840 with one labelled
    sentence per topic, 0.970 with eight, 1.000 with 100. Fewer labels must cost accuracy, and even one label per
    topic stays far above chance (1/3)."""
    import re

    table = _tagged_plain(COURSE_DIR / "ch05_projects.ipynb", "few-shot-curve")
    mean = {int(k): float(v) for k, v, _ in re.findall(r"^(\d+)\s+([\d.]+)\s+([\d.]+)$", table, re.M)}
    assert sorted(mean) == [1, 2, 4, 8, 16, 100]
    assert 1 / 3 + 0.2 < mean[1] < mean[8] <= mean[100]
    assert mean[1] < 0.95
