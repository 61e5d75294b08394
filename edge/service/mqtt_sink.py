"""MQTT publishing for fleets and Home Assistant (optional extra ``mqtt``: paho-mqtt).

Topic tree, with ``<base> = <topic_prefix>/<device_id>`` (default ``agegender/<hostname>``):

- ``<base>/availability``  ``online`` / ``offline``, retained; ``offline`` is also the last will,
  so the broker announces a crash or a lost network.
- ``<base>/events``        one JSON object per track: ``{"type": "appeared", "track_id", "time",
  "age", "age_group", "gender", "device"}``; ``"left"`` adds ``dwell_s`` and ``frames``.
- ``<base>/stats``         one JSON object per window (retained): ``{"device", "window_start",
  "window_end", "window_s", "visitors", "by_age_group", "by_gender", "by_group_gender", "present",
  "fps", "frames_processed", "frames_dropped", "mqtt_dropped"}``; times are unix seconds.
- ``<ha_prefix>/sensor/agegender_<device>/<name>/config`` Home Assistant discovery (retained) for
  the window counts, with ``ha_discovery = true``.

Nothing here touches the network on the pipeline's thread: :meth:`MqttSink.write` updates the
track book and appends to a bounded queue (the oldest message is dropped and counted when full).
A publisher thread sends while connected; paho's network thread reconnects with exponential
backoff, so a broker outage never stalls the pipeline.
"""
from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Optional, Sequence

from edge.service.config import ConfigSection, in_range
from edge.errors import BackendUnavailable, ConfigError
from edge.service.live_stats import TrackBook, TrackEvent

log = logging.getLogger(__name__)

PASSWORD_ENV = "AGEGENDER_MQTT_PASSWORD"
_TOPIC_BAD = re.compile(r"[#+\x00]")


def _topic_part(v: Any) -> Optional[str]:
    if _TOPIC_BAD.search(v) or v.startswith("/") or v.endswith("/"):
        return "must not contain # or + or start/end with /"
    return None


@dataclass
class MqttConfig(ConfigSection):
    """MQTT: per-window counts, per-track events and availability for fleets and Home Assistant."""

    SECTION: ClassVar[str] = "mqtt"

    enabled: bool = field(default=False, metadata={"help": "publish to the broker below (needs the 'mqtt' extra)"})
    host: str = field(default="localhost", metadata={"help": "broker host name or address"})
    port: int = field(default=1883, metadata={"check": in_range(1, 65535), "help": "broker port (TLS usually 8883)"})
    tls: bool = field(default=False, metadata={"help": "connect with TLS"})
    ca_certs: Optional[str] = field(default=None, metadata={"help": "CA bundle for TLS (default: the system's)"})
    username: Optional[str] = field(default=None, metadata={"help": "broker user name"})
    password: Optional[str] = field(default=None, metadata={
        "help": f"broker password; prefer ${PASSWORD_ENV} to keeping it here"})
    topic_prefix: str = field(default="agegender", metadata={
        "check": _topic_part, "help": "topics are <topic_prefix>/<device_id>/..."})
    device_id: str = field(default="", metadata={"check": _topic_part, "help": "device name in topics (default: host name)"})
    client_id: str = field(default="", metadata={"help": "MQTT client id (default: agegender-<device_id>)"})
    qos: int = field(default=0, metadata={"check": in_range(0, 2), "help": "QoS of events and stats"})
    window_s: int = field(default=60, metadata={"check": in_range(1), "help": "seconds per published window"})
    events: bool = field(default=True, metadata={"help": "publish a message when a person appears and leaves"})
    ha_discovery: bool = field(default=False, metadata={"help": "publish Home Assistant MQTT discovery for the counts"})
    ha_prefix: str = field(default="homeassistant", metadata={"check": _topic_part, "help": "HA discovery prefix"})
    keepalive: int = field(default=30, metadata={"check": in_range(5), "help": "MQTT keep-alive, seconds"})
    queue_size: int = field(default=1000, metadata={
        "check": in_range(1), "help": "messages kept while the broker is away (oldest dropped first)"})
    leave_after_s: float = field(default=3.0, metadata={"check": in_range(0), "help": "a track unseen this long has left"})
    reconnect_max_s: int = field(default=60, metadata={"check": in_range(1), "help": "longest wait between reconnects"})

    @property
    def device(self) -> str:
        return self.device_id or re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "device"

    @property
    def base_topic(self) -> str:
        return f"{self.topic_prefix}/{self.device}"


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    retain: bool = False


