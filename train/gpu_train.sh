#!/usr/bin/env bash
# Train the production diffusion model on a lent GPU machine in calls of at most 10 minutes.
# The whole plan, with the exact `run` tool arguments, is in train/GPU.md.
#
#   bash train/gpu_train.sh prepare                  # HERE: wheels/ + gpu_pack.tgz, size check, CPU smoke test
#   bash train/gpu_train.sh aside | restore          # HERE: move what the GPU does not need out of the tree and back
#   bash train/gpu_train.sh start  MINUTES SCHEDULE  # GPU call 1: fresh run; cosine schedule of SCHEDULE minutes
#   bash train/gpu_train.sh resume MINUTES           # GPU calls 2, 3: continue the run kept on the machine
#   bash train/gpu_train.sh distill MINUTES          # GPU, one call: distil assets/diffusion into a few-step student
#
# MINUTES is this call's training budget (train/diffusion.py --max-minutes); the call then writes the
# final sample grid, exports the EMA weights as an fp16 pipeline and copies to $OUT (at most 8 files):
#   pipeline.tar.partN  the tar of RUN/pipeline split into 15 MiB parts (the fp16 UNet is ~27 MB)
#   pipeline.tar.sha256 checksum of the whole tar;  log.jsonl, loss_curve.png, grid_latest.png, train.log
# The run folder (with the 220 MB checkpoint.pt) stays on the GPU machine at $RUN, outside the repo
# copy; it survives only while the machine is warm (30 s after a call). The pack travels as one file,
# gpu_pack.tgz: as 12,644 files the device tool counts ~9 MiB more than their bytes.
# Extra train/diffusion.py (train/distill.py for `distill`) flags can be passed in EXTRA_ARGS (e.g. EXTRA_ARGS=--no-compile).
# `distill` needs the teacher, assets/diffusion, to travel: run `aside` first (train/GPU.md).
set -euo pipefail
cd "$(dirname "$0")/.."

