"""The operator-supplied model slot: `faceledger models add FILE.onnx --name --licence --commercial-use`.

A recognizer a city has licensed is checked (engine/operator_model.py validate_model_file) before anything
is stored, refused when its weights are non-commercial on a deployment that forbids them, then stored:
the file read-only under DATA_DIR/operator_models named by its sha256, a manifest the engine loads it by,
a row (licence, commercial use, input spec, who, when) and a ledger entry, in that order, so a failure
leaves no row without its file. It is registered in the gallery's model registry disabled; it can be
enabled only once an LFW evaluation of THIS file (its sha256) is stored (RCW 43.386.040's independent
testing duty): `faceledger eval lfw --pipeline NAME` records the report summary in the row and its View 1
calibration table beside the file, which the operator pipeline's operating threshold is read from."""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from faceledger.config import Settings
from faceledger.engine import operator_model
from faceledger.engine.calibration import CalibrationTable
from faceledger.engine.operator_model import OperatorSpec, validate_model_file
from faceledger.errors import Conflict, EngineUnavailable, InvalidInput, NotFound, PolicyDenied
from faceledger.policy.governance import Action, ActorView
from faceledger.services.governance.guard import append, governed, no_context
from faceledger.services.runtime.deployment import Deployment
from faceledger.services.runtime.pipeline_models import pipeline_identities
from faceledger.store import events, model_registry
from faceledger.store.db import transaction
from faceledger.store.models import OperatorModel
from faceledger.store.sealed import write_private
from faceledger.types import ColourOrder, Pipeline, PixelScale

OPERATOR_DIR = "operator_models"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")  # no '@' or '#': those delimit a model key
_READ_ONLY = 0o400


@dataclass(frozen=True)
class OperatorModelInfo:
    name: str
    model_key: str
    sha256: str
    licence: str
    commercial_use: bool
    input_colour: str
    pixel_scale: str
    embedding_dim: int
    added_by: str
    added_at: datetime
    evaluated: bool  # a report for THIS sha256 is stored
    evaluated_at: datetime | None
    eval_summary: dict[str, Any] | None

    @classmethod
    def of(cls, row: OperatorModel) -> OperatorModelInfo:
        return cls(
            row.name,
            row.model_key,
            row.sha256,
            row.licence,
            row.commercial_use,
            row.input_colour,
            row.pixel_scale,
            row.embedding_dim,
            row.added_by,
            row.added_at,
            row.evaluated_sha256 == row.sha256,
            row.evaluated_at,
            row.eval_summary,
        )

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["added_at"] = self.added_at.isoformat()
        data["evaluated_at"] = self.evaluated_at.isoformat() if self.evaluated_at else None
        return data


def folder(deployment: Deployment) -> Path:
    return deployment.data_dir / OPERATOR_DIR


def builtin_names() -> set[str]:
    """Pipeline names and every built-in model's name: an added model may not take one of them."""
    names = {p.value for p in Pipeline}
    for pipeline in Pipeline:
        try:
            names.update(i.name for i in pipeline_identities(Settings(pipeline=pipeline)))
        except EngineUnavailable:
            continue
    return names


def list_operator_models(deployment: Deployment) -> list[OperatorModelInfo]:
    with deployment.sessions() as session:
        return [OperatorModelInfo.of(r) for r in session.scalars(select(OperatorModel).order_by(OperatorModel.id))]


def _row(session: Session, name: str) -> OperatorModel:
    row = session.scalars(select(OperatorModel).where(OperatorModel.name == name)).one_or_none()
    if row is None:
        raise NotFound(f"no added model {name!r} (faceledger models list)")
    return row


def operator_settings(deployment: Deployment, name: str, base: Settings | None = None) -> Settings:
    """Settings whose operator pipeline embeds with the added model `name` (its manifest checked against
    the row: the engine re-checks the file's sha256 when it loads it)."""
    with deployment.sessions() as session:
        row = _row(session, name)
        sha = row.sha256
    spec = operator_model.read_spec(folder(deployment), name)
    if spec.sha256 != sha:
        raise EngineUnavailable(f"the added model {name}'s manifest names sha256 {spec.sha256}, its record {sha}")
    return (base or deployment.settings).model_copy(
        update={"pipeline": Pipeline.OPERATOR, "operator_model": name, "operator_model_dir": folder(deployment)}
    )


def operator_key(session: Session, key: str) -> OperatorModel | None:
    return session.scalars(select(OperatorModel).where(OperatorModel.model_key == key)).one_or_none()


def enable_refusal(session: Session, key: str) -> str | None:
    """Why the model `key` may not be enabled yet (an added model with no stored evaluation of its file)."""
    row = operator_key(session, key)
    if row is None or row.evaluated_sha256 == row.sha256:
        return None
    return (
        f"the added model {row.name} has no stored LFW evaluation of its file (sha256 {row.sha256[:12]}); "
        f"run: faceledger eval lfw --pipeline {row.name} --data-dir DATA_DIR, then enable it"
    )


