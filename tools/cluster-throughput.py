#!/usr/bin/env python3
"""Aggregate tokens/s of a loopback cluster of processes: one gateway and N workers (one CPU thread each).

For each worker count given, starts `actors serve --role gateway` and N `actors serve --role worker`
processes, sends R greedy completions of T tokens at once through the gateway's HTTP API, and prints the
aggregate tokens/s and its ratio to the first count, and the CPU time each process spent during the run
per generated token (the gateway's is the machine-independent cost of relaying). Separate processes: no shared garbage collector
between the workers (unlike `actors cluster-bench`, whose nodes share one process). Usage (from the
repository root, after `dotnet build src/Actors.Cli`):
    python3 tools/cluster-throughput.py [--workers 1,2] [--requests 32] [--max-tokens 64]
"""
import argparse, http.client, json, os, signal, subprocess, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--workers", default="1,2")
ap.add_argument("--requests", type=int, default=32)
ap.add_argument("--max-tokens", type=int, default=64)
ap.add_argument("--cluster-port", type=int, default=26700)
ap.add_argument("--trace", default=None, help="folder: dotnet-trace CPU samples of the gateway and each worker during the measured round")
ap.add_argument("--warmup", type=int, default=0, help="rounds of the same requests before the measured one (compiles the code paths first)")
ap.add_argument("--dll", default=os.path.abspath("src/Actors.Cli/bin/Debug/net10.0/actors.dll"))
o = ap.parse_args()

def start(args, ready):
    p = subprocess.Popen(["dotnet", o.dll, "serve", "--threads", "1"] + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd="/tmp")
    api = None
    for line in p.stdout:
        if line.startswith("serving ") and "http://" in line:
            api = line.split("http://")[1].split(" ")[0].rstrip("/").removesuffix("/v1")
        if line.startswith(ready):
            break
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
    return p, api

def cpu_seconds(p):
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def workers_seen(port):
    out = subprocess.run(["dotnet", o.dll, "topology", "--seed", f"127.0.0.1:{port}"], capture_output=True, text=True).stdout
    return next((int(l.split("(")[1].split(")")[0].split(";")[0]) for l in out.splitlines() if l.startswith("workers (")), 0)

def tokens_per_message(port):
    """Tokens the gateway received per relay message, summed over workers (builds whose topology shows batches)."""
    out = subprocess.run(["dotnet", o.dll, "topology", "--seed", f"127.0.0.1:{port}"], capture_output=True, text=True).stdout
    lines = out.splitlines()
    try:
        header = next(i for i, l in enumerate(lines) if l.startswith("workers (")) + 1
        if "batches" not in lines[header]:
            return float("nan")
        rows = [l.split() for l in lines[header + 1:] if l.startswith("  ")]
        rows = [r[:-2] if r[-1] == "ms" else r[:-1] for r in rows]  # drop the round trip ("1.23 ms" or "-")
        tokens, batches = sum(int(r[-2]) for r in rows), sum(int(r[-1]) for r in rows)
        return tokens / batches if batches else float("nan")
    except (StopIteration, ValueError, IndexError):
        return float("nan")

def run(n, port):
    gateway, api = start(["--role", "gateway", "--cluster-port", str(port), "--port", "0"], "serving ")
    workers = [start(["--role", "worker", "--cluster-port", "0", "--seed", f"127.0.0.1:{port}"], "worker:")[0] for _ in range(n)]
    try:
        while workers_seen(port) < n:
            time.sleep(0.5)
        host, hport = api.split(":")
        counts = [0] * o.requests

        def one(i):
            c = http.client.HTTPConnection(host, int(hport), timeout=600)
            body = {"prompt": f"request {i} of the run", "max_tokens": o.max_tokens, "ignore_eos": True, "temperature": 0}
            c.request("POST", "/v1/completions", json.dumps(body), {"content-type": "application/json"})
            counts[i] = json.loads(c.getresponse().read())["usage"]["completion_tokens"]

        for _ in range(o.warmup):
            threads = [threading.Thread(target=one, args=(i,)) for i in range(o.requests)]
            [t.start() for t in threads]
            [t.join() for t in threads]
        threads = [threading.Thread(target=one, args=(i,)) for i in range(o.requests)]
        tracers = []
        if o.trace:
            os.makedirs(o.trace, exist_ok=True)
            tool = os.path.expanduser("~/.dotnet/tools/dotnet-trace")
            for name, p in [("gateway", gateway)] + [(f"worker{k}", w) for k, w in enumerate(workers)]:
                out = os.path.join(o.trace, f"{n}w-{name}.nettrace")
                tracers.append(subprocess.Popen([tool, "collect", "-p", str(p.pid), "--profile", "dotnet-sampled-thread-time", "-o", out],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(3)  # the session attaches
        cpu0 = [cpu_seconds(p) for p in [gateway] + workers]
        t0 = time.monotonic()
        [t.start() for t in threads]
        [t.join() for t in threads]
        seconds = time.monotonic() - t0
        cpu = [cpu_seconds(p) - c for p, c in zip([gateway] + workers, cpu0)]
        for t in tracers:
            t.send_signal(signal.SIGINT)
        for t in tracers:
            t.wait(120)
        return sum(counts), seconds, cpu[0], sum(cpu[1:]), tokens_per_message(port)
    finally:
        for p in [gateway] + workers:
            p.send_signal(signal.SIGTERM)
        for p in [gateway] + workers:
            p.wait(60)

first = None
print(f"{'workers':>8}{'tokens':>8}{'seconds':>9}{'tokens/s':>10}{'vs first':>10}{'gateway CPU us/token':>22}{'workers CPU us/token':>22}{'tokens/message':>16}")
for i, n in enumerate(int(x) for x in o.workers.split(",")):
    tokens, seconds, gateway_cpu, workers_cpu, per_message = run(n, o.cluster_port + i)
    rate = tokens / seconds
    first = first or rate
    print(f"{n:>8}{tokens:>8}{seconds:>9.2f}{rate:>10.1f}{rate / first:>9.2f}x{gateway_cpu / tokens * 1e6:>22.1f}{workers_cpu / tokens * 1e6:>22.1f}{per_message:>16.1f}", flush=True)
