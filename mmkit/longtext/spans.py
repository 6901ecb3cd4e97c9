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
import jieba.posseg

from mmkit.cjk import HAN
from mmkit.longtext.chunking import INITIAL_RE
from mmkit.longtext.retrieval import STOPWORDS, _stem

jieba.setLogLevel(60)  # jieba prints "Building prefix dict..." on first use; the pipeline should stay quiet

# A word: a URL or an e-mail address whole ("https://example.org/a.html", "ada@example.org"); an optional leading
# sigil (":wq", "%") and word characters joined by -'._/:,$ ("BeOpen.com", "2e-5", "d$"); or a punctuation mark.
_URL = r"[A-Za-z][\w+.-]*://[^\s<>\"'()\[\]{}]*[^\s<>\"'()\[\]{}.,;:!?]"
_EMAIL = r"\w[\w.+-]*@\w[\w-]*(?:\.\w[\w-]*)+"
_TOKEN_RE = re.compile(_URL + "|" + _EMAIL + r"|[:%$@#/\\]?\w+(?:[-'’._/:,$]\w+)*[$%]?|[^\w\s]")
_CJK_RUN_RE = re.compile(f"[{HAN}]+")
_HARD_STOPS = set(".;!?()[]{}<>\"`。;|=")
_CODE_MARKS = set(":%$@#/\\")
ZH_FUNCTION_WORDS = frozenset("的 了 是 在 和 与 或 及 为 将 把 被 对 从 以 由 于 也 都 而 之 其 这 那 一个 可以 就 要 请 中 上 下 来 去 会 能".split())
# Words an answer should not start or end on, beyond the stopwords: "every June" -> "June".
EDGE_WORDS = STOPWORDS | {"every", "per", "approximately", "roughly", "around", "nearly", "exactly", "simply",
                          "then", "now", "type", "press", "use", "using", "up", "next", "during", "after", "before", "since",
                          "until", "within", "between", "among", "through", "via", "upon", "without", "against"}
# Lower-case words that join a name: "Guido van Rossum", "Ludwig van Beethoven", "Charles de Gaulle".
NAME_PARTICLES = {"van", "von", "de", "der", "den", "da", "di", "du", "la", "le", "bin", "ibn", "al"}
_MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"}


@dataclass
class Word:
    start: int  # offsets in the cleaned text
    end: int
    text: str
    is_cjk: bool = False
    tag: str = ""  # jieba's part of speech for Chinese words: "nr" person, "ns" place, "m" number, ...


@dataclass
class Candidate:
    """A span of the cleaned text with its model-free ``prior`` (higher is better)."""

    start: int
    end: int
    text: str
    prior: float = 0.0


def tidy_span(text: str) -> str:
    """A span as an answer shows it: each run of whitespace (a line wrap) becomes one space, or nothing between two
    Chinese characters ("所介\n绍" -> "所介绍")."""
    return re.sub(f"(?<=[{HAN}]) (?=[{HAN}])", "", " ".join(text.split()))


def words(text: str, offset: int = 0) -> list[Word]:
    """Split ``text`` into words with offsets (+``offset``); Chinese runs are segmented with jieba."""
    out = []
    position = 0
    for run in _CJK_RUN_RE.finditer(text):
        out.extend(Word(offset + position + m.start(), offset + position + m.end(), m.group())
                   for m in _TOKEN_RE.finditer(text[position : run.start()]))
        position_in_run = run.start()
        for pair in jieba.posseg.cut(run.group()):
            out.append(Word(offset + position_in_run, offset + position_in_run + len(pair.word), pair.word, True,
                            pair.flag))
            position_in_run += len(pair.word)
        position = run.end()
    out.extend(Word(offset + position + m.start(), offset + position + m.end(), m.group())
               for m in _TOKEN_RE.finditer(text[position:]))
    return _join_units(out)


