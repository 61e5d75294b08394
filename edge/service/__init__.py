"""The unattended service around a pipeline: the TOML config, the web dashboard with Prometheus
metrics, MQTT, privacy-preserving analytics, the kiosk view, the systemd unit, watchdog and
sd_notify, SIGHUP reload, and the `run` command's wiring (runner).

The top layer: it may import edge.live and edge.vision; nothing imports it back."""
