"""`xlt` command line: run studies, show results, list the registry.

    xlt demo                              # embedded offline study (real encoder, 80+ languages)
    xlt study study.yaml train.lr=3e-5    # any study file, key=value overrides
    xlt validate study.yaml               # check settings, names and every data split; writes nothing
    xlt results --format md -o results.md
    xlt report --study demo -o report/    # report.md, report.tex, report.html with plots
    xlt bundle --study demo -o demo.tar.gz   # settings, provenance, results, DB rows, report: one archive
    xlt verify demo.tar.gz --runs 1          # re-execute runs of a bundle, compare the scores
    xlt ls tasks | langs | models

Bad input exits with code 2 and one line on stderr; nothing already stored is touched.
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib import resources
from pathlib import Path

from xlt.errors import XltError

DEFAULT_DB = "xlt-results/results.sqlite"
# what --group-by takes, in `xlt families` and `xlt report` alike
GROUPINGS_HELP = ("a registry column: family (default), genus, word-order, adposition, script, resource (Joshi et al. "
                  "2020 class) or any other column of src/xlt/languages/languages.tsv; or all (every target language "
                  "in one group)")


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line on stderr and exit code 2, like every other bad input."""

    def error(self, message: str):
        self.exit(2, f"xlt: error: {message} (see {self.prog} --help)\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class _Version(argparse.Action):
    """`xlt --version`; works out the version (a git call) only when asked, not on every parse."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from xlt.provenance import version_line

        print(version_line())
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="xlt", description="Zero-shot cross-lingual transfer studies.")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("--version", action=_Version,
                   help="print xlt's version (and git commit when run from a checkout) and exit")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("study", help="run a study file (finished runs are skipped)")
    s.add_argument("file", help="study YAML")
    s.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.lr=3e-5 seeds=[1,2]")
    s.add_argument("--db", help="results database URL or SQLite path (default: the study's db)")
    s.add_argument("--rerun-stale", action="store_true",
                   help="recompute finished runs that were computed under other library versions "
                        "(torch, transformers, tokenizers, datasets, xlt); their old rows are replaced")
    s.add_argument("--dry-run", action="store_true",
                   help="print the grid, what is done/running/failed/todo and the compute left; run nothing")
    s.add_argument("--workers", type=int, help="parallel workers sharing the study through the results DB "
                   "(local processes; with --launcher: jobs, default one per unfinished run on Slurm)")
    s.add_argument("--launcher", choices=("local", "slurm"),
                   help="run the workers as submitit jobs: its local executor, or a Slurm job array")
    sl = s.add_argument_group("submitit jobs (--launcher)")
    sl.add_argument("--partition", help="Slurm partition")
    sl.add_argument("--gpus-per-job", type=int, default=1, help="GPUs per Slurm job (default 1)")
    sl.add_argument("--max-parallel", type=int, default=0, help="array jobs running at once (default all)")
    sl.add_argument("--time", default="24:00:00", help="time limit per job, Slurm syntax (timed-out jobs requeue)")
    sl.add_argument("--account", help="Slurm account")
    sl.add_argument("--qos", help="Slurm QOS")
    sl.add_argument("--folder", default="xlt-results/jobs", help="job pickles and logs (default xlt-results/jobs)")

    v = sub.add_parser("validate", help="check a study without running it: settings, names, every data split "
                       "and label it will read; writes nothing")
    v.add_argument("file", help="study YAML")
    v.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.lr=3e-5")

    d = sub.add_parser("demo", help="the embedded offline study: me5-small-q4 on cldr-names (80+ languages)")
    d.add_argument("overrides", nargs="*", help="key=value overrides")
    d.add_argument("--db", help="results database (default: xlt-results/results.sqlite)")

    r = sub.add_parser("results", help="per-language tables from the results database")
    r.add_argument("--db", default=DEFAULT_DB)
    r.add_argument("--study", help="only this study")
    r.add_argument("--task", help="only this task")
    r.add_argument("--format", choices=("table", "md", "csv", "json"), default="table",
                   help="json: one study as one document (needs --study; schema xlt/schemas/results.schema.json)")
    r.add_argument("-o", "--output", help="write to this file instead of stdout")

    f = sub.add_parser("families", help="scores by language family with bootstrap CIs; paired model comparison")
    f.add_argument("--db", default=DEFAULT_DB)
    f.add_argument("--study", required=True)
    f.add_argument("--task", help="only this task")
    f.add_argument("--metric", default="accuracy", help="per-example metric to aggregate (default accuracy)")
    f.add_argument("--compare", nargs=2, metavar=("A", "B"),
                   help="paired test of condition A minus B: a model, method or intermediate name, or "
                        "model/method/intermediate (per family, Holm-corrected)")
    f.add_argument("--level", choices=("family", "language"), default="family")
    f.add_argument("--n-boot", type=_positive, default=2000)
    f.add_argument("--group-by", default="family", metavar="COLUMN",
                   help=f"group languages by {GROUPINGS_HELP}")

    e = sub.add_parser("export", help="test predictions in the XTREME leaderboard layout <task>/test-<lang>.<ext>")
    e.add_argument("--db", default=DEFAULT_DB)
    e.add_argument("--study", required=True)
    e.add_argument("--model", required=True, help="the model name as written in the study file")
    e.add_argument("--seed", type=int, help="which seed's run (default: the lowest per task)")
    e.add_argument("-o", "--out", required=True, help="output folder")

    rp = sub.add_parser("report", help="report.md, report.tex and self-contained report.html with plots")
    rp.add_argument("--db", default=DEFAULT_DB)
    rp.add_argument("--study", required=True)
    rp.add_argument("-o", "--out", default="xlt-report", help="output folder (default xlt-report)")
    rp.add_argument("--task", help="only this task")
    rp.add_argument("--compare", nargs=2, metavar=("A", "B"),
                    help="paired test A minus B: model, method or intermediate names, or model/method/intermediate "
                         "(default: every pair of conditions that differ in one of them)")
    rp.add_argument("--n-boot", type=_positive, default=2000, help="bootstrap replicates and permutations")
    rp.add_argument("--group-by", nargs="+", default=["family"], metavar="COLUMN",
                    help=f"groupings of the language tables and comparisons, each one of {GROUPINGS_HELP}, e.g. "
                         "family word-order resource all; the first replaces the family section, the others follow it")

    b = sub.add_parser("bundle", help="one study as a .tar.gz a reviewer can read and check with xlt verify")
    b.add_argument("--db", default=DEFAULT_DB)
    b.add_argument("--study", required=True)
    b.add_argument("-o", "--output", help="the archive to write (default <study>.tar.gz)")

    vf = sub.add_parser("verify", help="re-execute runs of a bundle and compare their scores with the bundled ones")
    vf.add_argument("bundle", help="a .tar.gz written by xlt bundle")
    vf.add_argument("--runs", type=_positive, help="how many runs to re-execute (default: one per model x "
                    "condition x task; fewer cover as many combinations as they can)")
    vf.add_argument("--tolerance", type=float, default=0.5,
                    help="largest difference in points (x100) still accepted (default 0.5); 0 = identical only")
    vf.add_argument("--db", help="store the re-executed runs here (default: a temporary database)")
    vf.add_argument("--data-dir", action="append", default=[], metavar="TASK=PATH",
                    help="where a task's data is on this machine, when not at the bundled path (repeatable)")

    ls = sub.add_parser("ls", help="list registered tasks, languages or model presets")
    ls.add_argument("what", choices=("tasks", "langs", "models"))
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    # overrides may follow options (`xlt study s.yaml --dry-run seeds=[1]`): collect them by hand
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            if args.command not in ("study", "demo", "validate") or any("=" not in e for e in extra):
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            args.overrides = list(args.overrides) + extra
    except SystemExit as exc:  # usage errors (one line, code 2) and --help (code 0)
        return exc.code
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        return _dispatch(args)
    except XltError as exc:
        print(f"xlt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xlt: interrupted; finished runs are stored, re-run the same command to resume", file=sys.stderr)
        return 130


def _dispatch(args) -> int:
    if args.command in ("study", "demo", "validate"):
        return _study(args)
    if args.command == "results":
        if args.output:
            _writable(Path(args.output), folder=False)
        return _results(args.db, args.study, args.task, args.format, args.output)
    if args.command == "export":
        from xlt.report.export import export

        _writable(Path(args.out), folder=True)
        for task, paths in export(_open_store(args.db), args.study, args.model, Path(args.out), args.seed).items():
            print(f"{task}: {len(paths)} file(s)" if paths else f"{task}: skipped (no stored predictions)")
        return 0
    if args.command == "report":
        from xlt.report.build import write_report

        _writable(Path(args.out), folder=True)
        paths = write_report(_open_store(args.db), args.study, Path(args.out), args.task, args.compare, args.n_boot,
                             progress=not args.quiet, group_by=tuple(args.group_by))
        print("wrote " + ", ".join(str(p) for p in paths.values()))
        return 0
    if args.command == "families":
        return _families(args)
    if args.command == "bundle":
        return _bundle(args)
    if args.command == "verify":
        return _verify(args)
    if args.command == "ls":
        from xlt.cli.listing import list_registry

        print(list_registry(args.what))
    return 0


def _study(args) -> int:
    from xlt.store.db import Store
    from xlt.study.config import load_study
    from xlt.study.runner import Runner

    if args.command == "demo":
        path = resources.files("xlt") / "studies" / "demo.yaml"
        with resources.as_file(path) as p:
            study = load_study(p, args.overrides)
    else:
        study = load_study(args.file, args.overrides)
    workers = getattr(args, "workers", None)
    if workers is not None and workers < 1:
        raise XltError(f"--workers must be at least 1, got {workers}")
    runner = Runner(study, progress=not args.quiet)
    runs = runner.validate(dry_run=getattr(args, "dry_run", False))  # bad input stops here: nothing claimed
    if args.command == "validate":
        print(f"study {study.name}: valid; {len({r.run_id for r in runs})} run(s), "
              f"{sum(len(runner.workspace.task(t).languages) for t in study.tasks)} task-language test set(s) "
              f"read, precision {runs[0].train.precision}")
        return 0
    db = args.db or study.db
    if getattr(args, "dry_run", False):
        from xlt.study.launch import describe
        from xlt.training import precision
        from xlt.training.loop import pick_device

        runner.store = _open_store(db) if "://" in db or Path(db).is_file() else Store("sqlite://")
        line = precision.describe(study.train.precision, pick_device(study.runtime.device))
        plan = runner.plan()
        runner.stale(plan)  # warns when finished runs were computed under other library versions
        print(describe(plan, runner.store, line, runner.workspace))
        return 0
    store = runner.store = Store(db)
    rerun_stale = getattr(args, "rerun_stale", False)
    if getattr(args, "launcher", None) or (getattr(args, "workers", None) or 1) > 1:
        if rerun_stale:
            raise XltError("--rerun-stale runs in this process: use it without --workers/--launcher")
        plan = runner.plan()
        runner.stale(plan)
        summary = _launch(args, study, db, plan)
        if "jobs" in summary:
            print(f"study {study.name}: submitted Slurm job(s) {', '.join(summary['jobs'])} for "
                  f"{summary['runs'] - summary['skipped']} run(s); logs in {summary['folder']}; "
                  f"`xlt study {args.file} --dry-run` shows progress")
            return 0
    else:
        summary = runner.run(rerun_stale=rerun_stale)
    print(f"study {study.name}: {summary['ran']} run(s) executed, {summary['skipped']} already done; "
          f"results in {store.url}")
    code = _results(db, study.name, None, "table", None)
    print(next_commands(study.name, db))
    return code


def _launch(args, study, db: str, plan) -> dict:
    from xlt.study.launch import LaunchOptions, launch

    opts = LaunchOptions(launcher=args.launcher or "processes", workers=args.workers or 0, folder=args.folder,
                         time=args.time, partition=args.partition, gpus_per_job=args.gpus_per_job,
                         max_parallel=args.max_parallel, account=args.account, qos=args.qos)
    return launch(study, db, plan, opts)


def _writable(path: Path, folder: bool) -> None:
    """Fail before any work when an output path cannot be written (one line naming it)."""
    import os

    if folder and path.exists() and not path.is_dir():
        raise XltError(f"output folder {path} is a file")
    if not folder and path.is_dir():
        raise XltError(f"output file {path} is a directory")
    existing = next(p for p in [path, *path.parents] if p.exists() or p == Path(p.anchor or "."))
    if existing != path and not existing.is_dir():
        raise XltError(f"cannot write {path}: {existing} is a file, not a directory")
    if not os.access(existing if existing.is_dir() else existing.parent, os.W_OK) or (
            existing == path and path.is_file() and not os.access(path, os.W_OK)):
        raise XltError(f"cannot write {path}: permission denied")


def _open_store(db: str):
    """An existing results database, read-only: reading commands never create or modify one."""
    from xlt.store.db import Store

    return Store(db, read_only=True)


def _results(db: str, study: str | None, task: str | None, fmt: str, output: str | None) -> int:
    from xlt.analysis.results import build_tables, to_csv, to_markdown, to_text

    if fmt == "json":
        return _results_json(db, study, task, output)
    store = _open_store(db)
    scores = store.scores_frame(study=study, task=task)
    superseded = store.superseded(study) if study else 0
    if superseded:  # the study's newest runs only; say what is left out
        print(f"note: {superseded} earlier run(s) of study {study!r} are not shown: their data, weights or "
              "settings changed, and the current runs replace them", file=sys.stderr)
    if scores.empty:
        raise XltError(f"no finished runs in {db}" + (f" for study {study!r}" if study else ""))
    tables = build_tables(scores)
    text = {"table": to_text, "md": to_markdown, "csv": to_csv}[fmt](tables)
    if fmt != "csv":
        from xlt.analysis import xtreme

        text += "\n" + xtreme.to_text(xtreme.summarize(scores))
    if output:
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {output}")
    else:
        print(text)
    return 0


def _results_json(db: str, study: str | None, task: str | None, output: str | None) -> int:
    import json

    from xlt.api import results_document

    if not study:
        raise XltError("--format json writes one study's document: give --study")
    if task:
        raise XltError("--format json writes the whole study: drop --task")
    text = json.dumps(results_document(_open_store(db), study), indent=1, allow_nan=False, ensure_ascii=False)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {output}")
    else:
        print(text)
    return 0


def _families(args) -> int:
    from xlt.analysis import families
    from xlt.analysis.condition import conditions_of, parse_condition

    store = _open_store(args.db)
    examples = store.example_frame(args.study, task=args.task, metric=args.metric)
    if examples.empty:
        raise XltError(f"no per-example scores for metric {args.metric!r} in study {args.study!r}"
                       + (f" task {args.task!r}" if args.task else ""))
    if args.compare:  # model, method or intermediate names, or model/method/intermediate (as in `xlt report`)
        a, b = (parse_condition(c, conditions_of(examples)) for c in args.compare)
        table = families.paired_comparison(examples, a, b, level=args.level, metric=args.metric, n_boot=args.n_boot,
                                           group_by=args.group_by)
        print(f"{args.compare[0]} minus {args.compare[1]} ({args.metric}, paired on the same test examples; "
              "scores x100)")
    else:
        table = families.family_table(examples, metric=args.metric, n_boot=args.n_boot, group_by=args.group_by)
    if table.empty:
        raise XltError(f"no per-example scores for metric {args.metric!r} in study {args.study!r}")
    print(families.to_text(table))
    return 0


def _file_stem(study: str) -> str:
    """A study name as a file or folder name (one path component)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in study)


