"""The sentence above each plot: what it shows, computed from the data it draws.

Every function here takes the same DataFrame the plot is sent (or the
results file it was built from) and returns Markdown. Nothing is typed by
hand: when a user's own run replaces the shipped results, the sentences
follow it. The browser test reads each sentence back and checks it against
the plotted numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sentiment.report import listing, model_name

# Held-out accuracy at which a recall run counts as solved, and the band
# around 50% read as "at chance" (two-class tasks).
SOLVED_ACCURACY = 0.99
CHANCE = 0.5
CHANCE_BAND = 0.05
# The adding problem is solved below this held-out MSE; within this share of
# the best constant's MSE a model has learned nothing.
SOLVED_MSE = 0.01
NEAR_BASELINE = 0.8
# A gradient share this many powers of ten below the last word's counts as gone.
DECADES_GONE = 2


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def percent_range(values) -> str:
    """ "50.1%" or "49.8 to 51.2%"."""
    low, high = min(values), max(values)
    if f"{100 * low:.1f}" == f"{100 * high:.1f}":
        return percent(low)
    return f"{100 * low:.1f} to {100 * high:.1f}%"


def _at_chance(accuracy: float) -> bool:
    return abs(accuracy - CHANCE) <= CHANCE_BAND


# --- Why gates matter --------------------------------------------------------


def jacobian_finding(frame: pd.DataFrame) -> str:
    """How far each variant's state Jacobian falls over the plotted distance: the flatter, the longer the memory."""
    if frame.empty:
        return ""
    fall = {}
    for model, rows in frame.groupby("model", sort=False):
        rows = rows.sort_values("distance")
        span = rows["distance"].iloc[-1] - rows["distance"].iloc[0]
        if span > 0:
            fall[model] = (rows["log10 norm"].iloc[0] - rows["log10 norm"].iloc[-1], int(span))
    cells = [model_name(cell) for cell in ("simple_rnn", "lstm", "gru") if model_name(cell) in fall]
    if not cells:
        return ""
    span = fall[cells[0]][1]
    longest = min(cells, key=lambda model: fall[model][0])
    shortest = max(cells, key=lambda model: fall[model][0])
    falls = listing([f"the {model}'s by {fall[model][0]:.1f}" for model in cells])
    text = (
        "How much of an input still reaches the final state, by how far back it was: the flatter the line, the "
        f"longer the memory. Of the cells as Keras builds them, over {span} steps {falls} powers of ten: at "
        f"initialization the {longest} has the longest memory and the {shortest} the shortest."
    )
    others = [model for model in fall if model not in cells]
    if others:
        text += f" The other lines fall by {listing([f'{fall[model][0]:.1f} ({model})' for model in others])}."
    return text


def recall_finding(frame: pd.DataFrame) -> str:
    """Who recalls the signal at the longest T, and who is at chance."""
    if frame.empty:
        return ""
    longest = int(frame["T"].max())
    at_longest = frame[frame["T"] == longest]
    solved = at_longest[at_longest["accuracy"] >= SOLVED_ACCURACY]
    chance = at_longest[at_longest["accuracy"].map(_at_chance)]
    parts = []
    if len(solved):
        only = "only " if len(solved) < len(at_longest) else ""
        parts.append(
            f"At T = {longest}, {only}{listing(list(solved['model']))} recall the signal "
            f"({percent_range(solved['accuracy'])})"
        )
    else:
        best = at_longest.loc[at_longest["accuracy"].idxmax()]
        parts.append(
            f"At T = {longest} no model recalls the signal; the best, {best['model']}, "
            f"scores {percent(best['accuracy'])}"
        )
    if len(chance):
        parts.append(f"{listing(list(chance['model']))} are at chance ({percent_range(chance['accuracy'])})")
    return "; ".join(parts) + ". 50% is chance: a line that stays there learned nothing about the signal."


def simple_rnn_surprise(frame: pd.DataFrame) -> int | None:
    """A T at which the SimpleRNN solves recall while Keras's default LSTM or GRU is at chance.

    Of those, the one where most of the two are at chance (then the longest).
    """
    if frame.empty:
        return None
    table = frame.pivot_table(index="T", columns="model", values="accuracy")
    simple, gated = model_name("simple_rnn"), [model_name("lstm"), model_name("gru")]
    if simple not in table:
        return None
    candidates = [
        (sum(name in row and _at_chance(row[name]) for name in gated), int(length))
        for length, row in table.iterrows()
        if row[simple] >= SOLVED_ACCURACY
    ]
    candidates = [candidate for candidate in candidates if candidate[0] > 0]
    return max(candidates)[1] if candidates else None


