"""The mmkit Gradio app: four tabs over ``mmkit.pipeline``, what ``make demo`` opens and what a Space runs.

No model logic lives here: each handler checks the input, calls a pipeline (built once per model choice and shared
between requests) and shapes the answer for a component. Bad input comes back as a ``gr.Error`` with the message
the library wrote for people; the server keeps serving.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import gradio as gr

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `texts` beside this file, also when run as a script

import defaults  # noqa: E402
from texts import LANGUAGES, TEXTS, text  # noqa: E402

from mmkit.errors import InputError, MissingDependencyError  # noqa: E402
from mmkit.inputs import MAX_UPLOAD_BYTES, safe_extract_zip  # noqa: E402
from mmkit.longtext.documents import read_document  # noqa: E402
from mmkit.visualize import attention_overlay, highlight_segments  # noqa: E402

log = logging.getLogger("mmkit.apps")
QUANTIZATION = ["none", "8bit", "4bit"]
DOCUMENT_TYPES = [".txt", ".md", ".pdf"]  # what read_document reads


class ImageFile(gr.Image):
    """gr.Image that gives the handler the uploaded file's path without opening it: mmkit.inputs.load_image checks
    size and pixel count before decoding, and converts 16-bit, CMYK and transparent images itself."""

    def get_block_name(self) -> str:
        return "image"  # the front end of gr.Image

    def preprocess(self, payload):
        return None if payload is None or payload.path is None else str(payload.path)


load_pipeline = lru_cache(maxsize=8)(defaults.load_pipeline)  # one per (task, model, quantization), shared


def get_pipeline(task: str, model: str = "", quantization: str = "none"):
    """The pipeline for the model field's text (blank: the Space's variable or the embedded default, see
    apps/defaults.py), loaded on first use and shared by every request after."""
    return defaults.get_pipeline(task, model, quantization, load=load_pipeline)


def friendly(handler):
    """Run a handler; turn our input errors into gr.Error, and anything unexpected into a short message + log."""

    def wrapped(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise
        except (InputError, MissingDependencyError) as error:
            raise gr.Error(str(error)) from error
        except Exception as error:  # the server must stay up whatever a request contains
            log.exception("request failed")
            raise gr.Error(f"Something went wrong ({type(error).__name__}). Please try other input.") from error

    wrapped.__name__ = handler.__name__
    return wrapped


@friendly
def classify(text_in: str, labels: str, model: str, quantization: str):
    clf = get_pipeline("text-classification", model, quantization)
    label_list = [part.strip() for part in labels.split(",") if part.strip()] if labels and labels.strip() else None
    return {row["label"]: row["score"] for row in clf(text_in, labels=label_list)}


@friendly
def caption(image_path: str | None, lang: str, beams: int, model: str, quantization: str, ui_lang: str = "en"):
    if not image_path:
        raise gr.Error(text("no_image", ui_lang))
    cap = get_pipeline("image-captioning", model, quantization)
    explain = cap.supports_attention
    result = cap(image_path, lang=lang, num_beams=int(beams), return_attention=explain)
    maps = []
    if explain:
        maps = [(attention_overlay(result["image"], a), word) for word, a in zip(result["words"], result["attention"])]
    # the photo model's five best classes beside its caption; a captioner has none (the label stays empty)
    top = {row["label"]: row["score"] for row in result["top"]} if "top" in result else None
    return result["caption"], top, maps


def remove_upload(retriever) -> None:
    """Delete the folder a session's zip was unpacked into (on rebuild, and when Gradio drops the session)."""
    if retriever is not None and retriever.upload is not None:
        shutil.rmtree(retriever.upload, ignore_errors=True)


@friendly
def build_index(upload: str | None, model: str, quantization: str, ui_lang: str, previous=None,
                progress=gr.Progress()):
    shared = get_pipeline("cross-modal-retrieval", model, quantization)
    folder = Path(tempfile.mkdtemp(prefix="mmkit-upload-")) if upload else None
    retriever = shared.fresh(upload=folder)  # the session's index holds its folder; remove_upload deletes it
    try:
        paths = safe_extract_zip(upload, folder) if upload else defaults.example_gallery()
        if not paths:
            raise gr.Error("the zip file holds no images")
        retriever.add([str(p) for p in paths], ids=[Path(p).stem for p in paths], progress=progress.tqdm)
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    remove_upload(previous)  # the session's earlier index and its images are replaced
    return retriever, text("indexed", ui_lang, n=len(retriever))


@friendly
def search(retriever, query_text: str, query_image: str | None, k: int, ui_lang: str):
    if retriever is None:
        raise gr.Error(text("no_index", ui_lang))
    if query_text and query_text.strip():
        query = query_text  # searched as text even when it looks like a file name
    elif query_image:
        query = Path(query_image)
    else:
        raise gr.Error(text("one_query", ui_lang))
    hits = retriever.search(query, k=int(k), as_text=isinstance(query, str))
    return [(hit["path"], f"{hit['id']}  {hit['score']:.3f}") for hit in hits]


