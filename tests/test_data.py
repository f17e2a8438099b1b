import re

import numpy as np
import pytest
import tensorflow as tf

from sentiment import data
from sentiment.config import DataConfig
from sentiment.errors import SentimentError

from conftest import make_reviews, write_csv

VOCABULARY = ["", "[UNK]", "the", "movie", "was", "great", "bad", "not"]


def _ids(texts, sequence_length=4, truncation_side="left", pad=True):
    return data.TextEncoder(VOCABULARY, sequence_length, truncation_side).encode(texts, to_sequence_length=pad)


def test_standardize_removes_markup_punctuation_and_case():
    out = data.standardize_text(tf.constant(["Great movie!<br /><br />The END.It's <b>bad</b>"])).numpy()[0].decode()
    assert out.split() == ["great", "movie", "the", "end", "its", "bad"]


def test_standardize_survives_invalid_utf8_and_nul():
    out = data.standardize_text(tf.constant([b"caf\xe9 \x00 great \xff"])).numpy()[0].decode("utf-8")
    assert "great" in out.split()


def test_token_ids_are_right_padded_and_truncated_on_the_chosen_side():
    ids = _ids(["the movie was great", "bad"], sequence_length=3)
    assert ids.tolist() == [[3, 4, 5], [6, 0, 0]]  # "left": the start of the long review is dropped
    ids = _ids(["the movie was great"], sequence_length=3, truncation_side="right")
    assert ids.tolist() == [[2, 3, 4]]


def test_unknown_words_map_to_unk():
    assert _ids(["the zebra"]).tolist() == [[2, data.UNKNOWN_ID, 0, 0]]


@pytest.mark.parametrize("text", ["", "   ", "!!! ... ???", "<br /><br />"])
def test_a_review_without_tokens_is_never_fully_masked(text):
    ids = _ids([text, "great"])
    assert ids[0].tolist() == [data.UNKNOWN_ID, 0, 0, 0]
    assert ids[1].tolist() == [5, 0, 0, 0]


def test_padding_to_longest_in_batch():
    assert _ids(["great", "the movie"], sequence_length=10, pad=False).shape == (2, 2)


def test_adapt_uses_training_texts_and_orders_by_frequency():
    vocabulary = data.adapt_vocabulary(np.array(["b a a", "a c"], dtype=object), vocabulary_size=10)
    assert vocabulary[:3] == ["", "[UNK]", "a"]
    assert set(vocabulary) == {"", "[UNK]", "a", "b", "c"}


def test_count_words_counts_before_truncation():
    assert data.count_words(np.array(["Great movie!<br />Loved it", ""], dtype=object)).tolist() == [4, 0]


def test_csv_with_split_column(tiny_csv):
    train, test = data.load_csv(tiny_csv, test_fraction=0.2, seed=0)
    assert (len(train), len(test)) == (320, 80)
    assert set(train.labels.tolist()) == {0, 1}


def test_csv_without_split_column_holds_out_a_seeded_test_split(tmp_path):
    texts, labels = make_reviews(50)
    path = write_csv(tmp_path / "reviews.csv", texts, labels)
    first = data.load_csv(path, test_fraction=0.2, seed=3)
    again = data.load_csv(path, test_fraction=0.2, seed=3)
    assert len(first[1]) == 10 and first[1].texts.tolist() == again[1].texts.tolist()


def test_tsv_is_read_with_tabs(tmp_path):
    path = tmp_path / "reviews.tsv"
    path.write_text("text\tlabel\tsplit\ngood, really\tpos\ttrain\nbad\tneg\ttest\n")
    train, test = data.load_csv(path, 0.2, 0)
    assert train.texts.tolist() == ["good, really"] and test.labels.tolist() == [0]


