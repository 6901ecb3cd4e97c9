"""Needle-in-a-haystack documents: invented facts planted at chosen depths in real prose found on disk.

The filler is text nobody wrote for this test: Python's own reference documentation (``pydoc_data.topics``,
shipped with every CPython), the docstrings of standard-library modules, and for Chinese the Chinese Vim tutor
and man pages that Debian ships. Facts are invented (names, codes, places that occur in no filler), each with
a question, a short gold answer and questions about facts that were *not* planted, whose right answer is "not
in the document".
"""

import ast
import gzip
import random
import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path

# Each template: (fact sentence, question, gold answer); {slots} are filled from the pools below.
EN_TEMPLATES = [
    (
        "The access code for the {place} storage room is {code}.",
        "What is the access code for the {place} storage room?",
        "{code}",
    ),
    (
        "The lighthouse on {island} Island was built by {person} in {year}.",
        "Who built the lighthouse on {island} Island?",
        "{person}",
    ),
    ("Captain {person} named her ship the {ship}.", "What did Captain {person} name her ship?", "{ship}"),
    (
        "The {festival} festival in {town} is held every {month}.",
        "In which month is the {festival} festival in {town} held?",
        "{month}",
    ),
    (
        "The recommended dose of {drug} for adults is {dose} milligrams.",
        "What is the recommended dose of {drug} for adults?",
        "{dose} milligrams",
    ),
    (
        "The {project} service reads its cache location from the environment variable {envvar}.",
        "Which environment variable does the {project} service read its cache location from?",
        "{envvar}",
    ),
    (
        "The {city} office of Harlow Freight is managed by {person}.",
        "Who manages the {city} office of Harlow Freight?",
        "{person}",
    ),
    (
        "The red panda at the {town} zoo is called {pet}.",
        "What is the red panda at the {town} zoo called?",
        "{pet}",
    ),
    (
        "The footbridge over the {river} River is {length} metres long.",
        "How long is the footbridge over the {river} River?",
        "{length} metres",
    ),
    ("The treaty of {town} was signed on {date}.", "When was the treaty of {town} signed?", "{date}"),
    (
        "The secret ingredient in {person}'s pumpkin soup is {ingredient}.",
        "What is the secret ingredient in {person}'s pumpkin soup?",
        "{ingredient}",
    ),
    (
        "The {project} dashboard listens on port {port}.",
        "Which port does the {project} dashboard listen on?",
        "{port}",
    ),
]
EN_POOLS = {
    "place": ["Ashgrove", "Pellmore", "Quenby", "Tarrow", "Wexcombe", "Birchal"],
    "island": ["Marrow", "Keddle", "Orrin", "Sallow", "Trebby", "Wyke"],
    "person": [
        "Elsa Brandt",
        "Tomas Okafor",
        "Mirela Vance",
        "Jonah Pettigrew",
        "Ines Calloway",
        "Rupert Haddow",
        "Yuki Tanabe",
        "Lena Marchetti",
        "Oskar Lindqvist",
        "Priya Raman",
    ],
    "ship": ["Silver Heron", "Morning Lark", "Blue Marten", "Quiet Comet", "Amber Gannet"],
    "festival": ["Lantern", "Turnip", "Kite", "Cider", "Willow"],
    "town": ["Dunmere", "Halvick", "Corrabay", "Fennick", "Ostrowe", "Brackley"],
    "month": ["January", "March", "April", "June", "September", "November"],
    "drug": ["veltraxin", "coramide", "sulvenol", "dextrophane", "ambriquin"],
    "project": ["Larkspur", "Quillon", "Tessera", "Nimbrel", "Orvane"],
    "envvar": ["LARK_CACHE_DIR", "QNX_STORE_PATH", "TSR_HOME", "NIMBREL_ROOT", "ORV_DATA"],
    "city": ["Lisbon", "Tallinn", "Porto", "Ghent", "Bergen"],
    "pet": ["Biscuit", "Pemberton", "Miso", "Clementine", "Rufus"],
    "river": ["Alder", "Swale", "Torridge", "Kennet", "Wensum"],
    "ingredient": ["smoked paprika", "star anise", "roasted fennel", "toasted sesame", "pickled ginger"],
}
ZH_TEMPLATES = [
    ("{place}仓库的门禁密码是{code}。", "{place}仓库的门禁密码是什么？", "{code}"),
    ("{island}岛上的灯塔是由{person}建造的。", "{island}岛上的灯塔是谁建造的？", "{person}"),
    ("{town}的风筝节每年{month}举行。", "{town}的风筝节每年几月举行？", "{month}"),
    ("{drug}的成人推荐剂量是每天{dose}毫克。", "{drug}的成人推荐剂量是多少？", "{dose}毫克"),
    ("{city}办事处的负责人是{person}。", "{city}办事处的负责人是谁？", "{person}"),
    ("{town}动物园的小熊猫名叫{pet}。", "{town}动物园的小熊猫叫什么名字？", "{pet}"),
    ("{river}河上的步行桥长{length}米。", "{river}河上的步行桥有多长？", "{length}米"),
    ("{person}的南瓜汤的秘方是{ingredient}。", "{person}的南瓜汤的秘方是什么？", "{ingredient}"),
    ("{project}服务的管理后台监听{port}端口。", "{project}服务的管理后台监听哪个端口？", "{port}"),
    ("{ship}号货船的船长是{person}。", "{ship}号货船的船长是谁？", "{person}"),
    ("{town}条约签订于{year}年。", "{town}条约是哪一年签订的？", "{year}年"),
    ("{company}公司的总部设在{city}。", "{company}公司的总部设在哪个城市？", "{city}"),
    ("{person}最喜欢的乐器是{instrument}。", "{person}最喜欢的乐器是什么？", "{instrument}"),
    ("{place}图书馆每天早上{hour}开门。", "{place}图书馆每天早上几点开门？", "{hour}"),
]
ZH_POOLS = {
    "place": ["青石镇", "柳河湾", "白鹭港", "云杉岭"],
    "island": ["鹭鸶", "青螺", "白沙", "雁鸣"],
    "person": ["林晓梅", "赵子昂", "孙思远", "周雨桐", "陈北辰", "何静宜"],
    "town": ["桐花镇", "落霞村", "梅岭镇", "松溪县"],
    "month": ["三月", "五月", "九月", "十一月"],
    "drug": ["维拉克辛", "科拉米德", "苏文诺"],
    "city": ["杭州", "厦门", "成都", "昆明"],
    "pet": ["团团", "豆包", "花卷", "年糕"],
    "river": ["清溪", "白石", "落雁"],
    "ingredient": ["烤茴香", "八角", "陈皮", "腌生姜"],
    "project": ["青鸾", "墨竹", "星河", "听涛"],
    "ship": ["海燕", "远帆", "金鸥", "长风"],
    "company": ["瑞丰", "恒远", "嘉禾", "鼎新"],
    "instrument": ["二胡", "古筝", "琵琶", "竹笛"],
    "hour": ["七点半", "八点", "八点半", "九点"],
}


