# agegender: the two commands a fresh machine needs are `make demo` and `make test`.
PYTHON ?= python3
SHARED ?= $(abspath ../shared)
DEMO_VENV := .venv-demo
TEST_VENV := .venv
PIP_FLAGS ?= -q --disable-pip-version-check

.PHONY: demo test bench arm64 clean help

help:
	@echo "make demo   - device install (TFLite runtime, no TensorFlow) and the pipeline on the built-in demo clip"
	@echo "make test   - install everything for tests (TensorFlow included) and run them"
	@echo "make bench  - quick latency + pipeline benchmark (under 2 minutes)"
	@echo "make arm64  - the device install and the demo on emulated aarch64 (Debian bookworm, trixie), against x86"

$(DEMO_VENV)/.installed: setup.py
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(DEMO_VENV)/bin/pip install $(PIP_FLAGS) -e ".[tflite]"
	touch $@

demo: $(DEMO_VENV)/.installed
	$(DEMO_VENV)/bin/agegender run demo --display none --json --max-frames 90

$(TEST_VENV)/.installed: setup.py
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(TEST_VENV)/bin/pip install $(PIP_FLAGS) -e ".[tflite,onnx,train,export,test,ui,mqtt]"
	touch $@

test: $(TEST_VENV)/.installed
	AGEGENDER_SHARED="$${AGEGENDER_SHARED:-$(if $(wildcard $(SHARED)),$(SHARED),)}" \
	  $(TEST_VENV)/bin/python -m pytest -q tests

bench: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/agegender bench latency --quick --out benchmarks/results/quick
	$(TEST_VENV)/bin/agegender bench pipeline --quick --out benchmarks/results/quick

# needs root, QEMU user-mode emulation and debootstrap (installed when missing); skipped with one line where the
# aarch64 binfmt handler cannot be registered. Root filesystems are cached in ~/.cache/agegender/arm64.
arm64: $(DEMO_VENV)/.installed
	AGEGENDER_HOST_PYTHON=$(DEMO_VENV)/bin/python tests/arm64/lane.sh $(ARM64_SUITES)

clean:
	rm -rf $(DEMO_VENV) $(TEST_VENV) build *.egg-info
