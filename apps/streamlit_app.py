"""The mmkit Streamlit app: the same four tasks as the Gradio app, one page each (``make demo-streamlit``)."""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `st_common` and `texts` beside this file

from st_common import language_picker  # noqa: E402

st.set_page_config(page_title="mmkit", page_icon="🧩", layout="wide")
lang = language_picker()
pages = [
    st.Page("st_pages/classify.py", title="Text classification / 文本分类", default=True),
    st.Page("st_pages/caption.py", title="Image captioning / 图像描述"),
    st.Page("st_pages/retrieval.py", title="Cross-modal retrieval / 跨模态检索"),
    st.Page("st_pages/qa.py", title="Long-text QA / 长文本问答"),
]
st.navigation(pages).run()