@friendly
def answer(document: str, document_file: str | None, question: str, model: str, quantization: str, ui_lang: str,
           progress=gr.Progress()):
    if document_file:
        # Read here, once, and passed on as text: the highlighted view must show the text the offsets index,
        # which for a PDF is the text extracted from it, not the file.
        document = read_document(Path(document_file))
    if not document or not document.strip():
        raise gr.Error(text("no_document", ui_lang))
    qa = get_pipeline("long-text-qa", model, quantization)
    stages = {"retrieving": 0.1, "reading": 0.4}  # reading (the 1.5B reader) takes most of the time
    result = qa(question=question, document=document, as_text=True,
                progress=lambda stage: progress(stages[stage], desc=stage))
    if result["found"]:
        return result["answer"], highlight_segments(document, result["start"], result["end"])
    return text("not_found", ui_lang), highlight_segments(document, result["start"], result["end"],
                                                          label=text("closest", ui_lang))


def _example(name: str) -> str:
    return str(defaults.EXAMPLES / name)


def _classify_tab(tr, model, quantization) -> gr.Tab:
    with gr.Tab(TEXTS["tab_classify"]["en"]) as tab:
        clf_text = tr(gr.Textbox(label=TEXTS["text"]["en"], lines=3), "text")
        clf_labels = tr(gr.Textbox(label=TEXTS["labels"]["en"]), "labels")
        clf_button = tr(gr.Button(TEXTS["classify"]["en"], variant="primary"), "classify", "value")
        clf_out = tr(gr.Label(label=TEXTS["scores"]["en"], num_top_classes=8), "scores")
        gr.Examples(
            [["The striker scored twice in the final minutes of the match.", ""],
             ["The new phone ships with a faster chip and a brighter screen.", "sports, technology, cooking"],
             ["这家餐厅的红烧肉味道很好，价格也不贵。", ""]],
            [clf_text, clf_labels],
        )
        clf_button.click(classify, [clf_text, clf_labels, model, quantization], clf_out, api_name="classify")
    return tab


def _caption_tab(tr, model, quantization, ui_lang) -> gr.Tab:
    with gr.Tab(TEXTS["tab_caption"]["en"]) as tab:
        with gr.Row():
            cap_image = tr(ImageFile(type="filepath", label=TEXTS["image"]["en"], height=256), "image")
            with gr.Column():
                cap_lang = tr(gr.Radio(["en", "zh"], value="en", label=TEXTS["caption_lang"]["en"]),
                              "caption_lang")
                cap_beams = tr(gr.Slider(1, 5, value=1, step=1, label=TEXTS["beams"]["en"]), "beams")
                cap_button = tr(gr.Button(TEXTS["caption"]["en"], variant="primary"), "caption", "value")
                cap_out = tr(gr.Textbox(label=TEXTS["caption_out"]["en"]), "caption_out")
                cap_top = tr(gr.Label(label=TEXTS["top_classes"]["en"], num_top_classes=5), "top_classes")
        cap_maps = tr(gr.Gallery(label=TEXTS["explain"]["en"], columns=6, height=220), "explain")
        gr.Examples([[_example(name)] for name in defaults.CAPTION_EXAMPLES], [cap_image], examples_per_page=6)
        cap_button.click(caption, [cap_image, cap_lang, cap_beams, model, quantization, ui_lang],
                         [cap_out, cap_top, cap_maps], api_name="caption")
    return tab


def _retrieval_tab(tr, model, quantization, ui_lang) -> gr.Tab:
    with gr.Tab(TEXTS["tab_retrieval"]["en"]) as tab:
        retriever = gr.State(None, delete_callback=remove_upload)
        with gr.Row():
            ret_zip = tr(gr.File(label=TEXTS["index_source"]["en"], file_types=[".zip"]), "index_source")
            with gr.Column():
                ret_build = tr(gr.Button(TEXTS["build_index"]["en"]), "build_index", "value")
                ret_status = tr(gr.Textbox(label=TEXTS["index_status"]["en"], interactive=False),
                                "index_status")
        with gr.Row():
            ret_text = tr(gr.Textbox(label=TEXTS["query_text"]["en"]), "query_text")
            ret_image = tr(ImageFile(type="filepath", label=TEXTS["query_image"]["en"], height=160),
                           "query_image")
            ret_k = tr(gr.Slider(1, 20, value=6, step=1, label=TEXTS["top_k"]["en"]), "top_k")
        ret_button = tr(gr.Button(TEXTS["search"]["en"], variant="primary"), "search", "value")
        ret_gallery = tr(gr.Gallery(label=TEXTS["results"]["en"], columns=6, height=260,
                                    elem_id="retrieval-results"), "results")
        gr.Examples([[query] for query in defaults.RETRIEVAL_QUERIES], [ret_text])
        ret_build.click(build_index, [ret_zip, model, quantization, ui_lang, retriever],
                        [retriever, ret_status], api_name="build_index")
        ret_button.click(search, [retriever, ret_text, ret_image, ret_k, ui_lang], ret_gallery,
                         api_name="search")
    return tab


