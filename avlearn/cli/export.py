"""``avlearn export``: a trained run as ``model.safetensors`` + a model card (``model.json``, ``README.md``).

    avlearn export runs/sync_multisensory --out exported/sync
    avlearn export r3d18.pt --model r3d_18 --out exported/r3d18 --json

The folder holds the network's weights in the safetensors format (no pickle), the task, the
registered model and its keyword arguments, the recipe, the input contract, the avlearn
version and the weights' SHA-256 (:mod:`avlearn.tasks.export`). ``avlearn.load_run(DIR)`` and
every command's ``--weights DIR`` read it back.
"""

from __future__ import annotations

import argparse
import json

__all__ = ["register", "run"]


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``export`` to the ``avlearn`` command."""
    p = subparsers.add_parser(
        "export", help="write a trained run as safetensors weights plus a model card",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", metavar="RUN", help="a run folder, weights.pt beside its config.yaml, or a checkpoint")
    p.add_argument("--out", required=True, help="the folder to write (model.safetensors, model.json, README.md)")
    p.add_argument("--config", default=None, help="the run's recipe, when it is not beside the weights")
    p.add_argument("--model", default=None, help="registered model name, for a bare state dict without a recipe")
    p.add_argument("--overwrite", action="store_true", help="replace an export already in --out")
    p.add_argument("--json", action="store_true", help="print the model card as JSON")
    p.set_defaults(func=run, input_args=("run", "config"), output_dir_args=("out",))
    return p


def run(args: argparse.Namespace) -> int:
    """0 when written; 2 for a run that cannot be read or exported."""
    from avlearn.errors import UsageError
    from avlearn.tasks.config import ConfigError
    from avlearn.tasks.export import export_run
    from avlearn.tasks.runs import load_run

    try:
        loaded = load_run(args.run, config=args.config, model=args.model)
    except (FileNotFoundError, ValueError, ConfigError) as exc:
        raise UsageError(str(exc)) from None
    card = export_run(loaded, args.out, overwrite=args.overwrite)
    if args.json:
        print(json.dumps({"out": args.out, **card}))
    else:
        w = card["weights"]
        print(f"{args.run}: {card['task']} run ({card['model']['name']}, {w['parameters']:,} parameters) -> "
              f"{args.out}/model.safetensors, model.json, README.md (sha256 {w['sha256'][:12]})")
    return 0
