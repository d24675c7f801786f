"""A full sync of a seeded world through Airflow (issue 7): wall time, CPU time and peak memory per
stage, for a first run and for a second run after 1% of the customer records changed in the systems,
embedded (`airflow dags test`, SQLite) or under CeleryExecutor with N workers (PostgreSQL, Redis).

    .venv/bin/python bench/sync_through_airflow.py embedded --customers 100000
    .venv/bin/python bench/sync_through_airflow.py celery --customers 20000 --workers 1
    .venv/bin/python bench/sync_through_airflow.py celery --customers 20000 --workers 2

Vendor limits: every sandbox runs at its defaults except these published higher tiers (VENDOR_TIERS):
Shopify Plus (GraphQL cost bucket 20,000 points, restored 1,000 a second: 10x the sandbox default),
HubSpot Professional/Enterprise (190 requests per 10 s) and Zendesk's High Volume API add-on
(incremental exports 30 a minute; the Enterprise 700 requests a minute is the sandbox default).

Wall time per stage comes from Airflow's metadata DB (task_instance: first start to last end of the
stage's task instances, mapped ones included). CPU time is measured by process: a sampler reads
/proc every SAMPLE seconds for the Airflow process tree (the `dags test` process, or the Celery
workers and their task processes; never the sandboxes, which are measured separately as "vendor
side"), counting each live process's utime+stime plus its reaped children's (cutime+cstime), and a
stage's CPU is the growth of that total between its first start and last end (interpolated between
samples). In the embedded run the tasks run one at a time in the one process, so that is the stage's
own CPU (plus Airflow's bookkeeping between its tasks); under Celery it is every worker's CPU over
the stage's window. Peak memory: the largest sum of PSS over the Airflow process tree at any sample
(shared pages counted once; summed RSS is kept too, but counts a forked task process's pages shared
with its parent again), the largest single process's RSS (overall and within each stage's span, to
tell which stage holds the peak), and /usr/bin/time -v's maximum RSS (embedded).

The 1% change: after the first run, 1% of each system's customer records (every 100th record of
the seeded world, in source-id order) get a new name written through the adapter (`write` with a
mappings.to_source patch, as tests/integration/test_sync_back.py does), so each vendor's own change
tracking reports them. Zendesk's incremental export hides the latest minute (--recent-window 60,
the vendor's behaviour), so every run after the first starts at least 65 s after the last writes (the
previous run's or the 1% change's); that wait is not part of any run's time. --settle puts a run with no
outside change between the first and the 1% run, so that the 1% run does not also re-read the first run's own write-backs.

A run that exceeds --timeout is stopped and still measured (the stages that finished); the script
then stops. `table FILE...` prints the Markdown tables of bench/RESULTS.md from result files.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from adapters import registry  # noqa: E402
from adapters.base import Change  # noqa: E402
from adapters.testing import free_port  # noqa: E402
from adapters.world import World  # noqa: E402
from canonical import mapping as mappings  # noqa: E402
from canonical import pools  # noqa: E402
from canonical.sandboxes import connection_env, endpoint_of, running  # noqa: E402
from canonical.topology import celery_settings  # noqa: E402

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
SEED = 1
SAMPLE = 0.25
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PG_ADMIN = os.environ.get("CONCORD_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_DB = 11
VENDOR_TIERS = {
    "shopify": ("--maximum-available", "20000", "--restore-rate", "1000"),
    "hubspot": ("--rate-limit", "190"),
    "zendesk": ("--export-rate-limit", "30"),
}
CHANGE_EVERY = 100  # 1%
ZENDESK_HIDDEN_S = 65  # the export hides the latest 60 s (--recent-window), plus a margin


# ---------------------------------------------------------------- processes and their CPU / memory
def _stat(pid: int) -> tuple[float, int, int] | None:
    """(cpu seconds incl. reaped children, rss bytes, ppid) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    rss = int(fields[21]) * PAGE
    return (utime + stime + cutime + cstime) / TICK, rss, ppid


