"""`python -m sentiment predict`: reviews from arguments, stdin or a CSV/TSV file, scored by artifacts or exports."""

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from sentiment.errors import SentimentError
from sentiment.serving import score
from sentiment.serving.predict import Predictor

from conftest import run_cli

CELLS = ("simple_rnn", "lstm", "gru")
REVIEWS = ["the movie was wonderful", "awful, boring plot<br />", "", "😀 电影 <b>great</b>", "great " * 600]


@pytest.fixture(scope="module")
def predictors(tiny_artifacts):
    return {cell: Predictor.from_folder(tiny_artifacts / cell) for cell in CELLS}


def _jsonl(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_export_and_artifact_folders_give_the_same_scores(tiny_artifacts, tiny_export, predictors):
    from_artifacts = score.artifact_scorers(tiny_artifacts)
    from_export = score.export_scorers(tiny_export)
    assert list(from_artifacts) == list(from_export) == list(CELLS)  # every model found, bow left out
    for cell in CELLS:
        (artifact_p, artifact_labels), (export_p, export_labels) = (
            from_artifacts[cell](REVIEWS),
            from_export[cell](REVIEWS),
        )
        np.testing.assert_allclose(artifact_p, predictors[cell].predict(REVIEWS), atol=1e-6)
        np.testing.assert_allclose(export_p, artifact_p, atol=1e-5)
        assert export_labels == artifact_labels == ["positive" if p >= 0.5 else "negative" for p in artifact_p]


def test_rows_come_in_batches_in_input_order(tiny_artifacts, predictors):
    scorers = score.artifact_scorers(tiny_artifacts, ["lstm"])
    calls = []
    counted = {"lstm": lambda texts: (calls.append(len(texts)), scorers["lstm"](texts))[1]}
    rows = list(score.score_rows(score.reviews_from_texts(REVIEWS), counted, batch_size=2))
    assert calls == [2, 2, 1]
    assert [row["index"] for row in rows] == [0, 1, 2, 3, 4]
    assert rows[4]["text"] == ("great " * 10)[:59] + "…" and rows[2]["text"] == ""
    expected = predictors["lstm"].predict(REVIEWS)
    assert [row["lstm"]["probability"] for row in rows] == pytest.approx(expected.tolist(), abs=1e-6)


def test_a_csv_and_a_tsv_file_are_read_with_their_ids(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('id,text,extra\nr1,"great, truly great",x\nr2,"two\nlines",y\n\nr3,"",z\n', encoding="utf-8")
    reviews = score.read_review_file(path)
    assert [(review.index, review.id, review.text) for review in reviews] == [
        (0, "r1", "great, truly great"),
        (1, "r2", "two\nlines"),
        (2, "r3", ""),
    ]
    tsv = tmp_path / "reviews.tsv"
    tsv.write_text("Review\tstars\nloved it, all of it\t5\n", encoding="utf-8")
    assert [(review.id, review.text) for review in score.read_review_file(tsv, text_column="review")] == [
        (None, "loved it, all of it")
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        ("text,label\ngreat film,pos\nawful,neg,extra\n", "reviews.csv:3: expected 2 fields, found 3"),
        ('text\n"good film\n', "reviews.csv:2: unexpected end of data"),
        ('text,id\n"good" film,1\n', "reviews.csv:2: ',' expected after '\"'"),
        ("review,label\ngreat,1\n", "reviews.csv:1: header has no text column (found: review, label)"),
        ("", "reviews.csv: the file is empty"),
    ],
)
def test_a_malformed_file_names_the_file_line_and_problem(tmp_path, content, message):
    path = tmp_path / "reviews.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SentimentError, match="^" + re.escape(str(tmp_path))) as raised:
        score.read_review_file(path)
    assert message in str(raised.value)


def test_the_latest_version_is_the_highest_number_with_a_saved_model(tmp_path):
    for name in ("1", "2", "10", "11.tmp-42", "12"):
        (tmp_path / name).mkdir()
    for name in ("1", "2", "10", "11.tmp-42"):
        (tmp_path / name / "saved_model.pb").write_bytes(b"")
    assert score.latest_version(tmp_path) == tmp_path / "10"  # 12 is empty, 11 is being written
    assert score.latest_version(tmp_path / "1") is None


def test_bad_folders_say_what_to_run(tmp_path, tiny_artifacts):
    with pytest.raises(
        SentimentError, match="artifact folder .*nothing does not exist; train first with: python -m sentiment train"
    ):
        score.artifact_scorers(tmp_path / "nothing")
    with pytest.raises(
        SentimentError,
        match=r"no artifact in .* \(expected <cell>/manifest.json, <cell> one of simple_rnn, lstm, gru, mingru, "
        r"minlstm, transformer\); train first",
    ):
        score.artifact_scorers(tmp_path)
    with pytest.raises(
        SentimentError,
        match=r"no export of lstm in .* \(expected <cell>/<version>/saved_model.pb\); export first with: python -m "
        r"sentiment export",
    ):
        score.export_scorers(tiny_artifacts, ["lstm"])  # an artifacts folder is not an export folder
    with pytest.raises(SentimentError, match="export folder .*nothing does not exist"):
        score.export_scorers(tmp_path / "nothing")


def test_predict_scores_arguments_as_json_lines(tiny_artifacts, predictors):
    result = run_cli(
        "predict",
        *("--artifacts", str(tiny_artifacts)),
        *"--model lstm".split(),
        "the movie was wonderful",
        *("--text", "awful, boring plot<br />"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = _jsonl(result.stdout)
    expected = predictors["lstm"].predict(REVIEWS[:2])
    assert [row["index"] for row in rows] == [0, 1] and [row["text"] for row in rows] == REVIEWS[:2]
    assert [set(row) for row in rows] == [{"index", "text", "lstm"}] * 2
    assert [row["lstm"]["probability"] for row in rows] == pytest.approx(expected.tolist(), abs=1e-6)


def test_predict_reads_stdin_one_review_a_line_with_every_exported_model(tiny_export, predictors):
    piped = run_cli(
        "predict", "--export", str(tiny_export), input="the movie was wonderful\n\nawful, boring plot<br />\n"
    )
    dashed = run_cli(
        "predict",
        *("--export", str(tiny_export)),
        "-",
        *"--batch-size 1".split(),
        input="the movie was wonderful\nawful, boring plot<br />",
    )
    assert piped.returncode == 0 and dashed.returncode == 0, piped.stderr[-2000:] + dashed.stderr[-2000:]
    assert _jsonl(piped.stdout) == _jsonl(dashed.stdout)
    rows = _jsonl(piped.stdout)
    assert len(rows) == 2
    for cell in CELLS:
        assert [row[cell]["probability"] for row in rows] == pytest.approx(
            predictors[cell].predict(REVIEWS[:2]).tolist(), abs=1e-5
        )


def test_predict_scores_a_tsv_file_into_a_csv_file(tiny_artifacts, predictors, tmp_path):
    source = tmp_path / "reviews.tsv"
    with source.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, delimiter="\t")
        writer.writerow(["id", "review"])
        writer.writerows([f"r{index}", text] for index, text in enumerate(REVIEWS))
    output = tmp_path / "scores.csv"
    result = run_cli(
        "predict",
        *("--artifacts", str(tiny_artifacts)),
        *("--file", str(source)),
        *"--text-column review --format csv".split(),
        *("--output", str(output)),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (
        "scoring" in result.stderr and "5 reviews scored by simple_rnn, lstm, gru" in result.stderr
    )  # the progress bar, then the summary
    rows = list(csv.DictReader(io.StringIO(output.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["index", "id"] + [
        f"{cell}_{field}" for cell in CELLS for field in ("probability", "label")
    ]
    assert [row["id"] for row in rows] == [f"r{index}" for index in range(5)]
    for cell in CELLS:
        expected = predictors[cell].predict(REVIEWS)
        assert [float(row[f"{cell}_probability"]) for row in rows] == pytest.approx(expected.tolist(), abs=1e-6)
        assert [row[f"{cell}_label"] for row in rows] == ["positive" if p >= 0.5 else "negative" for p in expected]


# --- No command loses a file; bad bytes never reach the output (issue 30) ------------


def _rows_then(failure: BaseException, count: int = 2):
    for index in range(count):
        yield {"index": index, "text": f"review {index}", "lstm": {"probability": 0.5, "label": "positive"}}
    raise failure


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), RuntimeError("disk full")], ids=["ctrl-c", "error"])
def test_an_interrupted_write_keeps_the_old_file_whole(tmp_path, failure):
    path = tmp_path / "scores.jsonl"
    path.write_text("the old scores\n", encoding="utf-8")
    with pytest.raises(type(failure)):
        score.write_file(_rows_then(failure), path)
    assert path.read_text(encoding="utf-8") == "the old scores\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.jsonl"]  # no temporary file left


def test_ctrl_c_on_a_long_predict_keeps_the_old_output_and_says_it_starts_over(tiny_artifacts, tmp_path, reliability):
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT

    folder = tmp_path / "out"
    folder.mkdir()
    output = folder / "scores.jsonl"
    output.write_text('{"index": 0, "old": true}\n', encoding="utf-8")
    before = output.read_bytes()
    lines = "".join(f"the movie was wonderful number {index}\n" for index in range(60_000))
    errors = (tmp_path / "stderr.txt").open("w")  # a file: a full pipe would stall predict
    process = subprocess.Popen(
        [sys.executable, "-m", "sentiment", "predict", "--artifacts", str(tiny_artifacts), "--model", "lstm"]
        + ["--batch-size", "1", "--output", str(output)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    process.stdin.write(lines)
    process.stdin.close()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # until rows are being written
        partial = [path for path in folder.iterdir() if path != output and path.stat().st_size > 1000]
        if partial or process.poll() is not None:
            break
        time.sleep(0.2)
    assert partial, "predict never started writing"
    written = sum(1 for _ in partial[0].open(encoding="utf-8"))
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 130
    errors.close()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert output.read_bytes() == before and [path.name for path in folder.iterdir()] == ["scores.jsonl"]
    assert "does not resume: run the same command again to start over" in stderr and "to resume" not in stderr
    reliability.record(
        "predict",
        "Ctrl-C on a 60,000-review --output run, existing output file",
        "the old file intact, no partial file left; the message says the rerun starts over",
        f"interrupted after about {written:,} rows: exit 130, old file byte-identical, no temporary left; "
        f"'{stderr.strip().splitlines()[-1]}'",
    )


def _run_bytes(args: list[str], stdin: bytes):
    import subprocess
    import sys

    from conftest import ROOT

    return subprocess.run(
        [sys.executable, "-m", "sentiment", "predict", *args], cwd=ROOT, input=stdin, capture_output=True, timeout=600
    )


def test_bad_bytes_on_stdin_are_replaced_counted_and_never_written_raw(tiny_artifacts, tmp_path, reliability):
    output = tmp_path / "scores.jsonl"
    output.write_text("the old scores\n", encoding="utf-8")
    lines = b"a good film\nbad \xff\xfe film\nawful plot\n"
    to_file = _run_bytes(["--artifacts", str(tiny_artifacts), "--model", "lstm", "--output", str(output)], lines)
    to_stdout = _run_bytes(["--artifacts", str(tiny_artifacts), "--model", "lstm"], lines)
    for result in (to_file, to_stdout):
        assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
        assert b"1 review(s) held bytes that are not UTF-8 (line 2)" in result.stderr
    rows = [json.loads(line) for line in output.read_bytes().decode("utf-8").splitlines()]  # strict UTF-8
    assert [row["text"] for row in rows] == ["a good film", "bad \ufffd\ufffd film", "awful plot"]
    assert _jsonl(to_stdout.stdout.decode("utf-8")) == rows
    reliability.record(
        "predict",
        "a line of stdin that is not UTF-8 (3 lines, --output and stdout)",
        "every line scored; the bad bytes replaced by U+FFFD, counted and named in a warning; valid UTF-8 JSON out",
        f"{len(rows)} of 3 rows, text {rows[1]['text']!r}; '{to_file.stderr.decode().strip().splitlines()[0]}'",
    )


def test_a_non_utf8_argument_is_scored_by_exports_as_by_artifacts(tiny_artifacts, tiny_export, reliability):
    import os

    review = os.fsdecode(b"bad \xff film")  # as Python hands a non-UTF-8 argument to the program
    results = {
        kind: run_cli("predict", f"--{kind}", str(folder), "--model", "gru", review)
        for kind, folder in (("artifacts", tiny_artifacts), ("export", tiny_export))
    }
    for result in results.values():
        assert result.returncode == 0, result.stderr[-2000:]
        assert "1 review(s) held bytes that are not UTF-8 (argument 1)" in result.stderr
    artifact_row, export_row = (_jsonl(results[kind].stdout)[0] for kind in ("artifacts", "export"))
    assert artifact_row["text"] == "bad \ufffd film"
    assert export_row["gru"]["probability"] == pytest.approx(artifact_row["gru"]["probability"], abs=1e-5)
    reliability.record(
        "predict",
        "predict --export with an argument holding a byte that is not UTF-8",
        "scored as --artifacts scores it, with a warning",
        f"export {export_row['gru']['probability']}, artifacts {artifact_row['gru']['probability']}",
    )


@pytest.mark.parametrize(
    "case, output, expected",
    [
        ("--output is a folder", lambda tmp: tmp, "is a folder; give a file name"),
        ("--output in a folder that does not exist", lambda tmp: tmp / "missing" / "out.jsonl", "does not exist"),
        ("--output where nothing can be written", lambda tmp: Path("/proc/out.jsonl"), "cannot write in /proc"),
        ("--output is the --file being read", lambda tmp: tmp / "reviews.csv", "is the --file being read"),
    ],
)
def test_output_path_problems_are_one_line_before_any_work(tmp_path, capsys, reliability, case, output, expected):
    from sentiment import cli

    (tmp_path / "reviews.csv").write_text("text\na good film\n", encoding="utf-8")
    args = ["predict", "--artifacts", str(tmp_path / "no-models"), "--file", str(tmp_path / "reviews.csv")]
    assert cli.main([*args, "--output", str(output(tmp_path))]) == 2
    error = capsys.readouterr().err
    assert expected in error and error.count("\n") == 1 and "no-models" not in error  # before the models are looked for
    assert (tmp_path / "reviews.csv").read_text(encoding="utf-8") == "text\na good film\n"
    reliability.record(
        "predict", case, "one line before any work; no file touched", error.strip().replace(str(tmp_path), "…")
    )


@pytest.mark.parametrize(
    "case, content, expected",
    [
        ('a CSV saved as "CSV UTF-8" (with a byte-order mark)', "\ufefftext,label\ngreat film,1\n".encode(), None),
        (
            "a Latin-1 CSV",
            "text,label\ngreat film,1\ncaf\u00e9 scene,0\n".encode("latin-1"),
            "reviews.csv:3: not UTF-8",
        ),
    ],
)
def test_csv_encodings_are_read_or_refused_by_line(tmp_path, reliability, case, content, expected):
    path = tmp_path / "reviews.csv"
    path.write_bytes(content)
    if expected is None:
        reviews = score.read_review_file(path)
        assert [review.text for review in reviews] == ["great film"]
        measured = f"read: {len(reviews)} review, header text"
    else:
        with pytest.raises(SentimentError, match=re.escape(expected) + r" \(byte 0xe9\)") as raised:
            score.read_review_file(path)
        measured = str(raised.value).replace(str(tmp_path), "…")
    reliability.record(
        "predict", case, "read (the mark skipped), or refused naming the first line that is not UTF-8", measured
    )


def test_a_folder_of_any_models_is_scored_by_each_after_the_lstm_included(
    tiny_artifacts, tiny_after_artifacts, tmp_path
):
    import shutil

    for folder, cell in (
        (tiny_artifacts, "lstm"),
        (tiny_after_artifacts, "mingru"),
        (tiny_after_artifacts, "transformer"),
    ):
        shutil.copytree(folder / cell, tmp_path / cell)
    scorers = score.artifact_scorers(tmp_path)
    assert list(scorers) == ["lstm", "mingru", "transformer"]  # every model the folder holds, in their usual order
    for cell, scorer in scorers.items():
        probabilities, labels = scorer(REVIEWS[:2])
        expected = Predictor.from_folder(tmp_path / cell).predict(REVIEWS[:2])
        np.testing.assert_allclose(probabilities, expected, atol=1e-6)
        assert labels == [("negative", "positive")[int(p >= 0.5)] for p in probabilities]
    assert list(score.artifact_scorers(tiny_after_artifacts, ["minlstm"])) == ["minlstm"]
