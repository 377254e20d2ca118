#!/usr/bin/env bash
# Configures (once) and builds ctgate into BUILD_DIR (default build/).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
EXTRA=("$@")
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  meson setup "$BUILD_DIR" "${EXTRA[@]}"
fi
ninja -C "$BUILD_DIR"
