"""Long-text QA: questions over real documents, and planted facts in 1k..200k-token documents.

    .venv/bin/python bench/longqa.py --sets en,heldout_en,zh,heldout_zh --cpu-time     # the dev question sets
    .venv/bin/python bench/longqa.py --sets /work/wt-qsets/data/longqa/reader_dev_en.jsonl --top-k 5
    .venv/bin/python bench/longqa.py --needles --langs zh --plot /tmp/zh.png            # planted facts, Chinese
    .venv/bin/python bench/longqa.py --sets en --quick                                 # smoke run: 6 questions

Question sets (``--sets``): names of data/longqa/NAME.jsonl ("en", "zh": the first development sets; "heldout_en",
"heldout_zh": written later) or paths to .jsonl files in the same format. Each question is answered by the
long-text-qa engine (:class:`mmkit.longtext.qa.LongTextQA`: BM25 + dense sentence-window retrieval, the
Qwen2.5-Coder-1.5B reader, the answer mapped back to a span). Printed per set: concise-correct, exact match, token
F1, evidence hit (the evidence sentence overlaps the gold evidence), retrieval recall@k (a passage read overlaps
it), correct refusals on questions with no answer ("answers": [], right when found=False), median seconds per
question and the process's peak RSS with the reader loaded. Speed is printed beside a reference measured in the
same run: one forward pass of the reader over a 256-token prompt.

Needles (``--needles``): invented facts planted at 5 depths in real prose found on disk (Python's documentation;
for Chinese the Vim tutor and man pages Debian ships), plus questions about facts that were not planted (right
answer: "not in the document"). Each length gets a fresh index; model loading is excluded.
"""

import argparse
import contextlib
import io
import json
import os
import re
import statistics
import sys
import sysconfig
import time
from importlib.util import find_spec
from pathlib import Path

import torch

from mmkit.datasets.haystack import chinese_filler, english_filler, make_haystack
from mmkit.longtext.qa import LongTextQA
from mmkit.longtext.retrieval import IndexCache
from mmkit.metrics import exact_match, normalize_answer, token_f1

ROOT = Path(__file__).resolve().parent.parent
CPU_TIME = False  # set by --cpu-time
DEPTHS = [0.0, 0.25, 0.5, 0.75, 1.0]


def concise_correct(prediction: str | None, golds: list[str]) -> bool:
    """Exact match, or the gold as whole words inside the prediction with at most 2 extra words (CJK: 3 extra
    characters)."""
    if not prediction:
        return False
    if exact_match(prediction, golds):
        return True
    pred = normalize_answer(prediction)
    for gold in map(normalize_answer, golds):
        # whole words only: "reston" is not inside the URL "wwwcnrirestonvaus" (CJK has no word breaks to respect)
        found = re.search(rf"(?<![a-z0-9]){re.escape(gold)}(?![a-z0-9])", pred) if gold else None
        if found:
            extra = pred[:found.start()] + " " + pred[found.end():]
            if len(extra.split()) <= 2 and len(re.sub(r"[\x00-\x7f]", "", extra)) <= 3:
                return True
    return False


def resolve(source: str) -> str:
    """The text of a question set's "source": stdlib:FILE, package:PKG/PATH, file:/PATH, zen: or manzh:."""
    kind, _, rest = source.partition(":")
    if kind == "stdlib":
        return (Path(sysconfig.get_paths()["stdlib"]) / rest).read_text(encoding="utf-8")
    if kind == "package":
        package, _, inner = rest.partition("/")
        return (Path(find_spec(package).origin).parent / inner).read_text(encoding="utf-8")
    if kind == "file":
        return Path(rest).read_text(encoding="utf-8")
    if kind == "zen":
        import codecs

        with contextlib.redirect_stdout(io.StringIO()):
            import this
        return codecs.decode(this.s, "rot13")
    if kind == "manzh":
        text = chinese_filler()
        return text[text.find('"名称"'):]
    raise ValueError(f"unknown source {source!r}")


def evidence_locations(document: str, evidence: str | list[str]) -> list[tuple[int, int]]:
    """Where each gold evidence string occurs in the document, whitespace-insensitively."""
    spans = []
    for text in [evidence] if isinstance(evidence, str) else evidence:
        pattern = r"\s+".join(re.escape(word) for word in text.split())
        spans += [(m.start(), m.end()) for m in re.finditer(pattern, document)]
    return spans


def overlaps(start, end, spans) -> bool:
    return start is not None and any(start < b and end > a for a, b in spans)


