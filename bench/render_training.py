"""The training sections of bench/RESULTS.md: the pretraining study and the training
throughput (at the tutorial configuration and at the defaults), from the benchmark's JSON."""

from __future__ import annotations

from bench.throughput import RATES
from imdb_sentiment.report import markdown as md

# The columns of a language-model epoch in bench/pretrain.json, as the table shows them.
LM_EPOCH_KEYS = ("epoch", "sampled_loss", "held_out_loss", "held_out_perplexity", "seconds")


def pretraining_section(study: dict | None) -> str:
    """The pretraining study (bench/pretrain.json): what the language model was and saw, then
    each classifier variant over seeds, and whether pretraining clears its bar."""
    if not study or not study.get("classifiers"):
        return ""
    settings, corpus = study["settings"], study["corpus"]
    phases = [(name, study[name]) for name in ("lm", "lm_target") if study.get(name)]
    seconds = sum(e["seconds"] for _, phase in phases for e in phase["epochs"])
    seconds += sum(run["seconds"] for run in study["classifiers"].values())
    lines = [
        "## Pretraining on the unlabeled reviews",
        "",
        f"`python -m bench.pretrain` at `{study['commit'][:10]}`: "
        f"{seconds / 3600:.1f} process-hours at {settings['threads']} thread(s). "
        f"A word-level language model (embedding {settings['embedding_dim']}, LSTM "
        f"{settings['units']}, vocabulary {corpus['vocab_size']:,}, tied output, sampled "
        f"softmax of {settings['sampled']}, {settings['segment']}-token segments) on the train "
        f"split plus {corpus['unlabeled_reviews']:,} unlabeled reviews "
        f"({corpus['lm_tokens']:,} tokens; validation and test text never reach it), then on "
        f"the train split's text alone ({corpus['target_tokens']:,} tokens).",
        "",
        md.rows(
            ["phase", "epoch", "sampled loss", "held-out loss", "held-out perplexity", "seconds"],
            (
                [name, *(e[key] for key in LM_EPOCH_KEYS)]
                for name, phase in phases
                for e in phase["epochs"]
            ),
        ),
        "",
        f"Classifiers: that embedding and LSTM, then last + max + mean pooling, dropout "
        f"{settings['dropout']}, a sigmoid; at most {settings['epochs']} epochs (early stopping "
        f"on val_loss, patience {settings['patience']}), warmup then cosine decay to a peak "
        f"rate of {settings['lr']}, on the project's training loop. `pretrained` starts from "
        f"the language model, each lower layer group {settings['lr_decay']}× slower, unfrozen "
        "one group per epoch (head, then LSTM, then embedding); `random` is its twin from "
        "random weights, every layer trained at the peak rate from the start. Validation "
        "decides; test is reported.",
        "",
    ]
    summary = study.get("summary", {})
    lines.append(
        md.rows(
            [
                "variant",
                "seeds",
                "val accuracy (mean ± std)",
                "test accuracy (mean ± std)",
                "val per seed",
                "best / run epochs per seed",
            ],
            _variant_rows(study["classifiers"], summary),
        )
    )
    if "val_gain" in summary:
        lines += [
            "",
            f"Pretraining gain on validation: {md.points(summary['val_gain'])} points, against "
            f"a bar of {md.points(summary['bar'], signed=False)} (twice the larger seed "
            f"spread): {'it pays' if summary['pays'] else 'it does not pay'} on this budget.",
        ]
    return "\n".join(lines)


def _variant_rows(classifiers: dict, summary: dict) -> list[list]:
    """One row per classifier variant of the pretraining study: its seeds' spread and runs."""
    body = []
    by_seed = sorted(classifiers.items(), key=lambda kv: int(kv[0].split("/")[1]))
    for variant in ("pretrained", "random"):
        runs = {k.split("/")[1]: r for k, r in by_seed if k.startswith(f"{variant}/")}
        if not runs:
            continue
        row = summary.get(variant, {})
        body.append(
            [
                variant,
                len(runs),
                md.plus_minus(row["val_accuracy_mean"], row["val_accuracy_std"]) if row else "",
                md.plus_minus(row["test_accuracy_mean"], row["test_accuracy_std"]) if row else "",
                ", ".join(f"{seed}: {md.pct(r['val_accuracy'], 2)}" for seed, r in runs.items()),
                ", ".join(
                    f"{seed}: {r['best_epoch']}/{r['epochs_run']}" for seed, r in runs.items()
                ),
            ]
        )
    return body


