"""The operator model slot as an operator uses it: `models add` (and its refusals), `eval lfw --pipeline
NAME` on a tiny LFW-shaped folder storing the report and the View 1 table, `models enable` refused until
then, `models list` and `version` showing licence, commercial use, sha256 and evaluation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli.test_gallery_cli import run
from tests.lfwdata import people_with_several
from tests.operator_onnx import recognizer

pytestmark = pytest.mark.needs_data


def tiny_lfw(data_dir: Path, folder: Path, people: int = 8) -> Path:
    """An LFW-shaped folder of a few people (3 images each, linked; 4 more with one): pairs.txt (one fold) and
    pairsDevTrain.txt of their same and different pairs, and the real labels: an eval in seconds."""
    chosen = people_with_several(data_dir, people, minimum=3)
    for person, images in chosen:
        (folder / "lfw" / person).mkdir(parents=True)
        for image in images[:3]:
            os.symlink(image, folder / "lfw" / person / image.name)
    singles = [f for f in sorted((data_dir / "lfw").iterdir()) if len(list(f.glob("*.jpg"))) == 1][:4]
    for single in singles:  # people with one photo: the open-set search's non-mated probes
        (folder / "lfw" / single.name).mkdir(parents=True)
        for image in single.glob("*.jpg"):
            os.symlink(image, folder / "lfw" / single.name / image.name)
    os.symlink(data_dir / "lfw_labels", folder / "lfw_labels")
    names = [person for person, _ in chosen]
    same = [f"{p}\t1\t2" for p in names]
    different = [f"{a}\t1\t{b}\t3" for a, b in zip(names, names[1:] + names[:1], strict=True)]
    (folder / "pairs.txt").write_text("\n".join([f"1\t{len(same)}", *same, *different]) + "\n")
    train_same = [f"{p}\t1\t3" for p in names]
    train_diff = [f"{a}\t2\t{b}\t2" for a, b in zip(names, names[2:] + names[:2], strict=True)]
    (folder / "pairsDevTrain.txt").write_text("\n".join([str(len(train_same)), *train_same, *train_diff]) + "\n")
    return folder


def test_add_evaluate_enable_list(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    created = run("init", "--data-dir", str(folder), "--json")
    assert created.returncode == 0, created.stderr
    token = ["--data-dir", str(folder), "--token", json.loads(created.stdout)["token"]]
    model = str(recognizer(tmp_path / "city.onnx"))
    refused = run("models", "add", model, "--name", "city", "--licence", "CC BY-NC", "--commercial-use", "no", *token)
    assert refused.returncode == 6 and "non-commercial" in refused.stderr
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    not_onnx = run("models", "add", str(bad), "--name", "city", "--licence", "x", "--commercial-use", "yes", *token)
    assert not_onnx.returncode == 3 and "not an ONNX model" in not_onnx.stderr
    added = run(
        "models",
        "add",
        model,
        "--name",
        "city",
        "--licence",
        "city contract 17",
        "--commercial-use",
        "yes",
        "--pixel-scale",
        "symmetric",
        "--json",
        *token,
    )
    assert added.returncode == 0, added.stderr
    info = json.loads(added.stdout)
    enable = run("models", "enable", "city", "--allow-missing", *token)
    assert enable.returncode == 7 and "faceledger eval lfw --pipeline city" in enable.stderr

    lfw = tiny_lfw(data_dir, tmp_path / "lfw-tiny")
    nowhere = run("eval", "lfw", "--data", str(lfw), "--pipeline", "city")
    assert nowhere.returncode == 3 and "pass --data-dir" in nowhere.stderr
    evaluated = run(
        "eval",
        "lfw",
        "--data",
        str(lfw),
        "--folds",
        "1",
        "--pipeline",
        "city",
        "--people",
        "12",
        "--cache",
        str(tmp_path / "cache.db"),
        "--out",
        str(tmp_path / "report"),
        "--workers",
        "1",
        "--json",
        *token,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    summary = json.loads(evaluated.stdout)
    assert summary["pipeline"] == "operator" and summary["stored"]["sha256"] == info["sha256"]
    assert 0 <= summary["verification"]["mean_accuracy"] <= 1 and summary["stored"]["calibration_impostor_pairs"] > 0
    table = json.loads((folder / "operator_models" / f"{info['sha256']}.calibration.json").read_text())
    assert table["model"]["weights_sha256"] == info["sha256"] and table["groups"]
    assert sum(g["people"] for g in table["groups"] if g["attribute"] == "gender") <= 8

    advised = run(
        "eval", "threshold", "--pipeline", "city", "--gallery-size", "1000", "--fpir", "0.01", "--json", *token
    )
    assert advised.returncode == 0, advised.stderr
    advice = json.loads(advised.stdout)  # the stored table of this very file, not a built-in pipeline's
    assert advice["pipeline"] == "city" and advice["table_model"].endswith("#" + info["sha256"][:12])
    bare = run("eval", "threshold", "--pipeline", "operator", "--gallery-size", "1000", "--fpir", "0.01", *token)
    assert bare.returncode == 4 and "no added model 'operator'" in bare.stderr, bare.stderr
    compared = run(
        "eval",
        "compare",
        "--data",
        str(lfw),
        "--folds",
        "1",
        "--pipeline",
        "city",
        "--pipeline",
        "dlib",
        "--people",
        "12",
        "--cache",
        str(tmp_path / "cache.db"),
        "--out",
        str(tmp_path / "compare"),
        "--workers",
        "1",
        "--json",
        *token,
    )
    assert compared.returncode == 0, compared.stderr
    assert [row["pipeline"] for row in json.loads(compared.stdout)["pipelines"]] == ["operator", "dlib"]

    enabled = run("models", "enable", "city", "--allow-missing", *token)
    assert enabled.returncode == 0, enabled.stderr
    listed = run("models", "list", *token)
    assert f"licence city contract 17; commercial use yes; sha256 {info['sha256']}; evaluated" in listed.stdout
    version = run("version", "--json", "--data-dir", str(folder))
    assert version.returncode == 0, version.stderr
    (shown,) = json.loads(version.stdout)["added_models"]
    assert (shown["sha256"], shown["licence"], shown["commercial_use"], shown["evaluated"]) == (
        info["sha256"],
        "city contract 17",
        True,
        True,
    )
    ledger = json.loads(run("ledger", "show", "--json", *token).stdout)
    assert [e["action"] for e in ledger if e["action"].startswith("models_")] == [
        "models_add_refused",
        "models_add",
        "models_evaluate",
        "models_enable",
    ]