def _join_units(split: list[Word]) -> list[Word]:
    """Join Arabic digits to the Chinese unit or classifier right after them: "1856" + "年" -> "1856年".

    jieba keeps a Chinese numeral and its unit together ("三点", "三月" are one word), but the digits never reach
    it (they are cut out of the CJK run above). Left apart, a unit that the question names ("哪一年", "多少毫克")
    counts as a question word and the answer shrinks to a bare "1856".
    """
    out = []
    for word in split:
        previous = out[-1] if out else None
        if previous and word.is_cjk and word.tag in ("q", "m") and previous.end == word.start and \
                not previous.is_cjk and previous.text.isdigit():
            out[-1] = Word(previous.start, word.end, previous.text + word.text, True, "m")
        else:
            out.append(word)
    return out


def _ends_span(sentence_words: list[Word], k: int) -> bool:
    """Whether word ``k`` closes every span that reaches it: a sentence mark, a bracket or quote, but not the
    period after an initial, and a comma only beside Chinese (NFKC has made "，" a ","; English answers such as
    "8 June, 1771" may hold one)."""
    word = sentence_words[k]
    previous = sentence_words[k - 1] if k > 0 else None
    following = sentence_words[k + 1] if k + 1 < len(sentence_words) else None
    if word.text == ".":
        after_initial = previous is not None and previous.end == word.start and INITIAL_RE.fullmatch(previous.text)
        return not (after_initial and following is not None and following.text[:1].isupper())
    if word.text in ",:":
        return any(neighbour is not None and neighbour.is_cjk for neighbour in (previous, following))
    return word.text in _HARD_STOPS


def _is_punct(word: Word) -> bool:
    return len(word.text) == 1 and not word.text.isalnum() and word.text not in "%$"


def _is_stop(word: Word) -> bool:
    if word.tag == "key":
        return False
    if word.is_cjk:
        return word.text in ZH_FUNCTION_WORDS
    return word.text.lower() in EDGE_WORDS


def _key(word: Word) -> str:
    return word.text if word.is_cjk else _stem(word.text.lower())


def _slash_parts(word: Word) -> list[str]:
    """The keys of the parts of a "/"-joined word ("uid/gid" -> uid, gid); none for a URL or a path."""
    if word.is_cjk or "://" in word.text or word.text.startswith("/"):
        return []
    parts = [part for part in word.text.split("/") if part]
    return [_stem(part.lower()) for part in parts] if len(parts) > 1 else []


def question_keys(question: str) -> set[str]:
    """The content words of the question, as compared with candidate words (stemmed, lower-cased)."""
    keys = set()
    for word in words(question):
        if not _is_punct(word) and not _is_stop(word):
            keys.add(_key(word))
            keys.update(_slash_parts(word))
            if word.is_cjk and len(word.text) > 1:
                keys.update(word.text)  # jieba may cut the question and the evidence differently
    return keys


def _in_question(word: Word, keys: set[str]) -> bool:
    """Whether ``word`` only repeats the question. A Chinese word counts when every character of it is a question
    character: jieba cuts "叫什么名字" into 叫/什么/名字 but "名叫花卷" into 名叫/花卷, and 名叫 then says
    nothing the question does not."""
    if _is_punct(word) or _is_stop(word):
        return False
    if _key(word) in keys:
        return True
    if word.is_cjk:
        return all(char in keys for char in word.text)
    return any(part in keys for part in _slash_parts(word))  # "import/reload" repeats "reload"


def answer_type(question: str) -> str:
    """Coarse expected type: "person", "number", "code" or "any"."""
    q = question.lower()
    if re.search(r"\bwho(m|se)?\b", q) or "谁" in q:
        return "person"
    if re.search(r"\b(how (many|much|long|far|old|big)|what year|which year|when|what number|which port|what port|"
                 r"dose|code)\b", q) or re.search(r"多少|几|多长|多久|哪一年|何时|什么时候|多大", question):
        return "number"
    if re.search(r"\b(which|what) (key|command|operator|option|flag|variable)s?\b|\bwhat do you type\b", q) or \
            re.search(r"哪个键|什么键|什么命令|输入什么|哪个命令|哪个操作符|什么操作符", question):
        return "code"
    return "any"