@pytest.mark.parametrize(
    "content, message",
    [
        ("text,label\nfine,1\nbroken,1,extra\n", r"reviews\.csv:3: expected 2 fields, found 3"),
        ("text,label\nfine,1\nfine,maybe\n", r"reviews\.csv:3: label 'maybe' is not one of"),
        ("review,label\nfine,1\n", r"reviews\.csv:1: header has no text column"),
        ("text,label,split\nfine,1,dev\n", r"reviews\.csv:2: split 'dev' is not train or test"),
        ("", r"reviews\.csv: the file is empty"),
        ('text,label\n"unterminated,1\n', r"reviews\.csv:\d+: "),
    ],
)
def test_malformed_csv_names_file_line_and_problem(tmp_path, content, message):
    path = tmp_path / "reviews.csv"
    path.write_text(content)
    with pytest.raises(SentimentError, match=message):
        data.load_csv(path, 0.2, 0)


@pytest.mark.parametrize(
    "case, content, expected",
    [
        ('"CSV UTF-8" from a spreadsheet (a byte-order mark)', "\ufefftext,label\ngood film,1\nbad,0\n".encode(), None),
        ("Latin-1", "text,label\ngood film,1\ncaf\u00e9 scene,0\n".encode("latin-1"), "reviews.csv:3: not UTF-8"),
        (
            "Latin-1 in a quoted review over two lines",
            'text,label\ngood,1\n"two\nlines, na\u00efve",0\n'.encode("latin-1"),
            "reviews.csv:4: not UTF-8",
        ),
    ],
)
def test_a_csv_with_a_byte_order_mark_is_read_and_one_not_in_utf8_is_refused_by_line(
    tmp_path, reliability, case, content, expected
):
    path = tmp_path / "reviews.csv"
    path.write_bytes(content)
    if expected is None:
        rows = data.read_csv_rows(path)
        assert rows[""] == [("good film", 1), ("bad", 0)]
        measured = f"read: {len(rows[''])} rows, header text and label"
    else:
        with pytest.raises(SentimentError, match=re.escape(expected)) as raised:
            data.read_csv_rows(path)
        measured = str(raised.value).replace(str(tmp_path), "…")
    reliability.record(
        "data (train, evaluate, predict --file)",
        f"a CSV file: {case}",
        "read (the mark skipped); not UTF-8: refused naming the line, never read with bytes replaced",
        measured,
    )


def test_aclimdb_folder(tmp_path):
    for split in ("train", "test"):
        for label, name in enumerate(("neg", "pos")):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(3):
                (folder / f"{i}_{7 + label}.txt").write_text(f"{name} review {i}<br />")
    train, test = data.load_aclimdb(tmp_path)
    assert len(train) == 6 and len(test) == 6 and train.labels.sum() == 3


def test_aclimdb_missing_folders_say_what_is_missing(tmp_path):
    with pytest.raises(SentimentError, match="does not exist"):
        data.load_aclimdb(tmp_path / "nowhere")
    (tmp_path / "train" / "pos").mkdir(parents=True)
    with pytest.raises(SentimentError, match=r"train/neg is missing"):
        data.load_aclimdb(tmp_path)


def test_validation_comes_from_train_only_and_is_seeded(tiny_csv):
    config = DataConfig(source="csv", path=str(tiny_csv), validation_fraction=0.25)
    splits = data.load_splits(config, seed=1)
    again = data.load_splits(config, seed=1)
    other = data.load_splits(config, seed=2)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (240, 80, 80)
    train_texts, _ = data.load_csv(tiny_csv, 0.2, 1)
    assert set(splits.validation.texts) <= set(train_texts.texts)
    assert splits.validation.texts.tolist() == again.validation.texts.tolist()
    assert splits.validation.texts.tolist() != other.validation.texts.tolist()


def test_sample_caps(tiny_csv):
    config = DataConfig(source="csv", path=str(tiny_csv), max_train_samples=50, max_test_samples=20)
    splits = data.load_splits(config, seed=0)
    assert (len(splits.train) + len(splits.validation), len(splits.test)) == (50, 20)


@pytest.mark.imdb
def test_tfds_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(SentimentError, match="IMDB \\(imdb_reviews\\) is not in"):
        data.load_tfds(str(tmp_path), download=False)