RUN=${RUN:-/root/music2img_run}
DISTILL_RUN=${DISTILL_RUN:-/root/music2img_distill}
PACK=gpu_pack
PACK_TGZ=gpu_pack.tgz
WHEELS=wheels
ASIDE=gpu_aside
# tracked files the GPU run never reads (all but the diffusion pipeline): `aside` moves them out of the
# tree, so that a fine-tune from assets/diffusion travels with a pack of useful quality (train/GPU.md)
ASIDE_PATHS=(assets/music_emotion assets/image_emotion assets/examples assets/screenshots assets/picture_scene_model
             docs assets/diffusion/*.png assets/diffusion/*.jpg)
PY=${PY:-python3}
SITE=${SITE:-/tmp/site}
# Packages the GPU image lacks (train/GPU.md), pinned to the versions of .venv here.
WHEEL_PINS=(diffusers==0.42.1 importlib_metadata==10.2.0 lazy-importer==0.1.0)

prepare() {
    local py=.venv/bin/python
    rm -rf "$WHEELS"
    "$py" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$WHEELS" "${WHEEL_PINS[@]}"
    if [ ! -f "$PACK/labels.csv" ]; then
        nice -n 10 "$py" train/make_gpu_pack.py --images "${IMAGES:-../shared/data/images/landscapes}" \
            --labels "${LABELS:-assets/landscape_labels.csv}" --out "$PACK" --resolution 128 --max-mb "${MAX_MB:-45}"
    fi
    tar -czf "$PACK_TGZ.tmp" "$PACK" && mv "$PACK_TGZ.tmp" "$PACK_TGZ"
    ls -l "$WHEELS" "$PACK_TGZ"
    # what travels: tracked (still present) + untracked-not-ignored files, plus the carried gpu_pack.tgz and wheels/
    local tree carried
    tree=$(git ls-files -co --exclude-standard | while read -r f; do [ ! -f "$f" ] || printf '%s\0' "$f"; done \
        | du -cb --files0-from=- | tail -1 | cut -f1)
    carried=$(du -cb "$PACK_TGZ" "$WHEELS" | tail -1 | cut -f1)
    echo "travels: repo $((tree / 1024)) KiB + gpu_pack.tgz & wheels $((carried / 1024)) KiB" \
        "= $(((tree + carried) / 1048576)) MiB (limit 64)"
    echo "run tool: carry [\"$PACK_TGZ\", \"$WHEELS\"]"
    [ $((tree + carried)) -lt $((62 * 1048576)) ] || { echo "error: too big to travel" >&2; exit 1; }
    nice -n 10 "$py" train/diffusion.py --data "$PACK" --labels "$PACK/labels.csv" --limit 64 --steps 2 \
        --batch-size 4 --channels 8,16 --attention-resolutions 8 --resolution 32 --sample-every 0 \
        --checkpoint-every 0 --no-final-grid --out /tmp/packcheck --quiet
    if [ -f assets/diffusion/model_index.json ]; then  # the `distill` call: the shipped teacher on the pack
        nice -n 10 "$py" train/distill.py --data "$PACK" --labels "$PACK/labels.csv" --limit 16 --steps 2 \
            --batch-size 2 --crop 16 --sample-every 0 --checkpoint-every 0 --no-final-grid --out /tmp/packcheck/distill --quiet
    fi
    rm -rf /tmp/packcheck
}

aside() {
    [ ! -e "$ASIDE" ] || { echo "error: $ASIDE/ exists: 'restore' first" >&2; exit 1; }
    mkdir "$ASIDE" && : > "$ASIDE/LIST"
    local p
    for p in "${ASIDE_PATHS[@]}"; do
        [ -e "$p" ] || continue
        mkdir -p "$ASIDE/$(dirname "$p")" && mv "$p" "$ASIDE/$p" && echo "$p" >> "$ASIDE/LIST"
    done
    echo "moved aside: $(wc -l < "$ASIDE/LIST") paths;" \
        "'bash train/gpu_train.sh restore' puts them back (before any commit)"
}

restore() {
    [ -f "$ASIDE/LIST" ] || { echo "nothing aside"; return 0; }
    local p
    while read -r p; do mkdir -p "$(dirname "$p")" && mv "$ASIDE/$p" "$p"; done < "$ASIDE/LIST"
    rm -r "$ASIDE"
    git status --short
}

gpu_setup() {
    : "${OUT:?OUT is unset: start/resume run on the GPU machine through the device tool}"
    exec > >(tee -a "$OUT/train.log") 2>&1
    [ -f "$PACK/labels.csv" ] || tar -xzf "$PACK_TGZ"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl
    export PYTHONPATH="$SITE" PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi"
    "$PY" -c 'import sys, torch, diffusers, numpy, PIL; print("python", sys.version.split()[0], "torch", torch.__version__,
"cuda", torch.cuda.is_available(), "diffusers", diffusers.__version__, "numpy", numpy.__version__, "pillow", PIL.__version__)'
}

train() {  # train MINUTES [more train/diffusion.py flags]
    local minutes=$1; shift
    # stop by SIGTERM (checkpoint, no export) if the budget overruns, 25 s before the 600 s call limit
    local guard=$((575 - SECONDS))
    # shellcheck disable=SC2086
    timeout -s TERM -k 15 "$guard" "$PY" train/diffusion.py --data "$PACK" --labels "$PACK/labels.csv" --out "$RUN" \
        --batch-size 256 --workers 16 --max-minutes "$minutes" --auto-steps 400 --checkpoint-every 1000 \
        --sample-every 2500 --quiet "$@" ${EXTRA_ARGS:-} || echo "train/diffusion.py exited with status $?" >&2
}

distil() {  # distil MINUTES: consistency distillation of assets/diffusion in one call, cosine schedule fitted to it
    local minutes=$1 guard=$((575 - SECONDS))
    [ -f assets/diffusion/model_index.json ] || { echo "error: the teacher assets/diffusion did not travel" >&2; exit 1; }
    # shellcheck disable=SC2086
    timeout -s TERM -k 15 "$guard" "$PY" train/distill.py --data "$PACK" --labels "$PACK/labels.csv" --out "$RUN" \
        --teacher assets/diffusion --batch-size 128 --workers 16 --max-minutes "$minutes" --auto-steps 200 \
        --reserve-minutes 0.75 --checkpoint-every 1000 --sample-every 1000 --quiet ${EXTRA_ARGS:-} \
        || echo "train/distill.py exited with status $?" >&2
}

collect() {
    [ -d "$RUN/pipeline" ] || { echo "no exported pipeline in $RUN" >&2; return 1; }
    tar -cf /tmp/pipeline.tar -C "$RUN" pipeline
    (cd /tmp && sha256sum pipeline.tar) > "$OUT/pipeline.tar.sha256"
    split -b 15m -d -a 1 /tmp/pipeline.tar "$OUT/pipeline.tar.part"
    rm /tmp/pipeline.tar
    cp "$RUN/log.jsonl" "$OUT/"
    local grid
    grid=$(ls "$RUN"/samples/grid_step*.png 2>/dev/null | tail -1 || true)
    if [ "$(ls "$OUT" | wc -l)" -le 6 ]; then  # keep within 8 files back
        [ -n "$grid" ] && cp "$grid" "$OUT/grid_latest.png"
        [ -f "$RUN/loss_curve.png" ] && cp "$RUN/loss_curve.png" "$OUT/"
    fi
    ls -l "$OUT"
    tail -3 "$RUN/log.jsonl"
}

case "${1:-}" in
    prepare) prepare ;;
    aside) aside ;;
    restore) restore ;;
    start)
        minutes=${2:?MINUTES}; schedule=${3:?SCHEDULE minutes}
        gpu_setup
        if [ -e "$RUN" ]; then mv "$RUN" "$RUN.old.$(date +%s)"; fi
        # --auto-steps fits the cosine schedule to max-minutes minus reserve-minutes; a negative reserve
        # stretches it over the later calls (SCHEDULE minutes of training in all).
        train "$minutes" --reserve-minutes "$("$PY" -c "print($minutes - $schedule)")"
        collect
        ;;
    resume)
        minutes=${2:?MINUTES}
        if [ ! -f "$RUN/checkpoint.pt" ]; then
            echo "COLD MACHINE: no $RUN/checkpoint.pt here (the machine of the last call was given back)." >&2
            echo "Nothing to resume; keep the previous call's files. See train/GPU.md, 'If a call finds a cold machine'." >&2
            exit 3
        fi
        gpu_setup
        train "$minutes" --resume
        collect
        ;;
    distill)
        minutes=${2:?MINUTES}
        gpu_setup
        RUN=$DISTILL_RUN
        if [ -e "$RUN" ]; then mv "$RUN" "$RUN.old.$(date +%s)"; fi
        distil "$minutes"
        collect
        ;;
    *) sed -n '2,17p' "$0"; exit 2 ;;
esac