# Questions whose answer is a count, an amount, a year, a month or a clock time: such an answer always holds a digit
# or a numeral ("七点半", "三月", "1856年", "twelve"). Narrower than answer_type's "number" on purpose: "when" or
# "何时" may be answered "after the war".
_ASKS_NUMBER_EN = re.compile(r"\bhow (many|much|old|long|far|tall|high)\b|\b(what|which) (year|month|time)\b")
_ASKS_NUMBER_ZH = re.compile(r"几|多少|哪一?年|多长|多久|多远|多高|多重")
_NUMBER_WORDS = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
                 "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand",
                 "million", "billion", "dozen", "half", "once", "twice", "noon", "midnight"}


def asks_for_number(question: str) -> bool:
    """Whether the answer to ``question`` must hold a number: how many/much/old/long, what year, 几, 多少, 哪一年..."""
    return bool(_ASKS_NUMBER_EN.search(question.lower()) or _ASKS_NUMBER_ZH.search(question))


def has_number(text: str) -> bool:
    """A digit, a Chinese numeral, an English number word ("thirty-one") or a month name anywhere in ``text``."""
    if re.search(r"\d|[零〇一二三四五六七八九十百千万亿两半]", text):
        return True
    return any(part in _NUMBER_WORDS or part in _MONTHS or part.rstrip("s") in _NUMBER_WORDS
               for part in re.findall(r"[a-z]+", text.lower()))


def _is_code(word: Word) -> bool:
    """A key, command or identifier: ":wq", "dd", "x", "CTRL-G", "groupadd", "LARK_CACHE_DIR"; not "Vim"."""
    text = word.text
    if word.is_cjk:
        return False
    return (not text.isalnum() and any(char.isalnum() for char in text)) or text in "%$" or text.islower() or \
        (len(text) == 1 and text.isalpha()) or bool(re.fullmatch(r"[A-Z0-9_]+(-[A-Z0-9]+)?", text))


def _type_match(kind: str, span: list[Word]) -> float:
    text = " ".join(word.text for word in span)
    if kind == "number":
        numeric = has_number(text) or any(w.tag in ("m", "t", "mq") for w in span)
        return 1.0 if numeric else 0.0
    if kind == "person":
        if span[0].is_cjk:
            return 1.0 if any(word.tag.startswith("nr") for word in span) else 0.2
        if not all(word.text[:1].isupper() or word.text in NAME_PARTICLES or word.text == "." for word in span):
            return 0.0
        return 0.5 if all(word.text.isupper() for word in span) else 1.0  # "CWI" may be an organisation
    if kind == "code":  # a key or command, or a command with its argument: ":set ic", "CTRL-W CTRL-W"
        command = len(span) == 2 and span[1].text[:1].isalnum() and _is_code(span[1]) and (
            span[0].text[:1] in _CODE_MARKS or span[0].text == span[1].text)
        return 1.0 if (len(span) == 1 and _is_code(span[0])) or command else 0.0
    if text.lower() not in _MONTHS and all(
            word.text[:1].isupper() or word.text[:1].isdigit() for word in span if not word.is_cjk and not _is_stop(word)):
        return 0.6  # a name or a number is a likelier answer to "which X" than a common word
    return 0.5


def _looks_like_verb(word: Word) -> bool:
    """Lower-case English -ed/-ing words ("moved", "continued", "using") and adverbs ("automatically", "quickly")
    are rarely what a question asks for."""
    return not word.is_cjk and word.text.islower() and len(word.text) > 4 and word.text.endswith(
        ("ed", "ing", "ally", "ously", "ively", "fully", "ately", "ently", "antly", "ckly", "arly"))


