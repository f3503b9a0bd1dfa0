#!/usr/bin/env python3
"""Aggregate tokens/s of a loopback cluster of processes: one gateway and N workers (one CPU thread each).

For each worker count given, starts `actors serve --role gateway` and N `actors serve --role worker`
processes, sends R greedy completions of T tokens at once through the gateway's HTTP API, and prints the
aggregate tokens/s and its ratio to the first count. Separate processes: no shared garbage collector
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

def workers_seen(port):
    out = subprocess.run(["dotnet", o.dll, "topology", "--seed", f"127.0.0.1:{port}"], capture_output=True, text=True).stdout
    return next((int(l.split("(")[1].split(")")[0].split(";")[0]) for l in out.splitlines() if l.startswith("workers (")), 0)

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

        threads = [threading.Thread(target=one, args=(i,)) for i in range(o.requests)]
        t0 = time.monotonic()
        [t.start() for t in threads]
        [t.join() for t in threads]
        return sum(counts), time.monotonic() - t0
    finally:
        for p in [gateway] + workers:
            p.send_signal(signal.SIGTERM)
        for p in [gateway] + workers:
            p.wait(60)

first = None
print(f"{'workers':>8}{'tokens':>8}{'seconds':>9}{'tokens/s':>10}{'vs first':>10}")
for i, n in enumerate(int(x) for x in o.workers.split(",")):
    tokens, seconds = run(n, o.cluster_port + i)
    rate = tokens / seconds
    first = first or rate
    print(f"{n:>8}{tokens:>8}{seconds:>9.2f}{rate:>10.1f}{rate / first:>9.2f}x", flush=True)
