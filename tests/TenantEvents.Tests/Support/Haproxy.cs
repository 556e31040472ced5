using System.Diagnostics;

namespace TenantEvents.Tests.Support;

/// <summary>
/// haproxy in front of the instances: round robin, each instance checked on /health/ready every 500 ms and taken out
/// after two failures; a request whose connection could not be made (nothing was sent) is tried on another instance.
/// </summary>
public sealed class Haproxy : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _config;
    private readonly string _socket;

    private Haproxy(Process process, string config, string socket) => (_process, _config, _socket) = (process, config, socket);

    public static async Task<Haproxy> StartAsync(int port, IReadOnlyList<int> backends)
    {
        var config = Path.Combine(Path.GetTempPath(), $"tenantevents-haproxy-{port}.cfg");
        var socket = Path.Combine(Path.GetTempPath(), $"tenantevents-haproxy-{port}.sock");
        await File.WriteAllTextAsync(config, $"""
            global
              maxconn 1000
              stats socket {socket} mode 600 level admin
            defaults
              mode http
              timeout connect 1s
              timeout client 60s
              timeout server 60s
              retries 3
              retry-on conn-failure
              option redispatch
              # A new connection to the instance per request: a request never lands on a kept-alive connection an instance
              # is closing as it stops (that would be a failure haproxy may not retry).
              option http-server-close
            frontend api
              bind 127.0.0.1:{port}
              default_backend instances
            backend instances
              balance roundrobin
              option httpchk GET /health/ready
              default-server inter 500ms fall 2 rise 1
            {string.Join("\n", backends.Select((b, i) => $"  server i{i} 127.0.0.1:{b} check"))}

            """);
        var start = new ProcessStartInfo("haproxy") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "-f", config, "-db" }) start.ArgumentList.Add(argument);
        var process = Process.Start(start) ?? throw new InvalidOperationException("haproxy is missing: make test-ops installs it");
        using var http = new HttpClient();
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (process.HasExited) throw new InvalidOperationException("haproxy ended: " + await process.StandardError.ReadToEndAsync());
            try
            {
                if ((await http.GetAsync($"http://127.0.0.1:{port}/health/ready")).IsSuccessStatusCode) return new Haproxy(process, config, socket);
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("haproxy did not answer");
    }

    /// <summary>
    /// Sets an instance's state on the admin socket, as a rollout controller does: "drain" (no new requests, those under way
    /// finish), "ready", "maint".
    /// </summary>
    public async Task SetStateAsync(int server, string state)
    {
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        await client.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(_socket));
        await client.SendAsync(System.Text.Encoding.ASCII.GetBytes($"set server instances/i{server} state {state}\n"));
        var buffer = new byte[1024];
        var read = await client.ReceiveAsync(buffer);
        var answer = System.Text.Encoding.ASCII.GetString(buffer, 0, read).Trim();
        if (answer.Length > 0) throw new InvalidOperationException($"haproxy: {answer}");
    }

    /// <summary>Requests under way on an instance (haproxy's scur).</summary>
    public async Task<int> SessionsAsync(int server)
    {
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        await client.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(_socket));
        await client.SendAsync(System.Text.Encoding.ASCII.GetBytes("show stat\n"));
        var text = new System.Text.StringBuilder();
        var buffer = new byte[8192];
        int read;
        while ((read = await client.ReceiveAsync(buffer)) > 0) text.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, read));
        var lines = text.ToString().Split('\n');
        var header = lines[0].TrimStart('#', ' ').Split(',');
        var row = lines.Select(l => l.Split(',')).First(r => r.Length > 1 && r[0] == "instances" && r[1] == $"i{server}");
        return int.Parse(row[Array.IndexOf(header, "scur")]);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        File.Delete(_config);
        File.Delete(_socket);
    }
}
