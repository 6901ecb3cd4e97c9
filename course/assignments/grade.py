"""Grade assignment submissions without a server (nbgrader-style): one CSV row per submission.

    python course/assignments/grade.py 01_attention submissions/ --hidden --csv scores.csv
    python course/assignments/grade.py 01_attention course/assignments/01_attention/student.ipynb

A submission is a student's notebook (only the cell tagged ``graded`` is taken) or a ``.py`` file. Each runs in
its own temporary folder, in a subprocess with a time limit, against ``test_public.py`` (and ``test_hidden.py``
with ``--hidden``). The score is the share of tests passed.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
TIME_LIMIT_S = 300


@dataclass
class Score:
    student: str
    passed: int
    failed: int
    total: int

    @property
    def percent(self) -> float:
        return round(100 * self.passed / self.total, 1) if self.total else 0.0


def export(submission: Path) -> str:
    """The graded code of a submission: the ``graded`` cell(s) of a notebook, or a whole .py file."""
    if submission.suffix == ".py":
        return submission.read_text(encoding="utf-8")
    notebook = nbformat.read(submission, as_version=4)
    cells = [c.source for c in notebook.cells if c.cell_type == "code" and "graded" in c.metadata.get("tags", [])]
    if not cells:
        raise ValueError(f"{submission} has no cell tagged 'graded'")
    return "\n\n".join(cells) + "\n"


def grade(assignment: str, submission: Path, hidden: bool = False) -> Score:
    tests = ["test_public.py"] + (["test_hidden.py"] if hidden else [])
    with tempfile.TemporaryDirectory(prefix="mmkit-grade-") as folder:
        work = Path(folder)
        try:
            (work / "submission.py").write_text(export(submission), encoding="utf-8")
        except (ValueError, OSError, nbformat.reader.NotJSONError) as error:
            print(f"{submission}: {error}", file=sys.stderr)
            return Score(submission.stem, 0, 0, 0)
        for name in ("test_public.py", "test_hidden.py"):
            shutil.copy(HERE / assignment / name, work / name)
        report = work / "report.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                   f"--junitxml={report}", *tests]
        try:
            subprocess.run(command, cwd=work, capture_output=True, timeout=TIME_LIMIT_S,
                           env={"PYTHONPATH": str(work), "PATH": "/usr/bin:/bin", "HOME": folder})
        except subprocess.TimeoutExpired:
            return Score(submission.stem, 0, 0, 0)
        if not report.exists():
            return Score(submission.stem, 0, 0, 0)
        suite = ET.parse(report).getroot().find("testsuite")
        total = int(suite.get("tests"))
        failed = int(suite.get("failures")) + int(suite.get("errors")) + int(suite.get("skipped"))
        return Score(submission.stem, total - failed, failed, total)


def submissions_in(paths: list[Path]) -> list[Path]:
    found = []
    for path in paths:
        found += sorted([*path.glob("*.ipynb"), *path.glob("*.py")]) if path.is_dir() else [path]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", choices=sorted(p.name for p in HERE.iterdir() if (p / "solution.py").exists()))
    parser.add_argument("submissions", nargs="*", type=Path, help="notebooks, .py files or folders of them")
    parser.add_argument("--hidden", action="store_true", help="also run the hidden tests")
    parser.add_argument("--csv", type=Path, help="write the scores to this CSV file")
    args = parser.parse_args(argv)
    paths = submissions_in(args.submissions or [HERE / args.assignment / "student.ipynb"])
    scores = [grade(args.assignment, path, args.hidden) for path in paths]
    for score in scores:
        print(f"{score.student}: {score.passed}/{score.total} tests passed ({score.percent}%)")
    if args.csv:
        with args.csv.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["student", "passed", "failed", "total", "percent"])
            writer.writeheader()
            writer.writerows({**asdict(s), "percent": s.percent} for s in scores)
    return 0


if __name__ == "__main__":
    sys.exit(main())