@dataclass
class Needle:
    """A planted fact: ``fact`` sits at ``start`` in the document; ``answer`` is inside it."""

    fact: str
    question: str
    answer: str
    depth: float
    start: int = -1


@dataclass
class Haystack:
    document: str
    needles: list[Needle]
    absent: list[tuple[str, str]]  # (question, its fact) for facts that were not planted


def _fill(template: tuple[str, str, str], pools: dict, rng: random.Random) -> tuple[str, str, str]:
    fact, question, answer = template
    values = {name: rng.choice(pool) for name, pool in pools.items()}
    values.update(
        code=str(rng.randint(1000, 9999)),
        year=str(rng.randint(1820, 1960)),
        dose=str(rng.choice(range(50, 900, 25))),
        length=str(rng.randint(40, 380)),
        port=str(rng.randint(2000, 9999)),
        date=f"{rng.randint(2, 28)} {rng.choice(EN_POOLS['month'])} {rng.randint(1700, 1899)}",
    )
    return fact.format(**values), question.format(**values), answer.format(**values)


def english_filler() -> str:
    """Python's reference documentation, then the docstrings of the standard library's own source files (read
    with ``ast``, nothing imported), in a fixed order: about 2 MB of prose."""
    from pydoc_data.topics import topics

    parts = [topics[name] for name in sorted(topics)]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.glob("*.py")) + sorted(stdlib.glob("*/*.py")):
        if "test" in path.parts[-2] or path.parent.name in ("idlelib", "lib2to3", "site-packages"):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 200:
                    parts.append(doc)
    return "\n\n".join(parts)


