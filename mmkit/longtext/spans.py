"""Candidate answer spans inside an evidence sentence, and a prior over them that needs no model.

An answer is a span of the document, never generated text: a name, a number, a code token, a noun phrase or a
clause. Candidates are runs of 1..``max_words`` words that do not start or end on a stopword or punctuation. The
prior encodes what extractive QA systems have long relied on: the answer is the part of the evidence that the
question does *not* already say, it sits next to the words the question does say, and its type fits the question
word (who -> a name, how many -> a number, which key -> a short code token).
"""

import re
from dataclasses import dataclass

import jieba

from mmkit.longtext.retrieval import STOPWORDS, _stem

jieba.setLogLevel(60)  # jieba prints "Building prefix dict..." on first use; the pipeline should stay quiet

# A word: optional leading sigil (":wq", "%"), word characters joined by -'._/:,$ ("BeOpen.com", "2e-5", "d$"),
# or a single punctuation mark.
_TOKEN_RE = re.compile(r"[:%$@#/\\]?\w+(?:[-'’._/:,$]\w+)*[$%]?|[^\w\s]")
_CJK_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_HARD_STOPS = set(".;!?()[]{}<>\"`。;|=")
_CODE_MARKS = set(":%$@#/\\")
ZH_FUNCTION_WORDS = frozenset("的 了 是 在 和 与 或 及 为 将 把 被 对 从 以 由 于 也 都 而 之 其 这 那 一个 可以 就 要 请 中 上 下 来 去 会 能".split())
# Words an answer should not start or end on, beyond the stopwords: "every June" -> "June".
EDGE_WORDS = STOPWORDS | {"every", "per", "approximately", "roughly", "around", "nearly", "exactly", "simply",
                          "then", "now", "type", "press", "use", "using"}
_MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"}


@dataclass
class Word:
    start: int  # offsets in the cleaned text
    end: int
    text: str
    is_cjk: bool = False


@dataclass
class Candidate:
    """A span of the cleaned text with its model-free ``prior`` (higher is better)."""

    start: int
    end: int
    text: str
    prior: float = 0.0


def words(text: str, offset: int = 0) -> list[Word]:
    """Split ``text`` into words with offsets (+``offset``); Chinese runs are segmented with jieba."""
    out = []
    position = 0
    for run in _CJK_RUN_RE.finditer(text):
        out.extend(Word(offset + position + m.start(), offset + position + m.end(), m.group())
                   for m in _TOKEN_RE.finditer(text[position : run.start()]))
        out.extend(Word(offset + run.start() + s, offset + run.start() + e, w, True)
                   for w, s, e in jieba.tokenize(run.group()))
        position = run.end()
    out.extend(Word(offset + position + m.start(), offset + position + m.end(), m.group())
               for m in _TOKEN_RE.finditer(text[position:]))
    return out


def _is_punct(word: Word) -> bool:
    return len(word.text) == 1 and not word.text.isalnum() and word.text not in "%$"


def _is_stop(word: Word) -> bool:
    if word.is_cjk:
        return word.text in ZH_FUNCTION_WORDS
    return word.text.lower() in EDGE_WORDS


def _key(word: Word) -> str:
    return word.text if word.is_cjk else _stem(word.text.lower())


def question_keys(question: str) -> set[str]:
    """The content words of the question, as compared with candidate words (stemmed, lower-cased)."""
    keys = set()
    for word in words(question):
        if not _is_punct(word) and not _is_stop(word):
            keys.add(_key(word))
            if word.is_cjk and len(word.text) > 1:
                keys.update(word.text)  # jieba may cut the question and the evidence differently
    return keys


def answer_type(question: str) -> str:
    """Coarse expected type: "person", "number", "code" or "any"."""
    q = question.lower()
    if re.search(r"\bwho(m|se)?\b", q) or "谁" in q:
        return "person"
    if re.search(r"\b(how (many|much|long|far|old|big)|what year|which year|when|what number|which port|what port|"
                 r"dose|code)\b", q) or re.search(r"多少|几|多长|多久|哪一年|何时|什么时候|多大", question):
        return "number"
    if re.search(r"\b(which|what) (key|command|operator|option|flag|variable)\b|\bwhat do you type\b", q) or \
            re.search(r"哪个键|什么键|什么命令|输入什么|哪个命令|哪个操作符|什么操作符", question):
        return "code"
    return "any"


def _type_match(kind: str, span: list[Word]) -> float:
    text = " ".join(word.text for word in span)
    if kind == "number":
        return 1.0 if re.search(r"\d|[一二三四五六七八九十百千万两]", text) or text.lower() in _MONTHS else 0.0
    if kind == "person":
        if span[0].is_cjk:
            return 1.0 if 2 <= len(text) <= 4 else 0.3
        return 1.0 if all(word.text[:1].isupper() for word in span if not _is_stop(word)) else 0.0
    if kind == "code":
        return 1.0 if len(span) == 1 and not span[0].is_cjk and len(span[0].text) <= 4 else 0.0
    return 0.5


def candidates(sentence: str, offset: int, question: str, max_words: int = 8) -> list[Candidate]:
    """Every plausible answer span of ``sentence`` (which starts at ``offset`` in the cleaned text), with a prior.

    Prior = novelty (share of the span's words the question does not contain) + closeness to question words +
    answer-type fit + a bonus for spanning a whole run of new words - a small length cost.
    """
    sentence_words = words(sentence, offset)
    keys = question_keys(question)
    kind = answer_type(question)
    in_question = [(not _is_punct(w) and not _is_stop(w) and _key(w) in keys) for w in sentence_words]
    anchors = [i for i, hit in enumerate(in_question) if hit]
    out = []
    for i, first in enumerate(sentence_words):
        if (_is_punct(first) and first.text not in _CODE_MARKS) or _is_stop(first):
            continue
        for j in range(i, min(i + max_words, len(sentence_words))):
            last = sentence_words[j]
            if j > i and (last.text in _HARD_STOPS or sentence_words[j - 1].text in _HARD_STOPS):
                break
            if (_is_punct(last) and last.text not in _CODE_MARKS) or _is_stop(last):
                continue
            span = sentence_words[i : j + 1]
            content = [k for k in range(i, j + 1) if not _is_punct(sentence_words[k]) and not _is_stop(sentence_words[k])]
            if not content:
                continue
            novelty = 1.0 - sum(in_question[k] for k in content) / len(content)
            if novelty == 0.0:
                continue
            distance = min((min(abs(a - i), abs(a - j)) for a in anchors), default=len(sentence_words))
            closeness = 1.0 / (1.0 + distance)
            whole_run = (i == 0 or in_question[i - 1] or _is_punct(sentence_words[i - 1]) or _is_stop(sentence_words[i - 1])) and \
                        (j + 1 == len(sentence_words) or in_question[j + 1] or _is_punct(sentence_words[j + 1]) or
                         _is_stop(sentence_words[j + 1]))
            prior = (2.0 * novelty + 0.8 * closeness + 1.0 * _type_match(kind, span) + 0.4 * whole_run
                     - 0.08 * len(content))
            out.append(Candidate(first.start, last.end, sentence[first.start - offset : last.end - offset], prior))
    out.sort(key=lambda candidate: -candidate.prior)
    return out