def window_payload(device: str, book: TrackBook, start: float, window_s: float, extra: dict) -> dict[str, Any]:
    c = book.counts(window_s, now=start + window_s, since=start)
    return {"device": device, "window_start": int(start), "window_end": int(start + window_s),
            "window_s": int(window_s), "visitors": c.visitors, "by_age_group": c.by_age_group,
            "by_gender": c.by_gender, "by_group_gender": c.by_group_gender, **extra}


def discovery_messages(cfg: MqttConfig, age_groups: Sequence[str], version: str = "") -> list[Message]:
    """Home Assistant MQTT discovery: one sensor per count, all reading ``<base>/stats``."""
    node = re.sub(r"[^A-Za-z0-9_-]", "_", f"agegender_{cfg.device}")
    device = {"identifiers": [node], "name": f"agegender {cfg.device}", "manufacturer": "agegender",
              "model": "face age & gender counter", **({"sw_version": version} if version else {})}
    sensors = [("visitors", "Visitors", "{{ value_json.visitors }}"),
               ("present", "People in view", "{{ value_json.present }}")]
    sensors += [(f"gender_{g}", f"Visitors {g}", f"{{{{ value_json.by_gender['{g}'] | default(0) }}}}")
                for g in ("female", "male", "undetermined")]
    sensors += [(f"age_{re.sub(r'[^0-9a-z]', '_', g)}", f"Visitors aged {g}",
                 f"{{{{ value_json.by_age_group['{g}'] | default(0) }}}}") for g in age_groups]
    out = []
    for key, name, template in sensors:
        payload = {"name": name, "unique_id": f"{node}_{key}", "state_topic": f"{cfg.base_topic}/stats",
                   "value_template": template, "unit_of_measurement": "people", "state_class": "measurement",
                   "availability_topic": f"{cfg.base_topic}/availability", "payload_available": "online",
                   "payload_not_available": "offline", "device": device}
        out.append(Message(f"{cfg.ha_prefix}/sensor/{node}/{key}/config", json.dumps(payload), retain=True))
    return out


