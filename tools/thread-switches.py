#!/usr/bin/env python3
"""Per-thread context switches and CPU of a command while it runs (Linux /proc).

    python3 tools/thread-switches.py SKIP WINDOW [--kill] -- COMMAND...

Starts COMMAND, waits SKIP seconds (start-up), then counts each thread's voluntary (it blocked or slept)
and involuntary (it was preempted) context switches and CPU over WINDOW seconds; --kill stops the command
after the window instead of waiting for it to end. Prints the busiest threads, per second.
"""
import os, re, subprocess, sys, time

skip, window, kill = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "--kill"
cmd = sys.argv[sys.argv.index("--") + 1:]
proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
tick = os.sysconf("SC_CLK_TCK")

def snapshot(pid):
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            status = open(f"/proc/{pid}/task/{tid}/status").read()
            stat = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        name = re.search(r"Name:\s*(.*)", status).group(1)
        vol = int(re.search(r"\nvoluntary_ctxt_switches:\s*(\d+)", status).group(1))
        invol = int(re.search(r"nonvoluntary_ctxt_switches:\s*(\d+)", status).group(1))
        threads[tid] = (name, vol, invol, (int(stat[11]) + int(stat[12])) / tick)
    return threads

time.sleep(skip)
before, start = snapshot(proc.pid), time.time()
time.sleep(window)
after, seconds = snapshot(proc.pid), time.time() - start
if kill:
    proc.terminate()
out = proc.communicate()[0].strip()
if out and not kill:
    print(out.splitlines()[-1][:400])
rows = [(name, tid, (v - before[tid][1]) / seconds, (n - before[tid][2]) / seconds, (c - before[tid][3]) / seconds)
        for tid, (name, v, n, c) in after.items() if tid in before]
rows.sort(key=lambda r: -(r[2] + r[3] + 1000 * r[4]))
print(f"window {seconds:.1f} s: voluntary {sum(r[2] for r in rows):.0f}/s, involuntary {sum(r[3] for r in rows):.0f}/s")
for name, tid, v, n, c in rows[:14]:
    if v + n > 0.5 or c > 0.01:
        print(f"  {name:<16} {tid:>7}  voluntary {v:7.1f}/s  involuntary {n:7.1f}/s  cpu {100 * c:5.1f} %")
