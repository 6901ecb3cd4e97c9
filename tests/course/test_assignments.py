"""Classroom assignments: references score 100 %, blanks do not, forbidden names and runaway code are stopped,
a folder grades into one CSV, and the student handout leaks neither solutions nor hidden tests.

Each grading runs a fresh Python process; the fast tests use the assignments that import little (chunking
imports nothing, attention only torch) and small limits; the full sweep over every assignment is marked slow.
"""

import csv
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
import tomllib

ASSIGNMENTS = Path(__file__).resolve().parents[2] / "course" / "assignments"
sys.path.insert(0, str(ASSIGNMENTS))
import build  # noqa: E402
import grade  # noqa: E402

NAMES = grade.assignments()
LEVELS = {"function", "module", "training experiment", "small project"}


@pytest.fixture(scope="module")
def hidden(tmp_path_factory):
    """The example hidden tests, copied outside the repository as a teacher would keep them."""
    folder = tmp_path_factory.mktemp("private") / "hidden"
    shutil.copytree(ASSIGNMENTS / "example_hidden", folder)
    return folder


def test_nine_assignments_on_every_rung_of_the_ladder():
    assert len(NAMES) >= 9
    configs = [grade.settings(name) for name in NAMES]
    assert {c["level"] for c in configs} == LEVELS
    for name, config in zip(NAMES, configs):
        readme = (ASSIGNMENTS / name / "README.md").read_text(encoding="utf-8")
        assert f"{config['minutes']} 分钟" in readme and "评分标准" in readme, name
        assert config["forbidden"] and all(f"`{f}`" in readme for f in config["forbidden"]), name
        assert (ASSIGNMENTS / "example_hidden" / name / "test_hidden.py").exists(), name


def test_teacher_readme_ladder_lists_every_assignment():
    readme = (ASSIGNMENTS / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in NAMES)


@pytest.mark.parametrize("name", ["01_attention", "05_chunking"])
def test_reference_scores_100_percent_with_outside_hidden_tests(name, hidden):
    score = grade.grade(name, ASSIGNMENTS / name / "solution.py", hidden=hidden)
    assert score.status == "ok" and score.total >= 5 and score.percent == 100.0, score


def test_blank_notebook_shows_which_tests_failed_and_why(capsys):
    assert grade.main(["05_chunking", str(ASSIGNMENTS / "05_chunking" / "student.ipynb")]) == 0
    out = capsys.readouterr().out
    assert "0/3 tests passed" in out
    assert "test_public.py::test_offsets_point_back_into_the_text: NotImplementedError" in out
    assert "submission.py" in out  # the short traceback points at the student's line


def test_forbidden_torch_function_is_refused_with_the_message(tmp_path):
    cheat = tmp_path / "cheat.py"
    cheat.write_text("import torch.nn.functional as F\n\n\ndef scaled_dot_product_attention(q, k, v, mask=None):\n"
                     "    f = getattr(F, 'scaled_dot_' + 'product_attention')\n"
                     "    return f(q, k, v, attn_mask=mask), None\n")
    score = grade.grade("01_attention", cheat)
    assert score.status == "forbidden" and score.passed == 0 and score.percent == 0.0
    assert "torch.nn.functional.scaled_dot_product_attention" in score.reason
    assert "may not use" in grade.feedback("01_attention", score)


def test_forbidden_mmkit_import_and_indirect_use_are_refused(tmp_path):
    imports = tmp_path / "imports.py"
    imports.write_text("from mmkit.longtext.chunking import chunk_text\n\n\n"
                       "def sliding_window_chunks(text, size, stride):\n    return []\n")
    score = grade.grade("05_chunking", imports)
    assert score.status == "forbidden" and "mmkit.longtext" in score.reason
    # nn.TransformerEncoderLayer runs nn.MultiheadAttention for the student: the call guard sees it on the stack.
    indirect = tmp_path / "indirect.py"
    indirect.write_text("import torch\n\n\ndef scaled_dot_product_attention(q, k, v, mask=None):\n"
                        "    layer = torch.nn.TransformerEncoderLayer(q.shape[-1], 1, batch_first=True)\n"
                        "    return layer(q), None\n")
    score = grade.grade("01_attention", indirect)
    assert score.status == "forbidden" and "torch.nn.MultiheadAttention" in score.reason


