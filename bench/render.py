"""bench/RESULTS.md from the benchmark's JSON files alone (results.json, soak.json,
pretrain.json): every number, setting and target comes from them; this module measures
nothing and formats through the project's one Markdown helper.

    python -m bench.run --render-only     # re-render RESULTS.md from the committed files
"""

from __future__ import annotations

from bench import PRETRAIN_JSON, RESULTS_MD, SOAK_JSON
from bench.corpora import per_corpus
from bench.render_accuracy import accuracy_section
from bench.render_training import (
    pretraining_section,
    throughput_defaults_section,
    throughput_tutorial_section,
)
from imdb_sentiment.files import atomic_path, read_json
from imdb_sentiment.report import markdown as md


def write_rendered(results: dict, soak: dict | None = None, pretrain: dict | None = None) -> None:
    """bench/RESULTS.md rendered from ``results`` (what bench/results.json holds), the soak
    (bench/soak.json unless given) and the pretraining study (bench/pretrain.json unless
    given), atomically."""
    if soak is None and SOAK_JSON.exists():
        soak = read_json(SOAK_JSON)
    if pretrain is None and PRETRAIN_JSON.exists():
        pretrain = read_json(PRETRAIN_JSON)
    with atomic_path(RESULTS_MD) as tmp:
        tmp.write_text(render(results, soak, pretrain))