def recall_explanation(frame: pd.DataFrame, shrink: dict[str, float], distractors: pd.DataFrame) -> str:
    """Why the SimpleRNN solves a T where Keras's default gated cells are at chance, from the measurements.

    Args:
        frame: the recall plot's data.
        shrink: model name -> the per-step shrink factor of its state
            Jacobian at initialization (the Jacobian panel's run).
        distractors: `thesis_views.distractor_frame`: per T and model, the
            distractor tokens' embedding norm over the signal tokens', at
            initialization and trained.

    Returns:
        Markdown, or "" when the recall results hold no such surprise.
    """
    length = simple_rnn_surprise(frame)
    if length is None:
        return ""
    simple, lstm, gru = (model_name(cell) for cell in ("simple_rnn", "lstm", "gru"))
    table = frame.pivot_table(index="T", columns="model", values="accuracy")
    failing = [name for name in (lstm, gru) if name in table and _at_chance(table.loc[length, name])]
    longest = int(frame["T"].max())
    parts = [
        f"**Why does the SimpleRNN solve T = {length} where Keras's default {listing(failing)} "
        f"{'stays' if len(failing) == 1 else 'stay'} at chance?** Not because a plain RNN remembers better: "
    ]
    if table.loc[longest, simple] < SOLVED_ACCURACY:
        parts.append(
            f"at T = {longest} it is at {percent(table.loc[longest, simple])}, "
            "and on the adding problem below it fails. "
        )
    else:
        parts.append("on the adding problem below it fails. ")
    if all(name in shrink for name in (simple, *failing)):
        factors = listing([f"the {name}'s {shrink[name]:.3f}" for name in failing])
        survive = listing([f"{shrink[name] ** length:.0e} in the {name}'s" for name in failing])
        parts.append(
            f"Two measurements explain it. At initialization its state Jacobian shrinks the least per step of the "
            f"default cells ({shrink[simple]:.3f}, against {factors}; panel 1): after {length} steps, "
            f"{shrink[simple] ** length:.2g} of an input's effect on the state survives in the SimpleRNN, "
            f"against {survive}, so only its gradient reaches the signal. "
        )
    row = distractors[(distractors["T"] == length) & (distractors["model"] == simple)]
    if len(row):
        ratio = float(row["trained"].iloc[0])
        others = distractors[(distractors["T"] == length) & distractors["model"].isin(failing)]
        theirs = listing([f"the {r.model}'s {percent(r.trained)}" for r in others.itertuples()])
        parts.append(
            f"And in training it silenced the distractors: their embeddings shrank to {percent(ratio)} of the "
            f"signal tokens' norm ({theirs}; table below), so between the signal and the readout its recurrence "
            "runs on almost no input and carries the bit. The adding problem's real-valued inputs cannot be "
            "silenced. "
        )
    chrono = [name for name in dict.fromkeys(frame["model"]) if "chrono" in name]
    if chrono and all(table[name].min() >= SOLVED_ACCURACY for name in chrono):
        parts.append(
            f"Gates do hold a bit for long: with chrono initialization (gates that start out keeping their memory), "
            f"{listing(chrono)} solve every T."
        )
    return "".join(parts).strip()


def distractor_finding(distractors: pd.DataFrame) -> str:
    """Which models silenced the distractors at the longest T, from the table shown."""
    if distractors.empty:
        return ""
    longest = int(distractors["T"].max())
    rows = distractors[distractors["T"] == longest]
    silenced = rows[rows["trained"] < 0.5 * rows["init"]]
    kept = rows[rows["trained"] >= 0.5 * rows["init"]]
    parts = [f"At T = {longest}"]
    if len(silenced):
        parts.append(f" {listing(list(silenced['model']))} shrank the distractors below half their starting norm")
    if len(kept):
        parts.append(f"{';' if len(silenced) else ''} {listing(list(kept['model']))} did not")
    return "".join(parts) + "."


def adding_finding(frame: pd.DataFrame, baseline: float | None, length: int | None) -> str:
    """Which models solved the adding problem at the plotted T in every seed, and which stayed at the best constant."""
    if frame.empty or baseline is None:
        return ""
    last = frame.sort_values("updates").groupby(["model", "seed"], sort=False).tail(1)
    final = {
        model: 10 ** last.loc[last["model"] == model, "log10 MSE"].to_numpy() for model in dict.fromkeys(frame["model"])
    }
    solved = [model for model, mse in final.items() if (mse < SOLVED_MSE).all()]
    some = [model for model, mse in final.items() if (mse < SOLVED_MSE).any() and model not in solved]
    stuck = [model for model, mse in final.items() if (mse >= NEAR_BASELINE * baseline).all()]
    parts = []
    if solved:
        parts.append(f"At T = {length}, {listing(solved)} solved it in every seed (held-out MSE below {SOLVED_MSE})")
    if some:
        parts.append(f"{listing(some)} solved it in some seeds only")
    if stuck:
        mse = np.concatenate([final[model] for model in stuck])
        parts.append(
            f"{listing(stuck)} ended at MSE {mse.min():.3f} to {mse.max():.3f}, the best constant's is "
            f"{baseline:.3f}: {'it' if len(stuck) == 1 else 'they'} learned nothing"
        )
    text = "; ".join(parts) + "."
    if stuck and any(model_name(cell) in stuck for cell in ("simple_rnn", "irnn")):
        text += (
            " Here every step's input is a real number that no embedding can silence, so a plain RNN has to carry "
            "the sum across all T steps, and its memory fades (panel 1)."
        )
    return text


