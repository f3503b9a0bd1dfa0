#!/usr/bin/env python3
"""Kill -9 a worker process of a loopback cluster under streaming load and time the failover.

Starts `actors serve` three times (a gateway and two workers, one CPU thread each), streams N greedy
completions of 400 tokens through the gateway's HTTP API, sends SIGKILL to one worker, and prints per
stream the time from the kill to its first token after it: the killed worker's streams stall until the
gateway re-admits them. Every stream must still end with all its tokens. Usage (from the repository root,
after `dotnet build src/Actors.Cli`):
    python3 tools/cluster-failover.py [--config FILE] [--cluster-port 26550] [--streams 8]
"""
import argparse, http.client, json, os, signal, subprocess, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--config")
ap.add_argument("--cluster-port", type=int, default=26550)
ap.add_argument("--streams", type=int, default=8)
ap.add_argument("--dll", default=os.path.abspath("src/Actors.Cli/bin/Debug/net10.0/actors.dll"))
o = ap.parse_args()
base = ["dotnet", o.dll, "serve", "--threads", "1"] + (["--config", os.path.abspath(o.config)] if o.config else [])

def start(args, ready):
    # Run outside the repository so config/default.conf is not picked up (the built-in defaults).
    p = subprocess.Popen(base + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd="/tmp")
    api = None
    for line in p.stdout:
        if line.startswith("serving ") and "http://" in line:
            api = line.split("http://")[1].split(" ")[0].rstrip("/").removesuffix("/v1")
        if line.startswith(ready):
            break
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
    return p, api

def topology():
    out = subprocess.run(["dotnet", o.dll, "topology", "--seed", f"127.0.0.1:{o.cluster_port}"], capture_output=True, text=True).stdout
    return out.strip().splitlines()

gateway, api = start(["--role", "gateway", "--cluster-port", str(o.cluster_port), "--port", "0"], "serving ")
doomed, _ = start(["--role", "worker", "--cluster-port", "0", "--seed", f"127.0.0.1:{o.cluster_port}"], "worker:")
survivor, _ = start(["--role", "worker", "--cluster-port", "0", "--seed", f"127.0.0.1:{o.cluster_port}"], "worker:")
def workers():
    return next((int(l.split("(")[1].split(")")[0].split(";")[0]) for l in topology() if l.startswith("workers (")), 0)

while workers() < 2:
    time.sleep(0.5)
host, port = api.split(":")
times, finish = {}, {}

def stream(i):
    c = http.client.HTTPConnection(host, int(port), timeout=600)
    body = {"prompt": f"req {i} fox", "max_tokens": 400, "ignore_eos": True, "temperature": 0, "stream": True}
    c.request("POST", "/v1/completions", json.dumps(body), {"content-type": "application/json"})
    stamps = []
    for line in c.getresponse():
        if line.startswith(b"data: {"):
            stamps.append(time.monotonic())
            reason = json.loads(line[6:])["choices"][0].get("finish_reason")
            if reason:
                finish[i] = reason
    times[i] = stamps

threads = [threading.Thread(target=stream, args=(i,)) for i in range(o.streams)]
[t.start() for t in threads]
time.sleep(4)
t0 = time.monotonic()
os.kill(doomed.pid, signal.SIGKILL)
[t.join() for t in threads]
gaps = sorted((next(t for t in stamps if t > t0) - t0) * 1000 for stamps in times.values() if any(t > t0 for t in stamps))
stalled = [g for g in gaps if g > 300]
print(f"streams {len(times)}, finished by length: {sum(1 for r in finish.values() if r == 'length')}")
print(f"kill -> first token after the kill, per stream (ms): {[round(g) for g in gaps]}")
print(f"kill -> first re-admitted token: {round(min(stalled)) if stalled else '-'} ms; kill -> all resumed: {round(max(gaps))} ms; stalled streams: {len(stalled)}")
print(topology()[-1])
for p in (gateway, survivor):
    p.send_signal(signal.SIGTERM)
for p in (gateway, survivor):
    p.wait(60)
