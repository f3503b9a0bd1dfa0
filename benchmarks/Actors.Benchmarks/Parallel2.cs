namespace Actors.Benchmarks;

/// <summary>
/// Runs a body on N dedicated threads (the caller is thread 0) and returns when all finish: the same
/// split a CPU backend would use, without thread-pool scheduling noise. Threads are kept between calls.
/// </summary>
internal static class Parallel2
{
    private static readonly object Gate = new();
    private static Worker[] _workers = [];

    private sealed class Worker
    {
        public readonly SemaphoreSlim Go = new(0);
        public readonly SemaphoreSlim Done = new(0);
        public Action<int>? Body;
        public int Index;
    }

    public static void Run(int threads, Action<int> body)
    {
        if (threads <= 1) { body(0); return; }
        lock (Gate)
        {
            if (_workers.Length < threads - 1)
            {
                var ws = new Worker[threads - 1];
                for (int i = 0; i < ws.Length; i++)
                {
                    if (i < _workers.Length) { ws[i] = _workers[i]; continue; }
                    var w = ws[i] = new Worker { Index = i + 1 };
                    new Thread(() => { while (true) { w.Go.Wait(); w.Body!(w.Index); w.Done.Release(); } }) { IsBackground = true }.Start();
                }
                _workers = ws;
            }
            for (int i = 0; i < threads - 1; i++) { _workers[i].Body = body; _workers[i].Go.Release(); }
            body(0);
            for (int i = 0; i < threads - 1; i++) _workers[i].Done.Wait();
        }
    }
}
