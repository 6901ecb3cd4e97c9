"""The ``mmkit`` command: the pipelines from the shell.

    mmkit classify "text" [--labels a,b,c]
    mmkit caption image.png [--lang zh] [--beams 3]
    mmkit index build DIR --out idx/
    mmkit index search idx/ "a red fruit" -k 5
    mmkit ask document.md "question"
    mmkit models

Every command takes ``--json`` for machine-readable output. Bad input prints one line to stderr and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mmkit.errors import InputError, MissingDependencyError


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="hub id or local folder (default: the embedded model)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--quantization", choices=["8bit", "4bit"], default=None)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _pipeline(task: str, args):
    from mmkit.pipelines import pipeline

    return pipeline(task, model=args.model, device=args.device, quantization=args.quantization)


def cmd_classify(args) -> object:
    labels = [label.strip() for label in args.labels.split(",")] if args.labels else None
    ranked = _pipeline("text-classification", args)(args.text, labels=labels)
    return ranked, "\n".join(f"{row['score']:.3f}  {row['label']}" for row in ranked)


def _caption_line(r: dict) -> str:
    """One line per image: its path, its caption and, from the photo model, the three best classes."""
    top = ", ".join(f"{t['label']} {t['score']:.2f}" for t in r.get("top", [])[:3])
    return f"{r['image']}: {r['caption']}" + (f"  ({top})" if top else "")


def cmd_caption(args) -> object:
    captioner = _pipeline("image-captioning", args)
    results = [
        {"image": path, **captioner(path, lang=args.lang, num_beams=args.beams)} for path in args.images
    ]
    return results, "\n".join(_caption_line(r) for r in results)


def cmd_index_build(args) -> object:
    retriever = _pipeline("cross-modal-retrieval", args)
    retriever.add(args.folder)
    retriever.save(args.out)
    return {"indexed": len(retriever), "out": args.out}, f"indexed {len(retriever)} images into {args.out}"


def cmd_index_search(args) -> object:
    retriever = _pipeline("cross-modal-retrieval", args).load(args.index)
    hits = retriever.search(args.query, k=args.k)
    return hits, "\n".join(f"{h['score']:.3f}  {h['id']}  {h.get('path', '')}" for h in hits)


def cmd_ask(args) -> object:
    # The document is always a file here: a misspelt or swapped path must not be answered as if it were the
    # text.
    result = _pipeline("long-text-qa", args)(question=args.question, document=Path(args.document))
    if result["found"]:
        label, answer = "evidence", result["answer"]
    else:
        label, answer = "closest sentence", "(not in the document)"
    return (
        result,
        f"{answer}\n\n{label} [{result.get('start')}:{result.get('end')}]: {result.get('evidence')}",
    )


def cmd_models(args) -> object:
    from mmkit.models import list_models
    from mmkit.models.registry import card_headline

    rows = [
        {
            "name": s.name,
            "kind": s.kind,
            "size_mb": s.size_mb,
            "ready": s.ready(),
            "licence": s.licence,
            "languages": list(s.languages),
            "source": s.source,
            "description": s.description,
            "install": s.install,
            "card": str(s.card),
            "headline": card_headline(s.name),
        }
        for s in list_models()
    ]
    text = "\n".join(
        f"{'ready  ' if r['ready'] else 'missing'}  {r['name']:<24} {r['kind']:<19} {r['size_mb']:>6.0f} MB  "
        f"{r['description']}" + ("" if r["ready"] else f"  (install: {r['install']})")
        for r in rows
    )
    return rows, text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmkit", description="mmkit pipelines from the shell (offline by default)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("classify", help="classify a text (zero-shot with --labels, else the topic head)")
    p.add_argument("text")
    p.add_argument("--labels", default=None, help="comma-separated labels for zero-shot classification")
    _model_args(p)
    p.set_defaults(run=cmd_classify)

    p = commands.add_parser("caption", help="describe images in words")
    p.add_argument("images", nargs="+")
    p.add_argument("--lang", choices=["en", "zh"], default="en")
    p.add_argument("--beams", type=int, default=1)
    _model_args(p)
    p.set_defaults(run=cmd_caption)

    index = commands.add_parser("index", help="build and search an image index").add_subparsers(
        dest="index_command", required=True
    )
    p = index.add_parser("build", help="index every image in a folder")
    p.add_argument("folder")
    p.add_argument("--out", required=True, help="folder to write the index to")
    _model_args(p)
    p.set_defaults(run=cmd_index_build)
    p = index.add_parser("search", help="search an index by text or by an image path")
    p.add_argument("index")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5)
    _model_args(p)
    p.set_defaults(run=cmd_index_search)

    p = commands.add_parser("ask", help="answer a question about a long .txt, .md or .pdf file")
    p.add_argument("document", help="path of a .txt, .md or .pdf file")
    p.add_argument("question")
    _model_args(p)
    p.set_defaults(run=cmd_ask)

    p = commands.add_parser("models", help="list the embedded models and whether they are ready")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The shell shows answers, not library chatter: no weight-loading bars or warnings from transformers.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        data, text = args.run(args)
    except (InputError, MissingDependencyError) as error:
        print(f"mmkit: {error}", file=sys.stderr)
        return 2
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str) if args.json else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
