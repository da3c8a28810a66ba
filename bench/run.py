"""Gateway benchmark: throughput and latency of three routes, measured side by side with wrk.

    python -m bench.run [--base-url URL] [--duration 8] [--connections 1,32] [--json out.json]

Routes, from cheapest to the scoped read the budget is about:
  healthz  GET /healthz       no RPC, no auth: the HTTP stack alone (baseline)
  ping     GET /api/v1/ping   one bare RPC to identity: adds the RabbitMQ round trip
  me       GET /api/v1/me     token verified in the gateway, one RPC, one database query

"naive" is the baseline the issue names (bench/naive_gateway.py: a ClusterRpcProxy per thread
under sync workers), started for the run so that ping/naive compares like with like.

Loads only a gateway on this machine; prints the figures, ratios between routes of the same run,
the issue's goals as MET / NOT MET (never asserted) and CPU per request per process group.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import resource
import subprocess
import sys
import urllib.error
import urllib.request
from urllib.parse import urlparse

from services.common.config import env

ROUTES = (("healthz", "/healthz"), ("ping", "/api/v1/ping"), ("me", "/api/v1/me"))
GOAL_CONNECTIONS = 32
GOAL_RPS, GOAL_P99_MS, GOAL_SHARE = 1000.0, 100.0, 0.70
# Process groups whose CPU is sampled: label -> text its processes carry in their cmdline.
GROUPS = {"gateway": "gunicorn", "services": "services.common.run", "rabbitmq": "beam.smp",
          "postgres": "postgres"}
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A condition that stops the benchmark, with the message for the operator."""


def default_base_url() -> str:
    host, _, port = env("GATEWAY_BIND").rpartition(":")
    host = "127.0.0.1" if host in ("", "0.0.0.0") else host  # a wildcard bind answers on loopback
    return f"http://{host}:{port}"


def require_loopback(base_url: str) -> str:
    host = urlparse(base_url).hostname or ""
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local:
        raise BenchError(f"refusing to load {base_url}: the benchmark runs only against this "
                         "machine (127.0.0.0/8, localhost, ::1)")
    return base_url.rstrip("/")


def http(url: str, body: dict | None = None) -> tuple[int, dict]:
    """One request with the standard library; (status, JSON body or {})."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except (urllib.error.URLError, OSError) as exc:
        raise BenchError(f"{url} does not answer ({exc}); is the stack running? (bin/portal up)")


def check_ready(base: str) -> None:
    status, body = http(base + "/readyz")
    if status != 200:
        raise BenchError(f"{base}/readyz answered {status} {body}: the stack is not ready")


def login(base: str, email: str, password: str) -> dict:
    """The Authorization header of a fresh access token."""
    status, body = http(base + "/api/v1/auth/login", {"email": email, "password": password})
    if status != 200 or "access_token" not in body:
        raise BenchError(f"login as {email} answered {status}; check --email/--password")
    return {"Authorization": f"Bearer {body['access_token']}"}


def wrk(url: str, connections: int, seconds: int, headers: dict, body: dict | None = None) -> str:
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if body is not None:     # a POST: wrk takes its method and body from a Lua script
        import tempfile

        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n'
                     'wrk.headers["Content-Type"] = "application/json"\n')
        script.close()
        command += ["-s", script.name]
    try:
        done = subprocess.run(command + [url], capture_output=True, text=True, timeout=seconds + 15)
    except FileNotFoundError:
        raise BenchError("wrk is not installed: 'sudo apt-get install wrk' (bin/portal bench does it)")
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk against {url} did not finish within {seconds + 15} s")
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    return done.stdout


def parse_wrk(out: str) -> dict:
    """Requests/sec, p50/p99 in ms, non-2xx/3xx responses and socket errors by kind from wrk."""
    def latency(pct: str) -> float | None:
        found = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M)
        return round(float(found[1]) * UNIT_MS[found[2]], 3) if found else None

    def number(pattern: str) -> float:  # 0 where wrk printed no such line (no errors)
        found = re.search(pattern, out, re.M)
        return float(found[1]) if found else 0.0
    sockets = re.search(r"Socket errors:(.*)", out)
    return {"rps": number(r"^Requests/sec:\s+([\d.]+)"), "requests": int(number(r"(\d+) requests in")),
            "p50_ms": latency("50"), "p99_ms": latency("99"),
            "non2xx": int(number(r"Non-2xx or 3xx responses:\s+(\d+)")),
            "socket_errors": {kind: int(n) for kind, n in re.findall(r"(\w+) (\d+)", sockets[1])
                              if int(n)} if sockets else {}}  # e.g. {"timeout": 6}


def cpu_by_group() -> dict[str, dict[int, int]]:
    """Clock ticks (utime+stime) of every live process of each group, by pid."""
    ticks: dict[str, dict[int, int]] = {group: {} for group in GROUPS}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()  # the name in parens may hold spaces
        except OSError:
            continue  # ended meanwhile
        group = next((g for g, needle in GROUPS.items() if needle in cmdline), None)
        if group and int(pid) != os.getpid():
            ticks[group][int(pid)] = int(fields[11]) + int(fields[12])
    return ticks


def cpu_seconds(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds per group between two samples; processes born meanwhile count from zero."""
    return {group: sum(t - before[group].get(pid, 0) for pid, t in after[group].items()) / CLK_TCK
            for group in GROUPS}


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(base: str, path: str, connections: int, seconds: int, headers: dict,
            body: dict | None = None) -> dict:
    before, client_before = cpu_by_group(), client_cpu()
    result = parse_wrk(wrk(base + path, connections, seconds, headers, body))
    cpu = cpu_seconds(before, cpu_by_group())
    cpu["wrk"] = client_cpu() - client_before
    per_request = 1e6 / max(result["requests"], 1)
    result.update(connections=connections,
                  cpu_us_per_request={g: round(s * per_request) for g, s in cpu.items()})
    return result


