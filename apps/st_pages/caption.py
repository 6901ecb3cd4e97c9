import streamlit as st
from st_common import EXAMPLES, friendly_errors, get_pipeline, model_controls, t

from mmkit.visualize import attention_overlay

st.header(t("tab_caption"))
model, quantization = model_controls("cap")
upload = st.file_uploader(t("image"), type=["png", "jpg", "jpeg", "webp", "gif", "bmp"], key="cap_upload")
example = st.selectbox("Example", ["red_apple.png", "dog_face.png", "composite_1.png"], key="cap_example")
lang = st.radio(t("caption_lang"), ["en", "zh"], horizontal=True, key="cap_lang")
beams = st.slider(t("beams"), 1, 5, 1, key="cap_beams")
if st.button(t("caption"), type="primary", key="cap_go"):
    with friendly_errors():
        source = upload.getvalue() if upload is not None else EXAMPLES / "images" / example
        cap = get_pipeline("image-captioning", model, quantization)
        result = cap(source, lang=lang, num_beams=beams, return_attention=cap.supports_attention)
        st.subheader(result["caption"])
        if cap.supports_attention:
            st.caption(t("explain"))
            overlays = [attention_overlay(result["image"], a) for a in result["attention"]]
            st.image(overlays, caption=result["words"], width=120)