def _pss(pid: int) -> int:
    """Proportional set size in bytes: a page shared by n processes counts 1/n in each. Forked Celery
    task processes share most of their parent's pages, so summing their RSS counts those many times."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _tree(roots: list[int]) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st:
                children.setdefault(st[2], []).append(int(entry))
    out, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


class Sampler(threading.Thread):
    """Samples CPU seconds and RSS of the process trees under `roots` (a callable: pids may come and go)."""

    def __init__(self, roots):
        super().__init__(daemon=True)
        self.roots, self.samples, self.peak_rss, self.stop_flag = roots, [], 0, threading.Event()
        self.peak_pss, self.peak_one_rss = 0, 0  # the tree's summed PSS; the largest single process's RSS
        self.largest: list[tuple[float, int]] = []  # per sample: the largest single process's RSS
        self._dead_cpu: dict[int, float] = {}   # last CPU seen of processes no longer in the tree
        self._seen: dict[int, float] = {}

    def run(self):
        while not self.stop_flag.is_set():
            self.sample()
            self.stop_flag.wait(SAMPLE)
        self.sample()

    def sample(self):
        pids = _tree(self.roots())
        cpu, rss, pss, now_seen, one = 0.0, 0, 0, {}, 0
        for pid in pids:
            st = _stat(pid)
            if st:
                now_seen[pid] = st[0]
                cpu += st[0]
                rss += st[1]
                pss += _pss(pid)
                one = max(one, st[1])
        self.peak_one_rss = max(self.peak_one_rss, one)
        self.largest.append((time.time(), one))
        # A process that vanished from the tree counts with its last seen CPU, unless its parent in the
        # tree reaped it (then the parent's cutime grew by it). Roots are long-lived here; task
        # processes are children of a root and reaped by it, so their CPU moves into cutime.
        for pid, last in self._seen.items():
            if pid not in now_seen and pid in self.roots_set():
                self._dead_cpu[pid] = last
        self._seen = now_seen
        cpu += sum(v for p, v in self._dead_cpu.items() if p not in now_seen)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        self.samples.append((time.time(), cpu))

    def roots_set(self):
        return set(self.roots())

    def cpu_between(self, start: float, end: float) -> float:
        return max(0.0, self._at(end) - self._at(start))

    def _at(self, t: float) -> float:
        s = self.samples
        if not s:
            return 0.0
        if t <= s[0][0]:
            return s[0][1]
        for (t0, c0), (t1, c1) in zip(s, s[1:]):
            if t0 <= t <= t1:
                return c0 + (c1 - c0) * ((t - t0) / (t1 - t0) if t1 > t0 else 1.0)
        return s[-1][1]

    def largest_between(self, start: float, end: float) -> int:
        """The largest single process's RSS sampled in [start, end]: which stage holds the peak."""
        return max((rss for t, rss in self.largest if start <= t <= end), default=0)

    def finish(self):
        self.stop_flag.set()
        self.join(timeout=10)


def _cpu_of(pids: list[int]) -> float:
    return sum((_stat(p) or (0.0, 0, 0))[0] for p in _tree(pids))


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    # Whatever is left of the group (`airflow dags test` under /usr/bin/time outlives a SIGTERM to time).
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


# ---------------------------------------------------------------- sandboxes
def seeded_state(customers: int, scratch: Path, logs: Path) -> Path:
    """A pristine seeded state of every sandbox (seeded once, reused by later invocations)."""
    pristine = Path(f"/tmp/h7b-seed/{customers}")
    marker = pristine / ".complete"
    if not marker.exists():
        pristine.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with ExitStack() as stack:
            for system in registry.known():
                stack.enter_context(running(system, "--seed", str(SEED), "--customers", str(customers),
                                            "--state-dir", str(pristine), log_path=logs / f"seed-{system}.log",
                                            timeout=3600))
        marker.write_text(f"seeded in {time.monotonic() - started:.0f}s\n")
    print(f"sandbox state: {pristine} ({marker.read_text().strip()})", file=sys.stderr, flush=True)
    state = scratch / "sandboxes"
    shutil.copytree(pristine, state, ignore=shutil.ignore_patterns(".complete"))
    return state


