using System.Diagnostics;
using System.Net;

namespace TenantEvents.Tests.Support;

/// <summary>
/// A real DNS server for a test (dnsmasq, from Debian: `make tools` installs it) on a free loopback port, answering only
/// the records it was started with: names to addresses (A) and TXT values. Not the host's resolver: nothing else asks it.
/// </summary>
public sealed class TestDns : IAsyncDisposable
{
    private readonly Process _process;

    private TestDns(Process process, int port)
    {
        _process = process;
        EndPoint = new IPEndPoint(IPAddress.Loopback, port);
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>What TenantEvents:DomainVerificationResolver says to ask this server.</summary>
    public string Setting => $"127.0.0.1:{EndPoint.Port}";

    public static async Task<TestDns> StartAsync(IReadOnlyDictionary<string, string>? addresses = null, IReadOnlyDictionary<string, string>? texts = null)
    {
        var port = ServiceProcess.FreePort();
        var executable = File.Exists("/usr/sbin/dnsmasq") ? "/usr/sbin/dnsmasq" : "dnsmasq";
        var start = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[]
                 {
                     "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces", "--listen-address=127.0.0.1",
                     $"--port={port}", $"--user={Environment.UserName}", "--pid-file=", "--log-facility=-",
                 })
            start.ArgumentList.Add(argument);
        foreach (var (name, address) in addresses ?? new Dictionary<string, string>()) start.ArgumentList.Add($"--host-record={name},{address}");
        foreach (var (name, text) in texts ?? new Dictionary<string, string>()) start.ArgumentList.Add($"--txt-record={name},{text}"); // (no commas in a test value: dnsmasq splits strings there)
        var process = Process.Start(start) ?? throw new InvalidOperationException("dnsmasq could not be started (make tools installs it)");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var dns = new TestDns(process, port);
        // Ready when it answers at all (for a name it does not hold, with no upstream, it answers REFUSED: an answer).
        var client = TenantEvents.Infrastructure.Outbound.OutboundDns.Client(dns.EndPoint);
        for (var attempt = 0; ; attempt++)
        {
            if (process.HasExited) throw new InvalidOperationException($"dnsmasq exited with {process.ExitCode}");
            try
            {
                await client.QueryAsync("ready.invalid", DnsClient.QueryType.A);
                return dns;
            }
            catch (DnsClient.DnsResponseException) when (attempt < 20)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