def test_infinite_loop_is_stopped_by_the_time_limit(tmp_path):
    loop = tmp_path / "loop.py"
    loop.write_text("def sliding_window_chunks(text, size, stride):\n    while True:\n        pass\n")
    score = grade.grade("05_chunking", loop, time_limit=5)
    assert score.status == "timeout" and score.percent == 0.0 and "5 s" in score.reason


def test_a_folder_of_mixed_submissions_gives_one_csv(tmp_path, hidden):
    name = "05_chunking"
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copy(ASSIGNMENTS / name / "solution.py", folder / "alice.py")
    shutil.copy(ASSIGNMENTS / name / "student.ipynb", folder / "bob.ipynb")
    (folder / "carol.ipynb").write_text("not a notebook")
    (folder / "dave.py").write_text("import os\n\n\ndef sliding_window_chunks(text, size, stride):\n"
                                    "    os._exit(3)\n")
    (folder / "erin.py").write_text("def sliding_window_chunks(text, size, stride):\n"
                                    "    hog = bytearray(1 << 30)\n    return [hog]\n")
    out = tmp_path / "scores.csv"
    assert grade.main([name, str(folder), "--hidden", str(hidden), "--csv", str(out), "--memory-mb", "400"]) == 0
    rows = {row["student"]: row for row in csv.DictReader(out.open(encoding="utf-8"))}
    assert sorted(rows) == ["alice", "bob", "carol", "dave", "erin"]
    assert (rows["alice"]["status"], rows["alice"]["percent"], rows["alice"]["total"]) == ("ok", "100.0", "6")
    assert rows["bob"]["status"] == "ok" and rows["bob"]["passed"] == "0" and rows["bob"]["total"] == "6"
    assert rows["carol"]["status"] == "invalid" and rows["carol"]["percent"] == "0.0"
    assert rows["dave"]["status"] == "crash" and "exit code 3" in rows["dave"]["reason"]
    assert rows["erin"]["status"] == "memory" and rows["erin"]["percent"] == "0.0"
    feedback = (tmp_path / "scores-feedback" / "bob.txt").read_text(encoding="utf-8")
    assert "test_hidden.py::test_empty_and_short_texts: NotImplementedError" in feedback


def test_student_notebooks_are_built_from_solution_and_readme(tmp_path):
    for name in NAMES:
        copy = tmp_path / name
        shutil.copytree(ASSIGNMENTS / name, copy)
        build.build(copy)

        def sources(path):
            return [cell.source for cell in nbformat.read(path, as_version=4).cells]

        stale = "student.ipynb is stale: run python course/assignments/build.py"
        assert sources(copy / "student.ipynb") == sources(ASSIGNMENTS / name / "student.ipynb"), stale


def test_handout_holds_no_hidden_tests_or_solutions(tmp_path):
    out = build.handout(tmp_path / "handout")
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert not [f for f in files if "solution" in f or "hidden" in f]
    for name in NAMES:
        assert {f"{name}/student.ipynb", f"{name}/test_public.py", f"{name}/README.md"} <= files
        text = "\n".join((out / name / f).read_text(encoding="utf-8") for f in ("student.ipynb", "test_public.py"))
        leaked = [line for line in build.solution_lines(ASSIGNMENTS / name) if line in text]
        assert not leaked, (name, leaked)
    assert {"grade.py", "guard.py"} <= files
    with (out / NAMES[0] / "assignment.toml").open("rb") as handle:
        assert tomllib.load(handle)["forbidden"]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_reference_passes_and_every_blank_fails(name, hidden):
    score = grade.grade(name, ASSIGNMENTS / name / "solution.py", hidden=hidden)
    assert score.status == "ok" and score.total >= 5 and score.percent == 100.0, score
    blank = grade.grade(name, ASSIGNMENTS / name / "student.ipynb", hidden=hidden)
    assert blank.status == "ok" and blank.percent < 100.0 and blank.failures, blank
