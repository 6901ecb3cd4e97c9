"""Grade assignment submissions without a server (nbgrader-style): one CSV row and one feedback file each.

    python course/assignments/grade.py 01_attention my.ipynb                      # a student: public tests
    python course/assignments/grade.py 01_attention submissions/ --hidden ~/private-tests --csv scores.csv

A submission is a student's notebook (only the cell tagged ``graded`` is taken) or a ``.py`` file. Each runs in
its own temporary folder and process, with a time limit and (on Linux) a memory limit from ``resource.setrlimit``,
against ``test_public.py`` and, with ``--hidden DIR``, the tests in ``DIR/<assignment>/``. The names listed as
forbidden in the assignment's ``assignment.toml`` are refused at run time by ``guard.py``. The score is the share
of tests passed; a submission that is refused, loops, crashes or runs out of memory scores 0 with the reason.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import tomllib

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FIELDS = ["student", "passed", "failed", "total", "percent", "status", "reason"]
OUT_OF_MEMORY = re.compile(r"MemoryError|can't allocate memory|Cannot allocate memory|std::bad_alloc")


@dataclass
class Failure:
    test: str  # e.g. test_public.py::test_mask_blocks_keys
    message: str  # the exception's first line
    detail: str = ""  # a short traceback


@dataclass
class Score:
    student: str
    passed: int = 0
    failed: int = 0
    total: int = 0
    status: str = "ok"  # ok | invalid | forbidden | timeout | memory | crash
    reason: str = ""
    failures: list[Failure] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return round(100 * self.passed / self.total, 1) if self.total and self.status == "ok" else 0.0

    def row(self) -> dict:
        return {**{k: getattr(self, k) for k in FIELDS[:4]}, "percent": self.percent, "status": self.status,
                "reason": self.reason}


def assignments() -> list[str]:
    return sorted(p.name for p in HERE.iterdir() if (p / "test_public.py").exists())


def settings(assignment: str) -> dict:
    """The assignment's ``assignment.toml``: title, chapter, level, minutes, forbidden, time_limit_s, memory_mb."""
    with (HERE / assignment / "assignment.toml").open("rb") as handle:
        return tomllib.load(handle)


def export(submission: Path) -> str:
    """The graded code of a submission: the ``graded`` cell(s) of a notebook, or a whole .py file."""
    if submission.suffix == ".py":
        return submission.read_text(encoding="utf-8")
    notebook = nbformat.read(submission, as_version=4)
    cells = [c.source for c in notebook.cells if c.cell_type == "code" and "graded" in c.metadata.get("tags", [])]
    if not cells:
        raise ValueError(f"{submission.name} has no cell tagged 'graded'")
    return "\n\n".join(cells) + "\n"


def hidden_tests(hidden: Path, assignment: str) -> list[Path]:
    folder = hidden / assignment
    tests = sorted(folder.glob("test_*.py"))
    if not tests:
        raise FileNotFoundError(f"no hidden tests for {assignment}: expected {folder}/test_hidden.py")
    if any(t.name == "test_public.py" for t in tests):
        raise ValueError(f"{folder}/test_public.py would replace the public tests; rename it")
    return tests


def _limits(memory_mb: int, cpu_s: int):
    def apply() -> None:
        import resource

        memory = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 20, 256 << 20))

    return apply if sys.platform.startswith("linux") else None


def _run(command: list[str], work: Path, time_limit: int, memory_mb: int) -> tuple[int | None, str]:
    """Exit code (None on timeout) and the tail of the output; the whole process group dies on timeout."""
    # In the repository the tests import its mmkit; in a handout, the installed one.
    paths = [str(work), *([str(REPO)] if (REPO / "mmkit").is_dir() else [])]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.pathsep.join(paths), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               preexec_fn=_limits(memory_mb, time_limit), start_new_session=True)
    try:
        output, _ = process.communicate(timeout=time_limit)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return None, ""
    return process.returncode, output.decode("utf-8", "replace")[-2000:]


def _failures(report: Path) -> tuple[int, list[Failure]]:
    failures, total = [], 0
    for case in ET.parse(report).getroot().iter("testcase"):
        total += 1
        problem = next((case.find(tag) for tag in ("failure", "error", "skipped") if case.find(tag) is not None),
                       None)
        if problem is None:
            continue
        test = f"{case.get('classname', '').split('.')[-1]}.py::{case.get('name')}"
        lines = (problem.text or "").strip().splitlines()
        message = (problem.get("message") or "").strip().splitlines() or [""]
        failures.append(Failure(test, message[0][:300], "\n".join(lines[-12:])))
    return total, failures


