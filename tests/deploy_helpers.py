"""Helpers for the deployment tests (config, service, analytics): a tiny real ONNX age/gender model
built without TensorFlow, so that these tests run in seconds on a device-like install."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def make_tiny_onnx(path: Path, input_size: int = 64, seed: int = 0) -> Path:
    """uint8 NHWC image -> mean colour -> linear -> age_dist (softmax over 0..100) and gender (sigmoid).
    A valid model file with its contract beside it: what edge.vision.model.AgeGenderModel loads."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from edge.contract import ModelContract

    rng = np.random.default_rng(seed)
    w_age = numpy_helper.from_array(rng.normal(0, 0.05, (3, 101)).astype(np.float32), "w_age")
    w_gender = numpy_helper.from_array(rng.normal(0, 0.05, (3, 1)).astype(np.float32), "w_gender")
    nodes = [
        helper.make_node("Cast", ["image"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2], keepdims=0),
        helper.make_node("MatMul", ["m", "w_age"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["age_dist"], axis=1),
        helper.make_node("MatMul", ["m", "w_gender"], ["g"]),
        helper.make_node("Sigmoid", ["g"], ["gender"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_agegender",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", input_size, input_size, 3])],
        [helper.make_tensor_value_info("age_dist", TensorProto.FLOAT, ["N", 101]),
         helper.make_tensor_value_info("gender", TensorProto.FLOAT, ["N", 1])],
        [w_age, w_gender])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    ModelContract(name="tiny-onnx", input_size=input_size, licence="test model").save_beside(path)
    return path
