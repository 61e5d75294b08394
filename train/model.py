"""MobileNetV2 multi-task model: raw uint8-range RGB in, age / age distribution / gender / race out."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def _backbone(input_size: int, alpha: float, weights: str | None):
    import keras

    if weights in (None, "", "none"):
        w = None
    elif weights == "imagenet":
        w = "imagenet"
    else:
        if not Path(weights).is_file():
            from edge.errors import ModelLoadError
            raise ModelLoadError(f"{weights}: backbone weights file not found (use a path, 'imagenet' or 'none')")
        w = str(weights)
    return keras.applications.MobileNetV2(
        input_shape=(input_size, input_size, 3), alpha=alpha, include_top=False, weights=w)


def build_model(input_size: int = 96, alpha: float = 1.0, backbone_weights: str | None = None,
                age_max: int = 100, n_races: int = 5, dropout: float = 0.2, bn_momentum: float = 0.9):
    """Build the multi-task model. Normalisation (x / 127.5 - 1) is the model's first layer,
    so every exported file takes raw RGB in 0..255."""
    import keras
    from keras import layers

    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="normalize")(inputs)
    backbone = _backbone(input_size, alpha, backbone_weights)
    backbone.name = "backbone"
    for layer in backbone.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = bn_momentum
    x = backbone(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    age_logits = layers.Dense(age_max + 1, name="age_logits")(x)
    age_dist = layers.Softmax(name="age_dist")(age_logits)
    # Expected age = sum_a a * p(a): a fixed, bias-free Dense, so loading needs no custom layer.
    age = layers.Dense(1, use_bias=False, trainable=False, name="age")(age_dist)
    gender = layers.Dense(1, activation="sigmoid", name="gender")(x)
    race = layers.Dense(n_races, activation="softmax", name="race")(x)
    model = keras.Model(inputs, {"age": age, "age_dist": age_dist, "gender": gender, "race": race},
                        name="agegender")
    model.get_layer("age").set_weights([np.arange(age_max + 1, dtype=np.float32)[:, None]])
    return model


def float_tail_view(model):
    """The same network ending at its logits (age, gender, race), for a "float tail" export: the
    runtime applies softmax, sigmoid and the expected age in float32 (``edge.vision.model.from_logits``)."""
    import keras
    from keras import layers

    features = model.get_layer("dropout").output
    outputs = {"age_logits": model.get_layer("age_logits").output}
    for name, out_name in (("gender", "gender_logit"), ("race", "race_logits")):
        head = model.get_layer(name)
        linear = layers.Dense(head.units, name=out_name)
        outputs[out_name] = linear(features)
        linear.set_weights(head.get_weights())
    return keras.Model(model.input, outputs, name="agegender_float_tail")


def training_view(model):
    """The same layers without the derived ``age`` output, which has no loss of its own."""
    import keras

    return keras.Model(model.input, {k: v for k, v in model.output.items() if k != "age"}, name="agegender_train")


def set_backbone_trainable(model, trainable: bool, freeze_until: str = "") -> None:
    """Freeze or unfreeze the backbone. With ``freeze_until`` (a backbone layer name), the layers
    up to and including it stay frozen: on a CPU the high-resolution early blocks cost much of the
    backward pass, while their generic edge filters gain little from fine-tuning. The speed and the
    accuracy of each choice are measured in models/RECIPES.md."""
    backbone = model.get_layer("backbone")
    backbone.trainable = trainable
    if not trainable or not freeze_until:
        return
    names = [layer.name for layer in backbone.layers]
    if freeze_until not in names:
        from edge.errors import AgeGenderError
        raise AgeGenderError(f"--freeze-until {freeze_until!r} is not a backbone layer (e.g. block_2_add)")
    for layer in backbone.layers[: names.index(freeze_until) + 1]:
        layer.trainable = False


def save_for_inference(model, path: str | Path) -> Path:
    """Save weights and architecture without optimizer state (a clean, uncompiled copy)."""
    import keras

    clean = keras.models.clone_model(model)
    clean.set_weights(model.get_weights())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean.save(path)
    return path


def load_keras_model(path: str | Path):
    import keras

    from edge.errors import ModelLoadError

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: Keras model file not found")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - Keras raises many kinds
        raise ModelLoadError(f"{path}: cannot load Keras model ({type(e).__name__}: {e})") from e
