#!/usr/bin/env python3
"""What the runtime's own threads do beside the device's compute threads during a decode (Linux, perf).

    perf record -e sched:sched_switch,sched:sched_wakeup -a -o s.data -- \
        sh -c 'echo $$ > bench.pid; exec actors bench ... --json' > bench.json
    perf script -i s.data -F comm,pid,tid,time,event,trace > s.txt
    python3 tools/decode-wakeups.py s.txt bench.json $(cat bench.pid)

Counts, over the decode (the last `seconds - ttft` before the compute threads' last switch), the wake-ups of
the bench process's other threads, how often they preempted a compute thread (the device dispatcher's thread,
`actors-runtime...`, and the CPU pool's workers), and their CPU time, by thread name. These are what the process
itself does, so unlike tokens/s they hold on a shared machine.
"""
import collections, json, re, sys

pat = re.compile(r'^\s*(.+?)\s+(\d+)/(\d+)\s+([\d.]+):\s+(\S+):\s+(.*)$')
switch = re.compile(r'prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.+?) next_pid=(\d+)')
tgid, names, events = {}, {}, []
for line in open(sys.argv[1]):
    m = pat.match(line)
    if not m:
        continue
    comm, pid, tid, t, event, trace = m.groups()
    tgid[int(tid)], names[int(tid)] = int(pid), comm
    events.append((float(t), int(tid), event, trace))
bench = json.load(open(sys.argv[2]))
tokens, decode = bench["generated_tokens"], bench["seconds"] - bench["ttft_ms_p50"] / 1000
ours = int(sys.argv[3])  # the bench's process id (other processes on the machine may run the runtime too)
compute = {t for t, n in names.items() if tgid.get(t) == ours and (n.startswith("actors-runtime") or "-worker-" in n)}
t1 = max(t for t, tid, e, _ in events if tid in compute and e == "sched:sched_switch")
t0 = t1 - decode
wakes, preempts, cpu, running = collections.Counter(), collections.Counter(), collections.Counter(), {}
for t, tid, event, trace in events:
    if event == "sched:sched_wakeup":
        woken = int(re.search(r'pid=(\d+)', trace).group(1))
        if t0 <= t <= t1 and tgid.get(woken) == ours and woken not in compute:
            wakes[names.get(woken)] += 1
        continue
    prev, state, _, nxt = switch.search(trace).groups()
    prev, nxt = int(prev), int(nxt)
    if prev in running:
        lo, hi = max(running.pop(prev), t0), min(t, t1)
        if hi > lo:
            cpu[names.get(prev)] += hi - lo
    if tgid.get(nxt) == ours and nxt not in compute:
        running[nxt] = t
        if t0 <= t <= t1 and prev in compute and state.startswith("R"):
            preempts[names.get(nxt)] += 1
print(f"decode {decode:.2f} s, {tokens} tokens")
print(f"wake-ups of the other threads: {sum(wakes.values())} ({sum(wakes.values()) / decode:.0f}/s, {sum(wakes.values()) / tokens:.2f}/token) {dict(wakes.most_common(6))}")
print(f"compute threads preempted by them: {sum(preempts.values())} ({sum(preempts.values()) / tokens:.2f}/token) {dict(preempts.most_common(6))}")
print(f"their CPU: {sum(cpu.values()) * 1000:.0f} ms ({100 * sum(cpu.values()) / decode:.1f} % of a core) {({k: round(v * 1000) for k, v in cpu.most_common(6)})}")
