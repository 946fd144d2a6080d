"""Record the SHA-256 of a pipeline folder's weight files in its ``weights.sha256``, which the loaders check.

    python train/record_weight_hashes.py assets/diffusion

The training scripts record them when they save a pipeline; run this after changing a weight file
by hand (and check an existing record first with ``cd FOLDER && sha256sum -c weights.sha256``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.files import record_weight_hashes, weight_files


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", type=Path, metavar="FOLDER", help="pipeline folders")
    args = p.parse_args(argv)
    for folder in args.folders:
        if not (folder / "model_index.json").is_file():
            p.error(f"{folder} is not a pipeline folder (no model_index.json)")
    for folder in args.folders:
        path = record_weight_hashes(folder)
        print(f"{path}: {len(weight_files(folder))} weight files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