def timed(qa: LongTextQA, question: str, document: str) -> tuple[dict, float]:
    """(answer, seconds): wall-clock seconds, or CPU seconds of this process with --cpu-time (see main)."""
    clock = time.process_time if CPU_TIME else time.perf_counter
    begin = clock()
    out = qa(question, document)
    return out, clock() - begin


def needle_bench(qa, lang, filler, lengths, tokenizer, seeds, absent=2):
    rows = []
    chars_per_token = len(filler[:200_000]) / len(tokenizer(filler[:200_000]).input_ids)
    for length in lengths:
        row = {"tokens": length, "correct": 0, "present": 0, "evidence": 0, "absent_ok": 0, "absent": 0,
               "first_s": [], "cached_s": []}
        if int(length * chars_per_token) > len(filler):
            print(f"  [{lang}] {length} tokens: the filler has only ~{len(filler) / chars_per_token:,.0f} tokens, skipped")
            continue
        for seed in seeds:
            haystack = make_haystack(filler, int(length * chars_per_token), DEPTHS, lang=lang, seed=seed, absent=absent)
            row["real_tokens"] = len(tokenizer(haystack.document).input_ids)
            qa.cache = IndexCache()
            for position, needle in enumerate(haystack.needles):
                out, seconds = timed(qa, needle.question, haystack.document)
                row["first_s" if position == 0 else "cached_s"].append(seconds)
                row["present"] += 1
                ok = concise_correct(out["answer"], [needle.answer])
                row["correct"] += ok
                if not ok:
                    print(f"      miss: {needle.question} -> {out['answer']!r} (gold {needle.answer!r})")
                row["evidence"] += overlaps(out["start"], out["end"], [(needle.start, needle.start + len(needle.fact))])
            for question, _ in haystack.absent:
                out, seconds = timed(qa, question, haystack.document)
                row["cached_s"].append(seconds)
                row["absent"] += 1
                row["absent_ok"] += not out["found"]
                if out["found"]:
                    print(f"      answered an absent fact: {question} -> {out['answer']!r}")
        rows.append(row)
        print(f"  [{lang}] {length:>7,} tokens: accuracy {row['correct']}/{row['present']}, evidence "
              f"{row['evidence']}/{row['present']}, not-found {row['absent_ok']}/{row['absent']}, first "
              f"{statistics.median(row['first_s']):.2f} s, cached {statistics.median(row['cached_s']):.2f} s", flush=True)
    return rows


def question_set(name: str) -> list[dict]:
    """The rows of data/longqa/NAME.jsonl, or of the .jsonl file ``name``."""
    path = Path(name) if name.endswith(".jsonl") else ROOT / "data" / "longqa" / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def real_bench(qa, rows, limit=None, verbose=False):
    """One result dict per question; ``verbose`` prints each as it comes (a long run can be read while it runs)."""
    results = []
    for row in rows[:limit]:
        document = resolve(row["source"])
        cpu = time.process_time()
        out, seconds = timed(qa, row["question"], document)
        cpu = time.process_time() - cpu
        golds = row["answers"]
        prediction = out["answer"] or ""
        if not golds:  # not in the document: right when nothing is found
            results.append({"id": row["id"], "answer": out["answer"], "written": out.get("written"),
                            "seconds": seconds, "cpu": cpu, "absent": True, "not_found": not out["found"]})
        else:
            gold_spans = evidence_locations(document, row["evidence"])
            results.append({
                "id": row["id"], "answer": out["answer"], "written": out.get("written"), "gold": golds[0],
                "seconds": seconds, "cpu": cpu, "absent": False,
                "em": exact_match(prediction, golds), "f1": token_f1(prediction, golds),
                "concise": concise_correct(out["answer"], golds),
                "evidence": overlaps(out["start"], out["end"], gold_spans) if out["found"] else False,
                "retrieved": any(overlaps(c["start"], c["end"], gold_spans) for c in out["chunks"]),
            })
        if verbose:
            r = results[-1]
            verdict = ("refused" if r["not_found"] else "ANSWERED") if r["absent"] else \
                ("correct" if r["concise"] else "miss") + (", evidence hit" if r["evidence"] else "")
            print(f"    {r['id']}: {verdict}; wrote {r['written']!r} ({seconds:.1f} s, {cpu:.1f} CPU s)", flush=True)
    return results


