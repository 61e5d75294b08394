#!/usr/bin/env bash
# The aarch64 lane (`make arm64`, run by .ci/run): the device install and the product on emulated 64-bit ARM,
# in Debian arm64 root filesystems under QEMU user-mode emulation, compared with this x86 machine.
#
#   tests/arm64/lane.sh [SUITE ...]          (default: bookworm trixie)
#
# bookworm is Raspberry Pi OS's base (Python 3.11), trixie the next Debian (Python 3.13); the CPU is a Cortex-A72
# (QEMU_CPU), a Raspberry Pi 4's. In each:
#   - the device install: pip install ".[tflite]" (no TensorFlow);
#   - agegender run demo --max-frames 60;
#   - agegender predict --crops --json on ~100 faces with the FP16 and the INT8 file, compared with the same
#     command on this machine: FP16 |age difference| <= 0.1 y; INT8 within the export agreement bound
#     (p95 <= 1 y, max <= 4 y, gender flips <= 0.5%: tests/arm64/compare.py);
#   - agegender bench latency --quick runs. Times under emulation are never ARM figures: nothing is reported.
# Root filesystems are built once with debootstrap and cached as tarballs in $AGEGENDER_ARM64_CACHE
# (default ~/.cache/agegender/arm64), pip's downloads beside them. Needs root (chroot, mounts), Debian's
# qemu-user-static and debootstrap (installed here when missing) and a binfmt_misc handler for aarch64;
# where the handler cannot be registered the lane is skipped with one line, not failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE=${AGEGENDER_ARM64_CACHE:-$HOME/.cache/agegender/arm64}
MIRROR=${AGEGENDER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
HOST_CA=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
HOST_PY=${AGEGENDER_HOST_PYTHON:-}
SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=(bookworm trixie)
packages() {  # the base packages of a suite (trixie renamed libglib in the 64-bit time_t transition)
  local glib=libglib2.0-0
  [ "$1" = bookworm ] || glib=libglib2.0-0t64
  echo "python3,python3-venv,python3-pip,ca-certificates,$glib"
}

skip() { echo "arm64 lane: skipped: $*"; exit 0; }
say() { echo "arm64 lane: $*"; }

[ "$(id -u)" = 0 ] || skip "needs root (chroot and mounts); run it as root or in CI"
if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null; then
  command -v apt-get >/dev/null || skip "no qemu-user-static/debootstrap and no apt-get to install them"
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq qemu-user-static debootstrap binfmt-support \
    >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive timeout 900 \
    apt-get install -y -qq qemu-user-static debootstrap binfmt-support >/dev/null 2>&1; } \
    || skip "could not install qemu-user-static and debootstrap"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
    || skip "cannot mount binfmt_misc (no CAP_SYS_ADMIN in this container)"
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || skip "cannot register QEMU's aarch64 binfmt handler"
fi
grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
  || skip "the aarch64 binfmt handler lacks the F flag, so it cannot run inside a chroot"

# the host side: a device install on this machine to compare with (the demo venv of `make demo` by default)
if [ -z "$HOST_PY" ]; then
  for py in .venv-demo/bin/python .venv/bin/python; do [ -x "$py" ] && HOST_PY=$py && break; done
fi
[ -n "$HOST_PY" ] || { echo "arm64 lane: no host venv (run make demo first)"; exit 1; }

