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
training caption (thousands), and aac-metrics recomputes the document frequencies and
every reference vector on each call. Here the references are cooked once and an inverted
index (n-gram -> references holding it) makes a candidate cost only its own n-grams.
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
        cooked = [[cook(r, n) for r in refs] for refs in mult_refs]
        self.df: Counter = Counter(g for refs in cooked for g in set().union(*refs))
        self.log_num_clips = math.log(float(len(cooked)))
        # every reference flattened: its clip, tf-idf norms per n (R, n), bigram count (R,)
        self.ref_clip = np.array([c for c, refs in enumerate(cooked) for _ in refs])
        self.refs_per_clip = np.array([len(refs) for refs in cooked], dtype=float)  # (C,)
        norms, lengths, postings = [], [], {}
        for r, counts in enumerate(ref for refs in cooked for ref in refs):
            vec, norm, length = self.tfidf(counts)
            norms.append(norm)
            lengths.append(length)
            for gram, value in vec.items():
                postings.setdefault(gram, ([], []))
                postings[gram][0].append(r)
                postings[gram][1].append(value)
        self.ref_norm, self.ref_len = np.array(norms), np.array(lengths, dtype=float)
        self.index: Dict[Ngram, Tuple[np.ndarray, np.ndarray]] = {
            g: (np.array(rs), np.array(vs)) for g, (rs, vs) in postings.items()
        }

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

    def _per_reference(self, candidate: str) -> np.ndarray:
        """Score of `candidate` against every reference: (R,), mean over n, penalised."""
        vec, norm, length = self.tfidf(cook(candidate, self.n))
        sims = np.zeros((len(self.ref_len), self.n))  # (R, n)
        for gram, value in vec.items():
            if gram in self.index:
                refs, ref_values = self.index[gram]
                sims[refs, len(gram) - 1] += np.minimum(value, ref_values) * ref_values
        denom = norm[None, :] * self.ref_norm  # (R, n)
        sims = np.where(denom != 0, sims / np.where(denom != 0, denom, 1.0), sims)
        penalty = np.exp(-((length - self.ref_len) ** 2) / (2 * self.sigma**2))  # (R,)
        return sims.mean(axis=1) * penalty

    def constant_score(self, candidate: str) -> float:
        """Corpus CIDEr-D when every clip is captioned `candidate`."""
        per_clip = (
            np.bincount(
                self.ref_clip, self._per_reference(candidate), minlength=len(self.refs_per_clip)
            )
            / self.refs_per_clip
        )
        return float(per_clip.mean() * self.scale)
