"""Which recognition models a pipeline embeds with (by ModelIdentity.key), and how it combines them."""

from __future__ import annotations

from faceledger.config import Settings
from faceledger.engine.fusion import FusionRule, fusion_rule_for
from faceledger.engine.models import recognition_model_identity
from faceledger.engine.onnx_models import SFACE
from faceledger.engine.operator_model import settings_spec
from faceledger.errors import EngineUnavailable
from faceledger.types import ModelIdentity, Pipeline


def pipeline_identities(settings: Settings) -> tuple[ModelIdentity, ...]:
    """The pipeline's models, its first model first (the order of types.Face.embeddings)."""
    # The identities the engine stamps (engine/pipeline.py FaceEngine.models), known without loading it.
    if settings.pipeline is Pipeline.DLIB:
        return (recognition_model_identity(),)
    if settings.pipeline is Pipeline.SFACE:
        return (SFACE.identity(),)
    if settings.pipeline is Pipeline.FUSED:
        return (SFACE.identity(), recognition_model_identity())
    if settings.pipeline is Pipeline.OPERATOR:
        return (settings_spec(settings).identity(),)
    raise EngineUnavailable(f"the {settings.pipeline.value} pipeline is not available in this build")


def pipeline_model_keys(settings: Settings) -> tuple[str, ...]:
    return tuple(identity.key for identity in pipeline_identities(settings))


def pipeline_fusion_rule(settings: Settings) -> FusionRule | None:
    """The rule combining a multi-model pipeline's distances; None for a single-model pipeline. A fused
    search scores with it even where a model found no face (the rule renormalises its weights), so that
    every candidate's distance is on the fused scale its calibration and threshold were measured on."""
    return fusion_rule_for(settings.pipeline)
