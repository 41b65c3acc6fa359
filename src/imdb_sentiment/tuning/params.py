"""A tuning study's winner written into params.yaml, the file's comments and layout kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

from imdb_sentiment.files import atomic_path
from imdb_sentiment.tuning.history import winner


def write_winner(
    name: str, study: optuna.Study, params_path: Path, n_val: int, corpus: str
) -> dict[str, Any]:
    """Put the study's winner into params.yaml: the first corpus's into the shared defaults
    (``models.NAME``), another corpus's into its overrides (``corpora.CORPUS.models.NAME``).
    Return the entry written."""
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip: comments and key order survive
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)  # the file's own list style
    yaml.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    document = yaml.load(params_path.read_text())
    entry = winner(study, n_val)
    if corpus == next(iter(document["corpora"])):
        target = document["models"][name]
    else:
        overrides = document["corpora"][corpus].setdefault("models", {})
        target = overrides.setdefault(name, {})
    target.update(entry)
    with atomic_path(params_path) as tmp, tmp.open("w") as handle:
        yaml.dump(document, handle)
    return entry
