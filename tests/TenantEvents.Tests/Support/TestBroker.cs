using System.Diagnostics;

namespace TenantEvents.Tests.Support;

/// <summary>The test RabbitMQ broker: RABBITMQ_URL as `make test` sets it, else the checkout's local broker (started if need be).</summary>
public static class TestBroker
{
    private static readonly Lazy<string> Started = new(() =>
    {
        if (System.Environment.GetEnvironmentVariable("RABBITMQ_URL") is { Length: > 0 } url) return url;
        var script = Path.Combine(TestDatabase.RepositoryRoot(), "ops", "rabbitmq", "local-broker.sh");
        Run(script, "start");
        return Run(script, "url").Trim();
    });

    public static string Url => Started.Value;

    private static string Run(string script, string args)
    {
        using var process = Process.Start(new ProcessStartInfo(script, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{script} {args} failed: {error}");
        return output.Trim().Split('\n').Last();
    }
}
