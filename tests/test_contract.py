import json

import pytest

from edge.contract import SCHEMA_VERSION, ModelContract, contract_path_for, load_contract_beside
from edge.errors import ContractError


def test_round_trip_json(tmp_path):
    c = ModelContract(name="m", input_size=112, licence="x", provenance={"a": 1})
    back = ModelContract.from_json(c.to_json())
    assert back == c
    model = tmp_path / "m_int8.tflite"
    model.write_bytes(b"x")
    path = c.save_beside(model)
    assert path == tmp_path / "m_int8.tflite.json" == contract_path_for(model)
    assert load_contract_beside(model) == c


def test_missing_contract_is_none(tmp_path):
    assert load_contract_beside(tmp_path / "nothing.tflite") is None


def test_unknown_key_and_version_are_refused():
    d = ModelContract().to_dict()
    d["colour"] = "RGB"
    with pytest.raises(ContractError, match="unknown contract key"):
        ModelContract.from_dict(d)
    d = ModelContract().to_dict()
    d["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ContractError, match="schema_version"):
        ModelContract.from_dict(d)


def test_bad_json_and_bad_values():
    with pytest.raises(ContractError, match="not valid JSON"):
        ModelContract.from_json("{nope")
    d = ModelContract().to_dict()
    d["color_order"] = "YUV"
    with pytest.raises(ContractError, match="color_order"):
        ModelContract.from_dict(d)


@pytest.mark.parametrize("age,group", [(0, "0-2"), (2.9, "0-2"), (3.4, "0-2"), (3.6, "4-6"), (28, "25-32"),
                                       (35.4, "25-32"), (35.6, "38-43"), (59, "60+"), (85, "60+")])
def test_adience_groups_assign_gaps_to_nearest(age, group):
    assert ModelContract().group_name(age, "adience") == group


def test_decades_and_fairface_bins():
    c = ModelContract()
    assert c.group_name(9.9, "decades") == "0-9"
    assert c.group_name(75, "decades") == "70+"
    assert c.group_name(5, "fairface") == "3-9"
    with pytest.raises(ContractError):
        c.groups("nope")


def test_contract_carries_measured_alignment():
    c = ModelContract()
    yunet = c.alignment_templates["yunet"]
    # eyes level and left of centre / right of centre, mouth below nose: a sane template
    assert yunet["right_eye"][0] < 0.5 < yunet["left_eye"][0]
    assert yunet["nose"][1] < yunet["mouth_left"][1]
    assert set(c.box_crops) >= {"yunet", "haar"}
    json.loads(c.to_json())
