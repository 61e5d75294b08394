"""An exponential moving average of the model's weights (Polyak averaging), kept in numpy.

Updated every ``every`` steps with the decay raised to that power, so its cost stays small on a
CPU; the decay warms up as ``min(decay, (1 + n) / (10 + n))`` over the first updates, so a short
run is not dominated by its random initial heads. Validation, ``best.keras`` and therefore the
exports use the averaged weights; the checkpoint keeps both, so ``--resume`` continues it.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

log = logging.getLogger(__name__)


def effective_decay(decay: float, updates: int) -> float:
    return min(decay, (1.0 + updates) / (10.0 + updates))


class WeightAverage:
    """The averaged copy of ``model.get_weights()`` and the number of updates behind it."""

    def __init__(self, model, decay: float, every: int = 4):
        self.model, self.decay, self.every = model, decay, every
        self.shadow: list[np.ndarray] = [np.array(w, np.float32) for w in model.get_weights()]
        self.updates = 0

    def update(self) -> None:
        d = effective_decay(self.decay, self.updates) ** self.every
        for s, w in zip(self.shadow, self.model.get_weights()):
            s *= d
            s += (1.0 - d) * w
        self.updates += 1

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The averaged weights in the model for the duration of the block."""
        raw = self.model.get_weights()
        self.model.set_weights(self.shadow)
        try:
            yield
        finally:
            self.model.set_weights(raw)

    def save(self, path: Path) -> None:
        np.savez(path, updates=np.int64(self.updates), *self.shadow)

    def load(self, path: Path) -> bool:
        if not path.is_file():
            return False
        saved = np.load(path)
        arrays = [saved[f"arr_{i}"] for i in range(len(saved.files) - 1)]
        if len(arrays) != len(self.shadow) or any(a.shape != s.shape for a, s in zip(arrays, self.shadow)):
            log.warning("weight average in %s does not match the model; starting a new one", path)
            return False
        self.shadow = [a.astype(np.float32) for a in arrays]
        self.updates = int(saved["updates"])
        return True


def make_callback(average: Optional[WeightAverage]):
    """A Keras callback that updates ``average`` during training and validates on it."""
    import keras

    class AverageCallback(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if average is not None and (batch + 1) % average.every == 0:
                average.update()

        def on_test_begin(self, logs=None):
            if average is not None:
                self._raw = average.model.get_weights()
                average.model.set_weights(average.shadow)

        def on_test_end(self, logs=None):
            if average is not None:
                average.model.set_weights(self._raw)
                self._raw = None

    return AverageCallback()
