"""Word vectors pretrained on unlabelled text: PPMI + truncated SVD (Levy, Goldberg & Dagan 2015).

Counts how often each pair of vocabulary words occurs within `window` tokens
of each other (weighted 1/distance, as word2vec's dynamic window does on
average), turns the counts into positive pointwise mutual information with
the context distribution smoothed to the power 0.75, and keeps the top
`dimensions` singular vectors scaled by the square root of their singular
values. On a CPU this takes minutes where skip-gram training takes far
longer, and it is deterministic: no sampling.

`strong`'s models start from these vectors (`ModelConfig.pretrained_vectors`);
they are computed once per artifacts folder from the training split and
IMDB's 50,000 unlabelled reviews (never the test split) and cached with a
record of how they were made.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sentiment.io import files

VECTORS_FILE = "vectors.npz"
VECTORS_RECORD = "vectors.json"


def cooccurrences(token_ids: np.ndarray, vocabulary_size: int, window: int):
    """<float64>[vocabulary, vocabulary] sparse symmetric counts of word pairs within `window`, weighted 1/distance.

    Args:
        token_ids: <int>[reviews, length] right-padded (0); 0 and 1 ([UNK]) are left out.
    """
    from scipy import sparse

    total = sparse.csr_matrix((vocabulary_size, vocabulary_size), dtype=np.float64)
    for distance in range(1, window + 1):
        left, right = token_ids[:, :-distance].ravel(), token_ids[:, distance:].ravel()
        keep = (left > 1) & (right > 1)
        pairs = sparse.coo_matrix(
            (np.full(keep.sum(), 1.0 / distance), (left[keep], right[keep])), shape=(vocabulary_size, vocabulary_size)
        ).tocsr()
        total = total + pairs + pairs.T
    return total


def ppmi_svd(counts, dimensions: int, smoothing: float = 0.75, seed: int = 0) -> np.ndarray:
    """<float32>[vocabulary, dimensions] word vectors from co-occurrence counts."""
    from scipy import sparse
    from sklearn.utils.extmath import randomized_svd

    counts = sparse.csr_matrix(counts)
    word_totals = np.asarray(counts.sum(axis=1)).ravel()
    context = np.asarray(counts.sum(axis=0)).ravel() ** smoothing
    context_total = context.sum()
    coo = counts.tocoo()
    # PMI = log P(w, c) / (P(w) P_0.75(c)) = log #(w,c) + log Σ #(c)^0.75 − log #(w) − log #(c)^0.75
    pmi = np.log(coo.data) + np.log(context_total) - np.log(word_totals[coo.row]) - np.log(context[coo.col])
    positive = pmi > 0
    ppmi = sparse.csr_matrix((pmi[positive], (coo.row[positive], coo.col[positive])), shape=counts.shape)
    left, singular, _ = randomized_svd(ppmi, dimensions, random_state=seed)
    vectors = left * np.sqrt(singular)
    return (vectors / max(np.abs(vectors).std(), 1e-12) * 0.05).astype(
        np.float32
    )  # the scale of Keras's own embedding init


def pretrain(
    token_ids: np.ndarray,
    vocabulary_size: int,
    dimensions: int,
    window: int,
    folder: Path,
    source: str,
    log: Callable[[str], None] = print,
) -> np.ndarray:
    """The vectors of `folder` if cached there, else computed, cached and recorded.

    Args:
        token_ids: <int>[reviews, length] the corpus, already encoded.
        source: what the corpus is, for the record ("IMDB train split + unsupervised split").
    """
    cached = folder / VECTORS_FILE
    if cached.exists():
        with np.load(cached, allow_pickle=False) as arrays:
            log(f"word vectors: reusing {cached}")
            return arrays["vectors"]
    started = time.perf_counter()
    log(f"word vectors: co-occurrences of {len(token_ids):,} reviews, window {window}")
    vectors = ppmi_svd(cooccurrences(token_ids, vocabulary_size, window), dimensions)
    record: dict[str, Any] = {
        "method": (
            "PPMI (context distribution smoothed to the power 0.75) + truncated SVD, "
            "U * sqrt(S) (Levy, Goldberg & Dagan 2015)"
        ),
        "corpus": source,
        "reviews": int(len(token_ids)),
        "tokens": int(np.count_nonzero(token_ids > 1)),
        "window": window,
        "weighting": "1/distance",
        "dimensions": dimensions,
        "vocabulary_size": vocabulary_size,
        "seconds": time.perf_counter() - started,
    }
    with files.atomic_path(cached) as temporary:
        np.savez(temporary, vectors=vectors)
    files.write_json(folder / VECTORS_RECORD, record)
    log(f"word vectors: {vectors.shape} in {record['seconds']:.0f} s")
    return vectors
