"""What the Streamlit pages share: the language, pipelines cached once per process, errors shown as messages."""

import re
import shutil
import sys
import tempfile
import weakref
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

import defaults  # noqa: E402
from texts import LANGUAGES, text  # noqa: E402

from mmkit.errors import InputError, MissingDependencyError  # noqa: E402

MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$])")


def markdown_literal(value: str) -> str:
    """``value`` escaped so that st.markdown shows it as typed: a visitor's document cannot bring in links,
    remote images, emphasis or Streamlit directives such as ``:red[...]``."""
    return MARKDOWN_SPECIALS.sub(r"\\\1", value)


def language_picker() -> str:
    choice = st.sidebar.radio("Interface language / 界面语言", list(LANGUAGES), key="ui_language")
    return LANGUAGES[choice]


def ui_lang() -> str:
    return LANGUAGES[st.session_state.get("ui_language", "English")]


def t(key: str, **values) -> str:
    return text(key, ui_lang(), **values)


load_pipeline = st.cache_resource(show_spinner="Loading the model (first time only)…")(defaults.load_pipeline)


def get_pipeline(task: str, model: str = "", quantization: str = "none"):
    """The pipeline for the model field's text (blank: the Space's variable or the embedded default, see
    apps/defaults.py), one per (task, model, quantization) for the whole server."""
    return defaults.get_pipeline(task, model, quantization, load=load_pipeline)


def model_controls(prefix: str) -> tuple[str, str]:
    col_model, col_quant = st.columns([3, 1])
    model = col_model.text_input(t("model"), key=f"{prefix}_model")
    quantization = col_quant.selectbox(t("quantization"), ["none", "8bit", "4bit"], key=f"{prefix}_quant")
    return model, quantization


@contextmanager
def friendly_errors():
    """Show our input errors as a red message (and anything unexpected as a short one), never a traceback."""
    try:
        yield
    except (InputError, MissingDependencyError) as error:
        st.error(str(error))
    except Exception as error:  # the page must survive whatever a user sends
        st.error(f"Something went wrong ({type(error).__name__}). Please try other input.")


class UploadFolder:
    """A temporary folder holding one session's uploaded images, deleted with the index that points into it.

    Search results are shown from the indexed files, so the folder lives as long as the session's index: it is
    removed when the index is replaced (``remove``), when a build fails, and otherwise when this object is garbage
    collected -- Streamlit drops a closed session's state -- or when the server exits (``weakref.finalize``).
    """

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="mmkit-upload-"))
        self._remove = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)

    def remove(self) -> None:
        self._remove()  # runs rmtree at most once, however often it is called


def keep_retriever(retriever) -> None:
    """Make ``retriever`` the session's index; the index it replaces takes its upload folder with it."""
    previous = st.session_state.get("retriever")
    st.session_state["retriever"] = retriever
    if previous is not None and previous.upload is not None:
        previous.upload.remove()