def distance_finding(frame: pd.DataFrame) -> str:
    """Who kept the review's sentiment at the longest filler, and who followed the filler."""
    if frame.empty:
        return ""
    longest = int(frame["T"].max())
    rows = frame[frame["T"] == longest].sort_values("accuracy", ascending=False)
    figures = listing([f"{row.model} {percent(row.accuracy)}" for row in rows.itertuples()])
    kept = [row.model for row in rows.itertuples() if row.ci_low > CHANCE]
    followed = [row.model for row in rows.itertuples() if row.ci_high < CHANCE]
    text = f"With {longest} tokens of filler of the other label: {figures}."
    if kept:
        text += (
            f" Above 50% (the whole 95% interval), {listing(kept)} still follow{'s' if len(kept) == 1 else ''} "
            f"the review read {longest} tokens earlier."
        )
    if followed:
        text += f" Below 50%, {listing(followed)} follow{'s' if len(followed) == 1 else ''} the filler instead."
    return text


def decision_finding(frame: pd.DataFrame) -> str:
    """How far back each model's decision reaches on test reviews: where the gradient share is 100 times smaller."""
    if frame.empty:
        return ""
    reach = {}
    for model, rows in frame.groupby("model", sort=False):
        rows = rows.sort_values("steps before the end")
        last = rows["log10 share"].iloc[0]
        gone = rows[rows["log10 share"] < last - DECADES_GONE]
        reach[model] = (
            f"{int(gone['steps before the end'].iloc[0])} words"
            if len(gone)
            else f"more than {int(rows['steps before the end'].iloc[-1])} words"
        )
    return (
        "How far back each decision reaches: a word's share of the gradient falls 100-fold from the last word's "
        f"within {listing([f'{reach[model]} for the {model}' for model in reach])} (geometric mean over test reviews)."
    )


def review_decision_finding(frame: pd.DataFrame) -> str:
    """The word each model's decision on this review depends on most."""
    if frame.empty or "word" not in frame:
        return ""
    parts = []
    for model, rows in frame.groupby("model", sort=False):
        top = rows.loc[rows["log10 share"].idxmax()]
        parts.append(
            f"the {model} on “{top['word']}” ({int(top['steps before the end'])} before the end, "
            f"{percent(10 ** top['log10 share'])})"
        )
    return f"On this review, each decision depends most on one word: {listing(parts)}."


# --- Compare on a review ----------------------------------------------------


def trajectory_finding(rows: list[list]) -> str:
    """What the models made of one review: where each ended, whether they agree, who changed its mind and where.

    Args:
        rows: the trajectory plot's rows, (model, token, word, P(positive)),
            as `webapp.views.trajectory_rows` sends them.
    """
    if not rows:
        return ""
    by_model: dict[str, list[tuple[int, str, float]]] = {}
    for model, token, word, probability in rows:
        by_model.setdefault(model, []).append((int(token), str(word), float(probability)))
    ends = {model: steps[-1][2] for model, steps in by_model.items()}
    verdicts = {model: "positive" if end >= CHANCE else "negative" for model, end in ends.items()}
    ending = listing([f"the {model} at {end:.2f}" for model, end in ends.items()])
    if len(set(verdicts.values())) == 1:
        verdict = next(iter(verdicts.values()))
        together = {1: "it calls", 2: "both call", 3: "all three call"}.get(len(ends), f"all {len(ends)} call")
        agreement = f"{together} it {verdict}"
    else:
        agreement = "they disagree: " + listing(
            [f"the {model} calls it {verdict}" for model, verdict in verdicts.items()]
        )
    sentence = f"After the last word P(positive) is {ending}: {agreement}."
    crossings = {}
    for model, steps in by_model.items():
        sides = [probability >= CHANCE for _, _, probability in steps]
        changes = [index for index in range(1, len(sides)) if sides[index] != sides[index - 1]]
        if changes:
            token, word, _ = steps[changes[-1]]
            crossings[model] = (len(changes), token, word)
    if crossings:
        model, (count, token, word) = max(crossings.items(), key=lambda item: item[1][0])
        times = "once" if count == 1 else f"{count} times"
        sentence += f" The {model} changed its mind most often ({times}), last at word {token} (“{word}”)."
    else:
        sentence += " No model changed its mind after its first word."
    return sentence


# --- Accuracy by review length and the training curves -----------------------


# A length bucket with fewer test reviews than this is too small to compare models in.
MIN_BUCKET_REVIEWS = 100


