"""Reviews in, token ids out: `sources` (where reviews come from), `text` (the one encoder), `batching`.

Depends on `sentiment.config` and `sentiment.errors` only.
"""

from sentiment.data.batching import batched_dataset, bucket_batches, length_order, stream_batches
from sentiment.data.sources import (
    Reviews,
    Splits,
    Stream,
    load_aclimdb,
    load_csv,
    load_splits,
    load_tfds,
    load_unlabelled,
    open_stream,
    read_csv_rows,
    read_labelled,
    stream_reviews,
)
from sentiment.data.text import (
    MAX_REVIEW_BYTES,
    PADDING_ID,
    UNKNOWN_ID,
    TextEncoder,
    adapt_vocabulary,
    cap_bytes,
    count_words,
    make_vectorizer,
    review_length,
    standardize_text,
    text_tensor,
    word_counts,
)

__all__ = [
    "MAX_REVIEW_BYTES",
    "PADDING_ID",
    "UNKNOWN_ID",
    "Reviews",
    "Splits",
    "Stream",
    "TextEncoder",
    "adapt_vocabulary",
    "batched_dataset",
    "bucket_batches",
    "cap_bytes",
    "count_words",
    "length_order",
    "load_aclimdb",
    "load_csv",
    "load_splits",
    "load_unlabelled",
    "read_csv_rows",
    "read_labelled",
    "load_tfds",
    "make_vectorizer",
    "open_stream",
    "review_length",
    "standardize_text",
    "stream_batches",
    "stream_reviews",
    "text_tensor",
    "word_counts",
]
