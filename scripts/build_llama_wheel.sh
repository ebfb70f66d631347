#!/usr/bin/env bash
# Install llama-cpp-python[server] into a Python environment, compiling it at most once.
#
#   scripts/build_llama_wheel.sh                     install into the `python` on PATH
#   PIP_PYTHON=.venv/bin/python scripts/build_llama_wheel.sh
#   WHEELHOUSE=DIR ...                               where the wheel is kept
#
# PyPI has only the sdist of llama-cpp-python; compiling it takes ~5-10 min on 2 cores. The
# wheel is built portable (-DGGML_NATIVE=OFF: no -march=native, so it runs on any x86-64 CPU
# the cache may be copied to) into a wheelhouse (default ~/.cache/vidagent/wheelhouse) and
# installed from there; later runs and other venvs reuse it.
# Run it before `pip install -e '.[lite]'`, so pip finds llama-cpp-python already installed.
set -Eeuo pipefail

VERSION=0.3.36
PYTHON="${PIP_PYTHON:-python}"
WHEELHOUSE="${WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/vidagent/wheelhouse}"
trap 'echo "build_llama_wheel.sh: FAILED (exit $?); see the output above" >&2' ERR

if "$PYTHON" - "$VERSION" <<'PY' 2>/dev/null
import importlib.metadata, sys
assert importlib.metadata.version("llama_cpp_python") == sys.argv[1]
import llama_cpp.server.app  # noqa: F401  (the [server] extra's dependencies are present)
PY
then
  echo "build_llama_wheel.sh: llama-cpp-python[server]==$VERSION already installed for $PYTHON"
  exit 0
fi

mkdir -p "$WHEELHOUSE"
if ! compgen -G "$WHEELHOUSE/llama_cpp_python-$VERSION-*.whl" >/dev/null; then
  echo "build_llama_wheel.sh: compiling llama-cpp-python==$VERSION into $WHEELHOUSE (5-10 min)"
  start_s=$SECONDS
  CMAKE_ARGS="-DGGML_NATIVE=OFF" "$PYTHON" -m pip wheel --no-deps -w "$WHEELHOUSE" "llama-cpp-python==$VERSION"
  echo "build_llama_wheel.sh: built in $((SECONDS - start_s)) s"
fi
"$PYTHON" -m pip install --find-links "$WHEELHOUSE" "llama-cpp-python[server]==$VERSION"
"$PYTHON" -c "import llama_cpp.server.app; import llama_cpp; print('build_llama_wheel.sh: llama-cpp-python', llama_cpp.__version__, 'installed')"