def length_finding(frame: pd.DataFrame, order: list[str]) -> str:
    """Where the cells differ most by review length, whether their 95% intervals are apart, and the reference.

    Args:
        frame: `views.length_frame` (model, words, accuracy, ci_low, ci_high, reviews).
        order: the length buckets in ascending order.
    """
    if frame.empty:
        return ""
    reference = model_name("bow")
    cells = frame[frame["model"] != reference]
    buckets = [bucket for bucket in order if bucket in set(cells["words"])]
    sized = [bucket for bucket in buckets if cells.loc[cells["words"] == bucket, "reviews"].max() >= MIN_BUCKET_REVIEWS]
    parts = []
    if sized and cells["model"].nunique() > 1:
        spread = {}
        for bucket in sized:
            rows = cells[cells["words"] == bucket]
            spread[bucket] = (rows.loc[rows["accuracy"].idxmax()], rows.loc[rows["accuracy"].idxmin()])
        widest = max(spread, key=lambda bucket: spread[bucket][0]["accuracy"] - spread[bucket][1]["accuracy"])
        best, worst = spread[widest]
        apart = [bucket for bucket, (high, low) in spread.items() if high["ci_low"] > low["ci_high"]]
        parts.append(
            f"Among the recurrent cells, accuracy differs most on reviews of {widest} words ({best['model']} "
            f"{percent(best['accuracy'])}, {worst['model']} {percent(worst['accuracy'])})."
        )
        if apart:
            overlap = [bucket for bucket in sized if bucket not in apart]
            parts.append(
                f"The best and worst cell's 95% intervals are apart in {listing(apart)} words"
                + (f"; in {listing(overlap)} they overlap, so there the gap could be chance." if overlap else ".")
            )
        else:
            parts.append("In every length their 95% intervals overlap: no gap between the cells is beyond chance.")
    small = [bucket for bucket in buckets if bucket not in sized]
    if small:
        counts = listing([f"{int(cells.loc[cells['words'] == b, 'reviews'].max())} in {b}" for b in small])
        parts.append(f"Some lengths hold too few test reviews to compare ({counts}): their intervals are wide.")
    bow = frame[frame["model"] == reference]
    if len(bow) and len(sized):
        above = [
            bucket
            for bucket in sized
            if bucket in set(bow["words"])
            and float(bow.loc[bow["words"] == bucket, "accuracy"].iloc[0])
            > cells.loc[cells["words"] == bucket, "accuracy"].max()
        ]
        parts.append(
            f"The bag-of-n-grams reference is above every cell in {len(above)} of {len(sized)} of those lengths."
        )
    return " ".join(parts)


def curves_finding(frame: pd.DataFrame) -> str:
    """Where validation loss turned up (overfitting), and each model's best validation accuracy.

    Args:
        frame: `views.history_frame` (model, epoch, split, accuracy, loss).
    """
    validation = frame[frame["split"] == "validation"] if not frame.empty else frame
    if validation.empty:
        return ""
    turned, steady, best = [], [], []
    for model, rows in validation.groupby("model", sort=False):
        rows = rows.sort_values("epoch")
        lowest = int(rows.loc[rows["loss"].idxmin(), "epoch"])
        last = int(rows["epoch"].iloc[-1])
        if lowest < last:
            turned.append(
                f"the {model}'s after epoch {lowest} ({rows['loss'].min():.3f}, then {rows['loss'].iloc[-1]:.3f} "
                f"at epoch {last})"
            )
        else:
            steady.append(model)
        top = rows.loc[rows["accuracy"].idxmax()]
        best.append(f"{model} {percent(top['accuracy'])} (epoch {int(top['epoch'])})")
    parts = []
    if turned:
        parts.append(
            f"Validation loss turned up {listing(turned)}: from there the model fits the training reviews better "
            "and the held-out ones worse, and training kept the weights of its best epoch"
        )
    if steady:
        parts.append(f"the validation loss of {listing(steady)} fell every epoch to the last")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + f". Best validation accuracy: {listing(best)}."


# --- Inside the cell ---------------------------------------------------------


def gate_means_sentence(frame: pd.DataFrame) -> str:
    """Each gate's mean over this review's words, from the gate plot's data."""
    gates = frame[frame["series"] != "P(positive)"] if not frame.empty else frame
    if gates.empty:
        return ""
    means = [
        f"{series.replace(' (mean over units)', '')} {rows['value'].mean():.2f}"
        for series, rows in gates.groupby("series", sort=False)
    ]
    return f"Over this review, the mean {listing(means)} (0 to 1)."


def saturation_sentence(frame: pd.DataFrame) -> str:
    """How many of the SimpleRNN's units saturate on this review, from the saturation plot's data (below it)."""
    if frame.empty:
        return ""
    column = frame.columns[1]
    peak = frame.loc[frame[column].idxmax()]
    if peak[column] == 0:
        return (
            "Below: no unit saturates (|h| > 0.95) on this review, so its gradients are not cut by saturated tanh "
            "units; what fades them is the recurrence itself (Why gates matter, panel 1)."
        )
    return (
        f"Below: at most {percent(peak[column])} of its units saturate (|h| > 0.95), at “{peak['word']}” "
        f"(word {int(peak['word index'])}); a saturated tanh unit passes almost no gradient back."
    )


