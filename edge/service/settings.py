"""The typed settings of one `agegender run` (and `serve`, `kiosk`): what the command line and the
config file's ``[run]`` section decide, plus the loaded config file for its other sections.

The CLI builds one with :meth:`RunSettings.from_options` from its parsed options; a program using
the runtime as a library builds one directly. Nothing below edge/ sees argparse."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from edge.live import defaults as live_defaults
from edge.service.config import AppConfig


@dataclass
class RunSettings:
    # source
    source: Optional[str] = None        # None: camera 0 if it opens, else the demo clip
    loop: bool = False
    realtime: bool = False
    width: int = 0
    height: int = 0
    fps: float = 0.0
    demo_frames: int = 0
    # pipeline
    max_frames: int = 0
    duration: float = 0.0
    race: bool = False
    smoothing: float = 0.3
    skip_frames: int = 0
    detect_every: int = live_defaults.DETECT_EVERY
    blur_faces: bool = False
    # the age check (edge/age_gate.py): 0 = off
    age_gate: float = 0.0
    legal_age: int = 18
    gate_risk: Optional[float] = None
    gate_looks: int = live_defaults.GATE_LOOKS
    gate_min_face: float = live_defaults.GATE_MIN_FACE
    gate_max_yaw: float = live_defaults.GATE_MAX_YAW
    gate_min_sharpness: float = live_defaults.GATE_MIN_SHARPNESS
    # outputs
    json: Optional[str] = None          # "-": stdout
    display: str = "none"
    fullscreen: bool = False
    save_video: Optional[str] = None
    stats_json: Optional[str] = None
    # dashboard and kiosk
    http: Optional[str] = None
    http_bind_any: bool = False
    http_token: Optional[str] = None
    serve: bool = False                 # `agegender serve`: the dashboard on by default
    kiosk_mode: Optional[str] = None    # `agegender kiosk`: window | browser
    screenshot: Optional[str] = None
    browser: Optional[str] = None
    browser_flags: list[str] = field(default_factory=list)
    # deployment
    analytics_db: Optional[str] = None
    app: AppConfig = field(default_factory=AppConfig)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], app: Optional[AppConfig] = None) -> "RunSettings":
        """From a mapping of option names (e.g. ``vars()`` of parsed arguments); other keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)} - {"app"}
        values = {k: v for k, v in options.items() if k in names and v is not None}
        if "browser_flags" in values:
            values["browser_flags"] = list(values["browser_flags"])
        return cls(**values, app=app or AppConfig())

    def gate_settings(self):
        """The age check's settings (``edge.age_gate.GateSettings``), or None when ``age_gate`` is 0."""
        if not self.age_gate:
            return None
        from edge.age_gate import GateSettings

        return GateSettings(self.age_gate, self.legal_age, self.gate_risk, self.gate_looks, self.gate_min_face,
                            self.gate_max_yaw, self.gate_min_sharpness)