def _ragged_reviews(count=300, longest=40, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, longest + 1, count)
    ids = np.zeros((count, longest), np.int32)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(1, 50, length)
    return ids, rng.integers(0, 2, count)


def test_length_bucketing_keeps_every_review_once_in_as_many_batches():
    ids, labels = _ragged_reviews()
    batches = list(data.batched_dataset(ids, labels, 32, shuffle_seed=3, bucket_window=4).as_numpy_iterator())
    assert len(batches) == int(np.ceil(len(ids) / 32))  # same steps per epoch as fixed padding
    seen = sorted(
        (tuple(row[row != 0]), float(label))
        for batch, batch_labels in batches
        for row, label in zip(batch, batch_labels)
    )
    assert seen == sorted((tuple(row[row != 0]), float(label)) for row, label in zip(ids, labels))
    for batch, _ in batches:
        lengths = np.count_nonzero(batch, axis=1)
        assert batch.shape[1] == lengths.max()  # padded to its own longest review only
        # Right padding only: every row is its tokens, then zeros.
        assert all((row[:length] != 0).all() and (row[length:] == 0).all() for row, length in zip(batch, lengths))


def test_length_bucketing_cuts_padding_and_is_seeded():
    ids, labels = _ragged_reviews()
    bucketed = list(data.batched_dataset(ids, labels, 32, shuffle_seed=3, bucket_window=4).as_numpy_iterator())
    fixed = list(data.batched_dataset(ids, labels, 32, shuffle_seed=3).as_numpy_iterator())
    assert all(batch.shape[1] == ids.shape[1] for batch, _ in fixed)
    assert sum(batch.size for batch, _ in bucketed) < 0.75 * sum(batch.size for batch, _ in fixed)
    again = list(data.batched_dataset(ids, labels, 32, shuffle_seed=3, bucket_window=4).as_numpy_iterator())
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(bucketed, again))
    # Without a seed (validation), batches come in window order, sorted within each window.
    unshuffled = list(data.batched_dataset(ids, labels, 32, bucket_window=len(ids)).as_numpy_iterator())
    widths = [batch.shape[1] for batch, _ in unshuffled]
    assert widths == sorted(widths)


def test_length_order_sorts_right_padded_reviews():
    ids, _ = _ragged_reviews(50)
    order = data.length_order(ids)
    lengths = np.count_nonzero(ids, axis=1)[order]
    assert (np.diff(lengths) >= 0).all() and sorted(order) == list(range(50))


def test_bucketed_batches_state_their_count():
    ids, labels = _ragged_reviews(100)
    assert data.batched_dataset(ids, labels, 32, shuffle_seed=0, bucket_window=2).cardinality().numpy() == 4


# --- Streaming a tensorflow-datasets dataset -----------------------------------


def _news_config(data_dir, **overrides):
    return DataConfig(
        **{
            "dataset": "tiny_news",
            "path": str(data_dir),
            "download": False,
            "text_key": "description",
            "label_key": "topic",
            "vocabulary_size": 30,
            "sequence_length": 8,
            **overrides,
        }
    )


def test_open_stream_fixes_splits_without_reading_and_caps_them(tiny_news_dir):
    stream = data.open_stream(
        _news_config(tiny_news_dir, max_train_samples=300, max_test_samples=50, validation_fraction=0.2)
    )
    assert stream.class_names == ("world", "sports", "business", "science")
    assert stream.splits == {"train": "train[60:300]", "validation": "train[:60]", "test": "test[:50]"}
    assert stream.counts == {"train": 240, "validation": 60, "test": 50}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"text_key": "text"}, r"tiny_news has no feature 'text' \(--text-key\); its features are description, topic"),
        ({"label_key": "description"}, r"feature 'description' is not a class label"),
        ({"train_split": "validation"}, r"tiny_news has no split 'validation' \(--train-split\); its splits are"),
        ({"dataset": "not_a_dataset_anywhere"}, r"tensorflow-datasets has no dataset 'not_a_dataset_anywhere'"),
    ],
)
def test_open_stream_names_what_is_missing(tiny_news_dir, overrides, message):
    with pytest.raises(SentimentError, match=message):
        data.open_stream(_news_config(tiny_news_dir, **overrides))


