"""Average the UNets of pipelines fine-tuned from the same weights (a "model soup", Wortsman et al. 2022).

    python train/average_weights.py assets/diffusion work/gpu/candidate --out work/soup   # equal weights
    python train/average_weights.py A B --weights 0.7 0.3 --out work/soup

The result is the first pipeline's folder (scheduler, landscape checker, ``model_index.json``,
pictures, and its model card with a line naming the sources) with its UNet weights replaced by the
weighted mean of all the UNets', computed in float32 and saved in the first UNet's dtype; it is
written to a temporary folder and swapped in whole.
The UNets must share one config. Averaging only makes sense for fine-tunes of one starting point,
whose weights stay in one basin; measure the result (``benchmarks/diffusion_quality.py``) before
shipping it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch
from safetensors import safe_open

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.diffusion.pipeline import load_pipeline
from music2img.errors import Music2ImgError
from music2img.files import record_weight_hashes
from train.loop import export_folder


def average_state_dicts(states: list[dict[str, torch.Tensor]], weights: list[float]) -> dict[str, torch.Tensor]:
    """``Σ wᵢ·stateᵢ / Σ wᵢ`` per tensor, in float32."""
    total = float(sum(weights))
    return {k: sum(w * s[k].float() for s, w in zip(states, weights)) / total for k in states[0]}


def saved_dtype(pipeline: Path) -> torch.dtype:
    """The dtype the pipeline's UNet weights are stored in (``load_pipeline`` gives float32)."""
    with safe_open(pipeline / "unet" / "diffusion_pytorch_model.safetensors", "pt") as f:
        return f.get_tensor(next(iter(f.keys()))).dtype


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "pipelines",
        type=Path,
        nargs="+",
        help="pipeline folders (at least two); the first gives everything but the UNet",
    )
    p.add_argument("--weights", type=float, nargs="+", help="one non-negative weight per pipeline (default: equal)")
    p.add_argument("--out", type=Path, required=True, help="pipeline folder to write")
    args = p.parse_args(argv)
    weights = args.weights or [1.0] * len(args.pipelines)
    if len(args.pipelines) < 2:
        p.error("give at least two pipelines to average")
    if len(weights) != len(args.pipelines) or min(weights) < 0 or sum(weights) <= 0:
        p.error(f"--weights needs {len(args.pipelines)} non-negative numbers with a positive sum, got {weights}")
    if not all(src.is_dir() for src in args.pipelines):
        p.error("the pipelines must be local folders")
    if any(args.out.resolve() == src.resolve() for src in args.pipelines):
        p.error("--out must be a new folder, not one of the pipelines averaged")
    try:
        unets = [load_pipeline(src).unet for src in args.pipelines]
    except Music2ImgError as err:
        raise SystemExit(f"error: {err}") from None
    configs = [{k: v for k, v in u.config.items() if not k.startswith("_")} for u in unets]  # not _name_or_path
    for src, config in zip(args.pipelines[1:], configs[1:]):
        if config != configs[0]:
            diff = sorted(k for k in config.keys() | configs[0].keys() if config.get(k) != configs[0].get(k))
            raise SystemExit(f"error: {src}'s UNet config differs from {args.pipelines[0]}'s in {', '.join(diff)}")
    soup, dtype = unets[0], saved_dtype(args.pipelines[0])
    soup.load_state_dict(average_state_dicts([u.state_dict() for u in unets], weights))

    def write(tmp: Path) -> None:
        shutil.copytree(args.pipelines[0], tmp)
        torch.nn.Module.to(soup, dtype)  # ModelMixin.to warns about fp32-only modules, which this UNet has none of
        soup.save_pretrained(tmp / "unet", safe_serialization=True)
        record_weight_hashes(tmp)
        card = tmp / "MODEL_CARD.md"
        sources = ", ".join(f"`{src}` × {w / sum(weights):.3g}" for src, w in zip(args.pipelines, weights))
        text = card.read_text() if card.exists() else ""
        card.write_text(text + f"\n## Averaged\n\nUNet weights: the mean of {sources}.\n")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    out = export_folder(args.out.parent, args.out.name, write)
    print(f"averaged {len(unets)} UNets with weights {[round(w / sum(weights), 4) for w in weights]} into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