def add_model(
    deployment: Deployment,
    actor: ActorView,
    path: Path,
    *,
    name: str,
    licence: str,
    commercial_use: bool,
    colour: ColourOrder = ColourOrder.RGB,
    scale: PixelScale = PixelScale.SYMMETRIC,
) -> OperatorModelInfo:
    asked: dict[str, Any] = {
        "model": name,
        "file": path.name,
        "licence": licence,
        "commercial_use": commercial_use,
        "input_colour": colour.value,
        "pixel_scale": scale.value,
    }
    governed(deployment, actor, Action.CURATE_GALLERY, no_context(deployment), lambda _s, _c: None, details=asked)
    if not _NAME.match(name):
        raise InvalidInput(f"model name {name!r}: a letter, then up to 63 letters, digits, '_', '.' or '-'")
    if name in builtin_names():
        raise Conflict(f"{name!r} is a built-in pipeline or model name; choose another")
    if not licence.strip():
        raise InvalidInput("state the licence the weights are used under", field="licence")
    if not commercial_use and not deployment.settings.allow_non_commercial_models:
        with transaction(deployment.sessions) as session:
            append(session, actor, events.ModelsAddRefused(**asked, reason="non_commercial"))
        raise PolicyDenied(
            f"{name}: its weights are for non-commercial use only and this deployment forbids "
            "them (allow_non_commercial_models is false)"
        )
    checked = validate_model_file(path, deployment.settings.operator_model_max_bytes)
    with deployment.sessions() as session:
        if session.scalars(select(OperatorModel).where(OperatorModel.name == name)).first() is not None:
            raise Conflict(f"an added model is already named {name!r}")
        same = session.scalars(select(OperatorModel).where(OperatorModel.sha256 == checked.sha256)).first()
        if same is not None:
            raise Conflict(f"this file (sha256 {checked.sha256[:12]}) was already added as {same.name!r}")
    spec = OperatorSpec(
        name, checked.sha256, colour, scale, operator_model.model_file(folder(deployment), checked.sha256)
    )
    _store_file(path, spec)
    manifest = operator_model.manifest_path(folder(deployment), name)
    try:
        write_private(manifest, (json.dumps(spec.manifest(), indent=1) + "\n").encode())
        with transaction(deployment.sessions) as session:
            row = OperatorModel(
                name=name,
                sha256=checked.sha256,
                model_key=spec.identity().key,
                licence=licence,
                commercial_use=commercial_use,
                input_colour=colour.value,
                pixel_scale=scale.value,
                embedding_dim=checked.embedding_dim,
                size_bytes=checked.size_bytes,
                added_by=actor.name,
                added_at=deployment.clock.now(),
            )
            session.add(row)
            model_registry.register(session, row.model_key, enabled=False)
            session.flush()
            info = OperatorModelInfo.of(row)
            append(
                session,
                actor,
                events.ModelsAdd(
                    **asked,
                    sha256=checked.sha256,
                    model_key=row.model_key,
                    embedding_dim=checked.embedding_dim,
                    size_bytes=checked.size_bytes,
                    input_shape=tuple(checked.input_shape),
                ),
            )
    except BaseException:
        manifest.unlink(missing_ok=True)
        _remove(spec.path)
        raise
    return info


def _store_file(source: Path, spec: OperatorSpec) -> None:
    """Copy to the deployment read-only, then check the copy's hash (the source may change meanwhile)."""
    spec.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = spec.path.with_name(spec.path.name + ".tmp")
    shutil.copyfile(source, temporary)
    os.chmod(temporary, _READ_ONLY)
    os.replace(temporary, spec.path)
    try:
        operator_model.verified_bytes(spec)
    except EngineUnavailable as exc:
        _remove(spec.path)
        raise InvalidInput(f"{source} changed while it was being added: {exc}") from exc


def _remove(path: Path) -> None:
    if path.exists():
        os.chmod(path, 0o600)
        path.unlink()


def record_evaluation(
    deployment: Deployment, actor: ActorView, name: str, summary: dict[str, Any], table: dict[str, Any]
) -> OperatorModelInfo:
    """Store an LFW report summary in the row and its View 1 calibration table beside the file, ledgered.
    The evaluation is recorded for the file that was evaluated: the sha256 in the table's model identity."""
    CalibrationTable.from_json(table)  # refuse a table that would not load later
    evaluated = table["model"]["weights_sha256"]
    governed(
        deployment, actor, Action.CURATE_GALLERY, no_context(deployment), lambda _s, _c: None, details={"model": name}
    )
    with deployment.sessions() as session:
        row = _row(session, name)
        if evaluated != row.sha256:
            raise Conflict(f"the evaluation is of sha256 {evaluated[:12]}, the added model {name} is {row.sha256[:12]}")
    target = operator_model.calibration_path(folder(deployment), evaluated)
    write_private(target, (json.dumps(table, indent=1) + "\n").encode())
    with transaction(deployment.sessions) as session:
        row = _row(session, name)
        row.evaluated_sha256, row.evaluated_at = evaluated, deployment.clock.now()
        row.eval_summary, row.calibration_file = summary, target.name
        info = OperatorModelInfo.of(row)
        append(
            session,
            actor,
            events.ModelsEvaluate(model=name, sha256=evaluated, calibration_file=target.name, summary=summary),
        )
    return info


def governed_list_operator(deployment: Deployment, actor: ActorView) -> list[OperatorModelInfo]:
    governed(deployment, actor, Action.VIEW_GALLERY, no_context(deployment), lambda _s, _c: None)
    return list_operator_models(deployment)
