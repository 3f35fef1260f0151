"""CIDEr-D against a fixed reference set, with the document frequencies computed once.

    cider = CiderD(refs_tokenized)          # [[ref, ...] per clip], PTB-tokenized strings
    cider.constant_score("rain is falling")  # corpus CIDEr-D if every clip got this caption

The same numbers as `aac_metrics.functional.cider_d` (tests/test_cider.py checks it):
n-grams 1..4 as tf-idf vectors, idf = log(#clips) - log(max(1, document frequency over
the clips' references)); per n, the dot product of the candidate vector clipped by the
reference vector (sum of min(c, r) * r) over both norms; a Gaussian length penalty
(sigma 6) on the difference of the two sentences' bigram counts (the reference
implementation's length); mean over n, mean over a clip's references, times 10.

Why not call aac-metrics: the best constant caption is searched over every distinct
training caption (up to hundreds of thousands), and aac-metrics recomputes the document
frequencies and every reference vector on each call. Here the references are cooked once
into an inverted index, n-gram -> the references holding it. A constant caption's corpus
score is a sum over (n-gram, reference) pairs, and a reference enters it only through its
length, its count of the n-gram and (weight / norm), so each n-gram's references are
summed once per (length, count) group: a candidate costs its n-grams times their groups
(at most their matching references), never the whole reference set.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Dict, Sequence, Tuple

import numpy as np

Ngram = Tuple[str, ...]


def cook(sentence: str, n: int = 4) -> Counter:
    """n-gram counts (1..n) of a whitespace-tokenized sentence."""
    words = sentence.split()
    return Counter(
        tuple(words[i : i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1)
    )


class CiderD:
    def __init__(
        self,
        mult_refs: Sequence[Sequence[str]],
        n: int = 4,
        sigma: float = 6.0,
        scale: float = 10.0,
    ):
        if len(mult_refs) < 2:
            raise ValueError("CIDEr-D needs at least 2 clips with references")
        self.n, self.sigma, self.scale = n, sigma, scale
        self.mult_refs = mult_refs  # sentence_scores re-cooks a clip's few references
        cooked = [[cook(r, n) for r in refs] for refs in mult_refs]
        self.df: Counter = Counter(g for refs in cooked for g in set().union(*refs))
        self.log_num_clips = math.log(float(len(cooked)))
        self.num_clips = len(cooked)
        self.gram_id: Dict[Ngram, int] = {}
        # one entry per (reference, n-gram in it): gram id, reference length, count, and
        # the reference's share of the corpus mean (1 / its clip's references / its norm)
        grams, lengths, counts, shares = [], [], [], []
        for refs in cooked:
            for ref in refs:
                _, norm, length = self.tfidf(ref)
                inv = np.divide(1.0 / len(refs), norm, out=np.zeros(n), where=norm != 0)
                for gram, tf in ref.items():
                    grams.append(self.gram_id.setdefault(gram, len(self.gram_id)))
                    lengths.append(length)
                    counts.append(tf)
                    shares.append(tf * inv[len(gram) - 1])
        self.idf = np.array(
            [self.log_num_clips - math.log(max(1.0, self.df[g])) for g in self.gram_id]
        )  # (G,)
        self.idf_list = self.idf.tolist()  # scalar reads of a list are ~5x faster
        self._group(
            *(np.array(a, dtype=np.int64) for a in (grams, lengths, counts)), np.array(shares)
        )

    def _group(self, grams, lengths, counts, shares) -> None:
        """Sum the entries' shares per (gram, reference length, count): (K,) arrays sorted
        by gram, the groups of gram g at [group_start[g], group_start[g + 1])."""
        len_span, tf_span = lengths.max(initial=0) + 1, counts.max(initial=0) + 1
        keys = (grams * len_span + lengths) * tf_span + counts
        uniq, inverse = np.unique(keys, return_inverse=True)
        self.group_share = np.bincount(inverse, weights=shares, minlength=len(uniq))
        self.group_tf = uniq % tf_span
        self.group_len = (uniq // tf_span) % len_span
        group_gram = uniq // (tf_span * len_span)
        self.group_start = np.searchsorted(group_gram, np.arange(len(self.gram_id) + 1))

    def tfidf(self, counts: Counter):
        """({ngram: tf-idf}, norms per n (n,), bigram count) as the reference code builds them."""
        vec, norm, length = {}, np.zeros(self.n), 0
        for gram, tf in counts.items():
            value = float(tf) * (self.log_num_clips - math.log(max(1.0, self.df.get(gram, 0))))
            vec[gram] = value
            norm[len(gram) - 1] += value * value
            if len(gram) == 2:
                length += tf
        return vec, np.sqrt(norm), length

    def constant_score(self, candidate: str) -> float:
        """Corpus CIDEr-D when every clip is captioned `candidate`.

        Sum over the candidate's n-grams g (order k) and the groups of references holding
        g: idf(g)^2 / |c_k| * min(tf_c, tf_r) * penalty(len_c - len_r) * share, which is
        the straightforward per-reference sum regrouped (tests/test_cider.py checks it)."""
        ids, tfs, orders, squares, length = [], [], [], [0.0] * self.n, 0
        for gram, tf in cook(candidate, self.n).items():
            k, g = len(gram) - 1, self.gram_id.get(gram)
            squares[k] += (tf * (self.log_num_clips if g is None else self.idf_list[g])) ** 2
            length += tf if k == 1 else 0
            if g is not None:
                ids.append(g)
                tfs.append(tf)
                orders.append(k)
        if not ids:
            return 0.0
        norm = np.sqrt(np.array(squares))[orders]  # (g,) the candidate's norm at each gram's order
        coefs = np.divide(self.idf[ids] ** 2, norm, out=np.zeros(len(ids)), where=norm != 0)
        starts = self.group_start[ids]
        sizes = self.group_start[np.array(ids) + 1] - starts  # groups per candidate gram
        first = np.cumsum(sizes) - sizes
        rows = np.repeat(starts - first, sizes) + np.arange(sizes.sum())  # (M,) group rows
        penalty = np.exp(-((length - self.group_len[rows]) ** 2) / (2 * self.sigma**2))
        terms = (
            np.repeat(coefs, sizes)
            * np.minimum(np.repeat(tfs, sizes), self.group_tf[rows])
            * penalty
            * self.group_share[rows]
        )
        return float(terms.sum() / (self.n * self.num_clips) * self.scale)