def _qa_tab(tr, model, quantization, ui_lang) -> gr.Tab:
    with gr.Tab(TEXTS["tab_qa"]["en"]) as tab:
        with gr.Row():
            qa_doc = tr(gr.Textbox(label=TEXTS["document"]["en"], lines=8, max_lines=12), "document")
            qa_file = tr(gr.File(label=TEXTS["document_file"]["en"], file_types=DOCUMENT_TYPES),
                         "document_file")
        qa_question = tr(gr.Textbox(label=TEXTS["question"]["en"]), "question")
        qa_button = tr(gr.Button(TEXTS["ask"]["en"], variant="primary"), "ask", "value")
        qa_answer = tr(gr.Textbox(label=TEXTS["answer"]["en"]), "answer")
        qa_evidence = tr(gr.HighlightedText(label=TEXTS["evidence"]["en"], combine_adjacent=True), "evidence")
        gr.Examples([[None, _example("documents/solar_system.md"), "Which planet has the Great Red Spot?"],
                     [None, _example("documents/tea_zh.md"), "龙井茶产自哪里？"]],
                    [qa_doc, qa_file, qa_question])
        qa_button.click(answer, [qa_doc, qa_file, qa_question, model, quantization, ui_lang],
                        [qa_answer, qa_evidence], api_name="answer")
    return tab


def _language_switch(switch, ui_lang, title, labelled: list, tabs: list) -> None:
    """Re-label every registered component and tab when the interface language changes."""

    def relabel(choice: str):
        lang = LANGUAGES[choice]
        updates = [lang]
        for component, key, prop in labelled:
            value = TEXTS[key][lang]
            if component is title:
                value = f"# {value}\n{TEXTS['intro'][lang]}"
            updates.append(gr.update(**{prop: value}))
        updates += [gr.update(label=TEXTS[key][lang]) for _, key in tabs]
        return updates

    switch.change(relabel, switch, [ui_lang] + [c for c, _, _ in labelled] + [t for t, _ in tabs],
                  api_name="language")


def build_app() -> gr.Blocks:
    """The Blocks app, one tab per task; every label is registered so the language switch can re-label it."""
    labelled: list[tuple[gr.components.Component, str, str]] = []  # (component, text key, property)

    def tr(component, key, prop="label"):
        labelled.append((component, key, prop))
        return component

    with gr.Blocks(title=TEXTS["title"]["en"]) as demo:
        title = tr(gr.Markdown(f"# {TEXTS['title']['en']}\n{TEXTS['intro']['en']}"), "title", "value")
        ui_lang = gr.State("en")
        switch = gr.Radio(list(LANGUAGES), value="English", label="Interface language / 界面语言")
        with gr.Row():
            model = tr(gr.Textbox(label=TEXTS["model"]["en"], value="", scale=3), "model")
            quantization = tr(gr.Dropdown(QUANTIZATION, value="none", label=TEXTS["quantization"]["en"]),
                              "quantization")
        tabs = [(_classify_tab(tr, model, quantization), "tab_classify"),
                (_caption_tab(tr, model, quantization, ui_lang), "tab_caption"),
                (_retrieval_tab(tr, model, quantization, ui_lang), "tab_retrieval"),
                (_qa_tab(tr, model, quantization, ui_lang), "tab_qa")]
        _language_switch(switch, ui_lang, title, labelled, tabs)
    return demo


def warm_up(tasks: tuple[str, ...]) -> None:
    """Load the embedded default pipelines of ``tasks``, so that a visitor's first answer does not wait for them."""
    for task in tasks:
        try:
            get_pipeline(task)
        except Exception:  # e.g. an untrained model: its own request shows the error and the fix
            log.warning("could not preload %s", task, exc_info=True)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    # Classification (the first tab) is loaded before the page is served, about 2 s; the rest while it is served.
    warm_up(("text-classification",))
    later = ("image-captioning", "cross-modal-retrieval", "long-text-qa")
    threading.Thread(target=warm_up, args=(later,), name="warm-up", daemon=True).start()
    demo = build_app()
    demo.queue(default_concurrency_limit=2, max_size=64)
    port = int(os.environ.get("GRADIO_SERVER_PORT") or os.environ.get("PORT") or 7860)
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=port,
        max_file_size=MAX_UPLOAD_BYTES,
        show_error=True,
    )


if __name__ == "__main__":
    main()