def next_commands(study: str, db: str) -> str:
    """What to run next on the study just run (the --db argument only when it is not the default)."""
    import shlex

    name = shlex.quote(study)
    at = "" if db == DEFAULT_DB else f" --db {shlex.quote(db)}"
    folder = _file_stem(study)
    return "\n".join(["next:", f"  xlt families --study {name}{at}",
                      f"  xlt report --study {name}{at} -o {shlex.quote(folder + '-report')}",
                      f"  xlt bundle --study {name}{at} -o {shlex.quote(folder + '.tar.gz')}"])


def _bundle(args) -> int:
    import shlex

    from xlt.repro.bundle import write_bundle

    out = Path(args.output or _file_stem(args.study) + ".tar.gz")
    _writable(out, folder=False)
    info = write_bundle(_open_store(args.db), args.study, out, progress=not args.quiet)
    left = f"; {info['left_out']} unfinished or superseded run(s) left out" if info["left_out"] else ""
    print(f"wrote {out} ({info['bytes'] / 1e6:.1f} MB): study {args.study}, {info['runs']} run(s){left}; "
          f"check it with: xlt verify {shlex.quote(str(out))} --runs 1")
    return 0


def _verify(args) -> int:
    from xlt.repro.verify import DIFFERS, IDENTICAL, table, verify

    dirs = {}
    for item in args.data_dir:
        task, sep, path = item.partition("=")
        if not sep or not task or not path:
            raise XltError(f"--data-dir {item!r}: expected TASK=PATH (e.g. sib200=/data/sib-200)")
        dirs[task] = path
    verdicts, manifest, notes = verify(args.bundle, args.runs, args.tolerance, args.db, dirs,
                                       progress=not args.quiet)
    print(f"verify {args.bundle}: study {manifest.get('study')}, {len(verdicts)} of {manifest.get('runs')} "
          f"run(s) re-executed (tolerance {args.tolerance:g} points)")
    for note in notes:
        print(f"note: {note}")
    print(table(verdicts, args.tolerance))
    bad = [v for v in verdicts if v.verdict == DIFFERS]
    if bad:
        worst = max(bad, key=lambda v: v.max_diff)
        print(f"xlt: verify failed: {len(bad)} of {len(verdicts)} re-executed run(s) differ beyond "
              f"{args.tolerance:g} points (run {worst.run['run_id']}: {worst.worst})", file=sys.stderr)
        return 1
    same = sum(v.verdict == IDENTICAL for v in verdicts)
    print(f"verified: {same} identical, {len(verdicts) - same} within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
