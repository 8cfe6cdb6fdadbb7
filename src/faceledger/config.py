"""One Settings object (environment prefix FACELEDGER_), built by the entry point and passed in.
Units are in the names. Defaults are justified where they were measured."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from faceledger.types import DescriptorRuntime, Detector, IndexBackend, OnnxProvider, Pipeline, ThresholdMode


def _default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACELEDGER_", extra="ignore", frozen=True)

    # --- image input: refuse before decoding anything that could exhaust memory
    max_image_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(default=60_000_000, gt=0)  # a 60 Mpx RGB decode is ~180 MB

    # --- the matcher: which detector and embedders (types.Pipeline); see engine/pipeline.py
    pipeline: Pipeline = Pipeline.SFACE

    # --- detection (the dlib pipeline's; YuNet's settings are under yunet_)
    detector: Detector = Detector.HOG
    hog_upsample: int = Field(default=1, ge=0, le=3)
    # Upsampling only pays on small images: above this size faces are already >= 80 px, and
    # upsampling a 12 Mpx photo costs ~4x the time (measured 0.75 s -> 3.5 s).
    hog_upsample_max_pixels: int = Field(default=2_000_000, gt=0)
    # On the 15 sample photos true faces scored >= 0.29 and false detections <= 0.03 (dlib's own cut is 0).
    hog_min_score: float = 0.2
    cnn_upsample: int = Field(default=0, ge=0, le=2)
    cnn_min_score: float = 0.3
    # When HOG finds no face and no detector was asked for, try the CNN (on LFW: 8 of 640 images).
    cnn_fallback: bool = True
    # Search for faces turned in the image plane (upside down, sideways), at 4x the detection time.
    rotation_search: bool = False

    # --- embedding: dlib's ResNet is trained on 150 px chips; below ~40 px the chip is mostly blur
    min_embed_face_px: int = Field(default=40, ge=1)
    embed_jitters: int = Field(default=0, ge=0, le=100)
    embed_flip: bool = False  # average the descriptor with the mirrored chip's
    chip_padding: float = Field(default=0.25, ge=0.0, le=1.0)  # dlib's training padding
    # numpy's BLAS runs dlib's ResNet in ~18 ms per face against dlib-bin's ~80 ms, equal within 4e-7.
    descriptor_runtime: DescriptorRuntime = DescriptorRuntime.NUMPY

    # --- quality gate (probes); each threshold is a pass mark, see engine/quality.py
    quality_min_face_px: int = 80
    quality_good_face_px: int = 160
    quality_min_sharpness: float = 20.0
    quality_good_sharpness: float = 100.0
    quality_max_yaw: float = 0.45
    quality_min_brightness: float = 40.0
    quality_max_brightness: float = 215.0
    quality_min_contrast: float = 10.0
    quality_min_hog_score: float = 0.5
    quality_min_cnn_score: float = 0.6

    # --- comparison: dlib's published operating point; the calibration table says what it means
    match_threshold: float = Field(default=0.6, gt=0)
    inconclusive_margin: float = Field(default=0.04, ge=0)
    # The operating threshold (policy/operating_threshold.py): a search of N faces promises that a person
    # not in the gallery gets a false candidate at most this often, for every group measured on >= the
    # minimum number of people (95% upper bounds). 1% is the FPIR the issue states; groups under 20 people
    # give intervals too wide to steer by (LFW View 1: 12 east asian people). `fixed` uses match_threshold.
    threshold_mode: ThresholdMode = ThresholdMode.DERIVED
    target_fpir: float = Field(default=0.01, gt=0, lt=1)
    threshold_min_group_people: int = Field(default=20, ge=1)

    # --- deployment: a data directory (database, index, thumbnails); PostgreSQL by URL for deployments
    data_dir: Path | None = None
    # Secret keys (ledger checkpoints, encryption at rest) live outside the data directory; None: the
    # sibling folder `<data dir>.keys`. See store/keys.py.
    keys_dir: Path | None = None
    database_url: str | None = None
    index_backend: IndexBackend | None = None  # None: what the data directory was created with
    milvus_uri: str | None = None  # None: Milvus Lite in the data directory
    faiss_nprobe: int | None = Field(default=None, ge=1)  # None: an eighth of the IVF lists
    faiss_ivf_min_faces: int = Field(default=50_000, ge=100)
    index_sync_on_open: bool = True  # bring a lagging index level when a deployment opens
    search_top_k: int = Field(default=10, ge=1, le=100)
    # Faces linked to a subject are ranked by subject (its best face): one person's many photos cannot
    # fill a lineup and push the other people out of it. Off: every face ranks on its own, as before.
    search_rank_subjects: bool = True
    thumbnail_px: int = Field(default=160, ge=32, le=512)
    ingest_batch_images: int = Field(default=32, ge=1, le=1000)
    # Folders ingest may read from (a folder or manifest under one of them); empty: ingest by path is off.
    # The data directory and the keys folder are never read, even when under a root.
    ingest_roots: list[Path] = Field(default_factory=list)

    # --- governance: the published retention schedule and the opt-out match distance
    retention_results_days: int = Field(default=90, ge=0)  # probes and results, counted from a case's closing
    optout_threshold: float = Field(default=0.6, gt=0)  # a gallery face this close to an opt-out photo goes
    feedback_contact: str = "the oversight office"  # printed in the accountability report: how to give feedback
    ledger_checkpoint_every: int = Field(default=100, ge=1)  # entries between signed checkpoints
    # The Ed25519 key that signs the Merkle checkpoints others verify (services/oversight/transparency.py); None:
    # ledger-signing.ed25519 in the keys folder. Refused inside the data directory or readable by others.
    ledger_signing_key: Path | None = None
    ledger_origin: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[^\s+]+$")
    # Opt-out matches shown to a curator for deletion: the largest calibrated distance whose measured
    # false-match rate is at most this (1e-5: 0.42 for dlib on LFW, 54 of 5,752,373 impostor pairs).
    # `optout_threshold` stays the looser distance the blocklist keeps out of ingests and results.
    optout_max_false_match_rate: float = Field(default=1e-5, gt=0, le=1e-4)

    # --- video probes: checked before any frame is decoded
    video_max_bytes: int = Field(default=500 * 1024 * 1024, gt=0)
    video_max_seconds: float = Field(default=600.0, gt=0)
    video_max_frame_pixels: int = Field(default=3840 * 2160, gt=0)
    video_max_samples: int = Field(default=2000, ge=1)
    # Faces in footage are small: look harder (HOG on the frame at 4x) and embed faces from 24 px, so that
    # they can be tracked; the quality gate still refuses to search a poor one without an override.
    video_hog_upsample: int = Field(default=2, ge=0, le=3)
    video_min_embed_face_px: int = Field(default=24, ge=1)
    # A step-one upload (a probe or video waiting for its face or track to be chosen) is kept no longer.
    staged_upload_ttl_s: float = Field(default=15 * 60, gt=0, le=24 * 3600)

    # --- accounts and sign-in (H5, H6, M10)
    # Enrolment codes for new or reset accounts are written here, one 0600 file per user, for an operator to
    # hand over out of band; None: the sibling folder `<data dir>.outbox` (never inside the data directory).
    outbox_dir: Path | None = None
    enrolment_code_hours: int = Field(default=72, ge=1, le=24 * 30)
    sign_in_max_failures: int = Field(default=5, ge=1)  # per account within the window, then a lockout
    sign_in_max_failures_per_source: int = Field(default=20, ge=1)  # per client address within the window
    sign_in_window_s: int = Field(default=900, ge=1)
    sign_in_lockout_s: int = Field(default=900, ge=1)
    # `audit anomalies` flags accounts doing casework this soon after the same admins made them.
    anomaly_new_account_days: int = Field(default=30, ge=0)
    authority_max_days: int = Field(default=366, ge=1)  # the longest grant (the pilot's was 6 months)
    authority_max_backdate_days: int = Field(default=7, ge=0)  # how far in the past a grant may start

    # --- parallelism
    workers: int = Field(default_factory=_default_workers, ge=1)

    # --- bounded work: every probe analysis costs a bounded number of pixels, seconds and bytes
    # The MMOD CNN costs ~8.7 s and ~1 GB per megapixel on this 2-core machine (0.25 MP: 2.0 s, 0.36 GB;
    # 0.5 MP: 4.2 s, 0.6 GB; 1 MP: 8.7 s, 1.1 GB; 2 MP: 18.8 s, 2.1 GB; a 12 MP image: 139 s, 6.1 GB), so
    # it runs on a copy downscaled to 0.5 MP (~4 s); at upsample 0 it still finds faces of ~200 px in a
    # 12 MP photo, and LFW-sized images (0.06 MP) are not scaled at all.
    cnn_max_pixels: int = Field(default=500_000, ge=10_000)
    # Pixels one HOG pass may scan, upsampling included (~0.1 s per megapixel here): above it upsampling is
    # dropped, then the image is downscaled. 16 MP leaves photos up to 16 MP at their full resolution.
    hog_max_pixels: int = Field(default=16_000_000, ge=10_000)
    analysis_timeout_s: float = Field(default=60.0, gt=0)  # one probe analysis (photo or video), then killed
    # Address space an analysis worker may add to what the loaded engine already maps (RLIMIT_AS).
    analysis_max_memory_bytes: int = Field(default=3 * 1024**3, ge=64 * 1024**2)
    analysis_max_concurrent: int = Field(default=2, ge=1, le=64)  # analyses in flight (one worker process each)
    analysis_queue_wait_s: float = Field(default=5.0, ge=0)  # a request over the bound waits this long, then 503
    # Video: frames are downscaled to this before analysis (720p; box coordinates stay in the original's).
    video_frame_max_pixels: int = Field(default=1280 * 720, ge=10_000)
    # Decoding costs frames x pixels: a black 4K clip decodes at ~2.3 Gpx/s here, real footage several times
    # slower; 10 Gpx is 4K for 40 s or 1080p for 2.7 min at 30 fps. Checked from the stream before decoding.
    video_max_decoded_pixels: int = Field(default=10_000_000_000, ge=1_000_000)
    # HOG pixels scanned over all sampled frames (frames x pixels x 4^upsample; ~0.1 s per megapixel):
    # upsampling is lowered to fit, and a video that does not fit even without it is refused.
    video_max_analysis_pixels: int = Field(default=200_000_000, ge=1_000_000)
    # The CNN fallback on every faceless frame would cost ~4 s a frame; tracks come from HOG at 4x.
    video_cnn_fallback: bool = False

    # --- the ONNX pipelines (sface, fused): YuNet and SFace on onnxruntime, see engine/yunet.py, sface.py
    # CUDA when onnxruntime-gpu offers it (auto); cpu forces the CPU; cuda refuses to run without it.
    onnx_provider: OnnxProvider = OnnxProvider.AUTO
    # Threads per onnxruntime session: 1, because the worker pool already puts a process on every core.
    onnx_threads: int = Field(default=1, ge=1, le=64)
    # On the 15 sample photos (at 2 MP) true faces score 0.63-0.95 and the two false faces (cables, a
    # window) 0.62 and 0.64: 0.65 finds 11 of the ISS group photo's 13 (0.6: 12 and both false faces;
    # OpenCV's demo uses 0.9: 5) and no false face; in the sample video all five people score >= 0.81.
    yunet_min_score: float = Field(default=0.65, ge=0.0, le=1.0)
    yunet_nms_iou: float = Field(default=0.3, gt=0.0, le=1.0)  # OpenCV FaceDetectorYN's default
    # YuNet finds faces of ~10-300 px; at 2 MP the ISS group photo's small faces are kept (1 MP loses two)
    # and a 12 MP photo takes ~0.2 s; larger images run on a copy scaled to this.
    yunet_max_pixels: int = Field(default=2_000_000, ge=10_000)
    # Average SFace's vector with the mirrored chip's: +0.1 pt on LFW View 2 (99.40 -> 99.50%); on 600 View 1
    # training pairs equal accuracy (99.67%) and a wider same/different separation (d' 5.08 -> 5.18),
    # bench/sface_flip_view1.py. It doubles SFace's cost per face.
    sface_flip: bool = True
    # YuNet's confidence on true faces in the samples is >= 0.63, most >= 0.9.
    quality_min_yunet_score: float = Field(default=0.7, ge=0.0, le=1.0)

    # --- the operator-supplied model slot (faceledger models add; engine/operator_model.py)
    # The added model the operator pipeline embeds with (FACELEDGER_OPERATOR_MODEL=NAME).
    operator_model: str | None = None
    # Where the added models' files are; the deployment sets it to DATA_DIR/operator_models.
    operator_model_dir: Path | None = None
    # Weights licensed for non-commercial use only are refused unless the deployment says otherwise.
    allow_non_commercial_models: bool = False
    # ArcFace R100 (ONNX, fp32) is ~250 MB; twice that leaves room for larger backbones, bounds the load.
    operator_model_max_bytes: int = Field(default=512 * 1024**2, gt=0)

    @model_validator(mode="after")
    def _check_ranges(self) -> Settings:
        if self.quality_good_face_px <= self.quality_min_face_px:
            raise ValueError("quality_good_face_px must be greater than quality_min_face_px")
        if self.quality_max_brightness <= self.quality_min_brightness:
            raise ValueError("quality_max_brightness must be greater than quality_min_brightness")
        return self