class MqttSink:
    """Pipeline sink that publishes to an MQTT broker without ever blocking the pipeline."""

    needs_image = False

    def __init__(self, config: MqttConfig, metrics: Any = None, age_groups: Sequence[str] = (),
                 clock: Callable[[], float] = time.time):
        try:
            import paho.mqtt.client as mqtt
        except ImportError as e:
            raise BackendUnavailable("MQTT needs paho-mqtt: pip install 'agegender[mqtt]' "
                                     "(or pip install paho-mqtt)") from e
        if config.tls and config.ca_certs and not os.path.isfile(config.ca_certs):
            raise ConfigError(f"mqtt.ca_certs: {config.ca_certs} does not exist")
        self.config, self.metrics, self.age_groups, self.clock = config, metrics, tuple(age_groups), clock
        self.book = TrackBook(windows=(config.window_s,), leave_after_s=config.leave_after_s, age_groups=age_groups,
                              clock=clock)
        self.dropped = 0
        self.published = 0
        self._queue: deque = deque()
        self._qlock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._was_connected = False
        self._fail_logged = False
        self._mqtt = mqtt
        self.client = self._make_client(mqtt)
        self._window_start = self._window_floor(clock())
        self.client.connect_async(config.host, config.port, keepalive=config.keepalive)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._publisher, name="mqtt", daemon=True)
        self._thread.start()
        log.info("mqtt: publishing to %s:%d under %s/", config.host, config.port, config.base_topic)

    # ---------------------------------------------------------------- client
    def _make_client(self, mqtt: Any) -> Any:
        cfg = self.config
        client_id = cfg.client_id or f"agegender-{cfg.device}"
        if hasattr(mqtt, "CallbackAPIVersion"):        # paho-mqtt 2.x
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        else:                                          # paho-mqtt 1.x (e.g. Debian bookworm's python3-paho-mqtt)
            client = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv311)
        password = cfg.password if cfg.password is not None else os.environ.get(PASSWORD_ENV)
        if cfg.username:
            client.username_pw_set(cfg.username, password)
        if cfg.tls:
            client.tls_set(ca_certs=cfg.ca_certs)
        client.will_set(f"{cfg.base_topic}/availability", "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=cfg.reconnect_max_s)
        client.max_queued_messages_set(cfg.queue_size)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        return client

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any = None) -> None:
        code = int(getattr(reason_code, "value", reason_code) or 0)
        if code != 0:
            log.warning("mqtt: broker %s:%d refused the connection (%s)", self.config.host, self.config.port,
                        reason_code)
            return
        client.publish(f"{self.config.base_topic}/availability", "online", qos=1, retain=True)
        if self.config.ha_discovery:
            from edge import __version__

            for m in discovery_messages(self.config, self.age_groups, __version__):
                client.publish(m.topic, m.payload, qos=1, retain=True)
        log.info("mqtt: connected to %s:%d%s", self.config.host, self.config.port,
                 " again" if self._was_connected else "")
        self._was_connected = True
        self._fail_logged = False
        self._connected.set()
        self._wake.set()

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        if not self._fail_logged:
            log.warning("mqtt: cannot reach the broker %s:%d; retrying with backoff (up to %d s)",
                        self.config.host, self.config.port, self.config.reconnect_max_s)
            self._fail_logged = True

    def _on_disconnect(self, client: Any, userdata: Any, *args: Any) -> None:
        if self._connected.is_set() and not self._stop.is_set():
            log.warning("mqtt: lost the broker %s:%d; reconnecting with backoff (up to %d s), messages are queued",
                        self.config.host, self.config.port, self.config.reconnect_max_s)
        self._connected.clear()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # ---------------------------------------------------------------- queue
    def _enqueue(self, message: Message) -> None:
        with self._qlock:
            if len(self._queue) >= self.config.queue_size:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(message)
        self._wake.set()

    def _event_messages(self, events: Sequence[TrackEvent]) -> None:
        if not self.config.events:
            return
        for ev in events:
            self._enqueue(Message(f"{self.config.base_topic}/events",
                                  json.dumps({**ev.to_json(), "device": self.config.device})))

    # ---------------------------------------------------------------- Sink
    def write(self, result: Any) -> None:
        self._event_messages(self.book.update(result.faces))

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        if self._connected.is_set():
            info = self.client.publish(f"{self.config.base_topic}/availability", "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
        if self.dropped:
            log.warning("mqtt: %d message(s) dropped while the broker was unreachable", self.dropped)

    # ---------------------------------------------------------------- publisher thread
    def _window_floor(self, t: float) -> float:
        w = self.config.window_s
        return (t // w) * w

    def _close_windows(self, now: float) -> None:
        w = self.config.window_s
        while now >= self._window_start + w:
            extra = {"present": self.book.present(), "mqtt_dropped": self.dropped}
            if self.metrics is not None:
                snap = self.metrics.snapshot()
                extra.update(fps=snap["processed_fps"], frames_processed=snap["frames_processed"],
                             frames_dropped=snap["frames_dropped"])
            payload = window_payload(self.config.device, self.book, self._window_start, w, extra)
            self._enqueue(Message(f"{self.config.base_topic}/stats", json.dumps(payload), retain=True))
            self._window_start += w

    def _drain(self) -> None:
        mqtt = self._mqtt
        while self._connected.is_set():
            with self._qlock:
                if not self._queue:
                    return
                m = self._queue.popleft()
            info = self.client.publish(m.topic, m.payload, qos=self.config.qos, retain=m.retain)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                self.published += 1
            elif info.rc == mqtt.MQTT_ERR_NO_CONN and self.config.qos == 0:
                with self._qlock:                 # not sent: keep it for the next connection
                    self._queue.appendleft(m)
                return
            elif info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                with self._qlock:
                    self.dropped += 1
            else:                                 # QoS 1/2 without a connection: paho resends it later
                self.published += 1

    def _publisher(self) -> None:
        while True:
            stopping = self._stop.is_set()
            now = self.clock()
            self._event_messages(self.book.expire(now))
            self._close_windows(now)
            self._drain()
            if stopping:
                return
            self._wake.wait(timeout=0.25)
            self._wake.clear()