def summarise_real(name, results):
    absent = [r for r in results if r["absent"]]
    present = [r for r in results if not r["absent"]]
    n = len(present)
    mean = lambda key: sum(r[key] for r in present) / max(n, 1)  # noqa: E731
    print(f"  [{name}] {n} questions: concise-correct {mean('concise'):.0%}, EM {mean('em'):.0%}, F1 {mean('f1'):.2f}, "
          f"evidence hit {mean('evidence'):.0%}, retrieval recall {mean('retrieved'):.0%}, "
          + (f"correct refusals {sum(r['not_found'] for r in absent)}/{len(absent)}, " if absent else "")
          + f"median {statistics.median(r['seconds'] for r in results):.2f} s/question "
          f"({statistics.median(r['cpu'] for r in results):.2f} CPU s, all threads)", flush=True)
    for r in present:
        if not r["concise"]:
            print(f"      miss {r['id']}: {r['answer']!r} (wrote {r['written']!r}, gold {r['gold']!r}, "
                  f"{'retrieved' if r['retrieved'] else 'NOT retrieved'})")
    for r in absent:
        if not r["not_found"]:
            print(f"      answered a not-in-document question {r['id']}: {r['answer']!r}")


def recall_bench(sets: list[str], encoder=None, ks=(1, 3, 5, 8)) -> None:
    """Retrieval alone (no reader): for each set, the share of answerable questions whose gold evidence overlaps
    one of the top k passages, and the median characters of the top 3 passages (what the reader must read)."""
    from mmkit.longtext.retrieval import IndexCache

    cache = IndexCache()
    for name in sets:
        hits, chars, n = dict.fromkeys(ks, 0), [], 0
        for row in question_set(name):
            if not row["answers"]:
                continue
            document = resolve(row["source"])
            index = cache.get(document)
            gold = evidence_locations(document, row["evidence"])
            passages = [index.clean.to_original(p.start, p.end) for p in
                        index.search(row["question"], top_k=max(ks), encoder=encoder)]
            n += 1
            chars.append(sum(end - start for start, end in passages[:3]))
            for k in ks:
                hits[k] += any(overlaps(start, end, gold) for start, end in passages[:k])
        print(f"  [{Path(name).stem}] {n} questions: " + ", ".join(f"recall@{k} {hits[k]}/{n} ({hits[k] / n:.0%})"
              for k in ks) + f"; top-3 passages {statistics.median(chars):.0f} characters (median)", flush=True)


def reference_seconds(reader) -> tuple[float, float]:
    """(seconds on the questions' clock, CPU seconds of all threads) of one forward pass of the reader over a
    256-token prompt."""
    ids = torch.full((1, 256), 100, dtype=torch.long)
    clock = time.process_time if CPU_TIME else time.perf_counter
    with torch.inference_mode():
        reader.model(input_ids=ids)  # warm-up
        begin, cpu = clock(), time.process_time()
        reader.model(input_ids=ids)
    return clock() - begin, time.process_time() - cpu


