"""The accuracy sections of bench/RESULTS.md, one per corpus: the models at the defaults, the
answer and its targets, the seed spread, and (SST-2) what training on sentences alone gives,
from the benchmark's JSON."""

from __future__ import annotations

from bench.corpora import SENTENCES, VECTORS, WORDS_EQUAL
from imdb_sentiment.report import markdown as md


def accuracy_section(results: dict, corpus: str) -> str:
    """One corpus's accuracy at the defaults: each model on its test set, the answer, the
    targets and the seed spread."""
    part = results["corpora"][corpus]
    targets = results.get("targets", {}).get("corpora", {}).get(corpus, {})
    per_model = targets.get("test_accuracy_mean", {})
    intervals = results.get("intervals", {})
    level = f"{100 * intervals['confidence']:.0f}% " if "confidence" in intervals else ""
    size = f", {part['test_texts']:,} texts" if "test_texts" in part else ""
    body = []
    for name, m in part["models"].items():
        target, mean = per_model.get(name), m.get("test_accuracy_mean")
        mark = "" if target is None or mean is None else (" ✓" if mean >= target else " ✗")
        spread = (
            ""
            if mean is None
            else f"{md.plus_minus(mean, m['test_accuracy_std'])} ({len(m['seeds'])} seeds){mark}"
        )
        body.append(
            [
                name,
                f"{md.pct(m['test_accuracy'], 2)} "
                f"{md.interval(m['test_accuracy_ci_low'], m['test_accuracy_ci_high'])}",
                spread,
                "" if target is None else md.pct(target),
                md.pct(m["val_accuracy"], 2),
                md.pct(m["shuffled_test_accuracy"], 2),
                md.pct(m["contrast_pair_accuracy"]),
                m["epochs_run"] or "",
                m["best_epoch"] or "",
                f"{m['train_seconds']:.0f}",
            ]
        )
    header = [
        f"test acc [{level}CI]",
        "seeds: mean ± std",
        "target (seeds' mean)",
        "val acc",
        "shuffled acc",
        "minimal pairs",
        "epochs run",
        "best epoch",
        "train s",
    ]
    lines = [f"## Accuracy at the defaults: {corpus} (test set{size})", ""]
    if intervals:
        lines += [
            f"Intervals: {level}bootstrap over the test texts, {intervals['resamples']:,} "
            "resamples.",
            "",
        ]
    lines.append(md.rows(["model", *header], body))
    carried = {
        name: spread["commit"]
        for name, spread in part.get("seed_spread", {}).items()
        if spread.get("commit")
    }
    if carried:
        at = ", ".join(f"{name} at `{commit[:10]}`" for name, commit in carried.items())
        checks = " ".join(_carried_seed_check(part, name) for name in carried)
        lines += ["", f"Seed spreads carried over from earlier runs ({at}). {checks}".rstrip()]
    lines += answer_lines(part, targets)
    lines += words_equal_lines(part)
    lines += vectors_lines(part)
    lines += sentences_lines(part)
    return "\n".join(lines)


def _carried_seed_check(part: dict, name: str) -> str:
    """Whether a carried spread's run at this run's seed scored what this run's model did."""
    spread = part["seed_spread"][name]
    here = part["models"].get(name, {}).get("test_accuracy")
    then = next(
        (run["test_accuracy"] for run in spread["runs"] if run["seed"] == spread["seeds"][0]),
        None,
    )
    if then is None or here is None:
        return ""
    if then == here:
        return f"{name}'s seed-{spread['seeds'][0]} run scored the same here to the last text."
    return (
        f"{name}'s seed-{spread['seeds'][0]} run scored {md.pct(then, 2)} there and "
        f"{md.pct(here, 2)} here: its mean and spread are the earlier run's."
    )


# The accuracy targets checked on one model each: (target key, how the line names the model,
# the key of the answer or corpus part that names it).
NAMED_TARGETS = (
    ("best_bag_test_accuracy", "the best bag", "best_bag"),
    ("best_recurrent_test_accuracy", "the best recurrent model", "best_recurrent"),
    ("champion_test_accuracy", "the champion", "champion"),
)


