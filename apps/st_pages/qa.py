import tempfile
from pathlib import Path

import streamlit as st
from st_common import EXAMPLES, friendly_errors, get_pipeline, model_controls, t

from mmkit.inputs import load_text_file

st.header(t("tab_qa"))
model, quantization = model_controls("qa")
example = (EXAMPLES / "documents" / "solar_system.md").read_text(encoding="utf-8")
document = st.text_area(t("document"), example, height=220, key="qa_document")
upload = st.file_uploader(t("document_file"), type=["txt", "md"], key="qa_upload")
question = st.text_input(t("question"), "Which planet has the Great Red Spot?", key="qa_question")
if st.button(t("ask"), type="primary", key="qa_go"):
    with friendly_errors():
        if upload is not None:
            # The uploaded name only lends its suffix: it never becomes a path of its own.
            saved = Path(tempfile.mkdtemp(prefix="mmkit-upload-")) / ("upload" + Path(upload.name).suffix.lower())
            saved.write_bytes(upload.getvalue())
            document = load_text_file(saved)
        if not document.strip():
            st.warning(t("no_document"))
        else:
            with st.status(t("ask")):
                result = get_pipeline("long-text-qa", model, quantization)(question=question, document=document,
                                                                           as_text=True)
            found = result.get("found", True) and result["answer"]
            st.subheader(result["answer"] if found else t("not_found"))
            if result.get("start") is not None:
                s, e = result["start"], result["end"]
                st.caption(t("evidence"))
                st.markdown(f"…{document[max(0, s - 300):s]}**:orange-background[{document[s:e]}]**{document[e:e + 300]}…")
