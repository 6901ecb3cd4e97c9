"""Build what students get from what teachers edit (run: python course/assignments/build.py [--handout DIR]).

* ``student.ipynb`` of every assignment, from its ``solution.py`` and ``README.md``: code between
  ``# BEGIN SOLUTION`` and ``# END SOLUTION`` becomes ``raise NotImplementedError  # 在这里写你的代码``, and the graded
  cell is tagged ``graded`` so that ``grade.py`` exports only that cell. Teachers edit ``solution.py`` and the
  README and re-run this script; they never edit two copies.
* with ``--handout DIR``, a folder to give students: per assignment ``student.ipynb``, ``test_public.py``,
  ``README.md`` and ``assignment.toml``, plus ``grade.py``, ``guard.py`` and the top README. No ``solution.py``
  and no hidden tests (not even the examples) go in; the build checks the finished folder for both.
"""

import argparse
import re
import shutil
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
BLANK = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION\n.*?^[ \t]*# END SOLUTION\n", re.S | re.M)
HANDOUT_FILES = ("student.ipynb", "test_public.py", "README.md", "assignment.toml")
TOOLS = ("grade.py", "guard.py", "README.md")


def assignments() -> list[Path]:
    return sorted(p for p in HERE.iterdir() if (p / "solution.py").exists())


def student_source(solution: str) -> str:
    return BLANK.sub(lambda m: f"{m['indent']}raise NotImplementedError  # 在这里写你的代码\n", solution)


def build(assignment: Path) -> Path:
    """Write ``assignment/student.ipynb``: the README, the graded cell, a scratch cell."""
    readme = (assignment / "README.md").read_text(encoding="utf-8").strip()
    graded = nbformat.v4.new_code_cell(student_source((assignment / "solution.py").read_text(encoding="utf-8")))
    graded.metadata["tags"] = ["graded"]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell(readme + "\n\n只修改带 `raise NotImplementedError` 的地方，不要改函数名和参数。"
                                      "写完后保存，在作业文件夹的上一级运行：\n\n"
                                      f"```bash\npython grade.py {assignment.name} {assignment.name}/student.ipynb\n```"
                                      "\n\n它会运行公开测试，列出没通过的测试和原因。"),
        graded,
        nbformat.v4.new_markdown_cell("## 自己试一试\n\n在下面的单元格里调用你的函数，观察输出（这个单元格不计分）。"),
        nbformat.v4.new_code_cell(""),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = assignment / "student.ipynb"
    nbformat.write(notebook, path)
    return path


def solution_lines(assignment: Path) -> set[str]:
    """The non-trivial lines that only the reference solution has (what a handout must not contain)."""
    solution = (assignment / "solution.py").read_text(encoding="utf-8")
    blanks = "".join(m.group(0) for m in BLANK.finditer(solution)).splitlines()
    return {line.strip() for line in blanks if len(line.strip()) > 12 and "SOLUTION" not in line}


def handout(out: Path) -> Path:
    """Write the student handout to ``out`` (which must not exist yet) and check it leaks nothing."""
    if out.exists():
        raise FileExistsError(f"{out} exists; choose a new folder")
    out.mkdir(parents=True)
    for name in TOOLS:
        shutil.copy(HERE / name, out / name)
    for assignment in assignments():
        (out / assignment.name).mkdir()
        for name in HANDOUT_FILES:
            shutil.copy(assignment / name, out / assignment.name / name)
    leaks = [p for p in out.rglob("*") if p.name == "solution.py" or "hidden" in p.name]
    for assignment in assignments():
        text = "\n".join(p.read_text(encoding="utf-8") for p in (out / assignment.name).iterdir())
        leaks += [f"{assignment.name}: {line}" for line in solution_lines(assignment) if line in text]
    if leaks:
        shutil.rmtree(out)
        raise RuntimeError(f"the handout would leak the solution or hidden tests: {leaks[:5]}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--handout", type=Path, metavar="DIR", help="also write the student handout to DIR")
    args = parser.parse_args()
    for folder in assignments():
        print(build(folder))
    if args.handout:
        print(handout(args.handout))