def answer_lines(part: dict, targets: dict) -> list[str]:
    """One corpus's answer in two parts at the defaults, its targets on single models, and
    what its recurrent models add on top of the bag over training seeds."""
    answer = part.get("answer")
    if not answer:
        return []
    models = part["models"]
    head, bag = answer["head_to_head"], answer["best_bag"]
    lines = [
        "",
        f"Head to head: {head['model']} minus {bag} (each the best of its kind by validation), "
        f"{md.difference_with_interval(head)} points ({md.verdict(head)}). On top of {bag}, "
        "weights on validation, paired on test:",
        "",
        md.rows(
            ["recurrent model", "weight", "test acc", f"gain over {bag}, points", "excludes 0"],
            [
                [
                    model,
                    f"{v['weights'][model]:.2f}",
                    md.pct(v["test_accuracy"], 2),
                    md.difference_with_interval(v),
                    md.verdict(v),
                ]
                for model, v in answer["on_top"].items()
            ],
        ),
    ]
    checks = []
    for key, label, named_by in NAMED_TARGETS:
        name = answer.get(named_by, part.get(named_by))
        if key in targets and name in models:
            value = models[name]["test_accuracy"]
            mark = "✓" if value >= targets[key] else "✗"
            checks.append(
                f"{label} {name} {md.pct(value, 2)} (target ≥ {md.pct(targets[key], 1)} {mark})"
            )
    if checks:
        lines += ["", "Targets: " + "; ".join(checks) + "."]
    spread = {n: s for n, s in part.get("seed_spread", {}).items() if "bag" in s}
    for name, runs in spread.items():
        lines += [
            "",
            f"{name} on top of {runs['bag']}, per training seed of {name} "
            "(the bag is the cold run's):",
            "",
            md.rows(
                ["seed", "test acc", "weight", "gain, points", "excludes 0"],
                [
                    [
                        r["seed"],
                        md.pct(r["test_accuracy"], 2),
                        f"{r['on_top']['weights'][name]:.2f}",
                        md.difference_with_interval(r["on_top"]),
                        md.verdict(r["on_top"]),
                    ]
                    for r in runs["runs"]
                ],
            ),
            "",
            f"Over its {len(runs['runs'])} seeds (mean ± std): test accuracy "
            f"{md.plus_minus(runs['test_accuracy_mean'], runs['test_accuracy_std'])}, gain on "
            f"top of {runs['bag']} {md.points(runs['on_top_mean'])} ± "
            f"{md.points(runs['on_top_std'], signed=False)} points. The gain's interval is "
            f"clear of 0 in {sum(md.verdict(r['on_top']) == md.HIGHER for r in runs['runs'])} "
            f"of {len(runs['runs'])} seeds.",
        ]
    return lines


def words_equal_lines(part: dict) -> list[str]:
    """The answer's part (c): the best recurrent model against the neural bag with the same
    embedding init, at the defaults and per training seed (each seed against the same seed)."""
    words = part.get("answer", {}).get("words_equal")
    if not words:
        return []
    lines = [
        "",
        f"With the words held equal: {words['model']} minus the neural bag "
        f"{words['neural_bag']} (both `embedding_init: {words['embedding_init']}`), "
        f"{md.difference_with_interval(words)} points ({md.verdict(words)}).",
    ]
    seeds = part.get(WORDS_EQUAL)
    if seeds:
        lines += [
            "",
            md.rows(
                ["seed", f"{seeds['model']} − {seeds['neural_bag']}, points", "excludes 0"],
                [[r["seed"], md.difference_with_interval(r), md.verdict(r)] for r in seeds["runs"]],
            ),
            "",
            f"Over {len(seeds['runs'])} seeds (mean ± std): "
            f"{md.points(seeds['difference_mean'])} ± "
            f"{md.points(seeds['difference_std'], signed=False)} points.",
        ]
    return lines


