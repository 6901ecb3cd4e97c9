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
