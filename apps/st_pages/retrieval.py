from pathlib import Path

import streamlit as st
from defaults import RETRIEVAL_QUERIES, example_gallery
from st_common import UploadFolder, friendly_errors, get_pipeline, keep_retriever, model_controls, t

from mmkit.errors import InputError
from mmkit.inputs import load_image, safe_extract_zip


def build_index(upload, model: str, quantization: str) -> None:
    """Index the uploaded zip's images (or the examples); a failed build leaves no folder and the old index."""
    folder = UploadFolder() if upload is not None else None
    try:
        if folder is not None:
            archive = folder.path / "upload.zip"
            archive.write_bytes(upload.getvalue())
            paths = safe_extract_zip(archive, folder.path / "images")
            archive.unlink()  # the index needs the images only
            if not paths:
                raise InputError("the zip file holds no images")
        else:
            paths = example_gallery()
        retriever = get_pipeline("cross-modal-retrieval", model, quantization).fresh(upload=folder)
        bar = st.progress(0.0, text=t("build_index"))
        step = 16
        for start in range(0, len(paths), step):
            chunk = paths[start : start + step]
            retriever.add([str(p) for p in chunk], ids=[Path(p).stem for p in chunk], progress=lambda it, **kw: it)
            bar.progress(min(1.0, (start + len(chunk)) / len(paths)))
    except BaseException:
        if folder is not None:
            folder.remove()
        raise
    keep_retriever(retriever)
    st.success(t("indexed", n=len(retriever)))


st.header(t("tab_retrieval"))
model, quantization = model_controls("ret")
upload = st.file_uploader(t("index_source"), type=["zip"], key="ret_zip")
if st.button(t("build_index"), key="ret_build"):
    with friendly_errors():
        build_index(upload, model, quantization)
query = st.text_input(t("query_text"), RETRIEVAL_QUERIES[0], key="ret_query")
k = st.slider(t("top_k"), 1, 20, 6, key="ret_k")
if st.button(t("search"), type="primary", key="ret_search"):
    with friendly_errors():
        retriever = st.session_state.get("retriever")
        if retriever is None:
            st.warning(t("no_index"))
        else:
            hits = retriever.search(query, k=k, as_text=True)
            # Read through mmkit as RGB: st.image cannot show some indexed files as they are (16-bit PNG).
            pictures = [load_image(h["path"]) for h in hits]
            st.image(pictures, caption=[f"{h['id']} {h['score']:.3f}" for h in hits], width=110)