def start_sandboxes(stack: ExitStack, state: Path, customers: int, logs: Path) -> tuple[dict, dict, list]:
    env, infos, procs = {}, {}, []
    for system in registry.known():
        info = stack.enter_context(running(system, "--seed", str(SEED), "--customers", str(customers),
                                           "--state-dir", str(state), *VENDOR_TIERS.get(system, ()),
                                           log_path=logs / f"sandbox-{system}.log", timeout=3600))
        env.update(connection_env(system, info))
        infos[system] = info
    return env, infos, procs


def sandbox_pids() -> list[int]:
    me = os.getpid()
    out = []
    for pid in _tree([me]):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"sandbox" in cmd and b"canonical.cli" in cmd:
            out.append(pid)
    return out


# ---------------------------------------------------------------- the 1% change
def change_one_percent(infos: dict, customers: int) -> dict:
    world = World(SEED, customers)
    done = {}
    order = ["zendesk"] + [s for s in registry.known() if s != "zendesk"]  # Zendesk first: its export hides a minute
    for system in order:
        views = [v for v in world.views(system) if system != "mailchimp" or v.email][::CHANGE_EVERY]
        mapping = mappings.load(system).customers
        changes = []
        for n, view in enumerate(views):
            fields = {"given_name": f"Changed{n:05d}"} if "given_name" in _canonical_fields(mapping) else \
                {"full_name": f"Changed{n:05d} {view.family_name or 'Person'}"}
            patch = mapping.to_source(fields)
            if system == "mailchimp":
                patch = {**patch, "email_address": view.email}
            changes.append(Change(view.source_id, patch))
        adapter = registry.adapter_class(system)(endpoint_of(infos[system]))
        started = time.monotonic()
        results = adapter.write(changes)
        done[system] = {"changed": sum(r.ok for r in results), "of": len(world.views(system)),
                        "seconds": round(time.monotonic() - started, 1), "at": time.time()}
        print(f"changed {system}: {done[system]}", file=sys.stderr, flush=True)
    return done


def _canonical_fields(mapping) -> set:
    return {rule.canonical for rule in mapping.rules}


# ---------------------------------------------------------------- Airflow metadata: stages
def stage_of(task_id: str) -> str:
    if "." in task_id:
        system, step = task_id.split(".", 1)
        return f"{step} {system}"
    return task_id


STAGE_ORDER = ["prepare", "targets", "extract", "load", "reconcile_plan", "reconcile_pairs", "reconcile_train",
               "reconcile_score", "reconcile", "sync_back", "audit"]


def stages(airflow_db: str, run_id: str, sampler: Sampler) -> tuple[list[dict], dict]:
    with create_engine(airflow_db).connect() as c:
        rows = c.execute(text(
            "SELECT task_id, map_index, start_date, end_date, duration, state, hostname FROM task_instance "
            "WHERE dag_id = 'concord_sync' AND run_id = :r"), {"r": run_id}).all()
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(stage_of(r.task_id), []).append(r)

    def ts(d):
        if d is None:
            return None
        if isinstance(d, str):
            d = datetime.fromisoformat(d)
        if d.tzinfo is None:
            d = d.replace(tzinfo=timezone.utc)
        return d.timestamp()

    out = []
    for name, tis in by.items():
        starts = [ts(t.start_date) for t in tis if t.start_date]
        ends = [ts(t.end_date) for t in tis if t.end_date]
        if not starts or not ends:
            out.append({"stage": name, "tasks": len(tis), "states": sorted({t.state or "none" for t in tis})})
            continue
        start, end = min(starts), max(ends)
        out.append({"stage": name, "tasks": len(tis), "states": sorted({t.state or "none" for t in tis}),
                    "start": start, "wall_s": round(end - start, 2),
                    "task_s": round(sum(t.duration or 0 for t in tis), 2),
                    "cpu_s": round(sampler.cpu_between(start, end), 2),
                    "cpu_in_tasks_s": round(sum(sampler.cpu_between(ts(t.start_date), ts(t.end_date))
                                                for t in tis if t.start_date and t.end_date), 2),
                    "peak_rss_one_process_mb": round(sampler.largest_between(start, end) / 2**20),
                    "hosts": sorted({t.hostname or "" for t in tis})})
    out.sort(key=lambda s: s.get("start", 0))
    done = [s for s in out if "start" in s]
    first = min(s["start"] for s in done)
    last = max(s["start"] + s["wall_s"] for s in done)
    for s in out:
        s.pop("start", None)
        if s.get("wall_s"):
            s["cpu_over_wall"] = round(s["cpu_s"] / s["wall_s"], 2) if s["wall_s"] > 0 else None
        if s.get("task_s"):
            s["cpu_in_tasks_over_task_s"] = round(s["cpu_in_tasks_s"] / s["task_s"], 2)
    spans = [(ts(t.start_date), ts(t.end_date)) for t in rows if t.start_date and t.end_date]
    return out, {"first_start": first, "last_end": last, "wall_s": round(last - first, 1),
                 "cpu_s": round(sampler.cpu_between(first, last), 1),
                 "no_task_running_s": round(idle_between(spans, first, last), 1)}


