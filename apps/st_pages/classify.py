import pandas as pd
import streamlit as st
from st_common import friendly_errors, get_pipeline, model_controls, t

st.header(t("tab_classify"))
model, quantization = model_controls("clf")
text_in = st.text_area(
    t("text"), "The striker scored twice in the final minutes of the match.", key="clf_text"
)
labels = st.text_input(t("labels"), "", key="clf_labels")
if st.button(t("classify"), type="primary", key="clf_go"):
    with friendly_errors():
        label_list = [part.strip() for part in labels.split(",") if part.strip()] or None
        ranked = get_pipeline("text-classification", model, quantization)(text_in, labels=label_list)
        table = pd.DataFrame(ranked).set_index("label")
        st.bar_chart(table["score"], horizontal=True)
        st.dataframe(table, key="clf_scores")