def memory_gate_finding(frame: pd.DataFrame) -> str:
    """The median memory gate of each gated model over test reviews, from the histogram shown."""
    if frame.empty:
        return ""
    medians = []
    for model, rows in frame.groupby("model", sort=False):
        rows = rows.sort_values("gate value")
        cumulative = rows["share"].cumsum() / max(rows["share"].sum(), 1e-12)
        median = float(rows["gate value"].to_numpy()[np.searchsorted(cumulative.to_numpy(), 0.5)])
        medians.append((model, median))
    text = listing([f"the {model}'s median is {median:.2f}" for model, median in medians])
    keeper = max(medians, key=lambda item: item[1])[0]
    return (
        f"Each gate value is how much of a unit's memory survives one word (1 keeps all of it): {text}. "
        f"The {keeper} keeps the most per word."
    )


def finding_markdown(sentence: str) -> str:
    """A finding as the Markdown shown above a plot."""
    return f"**What it shows.** {sentence}" if sentence else ""


# --- Try it yourself: interventions and edited copies --------------------------

# Two readings of a word within this of each other count as the same (the Compare tab's weakest effect).
SAME_READING = 0.02


def intervention_finding(frame: pd.DataFrame) -> str:
    """What clamping a gate or knocking out a unit did to each model, from the intervention table shown.

    Args:
        frame: `webapp.experiment_views.INTERVENTION_COLUMNS`, a row per model.
    """
    if frame.empty:
        return ""
    changed = frame[frame["what was changed"] != "nothing"]
    if changed.empty:
        return "Nothing was changed in any model: each line is the model as learned."
    effects = []
    for row in changed.itertuples(index=False):
        model, _, learned, after, verdict, verdict_after, *_ = row
        if verdict != verdict_after:
            effects.append(
                f"the {model}'s verdict flips from {verdict} ({learned:.2f}) to {verdict_after} ({after:.2f})"
            )
        else:
            effects.append(f"the {model} stays {verdict} ({learned:.2f} → {after:.2f})")
    sentence = f"With the change, {listing(effects)}."
    largest = changed.loc[changed["largest change"].idxmax()]
    if largest["largest change"] >= SAME_READING:
        sentence += (
            f" The largest change is the {largest['model']}'s: {largest['largest change']:.2f} at word "
            f"{int(largest['at word'])} (“{largest['word']}”)."
        )
    else:
        sentence += f" No model's P(positive) moves by {SAME_READING} or more at any word."
    untouched = frame[frame["what was changed"] == "nothing"]["model"].tolist()
    if untouched:
        sentence += (
            f" The {listing(untouched)} {'has' if len(untouched) == 1 else 'have'} nothing to change: as learned."
        )
    return sentence


def pair_finding(frame: pd.DataFrame, parted_at: int | None, parted_word: str | None) -> str:
    """Where a review and its edited copy part, whose verdict the edit changes, and who still carries it at the end.

    Args:
        frame: `webapp.experiment_views.PAIR_COLUMNS`, a row per model.
        parted_at: the first word read (1-based) where the two differ, or None (the same words).
        parted_word: that word in the edited copy.
    """
    if frame.empty or parted_at is None:
        return ""
    sentence = f"The two reviews part at word {parted_at} (“{parted_word}”)."
    flips = frame[frame["verdict, review"] != frame["verdict, edited"]]
    if flips.empty:
        sentence += " No model changes its verdict."
    else:
        sentence += " The edit changes " + listing(
            [
                f"the {row['model']}'s verdict from {row['verdict, review']} ({row['P(positive), review']:.2f}) to "
                f"{row['verdict, edited']} ({row['P(positive), edited']:.2f})"
                for _, row in flips.iterrows()
            ]
        )
        kept = frame[frame["verdict, review"] == frame["verdict, edited"]]["model"].tolist()
        sentence += f"; the {listing(kept)} {'keeps its' if len(kept) == 1 else 'keep theirs'}." if kept else "."
    ending = int(frame["same ending (words)"].iloc[0])
    if not ending:
        return sentence + " The edit reaches the last word, so no shared ending shows whether a model forgets it."
    forgot, carried = [], []
    for _, row in frame.iterrows():
        together = row["agree again after (words)"]
        if together is None or (isinstance(together, float) and np.isnan(together)):
            gap = abs(row["P(positive), review"] - row["P(positive), edited"])
            carried.append(f"the {row['model']}'s are still {gap:.2f} apart at the last word")
        else:
            forgot.append(f"the {row['model']}'s agree again after {int(together)} of them")
    sentence += f" Both then end with the same {ending} words: " + listing(carried + forgot) + "."
    if carried and forgot:
        sentence += " The first carry the edit to the end; the others have forgotten it."
    elif carried:
        sentence += " Every model carries the edit to the end."
    else:
        sentence += " Every model has forgotten the edit by the end."
    return sentence


# --- Try it yourself: the playground ------------------------------------------

# How a playground cell ended (`sentiment.analysis.playground`), and the end of a sentence about one that did not solve.
_PLAYGROUND_ENDS = ("solved", "budget", "time cap", "diverged", "stopped", "failed")
_PLAYGROUND_WHY = {"budget": ", its whole budget", "stopped": ", when it was stopped", "training": " so far"}
_PLAYGROUND_BEFORE_A_POINT = {
    "waiting": "is waiting",
    "stopped": "was stopped before its first evaluation",
    "time cap": "reached the time cap before its first evaluation",
}
# An MSE this many times the best constant's is worse than predicting the average (a model at initialization).
WORSE_THAN_CONSTANT = 1.25


