"""The ``asd`` command line.

    asd synth --year 2022|2020|2023|2024|2025 --preset demo --seed 0 --out data/synth [--check]
    asd summary DATA_ROOT [--year 2024]
    asd evaluate SCORE_DIR --ground-truth GT_DIR [--year 2023]
    asd submit RUN_DIR --system NAME [--seed K] --out DIR [--ground-truth-out GT_DIR]
    asd bench features [--clips N] [--device cpu]
    asd bench synth [--preset demo]
    asd bench gpu [--device cuda] [--quick] [--updates 5] [--chapters STEM ...] [--reference]
    asd run notebooks/*.md --profile demo [--types ...] [--seeds ...] [--jobs N] [--resume]
    asd results [--runs runs] [--profile demo] [--out book/_generated/results.md]
    asd refresh-notebooks [notebooks/*.md]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

import pandas as pd

from asdlib.data.synth.dataset import YEARS as SYNTH_YEARS  # imports no torch


def _synth(args: argparse.Namespace) -> int:
    from asdlib.data.synth import PRESETS, generate

    start = time.perf_counter()
    existed = (args.out / "synth.json").is_file()
    root = generate(args.out, year=args.year, preset=args.preset, seed=args.seed,
                    machine_types=args.types, jobs=args.jobs, progress=not args.quiet)
    preset = PRESETS[args.preset]
    how = "reused, already complete" if existed else f"written in {time.perf_counter() - start:.1f} s"
    print(f"synthetic DCASE {args.year} data set, preset '{args.preset}' "
          f"({preset.duration:g} s clips), seed {args.seed}: {root} [{how}]")
    if args.check:
        if args.year == 2020:  # no domains, no attributes: the reference detector's bounds only
            return _check(root, args.device)
        return _certify(root, args.jobs, args.quiet)
    return 0


def _certify(root: Path, jobs: int | None, quiet: bool) -> int:
    from asdlib.certify import certification_report, certify

    start = time.perf_counter()
    table, verdict = certify(root, jobs=jobs, progress=not quiet)
    print()
    print(certification_report(table, verdict))
    print(f"({time.perf_counter() - start:.0f} s)")
    return 0 if verdict["ok"] else 1


def _check(root: Path, device: str) -> int:
    from asdlib.reference import CHECK_BOUNDS, reference_check

    table, overall = reference_check(root, device=device)
    lo, hi = CHECK_BOUNDS
    is2020 = "target harder" not in table.columns
    print(f"\nReference detector (mean log-mel + Mahalanobis per section) on {root} -- SYNTHETIC data")
    if is2020:
        print(f"DCASE 2020 mean AUC and pAUC over machine IDs per type; bounds on the mean AUC for the "
              f"demo preset: [{lo}, {hi}]\n")
    else:
        print(f"official DCASE 2022 h-means per machine type; bounds for the demo preset: [{lo}, {hi}], "
              "target harder than source\n")
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 120):
        print(table.to_string())
    if is2020:
        print(f"\nmean AUC over all types: {overall['auc_mean']:.3f}")
    else:
        print(f"\nofficial score over all types: {overall['official_score']:.3f}")
    ok = bool(table["in bounds"].all() and (is2020 or table["target harder"].all()))
    print("check: " + ("PASS" if ok else "FAIL (see the rows above)"))
    return 0 if ok else 1


def _summary(args: argparse.Namespace) -> int:
    from asdlib.data.layout import index_dataset, summarize
    from asdlib.data.synth import read_manifest

    manifest = read_manifest(args.root)
    year = args.year or (manifest["year"] if manifest else None)
    index = index_dataset(args.root, machine_types=args.types, year=year)
    if manifest:
        source = (f"SYNTHETIC (asdlib generator v{manifest['version']}, preset "
                  f"'{manifest['preset']['name']}', seed {manifest['seed']})")
    else:
        source = "real recordings (no synth.json manifest)"
    years = sorted(index["year"].unique())
    print(f"{args.root}: DCASE {', '.join(map(str, years))} layout, {source}")
    print(f"{len(index)} clips, {index['machine_type'].nunique()} machine types, "
          f"{(index['split'] == 'train').sum()} training / {(index['split'] == 'test').sum()} test\n")
    with pd.option_context("display.width", 200, "display.max_columns", 40):
        print(summarize(index).to_string())
    keys = sorted({k for attrs in index["attributes"] for k in attrs})
    if keys:
        print("\nattributes:", ", ".join(keys))
    if manifest:
        from asdlib.data.synth.dataset import SOUND_MODEL

        print("\nfaults of the anomalous clips (synthetic):")
        for machine_type, faults in manifest["faults"].items():
            borrowed = f" (the {SOUND_MODEL[machine_type]} sound model)" if machine_type in SOUND_MODEL else ""
            print(f"  {machine_type}{borrowed}: {', '.join(faults)}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from asdlib.metrics import evaluate_score_dir

    result = evaluate_score_dir(args.score_dir, args.ground_truth, year=args.year)
    with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 200,
                           "display.max_columns", 60):
        print(result.sections.to_string())
        print()
        print(result.types.to_string())
    overall = result.overall
    print(f"\nDCASE {result.year} evaluator, over all machine types and sections:")
    for metric in ("precision", "recall", "f1"):
        if f"{metric}_hmean" in overall:
            domains = "".join(f", {d} h-mean {overall[f'{metric}_{d}_hmean']:.4f}"
                              for d in ("source", "target") if f"{metric}_{d}_hmean" in overall)
            print(f"  {metric}: a-mean {overall[f'{metric}_amean']:.4f}, h-mean {overall[f'{metric}_hmean']:.4f}"
                  f"{domains}")
    print(f"official score: {result.official_score:.4f}")
    if "official_score_ci95" in overall:
        print(f"official score ci95: {overall['official_score_ci95']:.6g} (jackknife 95 % half-widths of the "
              f"pooled AUC {overall['auc_ci95']:.6g} and pAUC {overall['pauc_ci95']:.6g}, averaged; "
              f"{overall['n_pooled']} clips)")
    return 0


def _submit(args: argparse.Namespace) -> int:
    from asdlib.submission import write_ground_truth, write_submission

    path = args.scores / "scores.csv" if args.scores.is_dir() else args.scores
    if not path.is_file():
        raise FileNotFoundError(f"kept clip scores not found: {path} (a run's scores.csv, written by run.keep_scores)")
    table = pd.read_csv(path)
    needed = {"system", "seed", "split", "machine_type", "section", "file", "score"}
    if not needed <= set(table.columns):
        raise ValueError(f"{path}: lacks the column(s) {sorted(needed - set(table.columns))} of a kept scores file")
    systems = sorted(table["system"].astype(str).unique())
    if args.system not in systems:
        raise ValueError(f"{path}: no scores of system {args.system!r}; it has {systems}")
    rows = table[table["system"].astype(str) == args.system]
    seeds = sorted(rows["seed"].unique())
    seed = args.seed if args.seed is not None else seeds[0]
    if args.seed is None and len(seeds) > 1:
        raise ValueError(f"{path}: system {args.system!r} has seeds {seeds}; pick one with --seed")
    rows = rows[rows["seed"] == seed]
    if not len(rows):
        raise ValueError(f"{path}: system {args.system!r} has no scores for seed {seed}; it has {seeds}")
    train, test = rows[rows["split"] == "train"], rows[rows["split"] == "test"]
    sub = write_submission(test, train, args.out, year=args.year, percentile=args.percentile)
    print(f"{len(sub.files)} files written to {sub.folder} (threshold: gamma fit on {len(train)} training "
          f"scores, quantile {sub.percentile:g})")
    with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 160):
        print(sub.thresholds.to_string(index=False))
    if args.ground_truth_out is not None:
        files = write_ground_truth(test, args.ground_truth_out, year=args.year)
        print(f"{len(files)} ground-truth files written to {args.ground_truth_out}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    if args.what == "features":
        from asdlib.bench.features import bench_features

        bench_features(n_clips=args.clips, device=args.device or "cpu", seed=args.seed, verbose=True)
        return 0
    if args.what == "gpu":
        from asdlib.bench.gpu import bench_gpu

        try:
            result = bench_gpu(device=args.device or "cuda", quick=args.quick, updates=args.updates,
                               chapters=args.chapters, seed=args.seed, reference=args.reference)
        except RuntimeError as err:  # no CUDA: say so, fail
            print(f"asd bench gpu: {err}", file=sys.stderr)
            return 1
        return 1 if result["failed"] else 0
    from asdlib.bench.synth import bench_synth

    bench_synth(preset=args.preset, seed=args.seed, jobs=args.jobs)
    return 0


def _refresh(args: argparse.Namespace) -> int:
    from asdlib.notebooks import refresh_ci_copies

    sources = args.sources or sorted(Path("notebooks").glob("*.md"))
    if not sources:
        raise ValueError("no notebook sources given and none in notebooks/*.md")
    refresh_ci_copies(sources, args.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asd", description="asdlib: anomalous sound detection for DCASE Task 2")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write a synthetic DCASE data set (2020, 2022 or 2023-2025 layout)")
    p.add_argument("--year", type=int, choices=SYNTH_YEARS, default=2022,
                   help="layout: 2020 (machine IDs), 2022 (three sections per type), 2023-2025 (one section "
                        "per type, the year's own evaluation types; 2024-2025 hide some attributes, 2025 adds "
                        "supplemental/)")
    p.add_argument("--preset", choices=["ci", "demo", "full"], default="demo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="folder to write (reused if it holds the same set)")
    p.add_argument("--types", nargs="+", default=None, help="machine types (default: all of the year)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--check", action="store_true",
                   help="certify the data set (asdlib.certify; 2020: the reference detector's bounds only)")
    p.add_argument("--device", default="cpu", help="device for --check features (cpu, cuda, auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_synth)

    p = sub.add_parser("summary", help="index a data root and print clip counts")
    p.add_argument("root", type=Path)
    p.add_argument("--types", nargs="+", default=None)
    p.add_argument("--year", type=int, choices=range(2020, 2027), default=None, metavar="{2020..2026}",
                   help="the edition (2023 on: correspondence tables, eval lists); default: a synthetic set's "
                        "own, else read from the names")
    p.set_defaults(func=_summary)

    p = sub.add_parser("evaluate", help="what the official DCASE evaluator reports, from anomaly_score_*.csv "
                                        "(and decision_result_*.csv) files")
    p.add_argument("score_dir", type=Path)
    p.add_argument("--ground-truth", type=Path, required=True,
                   help="folder holding ground_truth_data/ and ground_truth_domain/")
    p.add_argument("--year", type=int, choices=range(2021, 2027), default=2022, metavar="{2021..2026}",
                   help="the edition whose evaluator to follow (2021: per-domain files; 2023 on: jackknife CI95)")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("submit", help="write a system's anomaly_score_*/decision_result_* CSVs from a run's "
                                      "kept scores (gamma threshold on its training scores)")
    p.add_argument("scores", type=Path, help="a run folder holding scores.csv, or the scores.csv file")
    p.add_argument("--system", required=True)
    p.add_argument("--seed", type=int, default=None, help="the seed to write (needed when there are several)")
    p.add_argument("--out", type=Path, required=True, help="folder for the CSVs")
    p.add_argument("--year", type=int, choices=range(2021, 2027), default=2022, metavar="{2021..2026}",
                   help="file format (2021: one file per section and domain)")
    p.add_argument("--percentile", type=float, default=0.9, help="gamma quantile of the threshold (baselines: 0.9)")
    p.add_argument("--ground-truth-out", type=Path, default=None,
                   help="also write the evaluator's ground-truth CSVs of the labelled test clips here")
    p.set_defaults(func=_submit)

    p = sub.add_parser("bench", help="benchmarks, with ratios against a reference measured in the same run; "
                                     "gpu: every chapter's paper settings on CUDA in bf16")
    p.add_argument("what", choices=["features", "synth", "gpu"])
    p.add_argument("--clips", type=int, default=64, help="features: number of ten-second clips")
    p.add_argument("--device", default=None, help="features: cpu (default), cuda; gpu: cuda (default), cpu")
    p.add_argument("--quick", action="store_true", help="gpu: the ci settings, 2 s clips, one update (the code path)")
    p.add_argument("--updates", type=int, default=None, help="gpu: k of the timed runs of k and 2k updates")
    p.add_argument("--chapters", nargs="+", default=None, metavar="STEM", help="gpu: chapter stems (default: all)")
    p.add_argument("--reference", action="store_true", help="gpu: also time float32 and print bf16's speed-up")
    p.add_argument("--preset", choices=["ci", "demo", "full"], default="demo", help="synth: preset to time")
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_bench)
    from asdlib import results, runner

    runner.register(sub)
    results.register(sub)

    p = sub.add_parser("refresh-notebooks", help="re-execute the ci-profile copies of the chapters for nbval")
    p.add_argument("sources", nargs="*", type=Path,
                   help="notebook sources (default: notebooks/*.md); the chapters that read their records "
                        "(requires) are refreshed with them")
    p.add_argument("--out", type=Path, default=Path("tests/notebooks"))
    p.set_defaults(func=_refresh)
    return parser


def run_guarded(command: str, func, args: argparse.Namespace) -> int:
    """Run one ``asd`` command: a bad argument or input ends in one line naming it (exit 2);
    Ctrl-C or SIGTERM end it cleanly (the ``finally`` blocks stop ``asd run``'s workers)
    with one line and exit status 130 or 143, never a traceback."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        def on_term(signum, frame):
            raise _Terminated()
        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        return func(args)
    except (ValueError, FileNotFoundError) as err:  # DataError is a ValueError
        print(f"asd {command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"asd {command}: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print(f"asd {command}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that cleanup runs."""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "synth" and args.device == "auto":
        from asdlib.train import resolve_device

        args.device = str(resolve_device("auto"))
    return run_guarded(args.command, args.func, args)


if __name__ == "__main__":
    sys.exit(main())