_TROFF_RE = re.compile(r"\\f[BIRP]|\\[-&e|^~]|\\\(..|\\\*.")
_TROFF_TEXT_MACROS = (".B ", ".I ", ".BR ", ".IR ", ".BI ", ".RB ", ".RI ", ".IB ", ".SH ", ".SS ")


def chinese_filler() -> str:
    """The Chinese Vim tutor and Chinese man pages (troff markup removed), or "" when Debian's files are
    absent."""
    parts = []
    tutor = Path("/usr/share/vim/vim90/tutor/tutor.zh_cn.utf-8")
    if tutor.exists():
        parts.append(tutor.read_text(encoding="utf-8"))
    for page in sorted(Path("/usr/share/man/zh_CN").glob("man*/*.gz")):
        lines = gzip.open(page, "rt", encoding="utf-8", errors="ignore").read().splitlines()
        kept = [line.split(" ", 1)[1] if line.startswith(_TROFF_TEXT_MACROS) else line for line in lines]
        text = "\n".join(_TROFF_RE.sub("", line) for line in kept if not line.startswith((".", "'", '\\"')))
        parts.append(text)
    return "\n\n".join(parts)


def make_haystack(
    filler: str, length_chars: int, depths: list[float], lang: str = "en", seed: int = 0, absent: int = 2
) -> Haystack:
    """Cut ``length_chars`` of ``filler`` and plant one fact at each depth (0.0 = start, 1.0 = end) at the
    nearest paragraph break; return the document, the planted needles and ``absent`` questions about unplanted
    facts."""
    rng = random.Random(seed)
    templates, pools = (ZH_TEMPLATES, ZH_POOLS) if lang == "zh" else (EN_TEMPLATES, EN_POOLS)
    if len(depths) + absent > len(templates):
        raise ValueError(f"at most {len(templates)} facts per document")
    order = rng.sample(range(len(templates)), len(depths) + absent)
    text = filler[:length_chars]
    if len(text) < length_chars:
        raise ValueError(f"the filler has {len(filler)} characters, fewer than the {length_chars} asked for")
    needles, cuts = [], []
    for depth, template_index in zip(depths, order):
        fact, question, answer = _fill(templates[template_index], pools, rng)
        position = int(depth * len(text))
        cut = len(text) if depth >= 1 else text.rfind("\n\n", 0, position) if depth > 0 else 0
        cuts.append(max(cut, 0))
        needles.append(Needle(fact, question, answer, depth))
    pieces, previous = [], 0
    for cut, needle in sorted(zip(cuts, needles), key=lambda pair: pair[0]):
        pieces.append(text[previous:cut])
        separator = "\n\n" if cut > 0 else ""
        needle.start = sum(len(piece) for piece in pieces) + len(separator)
        pieces.append(separator + needle.fact + ("\n\n" if cut < len(text) else ""))
        previous = cut
    pieces.append(text[previous:])
    unplanted = [_fill(templates[i], pools, rng) for i in order[len(depths) :]]
    return Haystack("".join(pieces), needles, [(question, fact) for fact, question, _ in unplanted])