def _playground_level(task: str, value: float, baseline: float | None) -> str:
    """Where a held-out score stands: "at chance (50.3%)", "at the best constant (MSE 0.165)", "at MSE 0.020"."""
    if task == "recall":
        return f"at chance ({percent(value)})" if _at_chance(value) else f"at {percent(value)}"
    if baseline is not None and value > WORSE_THAN_CONSTANT * baseline:
        return f"at MSE {value:.3f} (worse than the best constant)"
    if baseline is not None and value >= NEAR_BASELINE * baseline:
        return f"at the best constant (MSE {value:.3f})"
    return f"at MSE {value:.3f}"


def _playground_clause(model: str, state: str, rows: pd.DataFrame, task: str, baseline, seconds_cap) -> str:
    """Where one cell that has not solved the task stands, from its plotted points."""
    if state == "failed":
        return f"the {model} failed (the error is in the server log)"
    if state == "diverged":
        return f"the {model} diverged (its error became NaN) after {int(rows['updates'].max()):,} updates"
    metric = "accuracy" if task == "recall" else "MSE"
    rows = rows[np.isfinite(rows[metric].astype(float))]
    if rows.empty:
        return f"the {model} {_PLAYGROUND_BEFORE_A_POINT.get(state, 'is starting')}"
    updates, value = int(rows["updates"].iloc[-1]), float(rows[metric].iloc[-1])
    level = _playground_level(task, value, baseline)
    if not updates and state not in _PLAYGROUND_ENDS:
        return f"the {model} starts {level}"
    why = _PLAYGROUND_WHY.get(state, "")
    if state == "time cap":
        why = f", when the {seconds_cap:.0f} s cap stopped it" if seconds_cap else ", when the time cap stopped it"
    return f"the {model} is {level} after {updates:,} updates{why}"


def playground_finding(
    frame: pd.DataFrame,
    task: str,
    length: int,
    states: dict[str, str],
    baseline: float | None = None,
    seconds_cap: float | None = None,
) -> str:
    """The verdict of a playground run: who solved the task in how many updates, and where the others stand.

    Args:
        frame: the live plot's data: `model`, `updates`, and `MSE` (adding)
            or `accuracy` (recall), the held-out score at each evaluation.
        task: "adding" or "recall".
        length: T.
        states: model name -> how its training stands ("solved", "budget",
            "time cap", "diverged", "stopped", "failed", "training",
            "starting", "waiting"), in the plot's order.
        baseline: the best constant's MSE on the held-out set (adding).
        seconds_cap: the run's time cap, for a cell it stopped.
    """
    if not states:
        return ""
    solved, others = [], []
    for model, state in states.items():
        rows = frame[frame["model"] == model].sort_values("updates")
        if state == "solved" and len(rows):
            solved.append((int(rows["updates"].iloc[-1]), model))
        else:
            others.append(_playground_clause(model, state, rows, task, baseline, seconds_cap))
    parts = []
    if solved:
        (first_updates, first), *rest = sorted(solved)
        parts.append(
            listing(
                [f"the {first} solved it in {first_updates:,} updates"]
                + [f"the {model} in {updates:,}" for updates, model in rest]
            )
        )
    if others:
        parts.append(listing(others))
    task_name = "variable-lag recall" if task == "recall" else "the adding problem"
    if all(state in _PLAYGROUND_ENDS for state in states.values()):
        text = f"At T = {length} on {task_name}, " + "; ".join(parts) + "."
    else:
        text = f"So far at T = {length} on {task_name}: " + "; ".join(parts) + "."
    if task == "recall":
        return text + f" Chance is 50%; solved is {percent(SOLVED_ACCURACY)}."
    if baseline is not None:
        text += f" The best constant's MSE is {baseline:.3f}; solved is below {SOLVED_MSE}."
    return text


def playground_jacobian_finding(frame: pd.DataFrame) -> str:
    """How much of an input's effect on the final state each trained cell loses over T steps, and at initialization.

    Args:
        frame: the Jacobian plots' data: `model`, `phase` ("at
            initialization" or "after training"), `distance` and `log10 norm`.
    """
    if frame.empty:
        return ""
    falls: dict[str, dict[str, float]] = {}
    span = 0
    for (model, phase), rows in frame.groupby(["model", "phase"], sort=False):
        rows = rows.sort_values("distance")
        span = max(span, int(rows["distance"].iloc[-1]))
        falls.setdefault(model, {})[phase] = float(rows["log10 norm"].iloc[0] - rows["log10 norm"].iloc[-1])
    both = {model: fall for model, fall in falls.items() if len(fall) == 2}
    if not both:
        return ""

    def change(fall: float) -> str:
        return f"falls by {fall:.2f}" if fall >= 0 else f"grows by {-fall:.2f}"

    (first, fall), *rest = both.items()
    described = [
        f"the trained {first}'s state Jacobian {change(fall['after training'])} powers of ten "
        f"({change(fall['at initialization'])} at initialization)"
    ] + [
        f"the {model}'s {change(fall['after training'])} ({change(fall['at initialization'])})" for model, fall in rest
    ]
    kept = min(both, key=lambda model: both[model]["after training"])
    return (
        f"Over the {span} steps from the last input back to the first, {listing(described)}: the flatter the line, "
        f"the longer an input still reaches the final state. After training the {kept} keeps the most."
    )


