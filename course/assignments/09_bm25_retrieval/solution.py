"""Assignment 9 (small project): a BM25 search engine for mixed English/Chinese sentences, measured by recall@k."""

import math
import re
from collections import Counter

CJK = re.compile(r"[\u4e00-\u9fff]+")
WORD = re.compile(r"[a-z0-9]+")


def tokenize(text):
    """English: lower-cased words [a-z0-9]+. Chinese: every pair of neighbouring characters (a run of one
    character gives that character). 'I like 绿茶' -> ['i', 'like', '绿茶']."""
    # BEGIN SOLUTION
    text = text.lower()
    tokens = WORD.findall(CJK.sub(" ", text))
    for run in CJK.findall(text):
        tokens += [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]
    return tokens
    # END SOLUTION


class BM25:
    """Okapi BM25 over ``docs`` (a list of str). idf(t) = log(1 + (N - df + 0.5) / (df + 0.5));
    score(q, d) = sum over query tokens t of idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avglen))."""

    def __init__(self, docs, k1=1.5, b=0.75):
        self.k1, self.b = k1, b
        self.docs = [Counter(tokenize(d)) for d in docs]
        self.lengths = [sum(c.values()) for c in self.docs]
        self.avglen = sum(self.lengths) / max(len(self.docs), 1)
        df = Counter(t for c in self.docs for t in c)
        self.idf = {t: self.idf_of(n) for t, n in df.items()}

    def idf_of(self, df):
        """The idf of a token found in ``df`` of the N documents."""
        # BEGIN SOLUTION
        n = len(self.docs)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))
        # END SOLUTION

    def scores(self, query):
        """A list with one BM25 score per document (0 for documents sharing no token with the query)."""
        # BEGIN SOLUTION
        out = [0.0] * len(self.docs)
        for token in tokenize(query):
            idf = self.idf.get(token)
            if idf is None:
                continue
            for i, counts in enumerate(self.docs):
                tf = counts.get(token, 0)
                if tf:
                    norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / self.avglen)
                    out[i] += idf * tf * (self.k1 + 1) / (tf + norm)
        return out
        # END SOLUTION

    def search(self, query, k=5):
        """The ids of the k best documents, best first; ties go to the lower id."""
        # BEGIN SOLUTION
        scores = self.scores(query)
        return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
        # END SOLUTION


def recall_at_k(ranked, relevant, k):
    """ranked: one list of document ids per query (best first); relevant: the relevant id per query.
    The fraction of queries whose relevant id is among their first k results."""
    # BEGIN SOLUTION
    if not ranked:
        raise ValueError("no queries")
    return sum(rel in ids[:k] for ids, rel in zip(ranked, relevant)) / len(ranked)
    # END SOLUTION