def idle_between(spans: list[tuple[float, float]], first: float, last: float) -> float:
    """Seconds of [first, last] in which no task instance ran: Airflow's own time between tasks
    (scheduling, queueing, starting the task process) on the run's critical path."""
    idle, reached = 0.0, first
    for start, end in sorted(spans):
        if start > reached:
            idle += start - reached
        reached = max(reached, end)
    return idle + max(0.0, last - reached)


# ---------------------------------------------------------------- embedded: airflow dags test
def embedded_env(scratch: Path) -> tuple[dict, str]:
    airflow_db = f"sqlite:///{scratch}/airflow.db"
    env = {**os.environ, "AIRFLOW_HOME": str(REPO), "CONCORD_HOME": str(REPO), "PYTHONPATH": str(REPO),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
           "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(scratch / "logs"),
           "CONCORD_SCHEDULE": "none", "CONCORD_DB_URL": f"sqlite:///{scratch}/concord.db",
           "CONCORD_VAR_DIR": str(scratch / "var"), "CONCORD_WORK_URL": str(scratch / "work")}
    return env, airflow_db


def airflow_cli(env: dict, *args: str, timeout: float = 300) -> str:
    result = subprocess.run([AIRFLOW, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed: {result.stderr[-3000:]}")
    return result.stdout


def dags_test(env: dict, log: Path, timeout: float, sampler_box: dict, airflow_db: str) -> tuple[str, dict]:
    """`airflow dags test concord_sync` under /usr/bin/time -v, sampled; returns its run id and process figures."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(["/usr/bin/time", "-v", AIRFLOW, "dags", "test", "concord_sync"], env=env, cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        sampler = Sampler(lambda: [proc.pid])
        sampler_box["sampler"] = sampler
        sampler.start()
        started = time.time()
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Stopped, and the stages that finished are still measured (the caller stops after this run).
            timed_out = True
            print(f"`airflow dags test` did not finish in {timeout:.0f}s; stopping it; see {log}", file=sys.stderr)
        finally:
            _stop(proc)
            sampler.finish()
    elapsed = time.time() - started
    text_ = log.read_text(errors="replace")
    maxrss = next((int(line.split(":")[1]) * 1024 for line in text_.splitlines()
                   if "Maximum resident set size" in line), 0)
    with create_engine(airflow_db).connect() as c:
        run_id, state = c.execute(text("SELECT run_id, state FROM dag_run WHERE dag_id='concord_sync' "
                                       "ORDER BY start_date DESC LIMIT 1")).one()
    return run_id, {"process_wall_s": round(elapsed, 1), "exit": proc.returncode, "dag_run_state": state,
                    "timed_out": timed_out,
                    "max_rss_one_process_mb": round(maxrss / 2**20), "peak_rss_tree_mb": round(sampler.peak_rss / 2**20),
                    "peak_pss_tree_mb": round(sampler.peak_pss / 2**20)}


def audit_summary(store_url: str, run_id: str) -> dict | None:
    try:
        with create_engine(store_url).connect() as c:
            row = c.execute(text("SELECT summary FROM runs WHERE run_id = :r"), {"r": run_id}).first()
        if row and row[0]:
            return row[0] if isinstance(row[0], dict) else json.loads(row[0])
    except Exception as exc:  # the summary is for the record only
        return {"error": str(exc)}
    return None


def run_labels(args) -> tuple[str, ...]:
    """The runs to measure: the first; with --settle a run with no outside change; then the 1% run
    (always embedded, with --second-run or --settle under Celery)."""
    labels = ("first", "settle") if args.settle else ("first",)
    if args.mode == "embedded" or args.second_run or args.settle:
        labels += ("one_percent",)
    return labels


def before_run(label: str, result: dict, infos: dict, customers: int, last_write: float) -> float:
    """Makes the 1% change before the 1% run, then waits until Zendesk's export shows the last writes:
    it hides the latest minute, so a run starting sooner would miss them and leave them to the next
    run (the settle run would not settle, and the 1% run would re-read the first run's write-backs).
    The wait is not part of any run's time. Returns when the last writes happened."""
    if label == "one_percent":
        result["changes"] = change_one_percent(infos, customers)
        last_write = result["changes"]["zendesk"]["at"]
    if label != "first":
        wait = last_write + ZENDESK_HIDDEN_S - time.time()
        if wait > 0:
            time.sleep(wait)
    return last_write


def run_embedded(args) -> dict:
    scratch = Path(f"/tmp/h7b-embedded-{args.customers}-{int(time.time())}")
    logs = scratch / "logs"
    logs.mkdir(parents=True)
    result = {"mode": "embedded", "customers": args.customers, "vendor_tiers": VENDOR_TIERS, "scratch": str(scratch)}
    state = seeded_state(args.customers, scratch, logs)
    env, airflow_db = embedded_env(scratch)
    airflow_cli(env, "db", "migrate", timeout=600)
    with ExitStack() as stack:
        sb_env, infos, _ = start_sandboxes(stack, state, args.customers, logs)
        env.update(sb_env)
        pools.apply(env=env)
        last_write = 0.0
        for label in run_labels(args):
            last_write = before_run(label, result, infos, args.customers, last_write)
            sb_pids = sandbox_pids()
            sb_cpu0 = _cpu_of(sb_pids)
            box: dict = {}
            print(f"{label} run: airflow dags test ...", file=sys.stderr, flush=True)
            run_id, proc = dags_test(env, logs / f"dags-test-{label}.log", args.timeout, box, airflow_db)
            per_stage, total = stages(airflow_db, run_id, box["sampler"])
            result[label] = {"run_id": run_id, **proc, **total, "sandbox_cpu_s": round(_cpu_of(sb_pids) - sb_cpu0, 1),
                             "stages": per_stage, "summary": audit_summary(env["CONCORD_DB_URL"], run_id)}
            print(json.dumps(result[label], default=str), file=sys.stderr, flush=True)
            last_write = time.time()
            if proc["timed_out"]:
                break
    return result


# ---------------------------------------------------------------- Celery: scheduler, DAG processor, API server, N workers
def fresh_pg(prefix: str) -> tuple[str, callable]:
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"

    def drop():
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return url, drop


def keep_pg(url: str, name: str) -> None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        current = url.rsplit("/", 1)[1]
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{current}'"))
        c.execute(text(f'ALTER DATABASE "{current}" RENAME TO "{name}"'))
    admin.dispose()
    print(f"store kept as database {name}", file=sys.stderr, flush=True)


def run_celery(args) -> dict:
    scratch = Path(f"/tmp/h7b-celery{args.workers}-{args.customers}-{int(time.time())}")
    logs = scratch / "logs"
    logs.mkdir(parents=True)
    result = {"mode": "celery", "workers": args.workers, "concurrency": args.concurrency,
              "partitions": args.partitions, "customers": args.customers, "vendor_tiers": VENDOR_TIERS,
              "scratch": str(scratch)}
    state = seeded_state(args.customers, scratch, logs)
    subprocess.run(["redis-cli", "-n", str(REDIS_DB), "flushdb"], capture_output=True, timeout=10)
    with ExitStack() as stack:
        airflow_db, drop_a = fresh_pg("h7b_airflow")
        stack.callback(drop_a)
        store_db, drop_s = fresh_pg("h7b_store")
        if args.keep_store:  # kept under that name for profiling a task against it afterwards
            stack.callback(keep_pg, store_db, args.keep_store)
        else:
            stack.callback(drop_s)
        api_port = free_port()
        env = {**os.environ, "AIRFLOW_HOME": str(REPO), "CONCORD_HOME": str(REPO), "PYTHONPATH": str(REPO),
               **celery_settings(metadata_db=airflow_db, store_db=store_db,
                                 broker=f"redis://127.0.0.1:6379/{REDIS_DB}",
                                 api_url=f"http://127.0.0.1:{api_port}/execution/",
                                 log_dir=str(scratch / "logs" / "airflow"),
                                 jwt_secret=secrets.token_hex(24), secret_key=secrets.token_hex(24)),
               "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.integration.worker_name.name",
               "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
               "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
               "CONCORD_SCHEDULE": "none", "CONCORD_VAR_DIR": str(scratch / "var"),
               "CONCORD_RECONCILE_PARTITIONS": str(args.partitions), "CONCORD_WORK_URL": str(scratch / "work")}
        sb_env, infos, _ = start_sandboxes(stack, state, args.customers, logs)
        env.update(sb_env)
        airflow_cli(env, "db", "migrate", timeout=600)
        pools.apply(env=env)
        procs = {}

        def start(name, cmd, extra=None):
            out = stack.enter_context(open(logs / f"{name}.log", "wb"))
            p = subprocess.Popen([AIRFLOW, *cmd], env={**env, **(extra or {})}, cwd=REPO, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
            stack.callback(_stop, p)
            procs[name] = p
        start("api", ["api-server", "--port", str(api_port)])
        start("scheduler", ["scheduler"])
        start("dag-processor", ["dag-processor"])
        for n in range(1, args.workers + 1):
            start(f"w{n}", ["celery", "worker", "--celery-hostname", f"w{n}@%h", "--concurrency",
                            str(args.concurrency)], {"CONCORD_WORKER_NAME": f"w{n}"})
        workers = [n for n in procs if n.startswith("w")]
        deadline = time.monotonic() + 180
        while "concord_sync" not in airflow_cli(env, "dags", "list"):
            if time.monotonic() > deadline:
                raise RuntimeError("the DAG was not parsed in 180s")
            time.sleep(3)
        last_write = 0.0
        for label in run_labels(args):
            last_write = before_run(label, result, infos, args.customers, last_write)
            sampler = Sampler(lambda: [procs[w].pid for w in workers])
            sampler.start()
            sb_pids = sandbox_pids()
            sb_cpu0 = _cpu_of(sb_pids)
            out = airflow_cli(env, "dags", "trigger", "concord_sync", "-o", "json")
            started, run_id, state = time.monotonic(), None, None
            try:
                while time.monotonic() - started < args.timeout:
                    time.sleep(5)
                    with create_engine(airflow_db).connect() as c:
                        row = c.execute(text("SELECT run_id, state FROM dag_run WHERE dag_id='concord_sync' "
                                             "ORDER BY id DESC LIMIT 1")).first()
                    if row:
                        run_id, state = row.run_id, row.state
                    if row and row.state in ("success", "failed"):
                        break
                else:
                    state = f"timed out after {args.timeout:.0f}s (was {state})"  # finished stages still measured
            finally:
                sampler.finish()
            per_stage, total = stages(airflow_db, run_id, sampler)
            result[label] = {"run_id": run_id, "dag_run_state": state, **total,
                             "peak_rss_workers_mb": round(sampler.peak_rss / 2**20),
                             "peak_pss_workers_mb": round(sampler.peak_pss / 2**20),
                             "peak_rss_one_process_mb": round(sampler.peak_one_rss / 2**20),
                             "sandbox_cpu_s": round(_cpu_of(sb_pids) - sb_cpu0, 1), "stages": per_stage,
                             "summary": audit_summary(store_db, run_id), "trigger": out[-200:]}
            print(json.dumps(result[label], default=str), file=sys.stderr, flush=True)
            last_write = time.time()
            if state.startswith("timed out"):
                break
    return result


def _row(stages_: list[dict], name: str) -> dict | None:
    return next((s for s in stages_ if s["stage"] == name), None)


def table(paths: list[Path]) -> str:
    """Markdown tables of result files: per stage, time (sum of the stage's task durations; tasks run
    one at a time embedded) and CPU in those tasks; for Celery runs, the stage's span and workers' CPU."""
    lines = []
    for path in paths:
        r = json.loads(path.read_text())
        runs = [k for k in ("first", "settle", "one_percent") if k in r]
        names = []
        for k in runs:
            for s in r[k]["stages"]:
                if s["stage"] not in names:
                    names.append(s["stage"])
        names.sort(key=lambda n: (STAGE_ORDER.index(n.split()[0]) if n.split()[0] in STAGE_ORDER else 99, n))
        embedded = r["mode"] == "embedded"
        lines.append(f"\n{path.name}: {r['mode']} {'' if embedded else str(r['workers']) + ' worker(s) x ' + str(r['concurrency'])}, "
                     f"{r['customers']} people\n")
        head = "| stage | " + " | ".join(f"{k} time s | {k} CPU s | CPU/time" for k in runs) + " |"
        lines += [head, "|---" * (1 + 3 * len(runs)) + "|"]
        for n in names:
            cells = []
            for k in runs:
                s = _row(r[k]["stages"], n)
                if not s or "wall_s" not in s:
                    cells += ["", "", ""]
                    continue
                t, c = (s["task_s"], s.get("cpu_in_tasks_s", s["cpu_s"])) if embedded else (s["wall_s"], s["cpu_s"])
                cells += [f"{t:.1f}", f"{c:.1f}", f"{c / t:.2f}" if t else ""]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        for k in runs:
            x = r[k]
            lines.append(f"\n{k}: DAG run {x['wall_s']} s (first task start to last task end), CPU {x['cpu_s']} s, "
                         f"process {x.get('process_wall_s', '-')} s, no task running {x.get('no_task_running_s', '-')} s, peak RSS tree "
                         f"{x.get('peak_rss_tree_mb', x.get('peak_rss_workers_mb'))} MB, largest process "
                         f"{x.get('max_rss_one_process_mb', x.get('peak_rss_one_process_mb', '-'))} MB, peak PSS tree "
                         f"{x.get('peak_pss_tree_mb', x.get('peak_pss_workers_mb', '-'))} MB, sandboxes' CPU {x['sandbox_cpu_s']} s, "
                         f"read {x['summary'] and x['summary'].get('read')}, writes {x['summary'] and x['summary'].get('writes')}")
        peaks = {n: [(_row(r[k]["stages"], n) or {}).get("peak_rss_one_process_mb") for k in runs] for n in names}
        if any(v for row in peaks.values() for v in row):  # recorded since 2026-12-06
            lines += ["", "| stage | " + " | ".join(f"{k}: largest process MB" for k in runs) + " |",
                      "|---" * (1 + len(runs)) + "|"]
            lines += [f"| {n} | " + " | ".join(str(v or "") for v in row) + " |" for n, row in peaks.items()]
        if "changes" in r:
            lines.append(f"\nchanges: {json.dumps({k: (v['changed'], v['of'], v['seconds']) for k, v in r['changes'].items()})}")
    return "\n".join(lines)


def main(argv=None) -> int:
    if argv is None and sys.argv[1:2] == ["table"]:
        print(table([Path(p) for p in sys.argv[2:]]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["embedded", "celery"])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=2, help="task slots per Celery worker")
    parser.add_argument("--partitions", type=int, default=4, help="CONCORD_RECONCILE_PARTITIONS (Celery runs)")
    parser.add_argument("--second-run", action="store_true", help="Celery: also the 1%% run")
    parser.add_argument("--keep-store", metavar="DB", help="Celery: keep the store's database under this name")
    parser.add_argument("--settle", action="store_true",
                        help="a run with no outside change between the first and the 1%% run, so that "
                             "the 1%% run does not also re-read the first run's own write-backs")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds a DAG run may take")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    # `timeout` (or a Ctrl-C) must still stop the sandboxes, scheduler and workers: SIGTERM unwinds the stacks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = run_embedded(args) if args.mode == "embedded" else run_celery(args)
    out = args.out or REPO / "bench" / "results" / (
        f"sync_through_airflow_{args.mode}{'' if args.mode == 'embedded' else args.workers}_{args.customers}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
