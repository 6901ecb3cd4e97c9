import tempfile
from pathlib import Path

import streamlit as st
from defaults import EXAMPLES
from st_common import friendly_errors, get_pipeline, markdown_literal, model_controls, t

from mmkit.longtext.documents import read_document

DOCUMENT_TYPES = ["txt", "md", "pdf"]  # what read_document reads


def read_upload(upload) -> str:
    """The text of an uploaded document; for a PDF the text extracted from it, which the answer's offsets index.

    The file is saved under a fixed name in a folder of its own (the visitor's file name only lends its suffix),
    and the folder is removed once the text is read.
    """
    with tempfile.TemporaryDirectory(prefix="mmkit-upload-") as folder:
        saved = Path(folder) / ("upload" + Path(upload.name).suffix.lower())
        saved.write_bytes(upload.getvalue())
        return read_document(saved)


st.header(t("tab_qa"))
model, quantization = model_controls("qa")
example = (EXAMPLES / "documents" / "solar_system.md").read_text(encoding="utf-8")
document = st.text_area(t("document"), example, height=220, key="qa_document")
upload = st.file_uploader(t("document_file"), type=DOCUMENT_TYPES, key="qa_upload")
question = st.text_input(t("question"), "Which planet has the Great Red Spot?", key="qa_question")
if st.button(t("ask"), type="primary", key="qa_go"):
    with friendly_errors():
        if upload is not None:
            document = read_upload(upload)
        if not document.strip():
            st.warning(t("no_document"))
        else:
            with st.status(t("ask")) as status:
                result = get_pipeline("long-text-qa", model, quantization)(
                    question=question, document=document, as_text=True,
                    progress=lambda stage: status.update(label=f"{t('ask')}: {stage}"))
            st.subheader(result["answer"] if result["found"] else t("not_found"))
            if result.get("start") is not None:
                s, e = result["start"], result["end"]
                st.caption(t("evidence") if result["found"] else t("closest"))
                before, evidence, after = (markdown_literal(part) for part in
                                           (document[max(0, s - 300):s], document[s:e], document[e:e + 300]))
                st.markdown(f"…{before}**:orange-background[{evidence}]**{after}…")
