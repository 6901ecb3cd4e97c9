"""Every string the two apps show, in English and Chinese, keyed by a short name.

Both apps look strings up here, so the two languages stay complete and the apps stay the same.
"""

TEXTS = {
    "title": {"en": "mmkit — multimodal demos", "zh": "mmkit —— 多模态演示"},
    "intro": {
        "en": "Four tasks on small models that run offline on a CPU; the image tabs know photos (ImageNet's 1000 "
        "classes). Type `tiny-captioner` or `tiny-clip` for the emoji models, or a hub model id where you have "
        "internet (for example BLIP for free-form photo captions).",
        "zh": "四个任务，使用可在 CPU 上离线运行的小模型；图像任务认识照片（ImageNet 的 1000 类）。填入 `tiny-captioner` 或 "
        "`tiny-clip` 可改用表情图模型；联网时也可填入 Hugging Face 模型 ID（例如用 BLIP 为照片生成自由描述）。",
    },
    "language": {"en": "Interface language", "zh": "界面语言"},
    "tab_classify": {"en": "Text classification", "zh": "文本分类"},
    "tab_caption": {"en": "Image captioning", "zh": "图像描述"},
    "tab_retrieval": {"en": "Cross-modal retrieval", "zh": "跨模态检索"},
    "tab_qa": {"en": "Long-text QA", "zh": "长文本问答"},
    "model": {"en": "Model (empty = the default, or a hub id / local folder)", "zh": "模型（留空 = 默认模型，或填 Hub ID / 本地目录）"},
    "quantization": {"en": "Quantization", "zh": "量化"},
    "text": {"en": "Text", "zh": "文本"},
    "labels": {
        "en": "Labels, comma separated (empty = the fine-tuned topic classifier)",
        "zh": "标签，用逗号分隔（留空 = 使用微调好的主题分类器）",
    },
    "classify": {"en": "Classify", "zh": "分类"},
    "scores": {"en": "Scores", "zh": "得分"},
    "image": {"en": "Image", "zh": "图像"},
    "caption_lang": {"en": "Caption language", "zh": "描述语言"},
    "beams": {"en": "Beams (1 = greedy)", "zh": "束宽（1 = 贪心解码）"},
    "caption": {"en": "Caption", "zh": "生成描述"},
    "caption_out": {"en": "Caption", "zh": "描述"},
    "top_classes": {"en": "Top 5 classes (photo model)", "zh": "前 5 个类别（照片模型）"},
    "explain": {"en": "Where the model looked, word by word (tiny-captioner)", "zh": "逐词查看模型关注的区域（tiny-captioner）"},
    "index_source": {
        "en": "Images to index: empty = the bundled examples (emoji art and three photos), or upload a .zip of images",
        "zh": "要建立索引的图像：留空 = 自带示例（表情图与三张照片），或上传图像 .zip",
    },
    "build_index": {"en": "Build index", "zh": "建立索引"},
    "index_status": {"en": "Index", "zh": "索引状态"},
    "query_text": {"en": "Search by text", "zh": "按文本检索"},
    "query_image": {"en": "…or by image", "zh": "……或按图像检索"},
    "top_k": {"en": "Results", "zh": "返回数量"},
    "search": {"en": "Search", "zh": "检索"},
    "results": {"en": "Results", "zh": "检索结果"},
    "document": {"en": "Document (paste text)", "zh": "文档（粘贴文本）"},
    "document_file": {"en": "…or upload .txt / .md / .pdf", "zh": "……或上传 .txt / .md / .pdf 文件"},
    "question": {"en": "Question", "zh": "问题"},
    "ask": {"en": "Ask", "zh": "提问"},
    "answer": {"en": "Answer", "zh": "答案"},
    "evidence": {"en": "Evidence in the document", "zh": "文档中的依据"},
    "not_found": {"en": "Not in the document.", "zh": "文档中没有找到答案。"},
    "closest": {"en": "closest sentence (no answer)", "zh": "最接近的句子（不是答案）"},
    "indexed": {"en": "{n} images indexed", "zh": "已索引 {n} 张图像"},
    "no_index": {"en": "Build the index first.", "zh": "请先建立索引。"},
    "one_query": {"en": "Type a text or give an image to search with.", "zh": "请输入文本或提供一张图像作为检索条件。"},
    "no_image": {"en": "Give an image first.", "zh": "请先提供一张图像。"},
    "no_document": {"en": "Paste a document or upload a file.", "zh": "请粘贴文档或上传文件。"},
}

LANGUAGES = {"English": "en", "中文": "zh"}


def text(key: str, lang: str = "en", **values) -> str:
    """The string ``key`` in ``lang`` ("en" or "zh"), with ``{placeholders}`` filled from ``values``."""
    return TEXTS[key][lang].format(**values)
