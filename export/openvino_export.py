"""ONNX -> OpenVINO IR (optional: needs the 'openvino' extra)."""
from __future__ import annotations

from pathlib import Path

from edge.contract import METADATA_KEY, ModelContract
from edge.errors import BackendUnavailable


def convert(onnx_path: Path, out_xml: Path, contract: ModelContract) -> Path:
    try:
        import openvino as ov
    except ImportError as e:
        raise BackendUnavailable("OpenVINO export needs the openvino package: pip install 'agegender[openvino]'") from e
    model = ov.convert_model(str(onnx_path))
    model.set_rt_info(contract.to_json(), [METADATA_KEY])
    ov.save_model(model, str(out_xml), compress_to_fp16=False)
    return out_xml