def render(results: dict, soak: dict | None = None, pretrain: dict | None = None) -> str:
    """RESULTS.md from ``results``, ``soak`` and ``pretrain`` alone: every number, setting
    and target comes from them (``results`` in either shape bench/corpora.py reads)."""
    results = per_corpus(results)
    sections = [
        header_section(results),
        cold_run_section(results),
        *(accuracy_section(results, corpus) for corpus in results["corpora"]),
        ""
        if "throughput" in results
        else "Training throughput was not measured in this run (`--skip-throughput`).",
        pretraining_section(pretrain),
        throughput_tutorial_section(results),
        throughput_defaults_section(results),
        *(
            serving_section(served, results.get("serving_commit"))
            for served in results.get("serving", [])
        ),
        soak_section(soak),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def header_section(results: dict) -> str:
    machine = results["machine"]
    cold_commit = results.get("cold_pipeline", {}).get("commit", results["commit"])
    reused = (
        f" (the cold run, accuracy, seeds and serving: its clone of `{cold_commit[:10]}`)"
        if cold_commit != results["commit"]
        else ""
    )
    device = "no GPU" if results.get("device") == "cpu" else f"device {results.get('device')}"
    return (
        f"# Benchmark results\n\n{results['date']}, commit `{results['commit'][:10]}`{reused}, "
        f"{machine['cpu_cores']} CPU cores ({machine['processor']}), Python {machine['python']}, "
        f"{device}. Produced by `python -m bench.run`."
    )


def cold_run_section(results: dict) -> str:
    cold = results.get("cold_pipeline", {})
    if "stages" not in cold:
        return ""
    body = [[stage, t["seconds"], t["peak_rss_mb"]] for stage, t in cold["stages"].items()]
    body.append(
        [
            "**total**",
            f"**{cold['total_seconds']}** ({cold['total_seconds'] / 60:.1f} min)",
            f"max {cold['max_stage_rss_mb']}",
        ]
    )
    runs = cold.get("cached_repro_runs")
    median = f" (median of {runs})" if runs else ""
    trained = cold.get("trained_at")
    lines = [
        "## Cold `dvc repro` (empty cache)",
        "",
        *(
            [
                f"Training stages from the cold run of `{trained[:10]}`; every stage after them "
                f"run again at `{cold['commit'][:10]}`, whose training code is the same "
                "(`python -m bench.run --skip-cold --rescore`).",
                "",
            ]
            if trained
            else []
        ),
        md.rows(["stage", "wall s", "peak RSS MB"], body),
        "",
        f"Fully cached `dvc repro`{median}: **{cold['cached_repro_seconds']} s**.",
    ]
    if "matmul_gflops_float32" in cold:
        lines += [
            "",
            f"This machine's float32 matmul peak: {cold['matmul_gflops_float32']} GFLOP/s.",
        ]
    targets = results.get("targets", {})
    measured = {
        "cold_total_seconds": ("total", cold["total_seconds"], "s"),
        "evaluate_seconds": ("evaluate", cold["stages"].get("evaluate", {}).get("seconds"), "s"),
        "scoring_seconds": (
            "every score stage, the ensembles and compare",
            cold.get("scoring_seconds"),
            "s",
        ),
        "outside_training_seconds": (
            "everything but train@*",
            cold.get("outside_training_seconds"),
            "s",
        ),
        "peak_rss_mb": ("the largest stage's peak RSS", cold["max_stage_rss_mb"], "MB"),
    }
    checks = [
        f"{label} {value} {unit} (target ≤ {targets[key]} {unit}"
        f"{' ✓' if value <= targets[key] else ' ✗'})"
        for key, (label, value, unit) in measured.items()
        if key in targets and value is not None
    ]
    if checks:
        lines += ["", "Targets: " + "; ".join(checks) + "."]
    return "\n".join(lines)


def serving_section(served: dict, commit: str | None = None) -> str:
    """One served model's load test (bench/serve_load.py); ``commit``: the one it was measured
    at, when a run that skipped serving carried it over."""
    batch_key = next(key for key in served if key.startswith("batch_of_"))
    single, batch = served["single_review"], served[batch_key]
    size = served.get("settings", {}).get("batch_size", batch_key.removeprefix("batch_of_"))
    return (
        f"## Serving: `{served['model_uri']}`\n\n"
        f"{single['requests']} single-review requests at {single['concurrency']} concurrent: "
        f"p50 {single['p50_ms']} ms, p95 {single['p95_ms']} ms, p99 {single['p99_ms']} ms, "
        f"{single['requests_per_second']} requests/s, {single['errors']} errors. "
        f"{batch['requests']} requests of {size} reviews at {batch['concurrency']} concurrent: "
        f"{batch['reviews_per_second']} reviews/s (p50 {batch['p50_ms']} ms), "
        f"{batch['errors']} errors." + (f" Measured at `{commit[:10]}`." if commit else "")
    )


def soak_section(soak: dict | None) -> str:
    """The soak (bench/soak.json): one row per server, then the answers per request kind."""
    if not soak:
        return ""
    runs = soak["runs"]
    header = ["model", "workers", "requests/s", "good p50 ms", "good p99 ms", "5xx or no answer"]
    header += ["missed targets", "peak RSS MB", "RSS MB after warm-up → end", "/ping after"]
    body = [
        [
            f"{run['model_name']} (`{run['model_uri']}`)",
            run["workers"],
            run["requests_per_second"],
            run["good_p50_ms"],
            run["good_p99_ms"],
            run["server_errors"],
            run["missed_targets"],
            f"{run['peak_rss_mb']:.0f}",
            f"{run['rss_mb_after_warm_up']:.0f} → {run['rss_mb_at_end']:.0f}",
            "yes" if run["ping_after"] else "**no**",
        ]
        for run in runs
    ]
    kinds = list(runs[0]["by_kind"]) if runs else []
    by_kind = [
        [
            kind,
            runs[0]["by_kind"][kind]["expected"],
            *(
                ", ".join(f"{n} × {s}" for s, n in run["by_kind"][kind]["statuses"].items()) or "-"
                for run in runs
            ),
        ]
        for kind in kinds
    ]
    servers = [f"{run['model_name']}, -w {run['workers']}" for run in runs]
    return "\n".join(
        [
            "## Serving soak",
            "",
            f"`python -m bench.soak` at `{soak['commit'][:10]}`, {soak['date']}: "
            f"{soak['requests']:,} requests per server at {soak['concurrency']} concurrent, "
            f"every {soak['malformed_every']}th hostile (the kinds below, in turn). Targets: no "
            "5xx, every good request and valid large one 200, every malformed one 4xx, /ping "
            "after.",
            "",
            md.rows(header, body, right=header[1:-1]),
            "",
            "Answers by status, per request kind:",
            "",
            md.rows(["kind", "expected", *servers], by_kind),
        ]
    )
