"""Instructions per request of the SigOpt worker loop, before and after a change, counted by
callgrind: unlike cycles/s, the count does not depend on what else the machine runs.

For each deployment and variant (``src/`` of the git revision ``--before``, then this
checkout's ``src/`` or that of ``--after``), one ``honed serve --optimizers 0`` process
(Sobol hands out, no torch) runs under ``valgrind --tool=callgrind --instr-atstart=no`` with
PYTHONHASHSEED=0 on a fresh database: ``sqlite`` a SQLite file, ``pg1`` a PostgreSQL
database (a throwaway cluster from tests/support/postgres.py, or $HONED_TEST_POSTGRES_URL).
One keep-alive httpx client creates api_throughput.py's experiment and runs its cycle (POST
.../suggestions, then POST .../observations with the suggestion's value): ``--warmup``
cycles with instrumentation off, then on (vgdb) for ``--cycles`` measured ones. Only the
server process is counted, not PostgreSQL. Then ``--split`` more cycles read callgrind's
running total between and after the two requests, which splits a cycle into suggestion
create and observation create (by their shares: each read costs the server some 10-60 k Ir
of its own).

Some of the server's work follows the clock, not the requests: uvicorn's 0.1 s tick, and
lookups that a request makes at most once per so many seconds (the token every 5 s, the
optimizers' heartbeats every 2 s). Under valgrind a cycle takes 0.05-0.15 s, as the machine's
load has it, so that work was several percent of a cycle and varied with the load (unpaced
runs of one revision differed by 3%). The counted cycles therefore run in four blocks, one
cycle every ``--pace`` seconds or every 3x that (fast, slow, slow, fast), and a least-squares
fit of each block's Ir = cycles * R + seconds * k gives R, the Ir of a cycle itself, which is
what is reported (k, the clock's Ir/s, too). Each variant runs ``--repeat`` times, the
variants alternating.

Usage: PYTHONPATH=src .venv/bin/python benchmarks/request_instructions.py --before REV
       [--after REV] [--deployments sqlite,pg1] [--repeat 2] [--warmup 200] [--cycles 500]
       [--split 100] [--pace 0.15]

Prints per deployment Ir per cycle, per suggestion and per observation (mean over runs and
spread, max-min over mean) and the ratios after/before; where after/before of a cycle is
above 1.02, the functions whose Ir per cycle grew most, by self and by inclusive cost
(callgrind_annotate on the first block of the first runs; Python code is all in the
interpreter's frames).
Writes benchmarks/results/request_instructions.json (``--output``) and keeps the measured
callgrind profiles in the directory of that name without .json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import ExitStack
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import httpx

from _revisions import ROOT
from _revisions import extract_src
from _signals import unwind_on_stop
from api_throughput import EXPERIMENT
from api_throughput import HOSTNAME
from api_throughput import TOKEN
from api_throughput import objective

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer

RESULTS = ROOT / "benchmarks" / "results" / "request_instructions.json"
DEPLOYMENTS = ("sqlite", "pg1")
GREW = 1.02  # after/before of a cycle above which the top differences are printed


def monitor(pid: int, *command: str) -> str:
    """A callgrind monitor command sent to the process through vgdb; its answer."""
    done = subprocess.run(
        ["vgdb", f"--pid={pid}", *command], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"vgdb {' '.join(command)}: {done.stderr.strip()}")
    return done.stdout


def counted(pid: int) -> int:
    """Ir counted since the last dump, all threads."""
    answer = monitor(pid, "status", "internal")
    return sum(int(n) for n in re.findall(r"^events-\d+: (\d+)$", answer, re.MULTILINE))


@contextmanager
def callgrind_server(src: Path, database_url: str) -> Iterator[tuple[Any, Path]]:
    """A ``honed serve`` of ``src`` under callgrind, counting nothing until ``monitor``
    switches its instrumentation on, and the directory its dumps go to."""
    from tests.support.server import running_server

    with (
        tempfile.TemporaryDirectory(prefix="honed-callgrind-") as directory,
        running_server(
            database_url,
            token=TOKEN,
            startup_timeout=600.0,
            launcher=[
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={directory}/callgrind.out",
            ],
            env={"PYTHONPATH": str(src), "PYTHONHASHSEED": "0"},
        ) as server,
    ):
        yield server, Path(directory)


class Profiler:
    """Dumps of one callgrind process into a directory: each dump is the Ir since the last."""

    def __init__(self, pid: int, directory: Path) -> None:
        self.pid = pid
        self.directory = directory
        self.dumps = 0

    def dump(self) -> tuple[int, Path]:
        """Dump (and zero) the counts; the dump's total Ir and its file."""
        monitor(self.pid, "dump")
        self.dumps += 1
        path = self.directory / f"callgrind.out.{self.dumps}"
        totals = re.search(r"^totals: (\d+)$", path.read_text(), re.MULTILINE)
        if totals is None:
            raise RuntimeError(f"no totals in {path}")
        return int(totals.group(1)), path


