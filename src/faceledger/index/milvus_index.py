"""Milvus by URI: a file path runs Milvus Lite in-process (tests, small sites); http://host:19530 talks
to a Milvus cluster when a deployment outgrows one machine. The same code serves both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from faceledger.errors import EngineUnavailable
from faceledger.index.base import (
    DIM,
    Hits,
    Ids,
    IndexBackend,
    Vectors,
    check_queries,
    check_stored_width,
    check_vectors,
    empty_hits,
    read_meta_version,
    write_meta,
)

COLLECTION = "faceledger_faces"
META_FILE = "milvus.json"
_INSERT_CHUNK = 5_000
# A Milvus server's default ("Bounded") lets a search miss what was written a moment before, so a face just
# added or removed would be missed or shown; every read waits for every write before it. Milvus Lite is
# always strong.
STRONG = "Strong"
_ITERATOR_BATCH = 10_000


class MilvusIndex:
    backend = IndexBackend.MILVUS

    def __init__(
        self,
        uri: str,
        folder: Path | None = None,
        *,
        index_type: str = "FLAT",
        collection: str = COLLECTION,
        dim: int = DIM,
    ) -> None:
        self._folder = folder
        self._dim = dim
        self._collection = collection  # one per model (index/per_model.py)
        if "://" not in uri:  # a local file: Milvus Lite, which wants its folder to exist
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._client = MilvusClient(uri)
            if not self._client.has_collection(self._collection):
                self._create(index_type)
            check_stored_width(self._stored_width(), dim, f"Milvus collection {collection}")
            self._client.load_collection(self._collection)
        except MilvusException as exc:
            raise EngineUnavailable(f"Milvus at {uri} is not usable: {exc}") from exc
        meta = folder / META_FILE if folder else None
        self._version: int | None = json.loads(meta.read_text())["gallery_version"] if meta and meta.is_file() else None

    def _stored_width(self) -> int:
        fields = self._client.describe_collection(self._collection)["fields"]
        return int(next(f["params"]["dim"] for f in fields if f["name"] == "vector"))

    def _create(self, index_type: str) -> None:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self._dim)
        params = self._client.prepare_index_params()
        params.add_index(field_name="vector", index_type=index_type, metric_type="L2")
        self._client.create_collection(self._collection, schema=schema, index_params=params, consistency_level=STRONG)

    def add(self, ids: Ids, vectors: Vectors) -> None:
        ids, vectors = check_vectors(ids, vectors, self._dim)
        for start in range(0, len(ids), _INSERT_CHUNK):
            rows = [
                {"id": int(i), "vector": v.tolist()}
                for i, v in zip(ids[start : start + _INSERT_CHUNK], vectors[start : start + _INSERT_CHUNK], strict=True)
            ]
            self._client.upsert(self._collection, rows)  # upsert: adding an id twice keeps one copy

    def remove(self, ids: Ids) -> int:
        if not len(ids):
            return 0
        before = self.count()
        self._client.delete(self._collection, ids=[int(i) for i in ids])
        return before - self.count()

    def search(self, queries: Vectors, k: int) -> Hits:
        queries = check_queries(queries, k, self._dim)
        hits = empty_hits(len(queries), k)
        if not self.count():
            return hits
        # Name the output fields: Milvus Lite otherwise returns every field, the vector included.
        results: list[Any] = self._client.search(
            self._collection,
            data=queries.tolist(),
            limit=k,
            output_fields=["id"],
            search_params={"metric_type": "L2"},
            consistency_level=STRONG,
        )
        for row, found in enumerate(results):
            for column, hit in enumerate(found[:k]):
                hits.ids[row, column] = int(hit["id"])
                hits.distances[row, column] = np.sqrt(max(float(hit["distance"]), 0.0))  # Milvus gives squared L2
        return hits

    def ids(self) -> Ids:
        iterator = self._client.query_iterator(
            self._collection, batch_size=_ITERATOR_BATCH, filter="", output_fields=["id"], consistency_level=STRONG
        )
        found: list[int] = []
        try:
            while batch := iterator.next():
                found.extend(int(row["id"]) for row in batch)
        finally:
            iterator.close()
        return np.array(sorted(found), dtype=np.int64)

    def count(self) -> int:
        # Not get_collection_stats: a Milvus server counts only flushed segments there, deleted rows included.
        found = self._client.query(self._collection, filter="", output_fields=["count(*)"], consistency_level=STRONG)
        return int(found[0]["count(*)"])

    def save(self, gallery_version: int) -> None:
        self._client.flush(self._collection)
        if self._folder is not None:
            self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_meta(self._folder / META_FILE, {"gallery_version": gallery_version})  # Milvus holds the vectors
        self._version = gallery_version

    def saved_version(self) -> int | None:
        return self._version

    def stored_version(self) -> int | None:
        return read_meta_version(self._folder / META_FILE) if self._folder is not None else self._version
