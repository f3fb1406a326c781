"""``fgamcd-bench``: list, run and report the paper's figures and tables.

    fgamcd-bench list
    fgamcd-bench run fig8 [fig9 ...] [--quick] [--seeds 5] [--out results] [--workers 2]
                          [--methods trimcaching,tdma] [--points 8,10]
                          [--ray-address auto|HOST:PORT|local]
    fgamcd-bench run all --quick
    fgamcd-bench status fig8 [--seeds 5] [--out results] [--points 8,10]
    fgamcd-bench estimate all [--seeds 5] [--out results] [--measure [--measure-episodes 3]]
    fgamcd-bench report [--out results] [--pages docs/results] [--readme]
    fgamcd-bench import runs/maasn-s0 [runs/maasn-s1 ...] [--out results]

``run`` is resumable (finished cells are skipped) and exits with status 1 if any cell, plot or
summary failed (the others are still done). ``--methods`` restricts the comparison methods
(maasn-da, qmix-da, trimcaching, no_cooperation, tdma, coarse, centralised) and Fig. 7's variants
(no-action-semantics, no-value-decomposition, no-da, rnn-da, cgan-da, non-optimal-hyper) to run;
cells of other kinds always run. ``--points 8,10`` restricts the sweeps to those x values, so
``--seeds 2 --points 8`` adds a second seed at one point only. See ``benchmarks/runner.py`` for
the layout of ``--out``.
``status`` takes ``run``'s grid options and prints the finished cells per method and every
unfinished training (running or stopped, episodes logged, time left), without running anything.
``estimate`` takes them too and prints the CPU-hours of the grid per figure (total and left),
from the costs of the work finished under ``--out`` (see ``benchmarks/estimate.py`` for what is
measured and what extrapolated); ``--measure`` first runs one sample cell per kind of work that
has no measurement in its figure (a training with ``--measure-episodes`` episodes).
``import`` puts finished ``fgamcd-train`` runs into ``<out>``'s policy cache, so the cells that
would train the same config use them instead.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
from pathlib import Path

from benchmarks import figures
from benchmarks.runner import selectable


def _methods(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = sorted(set(names) - set(selectable()))
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown methods {unknown or text!r}; choose from {','.join(selectable())}"
        )
    return names


def _points(text: str) -> list[float]:
    try:
        vals = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        vals = []
    if not vals:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated numbers, e.g. 8,10")
    return vals


def _non_negative(text: str) -> int:
    val = int(text)
    if val < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be >= 0")
    return val


def _positive(text: str) -> int:
    val = int(text)
    if val < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be >= 1")
    return val


def _grid_options(p: argparse.ArgumentParser) -> None:
    """The options that choose a grid's cells, shared by ``run`` and ``status``."""
    p.add_argument("names", nargs="+", metavar="NAME", help="figure NAMEs, or 'all'")
    p.add_argument("--quick", action="store_true", help="small grids and budgets")
    p.add_argument("--seeds", type=_positive, default=None, help="seeds per point")
    p.add_argument("--out", type=Path, default=Path("results"))
    p.add_argument(
        "--methods",
        type=_methods,
        default=None,
        help=f"comma-separated subset of {','.join(selectable())} (Fig. 7 "
        "variants by name: maasn-da selects MAASN-DA, not its ablations)",
    )
    p.add_argument(
        "--points",
        type=_points,
        default=None,
        metavar="X[,X...]",
        help="only the sweep cells at these x values (e.g. 8,10 on fig10)",
    )
    p.add_argument(
        "--episodes",
        type=_positive,
        default=None,
        help="training episodes of learned methods (default 600; --quick: 2)",
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="fgamcd-bench", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the figure modules")
    run = sub.add_parser("run", help="run figures (resumable)")
    _grid_options(run)
    run.add_argument(
        "--workers",
        type=_non_negative,
        default=None,
        help="local worker processes (default: CPU count; 0: in this process)",
    )
    run.add_argument(
        "--ray-address", default=None, help="run cells as Ray tasks: auto, HOST:PORT, or local"
    )
    run.add_argument(
        "--no-train",
        action="store_true",
        help="leave out the cells that would train: learned methods only where a shipped "
        "reference policy exists",
    )
    run.add_argument("--no-progress", action="store_true")
    st = sub.add_parser(
        "status",
        help="finished cells and unfinished trainings under --out (the grid chosen as for run)",
    )
    _grid_options(st)
    est = sub.add_parser(
        "estimate",
        help="CPU-hours of the grid per figure, from the costs measured under --out",
    )
    _grid_options(est)
    est.add_argument(
        "--measure",
        action="store_true",
        help="first run one sample cell per kind of work with no measurement in its figure",
    )
    est.add_argument(
        "--measure-episodes",
        type=_positive,
        default=3,
        help="episodes of a measured training (default 3: a cold one, then the pace)",
    )
    est.add_argument(
        "--workers", type=_non_negative, default=None, help="for --measure, as for run"
    )
    est.add_argument("--ray-address", default=None, help="for --measure, as for run")
    est.add_argument("--no-progress", action="store_true")
    rep = sub.add_parser("report", help="write <out>/report.md from the results")
    rep.add_argument("--out", type=Path, default=Path("results"))
    rep.add_argument(
        "--pages",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write the docs' results pages there (per figure: CSV, PNGs, page; index.md)",
    )
    rep.add_argument(
        "--readme",
        action="store_true",
        help="print the README's summary table (MAASN-DA at Table II's point) instead",
    )
    imp = sub.add_parser("import", help="put finished fgamcd-train runs into the policy cache")
    imp.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    imp.add_argument("--out", type=Path, default=Path("results"))
    return ap


def cmd_import(runs: list[Path], out: Path) -> int:
    from benchmarks.methods import AgentsUnavailableError, import_training

    status = 0
    for run in runs:
        try:
            key, added = import_training(run, out)
        except (ValueError, AgentsUnavailableError) as exc:
            print(f"fgamcd-bench: error: {exc}", file=sys.stderr)
            status = 2
            continue
        where = out / "_policies" / key
        print(f"{run} -> {where}" + ("" if added else " (already cached, left as is)"))
    return status


def cmd_estimate(args: argparse.Namespace) -> int:
    from benchmarks.estimate import estimate, format_estimate, measure
    from benchmarks.runner import RayUnavailableError, format_report

    grid = dict(
        out=args.out,
        quick=args.quick,
        seeds=args.seeds,
        methods=args.methods,
        episodes=args.episodes,
        points=args.points,
    )
    try:
        if args.measure:
            est, report = measure(
                args.names,
                workers=args.workers,
                ray_address=args.ray_address,
                progress=not args.no_progress,
                measure_episodes=args.measure_episodes,
                **grid,
            )
            print(f"measure: {format_report(report)}\n")
        else:
            est, report = estimate(args.names, **grid), None
    except (KeyError, ValueError, RayUnavailableError) as exc:
        print(f"fgamcd-bench: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    print(format_estimate(est))
    return 0 if report is None or report.ok else 1


def cmd_list() -> int:
    reg = figures.registry()
    for name, mod in reg.items():
        try:
            quick, full = len(mod.cells(True, None)), len(mod.cells(False, None))
            counts = f"{quick:>4} quick / {full:>5} full cells"
        except Exception as exc:  # show the figure even if its grid cannot be built
            counts = f"cells() failed: {exc}"
        agents = "needs agents" if mod.NEEDS_AGENTS else ""
        print(f"{name:>8}  {counts}  {agents:12}  {mod.TITLE}")
    for module, err in figures.broken().items():
        print(f"  BROKEN  {module}: {err.strip().splitlines()[-1]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        status = _main(argv)
        sys.stdout.flush()  # a buffered write into a closed pipe fails here, not at exit
        return status
    except BrokenPipeError:
        if not _stdout_gone():
            raise  # another pipe broke (a worker's, Ray's socket): a real error
        # the reader went away (`fgamcd-bench status ... | head`): no traceback; and stdout goes
        # to /dev/null so that the interpreter's own flush at exit does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by it


def _stdout_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it (``poll`` reports POLLERR)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no real file descriptor (captured, closed)
        return False


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        return cmd_list()
    if args.command == "import":
        return cmd_import(args.runs, args.out)
    if args.command == "report":
        from benchmarks.report import readme_summary, write_pages, write_report

        if args.readme:
            print(readme_summary(args.out), end="")
            return 0
        path = write_report(args.out)
        print(f"wrote {path}")
        if args.pages is not None:
            written = write_pages(args.out, args.pages)
            print(f"wrote {len(written)} files under {args.pages}")
        return 0
    if args.command == "status":
        from benchmarks.status import status

        try:
            print(
                status(
                    args.names,
                    out=args.out,
                    quick=args.quick,
                    seeds=args.seeds,
                    methods=args.methods,
                    episodes=args.episodes,
                    points=args.points,
                )
            )
        except (KeyError, ValueError) as exc:
            print(f"fgamcd-bench: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "estimate":
        return cmd_estimate(args)
    from benchmarks.runner import Interrupted, RayUnavailableError, format_report, run

    try:
        report = run(
            args.names,
            out=args.out,
            quick=args.quick,
            seeds=args.seeds,
            workers=args.workers,
            methods=args.methods,
            ray_address=args.ray_address,
            progress=not args.no_progress,
            episodes=args.episodes,
            points=args.points,
            train=not args.no_train,
        )
    except (KeyError, ValueError, RayUnavailableError) as exc:
        print(f"fgamcd-bench: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        print(
            f"fgamcd-bench: stopped by {signal.Signals(signum).name}. Finished cells are "
            "stored and trainings checkpointed; the same command resumes.",
            file=sys.stderr,
        )
        return 128 + signum
    print(format_report(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
