import pandas as pd
import streamlit as st
from defaults import CAPTION_EXAMPLES, EXAMPLES
from st_common import friendly_errors, get_pipeline, model_controls, t

from mmkit.visualize import attention_overlay

st.header(t("tab_caption"))
model, quantization = model_controls("cap")
upload = st.file_uploader(t("image"), type=["png", "jpg", "jpeg", "webp", "gif", "bmp"], key="cap_upload")
example = st.selectbox("Example", CAPTION_EXAMPLES, key="cap_example")
lang = st.radio(t("caption_lang"), ["en", "zh"], horizontal=True, key="cap_lang")
beams = st.slider(t("beams"), 1, 5, 1, key="cap_beams")
if st.button(t("caption"), type="primary", key="cap_go"):
    with friendly_errors():
        source = upload.getvalue() if upload is not None else EXAMPLES / example
        cap = get_pipeline("image-captioning", model, quantization)
        result = cap(source, lang=lang, num_beams=beams, return_attention=cap.supports_attention)
        st.subheader(result["caption"])
        if "top" in result:  # the photo model's best classes, with their probabilities
            st.caption(t("top_classes"))
            table = pd.DataFrame(result["top"]).set_index("label")[["score"]]
            st.bar_chart(table["score"], horizontal=True)
            st.dataframe(table, key="cap_top")
        if cap.supports_attention:
            st.caption(t("explain"))
            overlays = [attention_overlay(result["image"], a) for a in result["attention"]]
            st.image(overlays, caption=result["words"], width=120)
