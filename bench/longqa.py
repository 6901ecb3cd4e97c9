"""Long-text QA: planted facts in 1k..200k-token documents, a sliding-window baseline, and real-document questions.

    .venv/bin/python bench/longqa.py            # full run (about 10 minutes on 2 cores)
    .venv/bin/python bench/longqa.py --quick    # smoke run: 1k and 10k tokens, a few real questions
    .venv/bin/python bench/longqa.py --langs zh --no-real --no-sliding --plot /tmp/zh.png   # Chinese needles only
    .venv/bin/python bench/longqa.py --langs zh --no-real --no-sliding --zh-seed-offset 1000   # held-out haystacks

Needles: invented facts planted at 5 depths in real prose found on disk (Python's reference documentation and
standard-library docstrings; for Chinese the Vim tutor and man pages Debian ships; English: --seeds haystacks per
length, Chinese: --zh-seeds, 3 by default so its 3 lengths give 45 facts; --zh-seed-offset K uses seeds K.. instead
of 0.., for documents no fix was tuned on), plus questions about facts that were not planted (right answer: "not in
the document"). Each length gets a fresh LongTextQA index: the first question pays for clean-up, chunking, BM25 and
embeddings, the others hit the cache. Model loading is excluded.

Sliding window: the same reader reads every window of the document (candidates from the whole window, the best
window wins). It is slow, so it runs in full only up to --sliding-max tokens; above that, --sliding-sample windows
are timed and the time is extrapolated to the whole document (accuracy not measured there; the table says so).

Real documents: data/longqa/en.jsonl and zh.jsonl, questions over texts shipped with Python, packages and Debian;
--real-set NAME reads NAME_en.jsonl and NAME_zh.jsonl instead: "heldout" (written after the system was tuned; its
misses were then read and general fixes made) and "blind" (paraphrased questions on new documents, scored once
before anyone read its answers; see bench/RESULTS.md). A question with no answers ("answers": []) asks for something the document does not say: it is
right when the pipeline answers found=False, and it is counted apart ("not found x/y"), not in the answer figures.
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

import numpy as np
import torch

from mmkit.longtext.chunking import chunk_text
from mmkit.longtext.cleaning import clean
from mmkit.longtext.haystack import chinese_filler, english_filler, make_haystack
from mmkit.longtext.qa import LongTextQA
from mmkit.longtext.retrieval import IndexCache
from mmkit.longtext.spans import candidates
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


class SlidingWindow:
    """Baseline: the same reader reads every window of ``window_units`` (no retrieval); best-scoring span wins."""

    def __init__(self, qa: LongTextQA, lang: str, window_units: int = 1600, per_window: int = 12):
        self.reader = qa.reader(lang)
        self.window_units = window_units
        self.per_window = per_window

    def windows(self, document: str):
        cleaned = clean(document)
        return cleaned, chunk_text(cleaned.text, target_units=self.window_units, overlap_units=200)

    def read(self, question: str, window) -> tuple[float, object]:
        spans = []
        for start, end in window.sentences:
            spans += candidates(window.text[start - window.start : end - window.start], start, question)[:4]
        spans = sorted(spans, key=lambda span: -span.prior)[: self.per_window]
        if not spans:
            return -float("inf"), None
        choice, scores = self.reader.choose(question, window.text, spans)
        return float(scores[choice]), spans[choice]

    def __call__(self, question: str, document: str, sample: int | None = None) -> tuple[str | None, float, int]:
        """(answer, seconds, windows); with ``sample`` only that many windows are read and the time extrapolated."""
        cleaned, windows = self.windows(document)
        chosen = windows if sample is None else windows[:: max(1, len(windows) // sample)][:sample]
        clock = time.process_time if CPU_TIME else time.perf_counter
        begin = clock()
        results = [self.read(question, window) for window in chosen]
        seconds = (clock() - begin) * len(windows) / len(chosen)
        best = max(results, key=lambda result: result[0])[1]
        if best is None or sample is not None:
            return None, seconds, len(windows)
        start, end = cleaned.to_original(best.start, best.end)
        return " ".join(document[start:end].split()), seconds, len(windows)


def needle_bench(qa, lang, filler, lengths, tokenizer, seeds, sliding_max, sliding_sample, absent=2, sliding=True):
    rows = []
    chars_per_token = len(filler[:200_000]) / len(tokenizer(filler[:200_000]).input_ids)
    baseline = SlidingWindow(qa, lang)
    for length in lengths:
        row = {"tokens": length, "correct": 0, "present": 0, "evidence": 0, "absent_ok": 0, "absent": 0,
               "first_s": [], "cached_s": [], "sliding_s": [], "sliding_correct": 0, "sliding_n": 0}
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
                if sliding and position in (0, 2) and seed == seeds[0]:  # the baseline is slow: two needles per length
                    sample = None if length <= sliding_max else sliding_sample
                    answer, seconds, _ = baseline(needle.question, haystack.document, sample)
                    row["sliding_s"].append(seconds)
                    if sample is None:
                        row["sliding_n"] += 1
                        row["sliding_correct"] += concise_correct(answer, [needle.answer])
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
              f"{statistics.median(row['first_s']):.2f} s, cached {statistics.median(row['cached_s']):.2f} s"
              + (f", sliding {statistics.median(row['sliding_s']):.1f} s" if row["sliding_s"] else "")
              + ("" if row["sliding_n"] or not row["sliding_s"] else " (extrapolated)"), flush=True)
    return rows


def real_bench(qa, lang, limit=None, real_set=""):
    name = f"{real_set}_{lang}" if real_set else lang
    rows = [json.loads(line) for line in (ROOT / "data" / "longqa" / f"{name}.jsonl").read_text().splitlines()]
    results = []
    for row in rows[:limit]:
        document = resolve(row["source"])
        out, seconds = timed(qa, row["question"], document)
        golds = row["answers"]
        prediction = out["answer"] or ""
        if not golds:  # not in the document: right when nothing is found
            results.append({"id": row["id"], "answer": out["answer"], "seconds": seconds, "absent": True,
                            "not_found": not out["found"]})
            continue
        results.append({
            "id": row["id"], "answer": out["answer"], "gold": golds[0], "seconds": seconds, "absent": False,
            "em": exact_match(prediction, golds), "f1": token_f1(prediction, golds),
            "contains": any(normalize_answer(g) in normalize_answer(prediction) for g in golds) and bool(prediction),
            "concise": concise_correct(out["answer"], golds),
            "evidence": overlaps(out["start"], out["end"], evidence_locations(document, row["evidence"])),
        })
    return results


def summarise_real(lang, results):
    absent = [r for r in results if r["absent"]]
    present = [r for r in results if not r["absent"]]
    n = len(present)
    mean = lambda key: sum(r[key] for r in present) / max(n, 1)  # noqa: E731
    print(f"  [{lang}] {n} questions: concise-correct {mean('concise'):.0%}, EM {mean('em'):.0%}, F1 {mean('f1'):.2f}, "
          f"contains {mean('contains'):.0%}, evidence hit {mean('evidence'):.0%}, "
          + (f"not found {sum(r['not_found'] for r in absent)}/{len(absent)} not-in-document, " if absent else "")
          + f"median {statistics.median(r['seconds'] for r in results):.2f} s/question")
    for r in present:
        if not r["concise"]:
            print(f"      miss {r['id']}: {r['answer']!r} (gold {r['gold']!r}, evidence {'hit' if r['evidence'] else 'miss'})")
    for r in absent:
        if not r["not_found"]:
            print(f"      answered a not-in-document question {r['id']}: {r['answer']!r}")


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
        if all(r["sliding_s"] for r in rows):
            right.plot(x, [statistics.median(r["sliding_s"]) for r in rows], "x:", label=f"{lang}: sliding window*")
    left.set(xscale="log", xlabel="document length (reader tokens)", ylabel="rate", ylim=(0, 1.05),
             title="Planted facts")
    clock = "CPU seconds of 1 thread" if CPU_TIME else "wall seconds"
    right.set(xscale="log", yscale="log", xlabel="document length (reader tokens)", ylabel=f"{clock} per question",
              title="Time per question (goals: first 8 s, further 2 s)")
    right.axhline(8, color="grey", lw=0.8)
    right.axhline(2, color="grey", lw=0.8, ls="--")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.text(0.5, 0.005, "* sliding window above the measured lengths: time of sampled windows, extrapolated",
             ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1k and 10k tokens, 6 real questions each")
    parser.add_argument("--lengths", default="1000,10000,50000,100000,200000")
    parser.add_argument("--zh-lengths", default="1000,10000,50000")
    parser.add_argument("--seeds", type=int, default=1, help="English haystacks per length")
    parser.add_argument("--zh-seeds", type=int, default=3,
                        help="Chinese haystacks per length (3 x 3 lengths x 5 depths = 45 planted facts)")
    parser.add_argument("--zh-seed-offset", type=int, default=0,
                        help="first Chinese haystack seed: seeds K..K+N-1 build needle documents unlike the default "
                             "0..N-1 ones, for a held-out check (same templates and name pools, new draws and cuts)")
    parser.add_argument("--reader", default=None, help="'lexical', a model path, or default (the embedded readers)")
    parser.add_argument("--sliding-max", type=int, default=1000, help="longest document read fully by the baseline")
    parser.add_argument("--sliding-sample", type=int, default=4, help="windows timed above --sliding-max")
    parser.add_argument("--langs", default="en,zh", help="languages to run, e.g. 'zh'")
    parser.add_argument("--no-real", action="store_true", help="skip the real-document questions")
    parser.add_argument("--real-set", default="",
                        help="real-document question set: '' for en.jsonl/zh.jsonl (the development set), 'heldout' "
                             "or 'blind' for NAME_en.jsonl/NAME_zh.jsonl (see the module docstring)")
    parser.add_argument("--no-sliding", action="store_true", help="skip the sliding-window baseline")
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
    lengths = [1000, 10000] if args.quick else [int(x) for x in args.lengths.split(",")]
    zh_lengths = [1000, 10000] if args.quick else [int(x) for x in args.zh_lengths.split(",")]
    limit = 6 if args.quick else None

    qa = LongTextQA(reader=args.reader)
    begin = time.perf_counter()
    qa.encoder.embed(["warm up"])
    en_reader, zh_reader = qa.reader("en"), qa.reader("zh")
    print(f"models loaded in {time.perf_counter() - begin:.1f} s (not counted below); readers: "
          f"{getattr(en_reader, 'name', en_reader)}, {getattr(zh_reader, 'name', zh_reader)}")
    tokenizers = {lang: getattr(qa.reader(lang), "tokenizer", None) for lang in ("en", "zh")}
    if tokenizers["en"] is None:  # the lexical reader has none; count tokens with SmolLM2's
        from mmkit.models.readers import load_reader

        tokenizers = {"en": load_reader("en")[1], "zh": load_reader("zh")[1]}

    print("\nPlanted facts (accuracy = concise-correct answers; evidence = the planted sentence was chosen)")
    langs = args.langs.split(",")
    rows = {"en": [], "zh": []}
    if "en" in langs:
        rows["en"] = needle_bench(qa, "en", english_filler(), lengths, tokenizers["en"], range(args.seeds),
                                  args.sliding_max, args.sliding_sample, sliding=not args.no_sliding)
    zh_filler = chinese_filler() if "zh" in langs else ""
    if zh_filler:
        zh_seeds = range(args.zh_seed_offset, args.zh_seed_offset + args.zh_seeds)
        rows["zh"] = needle_bench(qa, "zh", zh_filler, zh_lengths, tokenizers["zh"], zh_seeds,
                                  args.sliding_max, args.sliding_sample, sliding=not args.no_sliding)
    plot(rows, args.plot)

    if not args.no_real:
        print(f"\nReal documents (data/longqa{', set ' + args.real_set if args.real_set else ''})")
        for lang in langs:
            summarise_real(lang, real_bench(qa, lang, limit, args.real_set))
    absent = sum(r["absent_ok"] for rs in rows.values() for r in rs), sum(r["absent"] for rs in rows.values() for r in rs)
    print(f"\n'not in the document' on absent-answer questions: {absent[0]}/{absent[1]}")
    speedups = [np.median(r["sliding_s"]) / np.median(r["first_s"]) for r in rows["en"]
                if r["tokens"] == 100000 and r["sliding_s"]]
    if speedups:
        print(f"speed-up over the sliding window at 100k tokens (first question): {speedups[0]:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