# --- Why gates matter, 6. What came next: the models after the LSTM ------------


def associative_finding(frame: pd.DataFrame, chance: float | None) -> str:
    """Who recalls the queried value with the most pairs, who is at chance, from the associative-recall plot's data.

    Args:
        frame: `webapp.thesis_views.associative_frame` (model, pairs, accuracy, seeds).
        chance: 1 / the number of values.
    """
    if frame.empty or chance is None:
        return ""
    most = int(frame["pairs"].max())
    rows = frame[frame["pairs"] == most]
    solved = rows[rows["accuracy"] >= SOLVED_ACCURACY]
    at_chance = rows[(rows["accuracy"] - chance).abs() <= CHANCE_BAND]
    between = rows[(rows["accuracy"] < SOLVED_ACCURACY) & ((rows["accuracy"] - chance).abs() > CHANCE_BAND)]
    parts = []
    if len(solved):
        only = "only " if len(solved) < len(rows) else ""
        parts.append(
            f"With {most} key-value pairs before the query, {only}{listing(list(solved['model']))} "
            f"recall{'s' if len(solved) == 1 else ''} the queried key's value ({percent_range(solved['accuracy'])})"
        )
    else:
        best = rows.loc[rows["accuracy"].idxmax()]
        parts.append(
            f"With {most} key-value pairs before the query no model recalls the queried key's value; the best, "
            f"{best['model']}, scores {percent(best['accuracy'])}"
        )
    if len(at_chance):
        parts.append(
            f"{listing(list(at_chance['model']))} guess{'es' if len(at_chance) == 1 else ''}, at chance "
            f"(one value in {round(1 / chance)}: "
            f"{percent_range(at_chance['accuracy'])})"
        )
    if len(between) and len(solved):
        verb = "is" if len(between) == 1 else "are"
        parts.append(f"{listing(list(between['model']))} {verb} in between ({percent_range(between['accuracy'])})")
    return (
        "; ".join(parts) + ". A recurrent model has to hold every pair in its fixed-size state until the query comes; "
        "attention looks the queried key up among the pairs when it does." + _still_climbing(frame)
    )


def _still_climbing(frame: pd.DataFrame) -> str:
    """Which unsolved model, with the fewest pairs, was still learning when the budget ended (" ..." or "")."""
    from sentiment.analysis.longrange import STILL_CLIMBING

    if "late gain" not in frame:
        return ""
    fewest = int(frame["pairs"].min())
    rows = frame[(frame["pairs"] == fewest) & (frame["accuracy"] < SOLVED_ACCURACY) & frame["late gain"].notna()]
    if rows.empty or rows["late gain"].max() < STILL_CLIMBING:
        return ""
    best = rows.loc[rows["late gain"].idxmax()]
    return (
        f" With {fewest} pairs {best['model']} reached {percent(best['accuracy'])} and was still climbing when the "
        f"budget ended ({100 * best['late gain']:+.1f} points over its second half): there the figures show where "
        "one budget for every model stopped it, and the recurrent models learn the lookup far more slowly than "
        "attention, not necessarily never."
    )


def cost_finding(frame: pd.DataFrame) -> str:
    """The sequential steps at the longest T, and where each parallel model's training step crosses the GRU's.

    Args:
        frame: `webapp.thesis_views.cost_frame` (model, T, log10 ms, ms, sequential steps).
    """
    from sentiment import style
    from sentiment.analysis.bench import crossing_sentence
    from sentiment.config import AFTER_THE_LSTM

    gru = model_name("gru")
    if frame.empty or gru not in set(frame["model"]):
        return ""
    lengths = sorted(int(length) for length in frame["T"].unique())
    longest = lengths[-1]

    def series(rows: pd.DataFrame, column: str) -> list:
        values = dict(zip(rows["T"].astype(int), rows[column]))
        return [values.get(length) for length in lengths]

    reference = series(frame[frame["model"] == gru], "ms")
    steps = frame[frame["T"] == longest].drop_duplicates("model")
    text = (
        f"At T = {longest}, the sequential steps on a forward pass's critical path: "
        + listing([f"{int(row['sequential steps']):,} for the {row['model']}" for _, row in steps.iterrows()])
        + "."
    )
    sentences = []
    for model, rows in frame.groupby("model", sort=False):
        key = style.key_of_name(model) or ""
        if model == gru or key.partition("+")[0] not in (*AFTER_THE_LSTM, "conv1d"):
            continue
        sentence = crossing_sentence(model, "training step", lengths, series(rows, "ms"), reference)
        if sentence:
            sentences.append(sentence)
    return " ".join([text, *sentences])


