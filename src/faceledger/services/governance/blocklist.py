"""The opt-out blocklist: faces of people who asked to be removed, kept so they stay out of the gallery
(ingestion skips them) and out of every result (search drops them)."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from faceledger.engine.scales import scale_for_model_key
from faceledger.services.runtime.deployment import Deployment
from faceledger.store.governance_models import OptOutEmbedding
from faceledger.store.sealed import Role, optout_embedding_name


class Blocklist:
    def __init__(self, vectors: np.ndarray, threshold: float, model_key: str = "") -> None:
        self.vectors = vectors.reshape(-1, 128) if vectors.size else np.zeros((0, 128), dtype=np.float32)
        self.threshold = threshold
        self.model_key = model_key  # the model of these vectors: only that model's embeddings are compared

    def __len__(self) -> int:
        return len(self.vectors)

    def matches(self, vector: np.ndarray) -> bool:
        if not len(self.vectors):
            return False
        distances = np.linalg.norm(self.vectors - np.asarray(vector, dtype=np.float32)[None, :], axis=1)
        return bool(distances.min() <= self.threshold)


def load_blocklist(deployment: Deployment, model_key: str | None = None) -> Blocklist:
    # Default: the pipeline's first model, the one an opt-out photo is embedded and stored with
    # (services/gallery/optout.py); deployment.model_key is dlib's on every pipeline, so sface's opt-outs went unread.
    key = model_key or deployment.pipeline_keys[0]
    with deployment.sessions() as session:
        rows = session.execute(
            select(OptOutEmbedding.request_id, OptOutEmbedding.embedding).where(OptOutEmbedding.model_key == key)
        ).all()
    opened = [deployment.sealer.open(Role.OPTOUT_EMBEDDING, optout_embedding_name(r, key), blob) for r, blob in rows]
    vectors = np.stack([np.frombuffer(row, dtype=np.float32) for row in opened]) if rows else np.zeros((0, 128))
    # optout_threshold is a dlib distance: carried onto this model's scale at equal false-match rate.
    scale = scale_for_model_key(key)
    threshold = deployment.settings.optout_threshold
    return Blocklist(vectors.astype(np.float32), threshold if scale is None else scale.distance(threshold), key)