def post(http: httpx.Client, url: str, body: dict[str, Any] | None = None) -> httpx.Response:
    """POST, sent again once when the server had closed the idle connection: vgdb's reads
    and dumps stop the server, and a pause past uvicorn's 5 s keep-alive closes it just as
    the next request goes out."""
    try:
        return http.post(url, json=body)
    except (httpx.ReadError, httpx.RemoteProtocolError):
        return http.post(url, json=body)


def cycle(http: httpx.Client, prefix: str) -> None:
    suggestion = post(http, prefix + "/suggestions")
    suggestion.raise_for_status()
    observe(http, prefix, suggestion.json())


def observe(http: httpx.Client, prefix: str, suggestion: dict[str, Any]) -> None:
    body = {
        "suggestion": suggestion["id"],
        "values": [{"value": objective(suggestion["assignments"])}],
        "metadata": {"hostname": HOSTNAME},
    }
    post(http, prefix + "/observations", body).raise_for_status()


def run_once(src: Path, database_url: str, args: argparse.Namespace, keep: Path) -> dict[str, Any]:
    """One server under callgrind: warm-up, counted blocks, split. Ir figures."""
    with (
        callgrind_server(src, database_url) as (server, directory),
        httpx.Client(base_url=server.url, auth=(TOKEN, ""), timeout=600) as http,
    ):
        began = time.monotonic()
        experiment = http.post("/v1/experiments", json=EXPERIMENT)
        experiment.raise_for_status()
        prefix = f"/v1/experiments/{experiment.json()['id']}"
        for _ in range(args.warmup):
            cycle(http, prefix)
        warmed = time.monotonic()
        pid = server.process.pid
        monitor(pid, "instrumentation", "on")
        profiler = Profiler(pid, directory)
        profiler.dump()  # drops the switch-on
        # Blocks of cycles, one every --pace seconds or 3x that (fast, slow, slow, fast), so
        # that a fit of Ir = cycles * R + seconds * k tells the cycles' own cost R from the
        # clock-driven k.
        blocks: list[tuple[int, float, int]] = []  # cycles, seconds, Ir
        late = 0
        for pace in (args.pace, 3 * args.pace, 3 * args.pace, args.pace):
            began_block = time.monotonic()
            for i in range(args.cycles // 4 + 1):
                wait = began_block + i * pace - time.monotonic()
                late += wait < 0
                time.sleep(max(0.0, wait))
                if i < args.cycles // 4:
                    cycle(http, prefix)
            ir, profile = profiler.dump()
            blocks.append((args.cycles // 4, time.monotonic() - began_block, ir))
            if len(blocks) == 1:
                shutil.copy(profile, keep)
        per_cycle, per_second = fit(blocks)
        # The split: a vgdb read costs the server some 10-60 k Ir of its own, so it only
        # gives the suggestion's share of a cycle (both requests carry one read).
        requests = {"suggestion": 0, "observation": 0}
        mark = counted(pid)
        for _ in range(args.split):
            response = post(http, prefix + "/suggestions")
            requests["suggestion"] += (total := counted(pid)) - mark
            response.raise_for_status()
            observe(http, prefix, response.json())
            requests["observation"] += (mark := counted(pid)) - total
        share = requests["suggestion"] / sum(requests.values()) if args.split else math.nan
        return {
            "ir_per_cycle": per_cycle,
            "ir_per_suggestion": share * per_cycle,
            "ir_per_observation": (1 - share) * per_cycle,
            "clock_ir_per_second": per_second,
            "blocks": blocks,
            "late_cycles": late,
            "warmup_seconds": warmed - began,
            "profile": str(keep),
            "profile_cycles": args.cycles // 4,
        }


def fit(blocks: Sequence[tuple[int, float, int]]) -> tuple[float, float]:
    """Least squares of Ir = cycles * R + seconds * k over the blocks: (R, k)."""
    nn = sum(n * n for n, _, _ in blocks)
    nw = sum(n * w for n, w, _ in blocks)
    ww = sum(w * w for _, w, _ in blocks)
    ni = sum(n * i for n, _, i in blocks)
    wi = sum(w * i for _, w, i in blocks)
    det = nn * ww - nw * nw
    return (ww * ni - nw * wi) / det, (nn * wi - nw * ni) / det


def function_costs(profile: Path, inclusive: bool) -> dict[str, int]:
    """Ir per function of a callgrind profile (callgrind_annotate), named ``object:function``;
    with ``inclusive``, only the libraries' functions: the interpreter's and the event loop's
    hold all the Python code, so their inclusive costs say nothing."""
    out = subprocess.run(
        ["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
         "--threshold=100", str(profile)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    costs: dict[str, int] = {}
    for line in out.splitlines():
        # A line without [object] repeats the share of a header inlined into the line before.
        found = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+\S*?:(\S+) \[(.*)\]$", line)
        if found is None:
            continue
        library = Path(found.group(3)).name.split(".")[0]
        if inclusive and library in ("???", "libpython3", "loop", "_asyncio"):
            continue
        name = f"{library}:{found.group(2)}"
        costs[name] = costs.get(name, 0) + int(found.group(1).replace(",", ""))
    return costs


def top_differences(before: Path, after: Path, cycles: int, top: int = 12) -> dict[str, Any]:
    """The functions whose Ir per cycle grew most from ``before`` to ``after``, by self and
    by inclusive cost: [name, growth, before]."""
    out: dict[str, Any] = {}
    for kind in ("self", "inclusive"):
        old, new = (function_costs(p, kind == "inclusive") for p in (before, after))
        grown = {name: (new.get(name, 0) - old.get(name, 0)) / cycles for name in old | new}
        ranked = sorted(grown.items(), key=lambda item: -item[1])[:top]
        out[kind] = [[name, round(d), round(old.get(name, 0) / cycles)] for name, d in ranked]
    return out


def summary(runs: Sequence[dict[str, Any]], key: str) -> tuple[float, float]:
    """Mean over runs and spread ((max - min) / mean)."""
    values = [r[key] for r in runs]
    mean = statistics.fmean(values)
    return mean, (max(values) - min(values)) / mean


def checked_deployments(parser: argparse.ArgumentParser, given: str) -> list[str]:
    """``--deployments`` as a list, once it names known ones and valgrind is installed;
    the repository's root on sys.path (for tests.support.postgres)."""
    deployments = [d for d in given.split(",") if d]
    if not deployments or not set(deployments) <= set(DEPLOYMENTS):
        parser.error(f"--deployments: from {', '.join(DEPLOYMENTS)}")
    if shutil.which("valgrind") is None or shutil.which("vgdb") is None:
        parser.error("needs valgrind (apt-get install valgrind)")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return deployments


def check_import(src: Path) -> None:
    """The server started with PYTHONPATH=src imports honed from ``src``."""
    found = subprocess.run(
        [sys.executable, "-c", "import honed; print(honed.__file__)"],
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).is_relative_to(src):
        raise RuntimeError(f"PYTHONPATH={src} imports honed from {found}")


def print_table(results: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
    keys = ("ir_per_cycle", "ir_per_suggestion", "ir_per_observation")
    header = f"{'deployment':<12}{'variant':<10}{'runs':>5}" + "".join(
        f"{label:>20}" for label in ("M Ir/cycle (spread)", "M Ir/suggestion", "M Ir/observation")
    )
    print("\n" + header + f"{'clock M Ir/s':>14}\n" + "-" * (len(header) + 14))
    for deployment, variants in results.items():
        for variant, runs in variants.items():
            cells = "".join(
                f"{m / 1e6:>11.3f} ({100 * s:4.2f}%)" for m, s in (summary(runs, k) for k in keys)
            )
            clock = statistics.fmean(r["clock_ir_per_second"] for r in runs) / 1e6
            print(f"{deployment:<12}{variant:<10}{len(runs):>5}{cells}{clock:>14.2f}")
        before, after = (variants[v] for v in ("before", "after"))
        ratios = "".join(f"{summary(after, k)[0] / summary(before, k)[0]:>20.3f}" for k in keys)
        print(f"{deployment:<12}{'after/before':<15}{ratios}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--before", required=True, help="git revision of the old code")
    parser.add_argument("--after", default=None, help="git revision (default: this checkout)")
    parser.add_argument("--deployments", default=",".join(DEPLOYMENTS))
    parser.add_argument("--repeat", type=int, default=2, help="runs per variant")
    parser.add_argument("--warmup", type=int, default=200, help="uncounted cycles first")
    parser.add_argument("--cycles", type=int, default=500, help="counted cycles")
    parser.add_argument(
        "--split", type=int, default=100, help="cycles after, split into the two requests"
    )
    parser.add_argument(
        "--pace", type=float, default=0.15, help="seconds per counted cycle (and 3x that)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    deployments = checked_deployments(parser, args.deployments)
    from tests.support.postgres import running_postgres

    unwind_on_stop()
    profiles = args.output.with_suffix("")  # a directory beside the JSON
    profiles.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        d: {"before": [], "after": []} for d in deployments
    }
    started = time.monotonic()
    try:
        with ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="honed-before-")))
            sources = {"before": ROOT / "src", "after": ROOT / "src"}
            for variant, revision in (("before", args.before), ("after", args.after)):
                if revision is not None:
                    (tmp / variant).mkdir()
                    sources[variant] = extract_src(revision, tmp / variant)
            for src in sources.values():
                check_import(src)
            postgres: PostgresServer | None = None
            if "pg1" in deployments:
                postgres = stack.enter_context(running_postgres())
            for run in range(args.repeat):
                for deployment in deployments:
                    for variant, src in sources.items():
                        print(f"[{deployment} {variant} run {run + 1}] ...", end="", flush=True)
                        with ExitStack() as each:
                            if deployment == "sqlite":
                                scratch = each.enter_context(tempfile.TemporaryDirectory())
                                url = f"sqlite:///{scratch}/bench.db"
                            else:
                                assert postgres is not None
                                url = postgres.create_database(prefix="honed_bench")
                                each.callback(postgres.drop_database, url)
                            keep = profiles / f"{deployment}-{variant}-{run + 1}.callgrind"
                            result = run_once(src, url, args, keep)
                        results[deployment][variant].append(result)
                        print(
                            f" {result['ir_per_cycle'] / 1e6:.3f} M Ir/cycle "
                            f"({sum(b[1] for b in result['blocks']):.0f} s counted, "
                            f"{result['late_cycles']} cycles late)",
                            flush=True,
                        )
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        return 130
    print_table(results)
    differences: dict[str, dict[str, Any]] = {}
    for deployment, variants in results.items():
        ratio = (
            summary(variants["after"], "ir_per_cycle")[0]
            / summary(variants["before"], "ir_per_cycle")[0]
        )
        if ratio > GREW:
            old, new = (Path(variants[v][0]["profile"]) for v in ("before", "after"))
            cycles = variants["after"][0]["profile_cycles"]
            differences[deployment] = top_differences(old, new, cycles)
            for kind, rows in differences[deployment].items():
                print(f"\n{deployment}: {kind} Ir per cycle, after - before (before)")
                for name, grown, old in rows:
                    print(f"  {grown:>+12,} {old:>12,}  {name[:100]}")
    minutes = (time.monotonic() - started) / 60
    print(f"\n{minutes:.0f} minutes")
    report = {
        "benchmark": "request_instructions",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "settings": {**{k: v for k, v in vars(args).items() if k != "output"}, "minutes": minutes},
        "results": results,
        "top_differences": differences,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
