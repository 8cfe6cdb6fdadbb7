"""Which recognition models a pipeline embeds with (by ModelIdentity.key), and how it combines them."""

from __future__ import annotations

from faceledger.config import Settings
from faceledger.engine.fusion import FusionRule
from faceledger.engine.models import recognition_model_identity
from faceledger.errors import EngineUnavailable
from faceledger.types import ModelIdentity, Pipeline


def pipeline_identities(settings: Settings) -> tuple[ModelIdentity, ...]:
    """The pipeline's models, its first model first (the order of types.Face.embeddings)."""
    if settings.pipeline is Pipeline.DLIB:
        return (recognition_model_identity(),)
    raise EngineUnavailable(f"the {settings.pipeline.value} pipeline is not available in this build")


def pipeline_model_keys(settings: Settings) -> tuple[str, ...]:
    return tuple(identity.key for identity in pipeline_identities(settings))


def pipeline_fusion_rule(settings: Settings) -> FusionRule | None:
    """The rule combining a multi-model pipeline's distances; None for a single-model pipeline."""
    if len(pipeline_identities(settings)) == 1:
        return None
    raise EngineUnavailable(f"the {settings.pipeline.value} pipeline has no fusion rule in this build")