def peak_rss_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def plot(rows_by_lang, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for lang, rows in rows_by_lang.items():
        if not rows:
            continue
        x = [r["tokens"] for r in rows]
        left.plot(x, [r["correct"] / r["present"] for r in rows], "o-", label=f"{lang}: answer accuracy")
        left.plot(x, [r["absent_ok"] / max(r["absent"], 1) for r in rows], "s--", label=f"{lang}: correct 'not found'")
        right.plot(x, [statistics.median(r["first_s"]) for r in rows], "o-", label=f"{lang}: first question")
        right.plot(x, [statistics.median(r["cached_s"]) for r in rows], "o-", label=f"{lang}: further question")
    left.set(xscale="log", xlabel="document length (reader tokens)", ylabel="rate", ylim=(0, 1.05),
             title="Planted facts")
    clock = "CPU seconds of 1 thread" if CPU_TIME else "wall seconds"
    right.set(xscale="log", yscale="log", xlabel="document length (reader tokens)", ylabel=f"{clock} per question",
              title="Time per question (goals: first 8 s, further 2 s)")
    right.axhline(8, color="grey", lw=0.8)
    right.axhline(2, color="grey", lw=0.8, ls="--")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="en,zh", help="question sets: names in data/longqa or .jsonl paths")
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 questions per set, 1k/10k needles")
    parser.add_argument("--top-k", type=int, default=None, help="passages read (default: LongTextQA's)")
    parser.add_argument("--reader", default=None, help="a causal LM / extractive QA path or id; default: embedded")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                        help="the embedded reader's dtype (bfloat16: the float32 cache cast after loading)")
    parser.add_argument("--bits", type=int, default=None, choices=[8, 4], help="bitsandbytes layers (float32 cache)")
    parser.add_argument("--encoder", default=None, choices=["none", "minilm", "e5"],
                        help="dense half of retrieval (default: LongTextQA's)")
    parser.add_argument("--needles", action="store_true", help="also run the planted-fact bench")
    parser.add_argument("--verbose", action="store_true", help="print every question's result as it comes")
    parser.add_argument("--recall", default=None, choices=["bm25", "minilm", "e5"],
                        help="retrieval alone: recall@1/3/5/8 of the sets with BM25 alone or fused with MiniLM or e5")
    parser.add_argument("--lengths", default="1000,10000,50000,100000,200000")
    parser.add_argument("--zh-lengths", default="1000,10000,50000")
    parser.add_argument("--seeds", type=int, default=1, help="English haystacks per length")
    parser.add_argument("--zh-seeds", type=int, default=3, help="Chinese haystacks per length")
    parser.add_argument("--zh-seed-offset", type=int, default=0, help="first Chinese haystack seed")
    parser.add_argument("--langs", default="en,zh", help="needle languages, e.g. 'zh'")
    parser.add_argument("--plot", default=str(ROOT / "bench" / "longqa_needles.png"))
    parser.add_argument("--cpu-time", action="store_true",
                        help="report CPU seconds of one thread instead of wall time: on a machine shared with other "
                             "jobs this is what an idle core would take (an upper bound for an idle 2-core machine)")
    args = parser.parse_args(argv)
    if args.cpu_time:
        global CPU_TIME
        CPU_TIME = True
        torch.set_num_threads(1)
    print(f"torch threads: {torch.get_num_threads()}, clock: {'CPU time of 1 thread' if CPU_TIME else 'wall'}, "
          f"load average at start: {os.getloadavg()[0]:.1f}")
    if args.recall:
        from mmkit.models import load

        encoder = {"bm25": None, "minilm": "minilm", "e5": "multilingual-e5-small"}[args.recall]
        recall_bench([s for s in args.sets.split(",") if s], load(encoder) if encoder else None)
        return 0
    reader = args.reader
    if reader is None and (args.dtype != "float32" or args.bits):
        from mmkit.longtext.reader import GenerativeReader
        from mmkit.models.qwen_reader import load_qwen_reader

        # bfloat16: the float32 cache cast (the same values a bfloat16 conversion saves, without a second cache)
        model, tokenizer = load_qwen_reader(bits=args.bits)
        # bitsandbytes layers keep their own dtype (transformers refuses to cast a quantized model)
        reader = GenerativeReader(model if args.bits else model.to(getattr(torch, args.dtype)), tokenizer)
    options = {"top_k": args.top_k} if args.top_k else {}
    if args.encoder:
        from mmkit.models import load

        options["encoder"] = {"none": False, "minilm": load("minilm"), "e5": load("multilingual-e5-small")}[args.encoder]
    qa = LongTextQA(reader=reader, **options)
    begin = time.perf_counter()
    loaded = qa.reader()
    print(f"reader loaded in {time.perf_counter() - begin:.1f} s (not counted below): "
          f"{getattr(loaded, 'name', loaded)}, dtype {getattr(getattr(loaded, 'model', None), 'dtype', '-')}, "
          f"bits {args.bits}, top_k {qa.top_k}, encoder {type(qa.encoder).__name__ if qa.encoder else 'none'}")
    if hasattr(loaded, "model"):
        print("reference: one 256-token forward pass of the reader takes {:.2f} s ({:.2f} CPU s, all threads)"
              .format(*reference_seconds(loaded)))
    limit = 6 if args.quick else None
    for name in [s for s in args.sets.split(",") if s]:
        summarise_real(Path(name).stem, real_bench(qa, question_set(name), limit, args.verbose))
    print(f"peak RSS with the reader loaded: {peak_rss_gb():.1f} GB")

    if args.needles:
        lengths = [1000, 10000] if args.quick else [int(x) for x in args.lengths.split(",")]
        zh_lengths = [1000, 10000] if args.quick else [int(x) for x in args.zh_lengths.split(",")]
        print("\nPlanted facts (accuracy = concise-correct answers; evidence = the planted sentence was chosen)")
        langs = args.langs.split(",")
        rows = {"en": [], "zh": []}
        if "en" in langs:
            rows["en"] = needle_bench(qa, "en", english_filler(), lengths, loaded.tokenizer, range(args.seeds))
        if "zh" in langs:
            zh_seeds = range(args.zh_seed_offset, args.zh_seed_offset + args.zh_seeds)
            rows["zh"] = needle_bench(qa, "zh", chinese_filler(), zh_lengths, loaded.tokenizer, zh_seeds)
        plot(rows, args.plot)
        absent = (sum(r["absent_ok"] for rs in rows.values() for r in rs),
                  sum(r["absent"] for rs in rows.values() for r in rs))
        print(f"'not in the document' on absent-answer questions: {absent[0]}/{absent[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
