"""Writes webapp/examples.json: the app's example reviews, from the IMDB test split.

Run once at development time (the app never needs IMDB):

    TFDS_DATA_DIR=../shared/tensorflow_datasets python scripts/pick_examples.py

The reviews were chosen by reading candidates from the test split of
`imdb_reviews/plain_text/1.0.0` (tensorflow-datasets' order, unshuffled):
one short, one long (past both presets' sequence lengths, 128 and 400), one whose verdict
rests on negation, and one that sounds hopeful and turns negative in its last
sentences. Their indices are fixed below, so the file is reproducible.
"""

from __future__ import annotations

import json
from pathlib import Path

from sentiment.config import LABEL_NAMES
from sentiment.data import load_tfds

ROOT = Path(__file__).resolve().parents[1]

# (name, index in the test split, why it is an example)
CHOSEN = [
    ("short", 23509, "45 words, clearly positive"),
    ("negation", 3430, "'not really funny and not really cunning': the verdict is in negations"),
    ("late flip", 1183, "hopeful for two thirds ('so far, so good'), damning at the end"),
    ("long", 18257, "553 words, praise up front: longer than either preset reads, so the start is cut"),
]


def main() -> None:
    _, test = load_tfds(data_dir=None, download=False)
    examples = [
        {
            "name": name,
            "why": why,
            "split": "test",
            "index": index,
            "label": LABEL_NAMES[int(test.labels[index])],
            "words": len(test.texts[index].split()),
            "text": test.texts[index],
        }
        for name, index, why in CHOSEN
    ]
    output = ROOT / "webapp" / "examples.json"
    document = {"source": "tensorflow-datasets imdb_reviews/plain_text/1.0.0, test split", "examples": examples}
    output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(examples)} examples to {output}")


if __name__ == "__main__":
    main()