mkdir -p "$CACHE/pip"
WORK=$(mktemp -d)
MOUNTED=()
cleanup() {
  for ((i=${#MOUNTED[@]}-1; i>=0; i--)); do umount -l "${MOUNTED[$i]}" 2>/dev/null || true; done
  # never delete through a mount that is still attached (the chroots bind the host's /dev, /proc and /sys)
  if grep -q " $WORK/" /proc/mounts; then echo "arm64 lane: mounts left under $WORK; not deleting it" >&2
  else rm -rf "$WORK"; fi
}
trap cleanup EXIT

for i in 0 1 2 3; do   # four Cortex-A72 cores, as on a Raspberry Pi 4
  printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n' $i
done > "$WORK/cpuinfo"

# ~100 faces for predict: UTKFace test chips where ../shared is there, else crops of the demo portrait
"$HOST_PY" tests/arm64/faces.py "$WORK/faces" >/dev/null
n_faces=$(ls "$WORK/faces" | wc -l)

# the x86 reference, with the same commands
for model in default-fp16 default; do
  "$HOST_PY" -m agegender -q predict "$WORK/faces" --crops --json --model "$model" > "$WORK/x86-$model.jsonl"
done

rootfs() {  # $1 suite -> a fresh root filesystem in $WORK/$1, from the cached tarball (built once)
  local suite=$1 dir=$WORK/$1 tarball=$CACHE/$1-arm64.tar
  if [ ! -f "$tarball" ]; then
    say "$suite: building the arm64 root filesystem (once; cached in $tarball)"
    local build=$CACHE/$suite-build
    if [ ! -x "$build/debootstrap/debootstrap" ]; then   # the first stage (download, unpack) may be done already
      rm -rf "$build"
      debootstrap --arch=arm64 --variant=minbase --foreign --include="$(packages "$suite")" "$suite" "$build" "$MIRROR" >/dev/null
    fi
    chroot "$build" /debootstrap/debootstrap --second-stage >/dev/null
    chroot "$build" apt-get clean
    tar -C "$build" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$build"
  fi
  mkdir -p "$dir"
  tar -C "$dir" -xf "$tarball"
  for m in proc dev sys; do
    mount --rbind "/$m" "$dir/$m" 2>/dev/null || mount -t "$m" "$m" "$dir/$m"
    MOUNTED+=("$dir/$m")
  done
  # QEMU 7.2's user mode shows the host's x86 /proc/cpuinfo, on which LiteRT's CPU detection (cpuinfo) crashes:
  # give the chroot a Raspberry Pi 4's (Cortex-A72), the CPU QEMU emulates here (QEMU_CPU below)
  mount --bind "$WORK/cpuinfo" "$dir/proc/cpuinfo"
  MOUNTED+=("$dir/proc/cpuinfo")
  mkdir -p "$dir/root/.cache/pip"
  mount --bind "$CACHE/pip" "$dir/root/.cache/pip"
  MOUNTED+=("$dir/root/.cache/pip")
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  # this machine's CA bundle, for networks whose TLS is re-signed by a proxy (pip is pointed at it below)
  if [ -f "$HOST_CA" ]; then cp "$HOST_CA" "$dir/etc/ssl/certs/host-ca-bundle.crt"
  else cp "$dir/etc/ssl/certs/ca-certificates.crt" "$dir/etc/ssl/certs/host-ca-bundle.crt"; fi
}

failed=()
for suite in "${SUITES[@]}"; do
  t0=$(date +%s)
  rootfs "$suite"
  dir=$WORK/$suite
  mkdir -p "$dir/src" "$dir/faces"
  git ls-files -z | tar --null -T - -cf - | tar -C "$dir/src" -xf -
  cp -r "$WORK/faces/." "$dir/faces/"
  in_chroot() {
    chroot "$dir" /usr/bin/env -i HOME=/root PATH=/opt/venv/bin:/usr/bin:/bin LANG=C.UTF-8 QEMU_CPU=cortex-a72 \
      PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt PIP_DEFAULT_TIMEOUT=180 "$@"
  }
  py=$(in_chroot python3 -c 'import platform, sys; print(platform.machine(), sys.version.split()[0])')
  say "$suite: $py"
  if ! in_chroot sh -c 'python3 -m venv /opt/venv && cd /src && pip install -q --disable-pip-version-check --use-pep517 ".[tflite]"'; then
    failed+=("$suite: install"); continue
  fi
  in_chroot python3 -c 'import importlib.util as u; assert u.find_spec("tensorflow") is None, "TensorFlow in a device install"' \
    || { failed+=("$suite: TensorFlow pulled"); continue; }
  in_chroot sh -c 'cd /src && agegender run demo --max-frames 60 --json /tmp/demo.jsonl' > "$WORK/$suite-demo.log" 2>&1 \
    || { tail -5 "$WORK/$suite-demo.log"; failed+=("$suite: run demo"); continue; }
  grep -q '"faces": \[{' "$dir/tmp/demo.jsonl" || { failed+=("$suite: no faces in the demo"); continue; }
  ok=1
  for model in default-fp16 default; do
    in_chroot sh -c "cd /src && agegender -q predict /faces --crops --json --model $model" > "$WORK/arm-$model.jsonl" \
      || { failed+=("$suite: predict $model"); ok=0; continue; }
    bound=$([ "$model" = default-fp16 ] && echo "max=0.1,p95=0.1,flips=0" || echo "p95=1,max=4,flips=0.005")
    "$HOST_PY" tests/arm64/compare.py "$WORK/x86-$model.jsonl" "$WORK/arm-$model.jsonl" --bound "$bound" \
      --label "$suite $model" || { failed+=("$suite: $model disagrees with x86"); ok=0; }
  done
  in_chroot sh -c 'cd /src && agegender -q bench latency --quick --models models/agegender_int8.tflite --threads 1 --batches 1 --out /tmp/bench' >/dev/null 2>&1 \
    || { failed+=("$suite: bench latency"); ok=0; }
  [ $ok = 1 ] && say "$suite: passed ($n_faces faces, $(( $(date +%s) - t0 )) s; emulated: no timings reported)"
done
if [ ${#failed[@]} -gt 0 ]; then
  printf 'arm64 lane: FAILED: %s\n' "${failed[@]}"
  exit 1
fi
say "passed on ${SUITES[*]}"