def candidates(sentence: str, offset: int, question: str, max_words: int = 8) -> list[Candidate]:
    """Every plausible answer span of ``sentence`` (which starts at ``offset`` in the cleaned text), with a prior.

    Prior = novelty (share of the span's words the question does not contain) + closeness to question words +
    answer-type fit + a bonus for spanning a whole run of new words - a small length cost.
    """
    sentence_words = words(sentence, offset)
    keys = question_keys(question)
    kind = answer_type(question)
    if kind == "code":  # in "type a to insert" or "输入 a" the letter is a key, in "type a capital O" an article
        for k, word in enumerate(sentence_words):
            following = sentence_words[k + 1] if k + 1 < len(sentence_words) else None
            if len(word.text) == 1 and word.text.isalpha() and not word.is_cjk and (
                    following is None or following.is_cjk or _is_punct(following) or
                    following.text.lower() in ("to", "key", "and", "or")):
                word.tag = "key"
    in_question = [_in_question(w, keys) for w in sentence_words]
    anchors = [i for i, hit in enumerate(in_question) if hit]
    # gaps[k]: content words before word k, so gaps[b] - gaps[a + 1] counts the content words strictly between a, b
    is_content = [not _is_punct(w) and not _is_stop(w) for w in sentence_words]
    gaps = [0]
    for flag in is_content:
        gaps.append(gaps[-1] + flag)
    # Words that end a run of new words; the period of an initial ("W." in "John W. Eaton") does not.
    boundary = [hit or _is_stop(word) or (_is_punct(word) and (word.text != "." or _ends_span(sentence_words, k)))
                for k, (word, hit) in enumerate(zip(sentence_words, in_question))]
    out = []
    for i, first in enumerate(sentence_words):
        if (_is_punct(first) and first.text not in _CODE_MARKS) or _is_stop(first):
            continue
        for j in range(i, min(i + max_words, len(sentence_words))):
            last = sentence_words[j]
            if j > i and (_ends_span(sentence_words, j) or _ends_span(sentence_words, j - 1)):
                break
            if (_is_punct(last) and last.text not in _CODE_MARKS) or _is_stop(last):
                continue
            span = sentence_words[i : j + 1]
            content = [k for k in range(i, j + 1) if not _is_punct(sentence_words[k]) and not _is_stop(sentence_words[k])]
            if not content:
                continue
            novelty = 1.0 - sum(in_question[k] for k in content) / len(content)
            if novelty < 0.5:  # mostly a restatement of the question; a reader's likelihood loves those
                continue
            # Closeness to the nearest question word *outside* the span, counted in content words between them:
            # a span that swallows a question word ("剂量是每天750毫克", "dose is 750 mg") must not score as if it
            # sat next to one, or restatements beat the bare answer ("每天750毫克").
            distance = 1 + min((gaps[i] - gaps[a + 1] if a < i else gaps[a] - gaps[j + 1]
                                for a in anchors if a < i or a > j), default=len(sentence_words))
            closeness = 1.0 / (1.0 + distance)
            whole_run = (i == 0 or boundary[i - 1]) and (j + 1 == len(sentence_words) or boundary[j + 1])
            verb = _looks_like_verb(first) or _looks_like_verb(last)
            # An answer that begins or ends on a question word carries part of the question with it
            # ("负责人是何静宜" for "负责人是谁"); novelty alone lets such spans stay close to the bare answer.
            restates = in_question[content[0]] + in_question[content[-1]]
            prior = (2.0 * novelty + 0.8 * closeness + 1.0 * _type_match(kind, span) + 0.4 * whole_run
                     - 0.08 * len(content) - 0.5 * verb - 0.5 * restates)
            out.append(Candidate(first.start, last.end, sentence[first.start - offset : last.end - offset], prior))
    out.sort(key=lambda candidate: -candidate.prior)
    return out
