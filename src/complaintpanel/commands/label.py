"""``complaintpanel label``, ``label-train``, ``label-train-head`` and ``evaluate-labels``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from complaintpanel.commands._common import ConfigOption, echo_summary, load
from complaintpanel.config import DEFAULT_MODEL_PATH
from complaintpanel.errors import PipelineError
from complaintpanel.runtime.io import (
    sha256_file,
    stage_outputs,
    verified_input,
    write_json,
    write_parquet,
)

ClassifierOption = Annotated[
    str | None, typer.Option(help="Classifier name: rules, head, trained (default from "
                                  "config).")]
ModelOption = Annotated[
    Path | None, typer.Option("--model", help="Model file (classifier 'trained', or 'head' "
                                              "instead of the packaged head).")]
ThresholdOption = Annotated[
    float | None, typer.Option(help="Rules classifier threshold (default from config: 1.0).")]
MappingOption = Annotated[
    str | None,
    typer.Option(help="Label → voice, e.g. negative=complaint,positive=compliment,"
                      "neutral=neutral (default: labels are already voices)."),
]


def _bad(error: Exception, file: Path | None = None) -> PipelineError:
    return PipelineError(str(error), file=file)


def label(
    directory: Annotated[Path, typer.Argument(help="Folder holding exchanges.parquet.")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default: DIRECTORY).")] = None,
    truth: Annotated[
        Path | None,
        typer.Option(help="Simulator truth (WORLD/truth/voice.parquet): use the true voice "
                          "instead of a classifier.", exists=True, dir_okay=False),
    ] = None,
    classifier: ClassifierOption = None,
    model: ModelOption = None,
    threshold: ThresholdOption = None,
    config: ConfigOption = None,
) -> None:
    """Add voice, sentiment and the classifier to every customer tweet (voiced.parquet).

    Tweet ids, conversation ids and reply links are written as keyed pseudonyms (the key of
    the customer pseudonyms): nothing outside the interim folder holds a real tweet id.
    """
    import pandas as pd

    from complaintpanel.label.stage import (
        classifier_for,
        interim_key,
        label_exchanges,
        label_exchanges_with_truth,
        label_summary,
        publishable_voiced,
        read_exchanges,
    )
    from complaintpanel.runtime.inputs import require_rows

    source = directory / "exchanges.parquet"
    if not source.exists():
        raise PipelineError("does not exist; run `complaintpanel thread` first", file=source)
    out = out or directory
    started = time.perf_counter()
    loaded = load(config)
    with stage_outputs("label", out) as outputs:
        exchanges = read_exchanges(verified_input(source))
        require_rows(source, len(exchanges))
        # The key first: a missing key stops the stage before the classifier runs.
        key = interim_key(directory, loaded.ingest.key_env)
        try:
            if truth is not None:
                voiced = label_exchanges_with_truth(exchanges, pd.read_parquet(truth),
                                                    version=f"truth-{sha256_file(truth)[:12]}")
            else:
                chosen = classifier_for(loaded.label, classifier=classifier,
                                        model_path=model, threshold=threshold)
                voiced = label_exchanges(exchanges, chosen)
        except (ValueError, TypeError, FileNotFoundError) as error:
            raise _bad(error, truth) from None
        write_parquet(publishable_voiced(voiced, key), outputs.path("voiced.parquet"))
        report = label_summary(voiced)
        report.update({"input": str(source), "input_sha256": sha256_file(source),
                       "truth_file": str(truth) if truth is not None else None})
        write_json(report, outputs.path("label_report.json"))
    shares = report["voice_shares"]
    echo_summary(
        "label",
        f"{report['tweets']:,} tweets, {shares['complaint']:.0%} complaints, "
        f"{shares['compliment']:.0%} compliments, classifier {report['classifier']} "
        f"{report['classifier_version']} → {out / 'voiced.parquet'}",
        time.perf_counter() - started,
    )


def label_train(
    labels: Annotated[Path, typer.Argument(help="CSV or Parquet of human-labelled texts.",
                                           exists=True, dir_okay=False)],
    text_col: Annotated[str, typer.Option(help="Column with the text.")] = "text",
    label_col: Annotated[str, typer.Option(help="Column with the human label.")] = "label",
    mapping: MappingOption = None,
    out: Annotated[Path, typer.Option(help="Model file (.joblib); a .json card is written "
                                           "beside it.")] = DEFAULT_MODEL_PATH,
    folds: Annotated[int, typer.Option(help="Cross-validation folds (0 = none).")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of folds and solver.")] = 0,
) -> None:
    """Fit the trainable voice classifier on your own labelled tweets and report its CV validity."""
    from complaintpanel.label.evaluate import parse_mapping, read_labelled
    from complaintpanel.label.trained import save_model, train_voice_model

    started = time.perf_counter()
    try:
        data = read_labelled(labels, text_col, label_col, parse_mapping(mapping))
        model, card = train_voice_model(data["text"], data["voice"], folds=folds, seed=seed,
                                        source=labels)
    except ValueError as error:
        raise _bad(error, labels) from None
    model_path, card_path = save_model(model, card, out)
    cv = (f", {folds}-fold CV macro-F1 {card['cv']['macro_f1']:.3f}" if folds else "")
    echo_summary("label-train", f"{len(data):,} labelled texts{cv} → {model_path} "
                 f"(card {card_path.name})", time.perf_counter() - started)


def label_train_head(
    labelled: Annotated[Path, typer.Option(help="Shared folder of labelled sets (TweetEval, "
                                                "Sanders).", exists=True, file_okay=False)] = Path(
        "../shared/data/labelled"),
    real: Annotated[Path, typer.Option(help="Shared folder of real data (the airline "
                                            "tweets).", exists=True, file_okay=False)] = Path(
        "../shared/data/real"),
    out: Annotated[Path, typer.Option(help="Folder for voice_head.npz and its cards "
                                           "(.json, .md).")] = Path(
        "src/complaintpanel/label/models"),
    C: Annotated[float, typer.Option("--C", help="Inverse L2 penalty.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the calibration folds.")] = 0,
) -> None:
    """Train the shipped voice head on all human-labelled sets pooled (classifier 'head')."""
    from complaintpanel.label.head import train_head

    started = time.perf_counter()
    command = (f"complaintpanel label-train-head --labelled {labelled} --real {real} "
               f"--out {out} --C {C:g} --seed {seed}")
    try:
        head, card = train_head(labelled, real, C=C, seed=seed, command=command)
    except (ValueError, FileNotFoundError) as error:
        raise _bad(error, labelled) from None
    npz, card_path, _ = head.save(out / "voice_head.npz", card)
    echo_summary("label-train-head",
                 f"{card['n_train']:,} labelled texts, temperature {card['temperature']:.3f} → "
                 f"{npz} ({npz.stat().st_size / 1e6:.1f} MB; card {card_path.name})",
                 time.perf_counter() - started)


def evaluate_labels_command(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet of human-labelled texts.",
                                         exists=True, dir_okay=False)],
    text_col: Annotated[str, typer.Option(help="Column with the text.")] = "text",
    label_col: Annotated[str, typer.Option(help="Column with the human label.")] = "label",
    mapping: MappingOption = None,
    classifier: ClassifierOption = None,
    model: ModelOption = None,
    threshold: ThresholdOption = None,
    pred_col: Annotated[
        str | None,
        typer.Option(help="Evaluate this column of ready-made voices instead of a classifier."),
    ] = None,
    cv: Annotated[
        int,
        typer.Option(help="Instead of a saved model, k-fold cross-validate the trainable "
                          "classifier on FILE (k ≥ 2)."),
    ] = 0,
    out: Annotated[Path, typer.Option(help="Folder for the JSON and the figure.")] = Path(
        "results/labels"),
    name: Annotated[str | None, typer.Option(help="File stem (default: FILE's stem + "
                                                  "classifier).")] = None,
    config: ConfigOption = None,
) -> None:
    """Measure a classifier on human labels: accuracy, per-class P/R/F1, macro-F1, confusion."""
    from complaintpanel.label.evaluate import (
        evaluate_labels,
        parse_mapping,
        read_labelled,
    )
    from complaintpanel.label.stage import classifier_for
    from complaintpanel.report.figures import fig_label_validity

    started = time.perf_counter()
    try:
        data = read_labelled(file, text_col, label_col, parse_mapping(mapping))
        if pred_col is not None:
            predicted = data[pred_col].astype(str).to_numpy()
            who, version = pred_col, "column"
            report = evaluate_labels(data["voice"], predicted)
        elif cv:
            from complaintpanel.label.trained import cross_validate_model

            report, folds = cross_validate_model(data["text"], data["voice"], folds=cv)
            who, version = "trained", f"{cv}-fold CV"
        else:
            chosen = classifier_for(load(config).label, classifier=classifier,
                                    model_path=model, threshold=threshold)
            predicted, _ = chosen.predict(data["text"].to_numpy(dtype=object))
            who, version = chosen.name, chosen.version
            report = evaluate_labels(data["voice"], predicted)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as error:
        raise _bad(error, file) from None
    stem = name or f"{file.stem}_{who}"
    result = {"file": str(file), "file_sha256": sha256_file(file), "text_col": text_col,
              "label_col": label_col, "mapping": parse_mapping(mapping),
              "classifier": who, "classifier_version": version, **report.to_dict()}
    if cv:
        result["macro_f1_by_fold"] = folds
    json_path = write_json(result, out / f"{stem}.json")
    fig_label_validity(report, out / f"{stem}_confusion", title=f"{who} on {file.name}")
    binary = report.binary("complaint")
    echo_summary("evaluate-labels",
                 f"{report.n:,} texts, {who}: macro-F1 {report.macro_f1:.3f}, accuracy "
                 f"{report.accuracy:.3f}, complaint-vs-not macro-F1 {binary['macro_f1']:.3f} "
                 f"→ {json_path}", time.perf_counter() - started)


def register(app: typer.Typer) -> None:
    """Add ``label``, ``label-train``, ``label-train-head`` and ``evaluate-labels`` to ``app``."""
    app.command()(label)
    app.command("label-train")(label_train)
    app.command("label-train-head")(label_train_head)
    app.command("evaluate-labels")(evaluate_labels_command)
