"""Each classroom assignment: the reference solution passes every test, the blank student notebook does not."""

import csv
import shutil
import sys
from pathlib import Path

import pytest

ASSIGNMENTS = Path(__file__).resolve().parents[2] / "course" / "assignments"
sys.path.insert(0, str(ASSIGNMENTS))
import grade  # noqa: E402

NAMES = sorted(p.name for p in ASSIGNMENTS.iterdir() if (p / "solution.py").exists())


def test_there_are_at_least_five_assignments():
    assert len(NAMES) >= 5


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes_public_and_hidden_tests(name):
    score = grade.grade(name, ASSIGNMENTS / name / "solution.py", hidden=True)
    assert score.total >= 4 and score.passed == score.total, score


@pytest.mark.parametrize("name", NAMES)
def test_blank_student_notebook_fails(name):
    score = grade.grade(name, ASSIGNMENTS / name / "student.ipynb")
    assert score.total >= 3 and score.passed < score.total / 2, score


def test_student_notebook_is_built_from_the_solution(tmp_path):
    import build

    name = NAMES[0]
    copy = tmp_path / name
    shutil.copytree(ASSIGNMENTS / name, copy)
    build.build(copy)
    import nbformat

    def sources(path):
        return [cell.source for cell in nbformat.read(path, as_version=4).cells]

    stale = "student.ipynb is stale: run python course/assignments/build.py"
    assert sources(copy / "student.ipynb") == sources(ASSIGNMENTS / name / "student.ipynb"), stale


def test_grading_a_folder_writes_one_csv_row_per_submission(tmp_path):
    name = "05_chunking"
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(ASSIGNMENTS / name / "solution.py", submissions / "alice.py")
    shutil.copy(ASSIGNMENTS / name / "student.ipynb", submissions / "bob.ipynb")
    (submissions / "carol.ipynb").write_text("not a notebook")
    out = tmp_path / "scores.csv"
    assert grade.main([name, str(submissions), "--hidden", "--csv", str(out)]) == 0
    rows = {row["student"]: row for row in csv.DictReader(out.open())}
    assert rows["alice"]["percent"] == "100.0"
    assert float(rows["bob"]["percent"]) < 50
    assert rows["carol"]["total"] == "0"