def vectors_lines(part: dict) -> list[str]:
    """What the word vectors buy each family: each model against its twin with the other
    embedding init, at the run's seed, paired on test."""
    bought = {name: v for name, v in part.get(VECTORS, {}).items() if name != "commit"}
    if not bought:
        return []
    models = part["models"]
    rows, ensembles = [], []
    for name, v in bought.items():
        if "on_top" in v:
            ensembles.append(
                [
                    f"{v['bag']} + {name}",
                    *(
                        f"{md.pct(v['on_top'][init]['test_accuracy'], 2)} "
                        f"({md.difference_with_interval(v['on_top'][init])})"
                        for init in ("random", "word_vectors")
                    ),
                ]
            )
        own = models.get(name, {}).get("test_accuracy")
        other = v["other"]
        vectors, random = (own, other["test_accuracy"])
        if v["default_init"] == "random":
            vectors, random = random, vectors
        rows.append(
            [
                name,
                v["default_init"],
                md.pct(random, 2) if random is not None else "",
                md.pct(vectors, 2) if vectors is not None else "",
                md.difference_with_interval(v["vectors_minus_random"]),
                md.verdict(v["vectors_minus_random"]),
            ]
        )
    return [
        "",
        "What the word vectors buy (`python -m bench.run --vectors`): each model trained again "
        "with the other `embedding_init` (the vectors' width where it takes them), same seed, "
        "paired on test:",
        "",
        md.rows(
            ["model", "default", "random init", "word vectors", "vectors − random", "excludes 0"],
            rows,
        ),
    ] + (
        [
            "",
            "Each averaged with the best bag (weights on validation), test accuracy (its gain "
            "over the bag alone, points):",
            "",
            md.rows(["ensemble", "random init", "word vectors"], ensembles),
        ]
        if ensembles
        else []
    )


def sentences_lines(part: dict) -> list[str]:
    """A corpus trained on every phrase against on its sentences alone (bench/phrases.py):
    each model's accuracy both ways, the paired difference on test, and the answer both ways."""
    both = part.get(SENTENCES)
    if not both:
        return []
    one, other = both["phrases"], both["sentences"]
    on, off = one["train_on"], other["train_on"]
    paired = both["phrases_minus_sentences"]
    body = [
        [
            name,
            md.pct(m["test_accuracy"], 2),
            md.pct(other["models"][name]["test_accuracy"], 2),
            md.difference_with_interval(paired[name]),
            md.verdict(paired[name]),
            md.pct(m["val_accuracy"], 2),
            md.pct(other["models"][name]["val_accuracy"], 2),
        ]
        for name, m in one["models"].items()
        if name in paired
    ]
    header = [f"test acc: {on}", f"test acc: {off}", f"{on} minus {off}, points", "excludes 0"]
    header += [f"val acc: {on}", f"val acc: {off}"]
    heads = "; ".join(
        f"on {side['train_on']}, {side['answer']['head_to_head']['model']} minus "
        f"{side['answer']['head_to_head']['bag']} "
        f"{md.difference_with_interval(side['answer']['head_to_head'])} points "
        f"(excludes 0: {md.verdict(side['answer']['head_to_head'])})"
        for side in (one, other)
    )
    bags = {side["train_on"]: side["answer"]["best_bag"] for side in (one, other)}
    recurrent = [n for n in one["answer"]["on_top"] if n in other["answer"]["on_top"]]
    on_top = [
        [
            name,
            *(
                cell
                for side in (one, other)
                for cell in (
                    md.difference_with_interval(side["answer"]["on_top"][name]),
                    md.verdict(side["answer"]["on_top"][name]),
                )
            ),
        ]
        for name in recurrent
    ]
    seconds = both["seconds"]
    return [
        "",
        f"Trained on {on} ({one['train_texts']:,} training texts) and on {off} "
        f"({other['train_texts']:,}): the pipeline run again with `{both['setting']}: {off}`, "
        f"as a temporary DVC experiment beside the clone's run at `{both['commit'][:10]}` "
        f"({seconds:,.0f} s, {seconds / 60:.1f} min; `python -m bench.run --sentences`). Each "
        "model's test accuracy both ways on the same test texts, and the difference paired on "
        "them:",
        "",
        md.rows(["model", *header], body),
        "",
        f"Head to head (each the best of its kind by validation): {heads}. On top of the best "
        "bag, weights on validation, paired on test:",
        "",
        md.rows(
            [
                "recurrent model",
                *(
                    cell
                    for side, bag in bags.items()
                    for cell in (f"{side}: gain over {bag}, points", f"{side}: excludes 0")
                ),
            ],
            on_top,
        ),
    ]