def throughput_tutorial_section(results: dict) -> str:
    rows = {arch: t for arch, t in results.get("throughput", {}).items() if "speedup" in t}
    if not rows:
        return ""
    settings = results.get("throughput_settings", {})
    threads = results.get("tensorflow_threads", {})
    tutorial = settings.get("tutorial", {})
    target = md.ratio(results.get("targets", {}).get("speedup"))
    body = [
        [arch, t.get("reviews", ""), *_ratio_cells(t, "reference", "project", "speedup", target)]
        for arch, t in rows.items()
    ]
    header = ["arch", "reviews", "reference ex/s", "project ex/s", "speedup", "target"]
    header += ["speedup, wall clock", "reference % of peak", "project % of peak"]
    config = ", ".join(f"{key} {value}" for key, value in tutorial.items())
    return "\n".join(
        [
            "## Training throughput",
            "",
            f"Each ratio: both sides in one process on the same seeded sample of training "
            f"reviews, {settings.get('epochs')} epochs per run after a warm-up, "
            f"{settings.get('repeats')} runs interleaved (the median counts), TensorFlow "
            f"threads intra-op {threads.get('intra_op')}, inter-op {threads.get('inter_op')}. "
            "Rates are examples per second of the process's CPU time; the ratio of wall-clock "
            f"rates is beside each. Measured float32 matmul peak: "
            f"**{results['matmul_gflops_float32']} GFLOP/s**.{_measured_at(results)}",
            "",
            f"**`speedup`, at the tutorial configuration** ({config}). Reference: `model.fit` "
            "on pre-padded arrays, no mask. Project: right padding handled exactly without a "
            "Keras mask, length-bucketed batches cut to their longest review.",
            "",
            md.rows(header, body),
        ]
    )


def throughput_defaults_section(results: dict) -> str:
    rows = {
        name: t for name, t in results.get("throughput", {}).items() if "speedup_at_defaults" in t
    }
    if not rows:
        return ""
    target = md.ratio(results.get("targets", {}).get("speedup_at_defaults"))
    body = [
        [
            name,
            t.get("reviews_at_defaults", ""),
            t["max_len"],
            *_ratio_cells(
                t, "padded_at_defaults", "project_at_defaults", "speedup_at_defaults", target
            ),
        ]
        for name, t in rows.items()
    ]
    header = ["model", "reviews", "length cap", "padded ex/s", "project ex/s"]
    header += ["speedup_at_defaults", "target", "wall clock", "padded % of peak"]
    header += ["project % of peak"]
    return "\n".join(
        [
            "**`speedup_at_defaults`, at each model's defaults**: the same model fed every "
            "review padded to the length cap in random batches, against length-bucketed "
            "batches.",
            "",
            md.rows(header, body),
        ]
    )


def _measured_at(results: dict) -> str:
    """Where the throughput was carried over from an earlier run (`--skip-throughput`)."""
    commit = results.get("throughput_commit")
    if not commit:
        return ""
    return (
        f" Measured at `{commit[:10]}` and carried over (`--skip-throughput`): the training "
        "loop it times is unchanged since."
    )


def _ratio_cells(row: dict, slow: str, fast: str, speedup: str, target: str) -> list[str]:
    """One throughput ratio's cells: both sides' rates, the ratio and its ``target``, the
    wall-clock ratio, and each side's fraction of the matmul peak."""
    return [
        f"{row[RATES[slow]]:.0f}",
        f"{row[RATES[fast]]:.0f}",
        md.ratio(row[speedup]),
        target,
        md.ratio(row.get(f"{speedup}_wall")),
        md.pct(row[f"fraction_of_matmul_peak_{slow}"]),
        md.pct(row[f"fraction_of_matmul_peak_{fast}"]),
    ]
