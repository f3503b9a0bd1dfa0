using System.Net;
using System.Net.Sockets;

namespace Actors.Cli.Tests;

/// <summary>A loopback TCP port nothing listens on right now, for a child process to bind.</summary>
internal static class FreePorts
{
    public static int Next()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