class NaiveGateway:
    """Runs bench/naive_gateway.py under gunicorn (sync workers, one per core) for the run."""

    def __enter__(self) -> str:
        import socket
        import time

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-k", "sync", "-w", str(os.cpu_count() or 1),
             "-b", f"127.0.0.1:{port}", "bench.naive_gateway:app"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if http(base + "/ping")[0] == 200:
                    return base
            except (OSError, BenchError):
                time.sleep(0.1)         # not listening yet
                continue
            time.sleep(0.1)
        self.__exit__()
        raise BenchError("the naive baseline gateway did not start")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def fmt(value, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def clean(*runs: dict) -> bool:
    return not any(r["non2xx"] or r["socket_errors"] for r in runs)


def errors_text(run: dict) -> str:
    sockets = ", ".join(f"{kind} {n}" for kind, n in run["socket_errors"].items()) or "none"
    errors = f"non-2xx {run['non2xx']}, socket errors: {sockets}  <-- NOT CLEAN"
    return "0" if clean(run) else errors


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summarize(runs: list[dict], counts: list[int]) -> dict:
    """Ratios between routes at each connection count, and the goal checks at 32."""
    at = {(r["route"], r["connections"]): r for r in runs}
    ratios = {c: {"me/ping": ratio(at["me", c]["rps"], at["ping", c]["rps"]),
                  "ping/healthz": ratio(at["ping", c]["rps"], at["healthz", c]["rps"]),
                  **({"ping/naive": ratio(at["ping", c]["rps"], at["naive", c]["rps"])}
                     if ("naive", c) in at else {})}
              for c in counts}
    goals = []
    me, ping = at.get(("me", GOAL_CONNECTIONS)), at.get(("ping", GOAL_CONNECTIONS))
    if me:  # a run with errors meets no goal: its figures are not those of the route
        dirty = "" if clean(me, ping) else ", WITH ERRORS"
        goals.append((f"scoped read at >= {GOAL_RPS:.0f} requests/s with p99 under {GOAL_P99_MS:.0f} "
                      f"ms at {GOAL_CONNECTIONS} connections",
                      f"{me['rps']:.0f} req/s, p99 {fmt(me['p99_ms'])} ms{dirty}",
                      clean(me) and me["rps"] >= GOAL_RPS and (me["p99_ms"] or 1e9) < GOAL_P99_MS))
        share = ratio(me["rps"], ping["rps"]) or 0.0
        goals.append((f"scoped read >= {GOAL_SHARE:.0%} of the bare-RPC route "
                      f"(at {GOAL_CONNECTIONS} connections)", f"{share:.0%}{dirty}",
                      clean(me, ping) and share >= GOAL_SHARE))
    return {"ratios": ratios, "goals": goals}


def report(runs: list[dict], summary: dict) -> None:
    print(f"\n{'route':8} {'conns':>5} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8}  errors")
    for r in runs:
        print(f"{r['route']:8} {r['connections']:>5} {r['rps']:>11.1f} {fmt(r['p50_ms']):>8} "
              f"{fmt(r['p99_ms']):>8}  {errors_text(r)}")
    print("\nThroughput ratios (same run):")
    for c, pair in summary["ratios"].items():
        print(f"  {c:>3} connections: " + "   ".join(f"{k} {fmt(v, '.2f')}" for k, v in pair.items()))
    at32 = [r for r in runs if r["connections"] == GOAL_CONNECTIONS]
    if at32:
        print(f"p99 at {GOAL_CONNECTIONS} connections: "
              + ", ".join(f"{r['route']} {fmt(r['p99_ms'])} ms" for r in at32))
        print(f"\nCPU microseconds per request during the {GOAL_CONNECTIONS}-connection runs "
              f"(wrk: the load generator, on the same cores):")
        print(f"  {'route':8}" + "".join(f"{g:>10}" for g in at32[0]["cpu_us_per_request"]))
        for r in at32:
            print(f"  {r['route']:8}" + "".join(f"{v:>10}" for v in r["cpu_us_per_request"].values()))
    print("\nGoals (figures, not asserted):")
    no_run = [("goals", f"no {GOAL_CONNECTIONS}-connection run", False)]
    for text, measured, met in summary["goals"] or no_run:
        print(f"  [{'MET' if met else 'NOT MET'}] {text}: {measured}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", default=default_base_url())
    parser.add_argument("--email", default=env("PORTAL_ADMIN_EMAIL"))
    parser.add_argument("--password", default=env("PORTAL_ADMIN_PASSWORD"))
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--connections", default="1,32", help="comma-separated connection counts")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON here")
    parser.add_argument("--login", action="store_true",
                        help="also measure POST /auth/login (argon2id makes it slow on purpose)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the naive gateway (proxy per thread, sync workers) baseline")
    args = parser.parse_args(argv)
    args.counts = [int(c) for c in args.connections.split(",") if c.strip()]
    if args.duration < 1 or not args.counts or min(args.counts) < 1:
        parser.error("--duration and every --connections count must be at least 1")
    return args


