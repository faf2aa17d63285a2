# Shared by scripts/run, scripts/test and scripts/lock: a project virtualenv in .venv, installed
# from a lock file (every version and hash pinned, see scripts/lock), again whenever that lock or
# pyproject.toml changed since the last install.
set -euo pipefail
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1)). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi

ensure_installed() {  # $1: requirements.lock (the service) or requirements-test.lock (and the test tools)
  local lock=$1
  local stamp=".venv/.installed-${lock}"
  local want
  want=$(cat "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing from $lock into .venv"
    local pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
    "${pip[@]}" --require-hashes -r "$lock"
    # The project itself, with the setuptools the lock pinned (no other download).
    "${pip[@]}" --no-deps --no-build-isolation -e .
    echo "$want" > "$stamp"
  fi
}

ensure_test_tools() {  # Debian's Chromium (browser tests) and wrk (benchmark smoke tests), as root (CI)
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium chromium-driver)
  command -v wrk >/dev/null || missing+=(wrk)
  if [ ${#missing[@]} -eq 0 ]; then return; fi
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing ${missing[*]} (apt-get) for the browser and benchmark tests"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "warning: missing ${missing[*]}; the browser and benchmark tests will fail." \
      "Install: sudo apt-get install -y ${missing[*]}" >&2
  fi
}