def test_a_registered_dataset_that_is_not_on_disk_is_not_downloaded(tmp_path):
    with pytest.raises(SentimentError, match=r"ag_news_subset is not in .* without --no-download"):
        data.open_stream(
            DataConfig(dataset="ag_news_subset", path=str(tmp_path), download=False, text_key="description")
        )


def test_stream_batches_yield_every_review_once_with_word_counts(tiny_news_dir):
    from conftest import make_news

    config = _news_config(tiny_news_dir)
    stream = data.open_stream(config)
    vocabulary = data.adapt_vocabulary(
        data.stream_reviews(stream, "train").map(lambda text, label: text), config.vocabulary_size
    )
    texts, labels = make_news(100, seed=1)  # how the fixture wrote the test split
    for window in (None, 2):
        encoder = data.TextEncoder.for_config(vocabulary, config)
        batches = data.stream_batches(stream, encoder, "test", 32, bucket_window=window, with_word_counts=True)
        assert batches.cardinality().numpy() == 4
        rows = [
            (tuple(ids[ids != 0]), int(label), int(count))
            for batch in batches.as_numpy_iterator()
            for ids, label, count in zip(*batch)
        ]
        vectorized = encoder.encode(np.array(texts, dtype=object), to_sequence_length=True)
        words = data.count_words(np.array(texts, dtype=object))
        assert sorted(rows) == sorted(
            (tuple(ids[ids != 0]), label, int(count)) for ids, label, count in zip(vectorized, labels, words)
        )


def _graph_nodes(dataset: tf.data.Dataset) -> list:
    """Every op of the dataset's graph, those inside its functions included."""
    graph = tf.compat.v1.GraphDef.FromString(dataset._as_serialized_graph().numpy())
    return list(graph.node) + [node for function in graph.library.function for node in function.node_def]


def _largest_constant(dataset: tf.data.Dataset) -> int:
    """Elements in the biggest constant of the dataset's graph: embedded data would be one."""
    nodes = _graph_nodes(dataset)
    sizes = [
        int(np.prod([dim.size for dim in node.attr["value"].tensor.tensor_shape.dim]))
        for node in nodes
        if node.op == "Const"
    ]
    return max(sizes, default=0)


def test_streamed_batches_read_files_and_hold_no_reviews_in_the_graph(tiny_news_dir):
    config = _news_config(tiny_news_dir)
    stream = data.open_stream(config)
    vocabulary = data.adapt_vocabulary(
        data.stream_reviews(stream, "train").map(lambda text, label: text), config.vocabulary_size
    )
    encoder = data.TextEncoder.for_config(vocabulary, config)
    streamed = data.stream_batches(stream, encoder, "train", 32, shuffle_seed=0, bucket_window=2)
    assert "TFRecordDataset" in {node.op for node in _graph_nodes(streamed)}
    # The graph holds the vocabulary, never the reviews: its largest constant is
    # far smaller than the split, unlike that of the same reviews in memory.
    assert _largest_constant(streamed) < stream.counts["train"]
    ids = encoder.encode(np.array([b"x"] * stream.counts["train"], dtype=object), to_sequence_length=True)
    assert (
        _largest_constant(data.batched_dataset(ids, np.zeros(len(ids)), 32, bucket_window=2)) >= stream.counts["train"]
    )


def test_vocabulary_adapted_on_a_capped_stream():
    texts = tf.data.Dataset.from_tensor_slices(["alpha beta", "gamma delta", "gamma"])
    assert set(data.adapt_vocabulary(texts, 10, max_samples=1)) == {"", "[UNK]", "alpha", "beta"}
    assert set(data.adapt_vocabulary(texts, 10)) == {"", "[UNK]", "alpha", "beta", "gamma", "delta"}