def after_the_lstm_summary(
    verdicts: pd.DataFrame, shrink: dict[str, float], imdb: pd.DataFrame, notes: list[str] | None = None
) -> str:
    """What the models after the LSTM did on the long-range tasks, their memory at initialization, and on IMDB.

    Args:
        verdicts: `webapp.thesis_views.verdict_frame` (task, T, model, solved, runs, score).
        shrink: model name -> its state Jacobian's per-step shrink factor at initialization.
        imdb: `webapp.thesis_views.imdb_frame` (model, accuracy, ci_low, ci_high, reviews, after the LSTM).
        notes: what is missing, and how to measure it, shown after the sentences.

    Returns:
        Markdown: a paragraph per measurement that has the models after the LSTM.
    """
    from sentiment.report import AFTER_THE_LSTM_MARK

    paragraphs = []
    names = {"recall": "Variable-lag recall", "adding": "The adding problem"}
    for task, rows in verdicts.groupby("task", sort=False) if not verdicts.empty else ():
        if not rows["model"].str.contains(AFTER_THE_LSTM_MARK, regex=False).any():
            continue
        groups = {
            "in every seed by": rows[rows["solved"] == rows["runs"]],
            "in some seeds by": rows[(rows["solved"] > 0) & (rows["solved"] < rows["runs"])],
            "in none by": rows[rows["solved"] == 0],
        }
        verdict = "; ".join(f"{group} {listing(list(found['model']))}" for group, found in groups.items() if len(found))
        paragraphs.append(f"**{names.get(task, task)}**, T = {int(rows['T'].iloc[0])}: solved {verdict}.")
    after_shrink = {name: value for name, value in shrink.items() if AFTER_THE_LSTM_MARK in name}
    if after_shrink:
        cells = {name: value for name, value in shrink.items() if name not in after_shrink}
        paragraphs.append(
            "**Memory at initialization** (the state Jacobian's shrink factor per step, recall): "
            + listing([f"{name} {value:.3f}" for name, value in {**cells, **after_shrink}.items()])
            + ". minGRU's and minLSTM's is the product of their keep factors, gates computed from the word alone; "
            "a transformer has no state to carry."
        )
    after = imdb[imdb["after the LSTM"]] if not imdb.empty else imdb
    if len(after):
        reference = imdb[imdb["model"] == model_name("bow")]
        cells = imdb[~imdb["after the LSTM"] & (imdb["model"] != model_name("bow"))]
        figures = listing(
            [
                f"{row.model} {percent(row.accuracy)} [{percent(row.ci_low)}, {percent(row.ci_high)}]"
                for row in after.itertuples()
            ]
        )
        text = f"**On IMDB's test reviews**: {figures}"
        if len(cells):
            best = cells.loc[cells["accuracy"].idxmax()]
            above = [row.model for row in after.itertuples() if row.ci_low > best["ci_high"]]
            below = [row.model for row in after.itertuples() if row.ci_high < best["ci_low"]]
            level = [row.model for row in after.itertuples() if row.model not in above + below]
            text += f"; the best cell, the {best['model']}, {percent(best['accuracy'])}"
            verdicts_text = [
                f"{listing(above)} {'is' if len(above) == 1 else 'are'} above it beyond both 95% intervals"
                if above
                else "",
                f"{listing(below)} below it" if below else "",
                f"{listing(level)} within reach of it (the intervals overlap)" if level else "",
            ]
            text += ": " + "; ".join(part for part in verdicts_text if part)
        if len(reference):
            text += f" (the bag-of-n-grams reference: {percent(reference['accuracy'].iloc[0])})"
        paragraphs.append(text + ".")
    return "\n\n".join([*paragraphs, *(notes or [])])


def after_the_lstm_length_finding(frame: pd.DataFrame, order: list[str]) -> str:
    """Where the models after the LSTM stand against the cells, length by length, in the accuracy-by-length plot.

    Args:
        frame: `views.length_frame` (model, words, accuracy, ci_low, ci_high, reviews), every model.
        order: the length buckets in ascending order.
    """
    from sentiment.report import AFTER_THE_LSTM_MARK

    if frame.empty:
        return ""
    after = frame[frame["model"].str.contains(AFTER_THE_LSTM_MARK, regex=False)]
    cells = frame[
        ~frame["model"].str.contains(AFTER_THE_LSTM_MARK, regex=False) & (frame["model"] != model_name("bow"))
    ]
    if after.empty or cells.empty:
        return ""
    sized = [
        bucket
        for bucket in order
        if bucket in set(cells["words"]) and cells.loc[cells["words"] == bucket, "reviews"].max() >= MIN_BUCKET_REVIEWS
    ]
    if not sized:
        return ""
    counts = []
    for model, rows in after.groupby("model", sort=False):
        above = [
            bucket
            for bucket in sized
            if bucket in set(rows["words"])
            and float(rows.loc[rows["words"] == bucket, "accuracy"].iloc[0])
            > cells.loc[cells["words"] == bucket, "accuracy"].max()
        ]
        counts.append(f"the {model} in {len(above)}")
    return f"After the LSTM, above every cell in those {len(sized)} lengths: {listing(counts)}."
