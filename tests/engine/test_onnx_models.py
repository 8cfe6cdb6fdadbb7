"""The ONNX models' files, hashes and graph preparation, the YuNet decoding and the five-point alignment:
pure checks that need no face data."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from faceledger.engine import onnx_models, sface
from faceledger.engine.onnx_models import SFACE, YUNET, model_path, prepared_graph, verified_bytes
from faceledger.engine.yunet import decode, nms
from faceledger.errors import EngineUnavailable
from faceledger.types import OnnxProvider


def test_model_files_are_found_in_the_wheel_and_carry_their_pinned_hash() -> None:
    for model in (YUNET, SFACE):
        path = model_path(model)
        assert path.name == model.filename and path.is_file()
        assert len(verified_bytes(model)) == path.stat().st_size
        assert model.identity().weights_sha256 == model.sha256
    assert SFACE.identity().key.startswith("opencv_zoo_sface_2021dec@int8bq#fb143eea0783")


def test_a_tampered_copy_is_refused_naming_file_and_both_hashes(tmp_path: Path) -> None:
    copy = tmp_path / YUNET.filename
    shutil.copyfile(model_path(YUNET), copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(EngineUnavailable) as refused:
        verified_bytes(YUNET, copy)
    message = str(refused.value)
    assert str(copy) in message and YUNET.sha256 in message
    assert "actual " in message and message.rsplit("actual ", 1)[1] != YUNET.sha256


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match="cannot read"):
        verified_bytes(SFACE, tmp_path / "absent.onnx")


def test_prepared_graphs_keep_one_input_and_no_quantised_weights() -> None:
    for model in (YUNET, SFACE):
        graph = prepared_graph(verified_bytes(model), dynamic_batch=model is SFACE, dynamic_size=model is YUNET)
        assert [i.name for i in graph.graph.input] == (["input"] if model is YUNET else ["data"])
        assert not [n for n in graph.graph.node if n.op_type == "DequantizeLinear"]


def test_blockwise_dequantisation_matches_the_onnx_definition() -> None:
    quantised = np.arange(-6, 6, dtype=np.int8).reshape(2, 6)
    scale = np.array([[0.5, 2.0], [1.0, 3.0]], dtype=np.float32)  # blocks of 3 along axis 1
    zero = np.array([[1, 0], [0, -1]], dtype=np.int8)
    expected = np.array([[-3.5, -3, -2.5, -6, -4, -2], [0, 1, 2, 12, 15, 18]], dtype=np.float32)
    assert np.array_equal(onnx_models._blockwise(quantised, scale, zero, axis=1, block_size=3), expected)
    per_tensor = onnx_models._blockwise(quantised, np.array([2.0], np.float32), np.array([0], np.int8), 0, 64)
    assert np.array_equal(per_tensor, quantised.astype(np.float32) * 2)


def test_cpu_is_used_unless_cuda_is_offered() -> None:
    import onnxruntime as ort

    chosen = onnx_models.providers(OnnxProvider.AUTO)
    assert chosen[-1] == "CPUExecutionProvider"
    assert onnx_models.providers(OnnxProvider.CPU) == ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(EngineUnavailable, match="onnxruntime-gpu"):
            onnx_models.providers(OnnxProvider.CUDA)


def test_sface_graph_accepts_a_batch() -> None:
    session = onnx_models.load_session(SFACE, OnnxProvider.CPU, 1, dynamic_batch=True)
    rng = np.random.default_rng(0)
    batch = rng.uniform(0, 255, (3, 3, 112, 112)).astype(np.float32)
    together = session.run(None, {"data": batch})[0]
    alone = session.run(None, {"data": batch[1:2]})[0]
    assert together.shape == (3, 128)
    assert np.allclose(together[1], alone[0], atol=1e-4)


def test_alignment_maps_the_template_onto_itself() -> None:
    matrix = sface.similarity_transform(sface.TEMPLATE)
    assert np.allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-9)


def test_alignment_undoes_a_rotation_scale_and_shift() -> None:
    angle, scale, shift = math.radians(25), 2.7, np.array([140.0, -30.0])
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    moved = sface.TEMPLATE @ (scale * rotation).T + shift
    matrix = sface.similarity_transform(moved)
    assert np.allclose(sface.apply_transform(matrix, moved), sface.TEMPLATE, atol=1e-9)
    assert math.isclose(np.linalg.det(matrix[:, :2]), 1 / scale**2, rel_tol=1e-9)


def test_warp_reads_the_image_through_the_inverse_transform() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    shift = np.array([[1.0, 0, -40], [0, 1.0, -25]])  # chip (x, y) = image (x + 40, y + 25)
    chip = sface.warp_affine(image, shift, 112)
    assert np.array_equal(chip, image[25:137, 40:152])
    outside = sface.warp_affine(image, np.array([[1.0, 0, 500], [0, 1.0, 500]]), 112)
    assert not outside.any()  # black beyond the image


def _outputs(height: int, width: int) -> dict[str, np.ndarray]:
    outputs = {}
    for stride in (8, 16, 32):
        cells = (height // stride) * (width // stride)
        outputs |= {
            f"cls_{stride}": np.zeros((1, cells, 1)),
            f"obj_{stride}": np.zeros((1, cells, 1)),
            f"bbox_{stride}": np.zeros((1, cells, 4)),
            f"kps_{stride}": np.zeros((1, cells, 10)),
        }
    return outputs


def test_yunet_decoding_places_boxes_and_points_on_the_grid() -> None:
    outputs = _outputs(64, 96)  # stride 16: 4 rows x 6 columns
    cell = 2 * 6 + 3  # row 2, column 3
    outputs["cls_16"][0, cell, 0], outputs["obj_16"][0, cell, 0] = 0.81, 1.0
    outputs["bbox_16"][0, cell] = [0.5, 0.25, math.log(2), math.log(3)]
    outputs["kps_16"][0, cell] = [0, 0, 1, 0, 0.5, 0.5, 0, 1, 1, 1]
    boxes, scores, points = decode(outputs, 64, 96, min_score=0.5)
    assert np.allclose(scores, [0.9])  # sqrt(cls * obj)
    cx, cy = (3 + 0.5) * 16, (2 + 0.25) * 16
    assert np.allclose(boxes[0], [cx - 16, cy - 24, cx + 16, cy + 24])
    assert np.allclose(points[0][0], [48, 32]) and np.allclose(points[0][4], [64, 48])
    assert decode(outputs, 64, 96, min_score=0.95)[0].shape == (0, 4)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=np.float64)
    assert nms(boxes, np.array([0.8, 0.9, 0.7]), 0.3) == [1, 2]
    assert nms(boxes, np.array([0.8, 0.9, 0.7]), 0.9) == [1, 0, 2]


def test_graphs_have_the_opset_onnxruntime_runs() -> None:
    graph = onnx.load_from_string(verified_bytes(SFACE))
    assert graph.opset_import[0].version >= 11


def test_licence_notices_ship_with_the_package() -> None:
    from faceledger.engine.licences import licence_text

    assert "Apache License" in licence_text("APACHE-2.0.txt") and "Version 2.0" in licence_text("APACHE-2.0.txt")
    yunet, sface_notice = licence_text(YUNET.notice_file), licence_text(SFACE.notice_file)
    assert "MIT License" in yunet and "Shiqi Yu" in yunet and YUNET.sha256 in yunet
    assert "Apache License, Version 2.0" in sface_notice and SFACE.sha256 in sface_notice


def test_worker_engines_share_the_loaded_models_across_settings() -> None:
    from faceledger.config import Settings
    from faceledger.engine.sandbox import worker_engine
    from faceledger.types import Pipeline

    fused = worker_engine(Settings(pipeline=Pipeline.FUSED))
    plain = worker_engine(Settings(pipeline=Pipeline.FUSED, sface_flip=False))
    sface_only = worker_engine(Settings(pipeline=Pipeline.SFACE))
    assert fused.onnx is plain.onnx is sface_only.onnx and fused.runtime is plain.runtime
    assert [m.name for m in plain.models] == ["opencv_zoo_sface_2021dec", "dlib_face_recognition_resnet_model_v1"]
    assert [m.name for m in sface_only.models] == ["opencv_zoo_sface_2021dec"]
    assert sface_only.detector_model is not None and sface_only.detector_model.name == "opencv_zoo_yunet_2023mar"
