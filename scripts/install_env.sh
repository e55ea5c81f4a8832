#!/usr/bin/env bash
# Creates or refreshes the virtual environment VENV (default .venv) with everything pseg_d2 needs.
#
# detectron2 is not published on PyPI by its authors. If the environment can already import a
# detectron2 (for example one you built from source), it is kept. Otherwise the `sal-detectron2`
# wheel is installed: upstream detectron2 at commit a59f056 plus a Python 3.11 fix, tagged cp310
# only, so it is fetched for 3.10, its sha256 checked, renamed to a pure-Python wheel and
# installed without dependencies (its compiled detectron2._C is not needed by pseg_d2).
set -euo pipefail

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
D2_VERSION=0.7.2
D2_SHA256=491af0c7f79bdb2d178e46f6cb16a97c4ac968d45c41ea3f6b6435d59bbee561
MIN_FREE_GB=${MIN_FREE_GB:-7}

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check "$@"; }

if "$VENV/bin/python" -c "import torch, torchvision" 2>/dev/null; then
  echo "[install] keeping the torch already importable: $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
else
  # PyPI's Linux torch is a CUDA build: about 6.5 GB in the venv with its nvidia-* wheels. Check the
  # space first, so that a full disk is named as such rather than surfacing as a pip traceback.
  free_gb=$(df -Pk "$VENV" | awk 'NR == 2 {print int($4 / 1048576)}')
  if [ "$free_gb" -lt "$MIN_FREE_GB" ]; then
    echo "[install] only $free_gb GB free on the disk of $VENV; torch and torchvision need about $MIN_FREE_GB GB." >&2
    echo "[install] Free some space, point VENV at a larger disk, or install torch >= 2.1 and its torchvision into $VENV first (they are kept)." >&2
    exit 1
  fi
  echo "[install] torch and torchvision"
  pip install -q --no-cache-dir "torch==2.14.1" "torchvision==0.29.1" 2>/dev/null \
    || pip install -q --no-cache-dir "torch>=2.1" torchvision
fi

echo "[install] pseg_d2 requirements"
pip install -q -r requirements.txt

if "$VENV/bin/python" -c "import detectron2" 2>/dev/null; then
  echo "[install] keeping the detectron2 already importable: $("$VENV/bin/python" -c 'import detectron2; print(detectron2.__file__)')"
else
  echo "[install] detectron2 from the sal-detectron2==$D2_VERSION wheel"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  pip download -q --no-deps --only-binary=:all: --python-version 3.10 -d "$tmp" "sal-detectron2==$D2_VERSION"
  whl=$(ls "$tmp"/sal_detectron2-"$D2_VERSION"-*.whl)
  echo "$D2_SHA256  $whl" | sha256sum -c --quiet - || { echo "[install] sha256 mismatch for $whl" >&2; exit 1; }
  cp "$whl" "$tmp/sal_detectron2-$D2_VERSION-py3-none-any.whl"
  pip install -q --no-deps "$tmp/sal_detectron2-$D2_VERSION-py3-none-any.whl"
fi

# Headless Chromium and its WebDriver for tests/test_web_demo.py (Debian packages; the test skips without them).
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  echo "[install] keeping the installed chromium and chromedriver"
elif ! command -v apt-get >/dev/null; then
  echo "[install] WARNING: no apt-get: install chromium and chromedriver yourself for tests/test_web_demo.py" >&2
elif [ "$(id -u)" != 0 ]; then
  echo "[install] WARNING: not root: run 'sudo apt-get install chromium chromium-driver' for tests/test_web_demo.py" >&2
else
  echo "[install] chromium and chromium-driver (apt-get)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      chromium chromium-driver >/dev/null; } \
    || echo "[install] WARNING: apt-get could not install chromium chromium-driver; tests/test_web_demo.py will skip" >&2
fi

echo "[install] pseg_d2 (editable)"
pip install -q --no-deps --no-build-isolation -e .
"$VENV/bin/python" -c "import detectron2, pseg_d2, torch; print('[install] ok: torch', torch.__version__, '| detectron2', detectron2.__version__)"