def grade(assignment: str, submission: Path, hidden: Path | None = None, time_limit: int | None = None,
          memory_mb: int | None = None) -> Score:
    """Grade one submission in a fresh folder and process; see the module docstring."""
    config = settings(assignment)
    time_limit = time_limit or config.get("time_limit_s", 60)
    memory_mb = memory_mb or config.get("memory_mb", 2048)
    score = Score(submission.stem)
    tests = [HERE / assignment / "test_public.py", *(hidden_tests(hidden, assignment) if hidden else [])]
    with tempfile.TemporaryDirectory(prefix="mmkit-grade-") as folder:
        work = Path(folder)
        try:
            (work / "submission.py").write_text(export(submission), encoding="utf-8")
        except (ValueError, OSError, UnicodeDecodeError, nbformat.reader.NotJSONError) as error:
            score.status, score.reason = "invalid", f"not a gradable notebook or .py file: {error}"
            return score
        shutil.copy(HERE / "guard.py", work / "guard.py")
        for test in tests:
            shutil.copy(test, work / test.name)
        marker = work / "forbidden.txt"
        (work / "conftest.py").write_text(
            f"import guard\n\nguard.install({str(work / 'submission.py')!r}, {config.get('forbidden', [])!r}, "
            f"{str(marker)!r})\n", encoding="utf-8")
        report = work / "report.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--tb=short",
                   f"--junitxml={report}", *(t.name for t in tests)]
        code, output = _run(command, work, time_limit, memory_mb)
        total, failures = _failures(report) if report.exists() else (0, [])
        texts = output + "".join(f.message + f.detail for f in failures)
        if marker.exists():
            score.status, score.reason = "forbidden", marker.read_text(encoding="utf-8").splitlines()[0]
        elif code is None or code == -signal.SIGXCPU:
            score.status, score.reason = "timeout", f"stopped by the time limit ({time_limit} s)"
        elif OUT_OF_MEMORY.search(texts) or code == -signal.SIGKILL:
            score.status, score.reason = "memory", f"ran out of memory (limit {memory_mb} MB)"
        elif not report.exists() or code not in (0, 1):
            tail = output.strip().splitlines()[-1:] or [""]
            score.status, score.reason = "crash", f"the test run ended with exit code {code}: {tail[0][:200]}"
        # A refused, stopped or crashed run fails every test for the same reason: show it once.
        score.total, score.failures = total, failures if score.status == "ok" else failures[:1]
        score.failed = len(failures) if score.status == "ok" else total
        score.passed = total - score.failed if score.status == "ok" else 0
    return score


def feedback(assignment: str, score: Score) -> str:
    """The text a student gets back: score, status, and each failed test with its message."""
    forbidden = settings(assignment).get("forbidden", [])
    lines = [f"{score.student} — {assignment}: {score.passed}/{score.total} tests passed ({score.percent}%)",
             f"status: {score.status}" + (f" — {score.reason}" if score.reason else ""),
             "forbidden in this assignment (本作业禁止使用): " + (", ".join(forbidden) or "nothing")]
    if score.failures:
        lines.append("failed tests (未通过的测试):")
    for failure in score.failures:
        lines.append(f"- {failure.test}: {failure.message}")
        lines += [f"    {line}" for line in failure.detail.splitlines()]
    return "\n".join(lines) + "\n"


def submissions_in(paths: list[Path]) -> list[Path]:
    found = []
    for path in paths:
        found += sorted([*path.glob("*.ipynb"), *path.glob("*.py")]) if path.is_dir() else [path]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", choices=assignments())
    parser.add_argument("submissions", nargs="*", type=Path, help="notebooks, .py files or folders of them")
    parser.add_argument("--hidden", type=Path, metavar="DIR",
                        help="folder of hidden tests, laid out DIR/<assignment>/test_hidden.py; keep it private")
    parser.add_argument("--csv", type=Path, help="write one row per submission to this CSV file")
    parser.add_argument("--feedback", type=Path, metavar="DIR",
                        help="write <student>.txt feedback here (default: next to the CSV, <csv name>-feedback/)")
    parser.add_argument("--time-limit", type=int, help="seconds per submission (default: assignment.toml)")
    parser.add_argument("--memory-mb", type=int, help="memory per submission (default: assignment.toml)")
    args = parser.parse_args(argv)
    if args.hidden and not (args.hidden / args.assignment).is_dir():
        parser.error(f"{args.hidden}/{args.assignment}/ does not exist")
    paths = submissions_in(args.submissions or [HERE / args.assignment / "student.ipynb"])
    feedback_dir = args.feedback or (args.csv.with_name(args.csv.stem + "-feedback") if args.csv else None)
    rows = []
    for path in paths:
        score = grade(args.assignment, path, args.hidden, args.time_limit, args.memory_mb)
        text = feedback(args.assignment, score)
        head = text.split("\n", 1)[0] + f" [{score.status}] {score.reason}"
        print(text if len(paths) == 1 else "\n".join([head, *(f"    {f.test}: {f.message}" for f in score.failures)]))
        if feedback_dir:
            feedback_dir.mkdir(parents=True, exist_ok=True)
            (feedback_dir / f"{score.student}.txt").write_text(text, encoding="utf-8")
        rows.append(score.row())
    if args.csv:
        with args.csv.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