def gateway_figures(base_url: str, email: str, password: str, duration: int = 8,
                    counts: tuple[int, ...] = (1, 32), baseline: bool = True, sign_in: bool = False) -> dict:
    """Measures every route (and the naive baseline) and returns the figures as data:
    {base_url, duration_s, runs, ratios, goals}. Raises BenchError when the stack does not answer."""
    base = require_loopback(base_url)
    check_ready(base)

    def headers(route: str) -> dict:  # a fresh token for each /me run: tokens expire
        return login(base, email, password) if route == "me" else {}
    for route, path in ROUTES:  # warm-up: connections, RPC proxies, database pool
        wrk(base + path, max(counts), 1, headers(route))
    runs = []
    for route, path in ROUTES:
        for count in counts:
            print(f"measuring {route} at {count} connections for {duration} s", flush=True)
            runs.append({"route": route, **measure(base, path, count, duration, headers(route))})
    if sign_in:      # sign-in, argon2id included: POST with the admin's credentials
        credentials = {"email": email, "password": password}
        for count in counts:
            print(f"measuring login at {count} connections for {duration} s", flush=True)
            runs.append({"route": "login", **measure(base, "/api/v1/auth/login", count, duration, {},
                                                     credentials)})
    if baseline:
        with NaiveGateway() as naive:
            wrk(naive + "/ping", max(counts), 1, {})
            for count in counts:
                print(f"measuring naive /ping at {count} connections for {duration} s", flush=True)
                runs.append({"route": "naive", **measure(naive, "/ping", count, duration, {})})
    summary = summarize(runs, list(counts))
    return {"base_url": base, "duration_s": duration, "runs": runs, "ratios": summary["ratios"],
            "goals": [{"goal": t, "measured": m, "met": ok} for t, m, ok in summary["goals"]]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        figures = gateway_figures(args.base_url, args.email, args.password, args.duration,
                                  tuple(args.counts), baseline=not args.no_baseline, sign_in=args.login)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    goals = [(g["goal"], g["measured"], g["met"]) for g in figures["goals"]]
    report(figures["runs"], {"ratios": figures["ratios"], "goals": goals})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
