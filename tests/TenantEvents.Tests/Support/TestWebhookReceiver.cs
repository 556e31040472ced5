using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace TenantEvents.Tests.Support;

/// <summary>
/// A real webhook receiver process (tests/webhooks/receiver.mjs: Node.js, installed by `make test`) that checks every
/// delivery with libraries independent of the service: the Standard Webhooks signature (npm standardwebhooks) and the
/// CloudEvents envelope (npm cloudevents). Endpoints are named; each is told its secret and how often to fail first.
/// </summary>
public sealed class TestWebhookReceiver : IAsyncDisposable
{
    private static readonly HttpClient Http = new();
    private readonly Process _process;

    public string Url { get; }

    private TestWebhookReceiver(Process process, string url)
    {
        _process = process;
        Url = url;
    }

    public static async Task<TestWebhookReceiver> StartAsync()
    {
        var folder = Path.Combine(TestDatabase.RepositoryRoot(), "tests", "webhooks");
        if (!Directory.Exists(Path.Combine(folder, "node_modules")))
            throw new InvalidOperationException("tests/webhooks has no node_modules: run `make test` (or `make idp`) to install the webhook receiver.");
        var process = Process.Start(new ProcessStartInfo("node", "receiver.mjs")
        {
            WorkingDirectory = folder, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30))
                   ?? throw new InvalidOperationException("The webhook receiver ended: " + await process.StandardError.ReadToEndAsync());
        return new TestWebhookReceiver(process, JsonDocument.Parse(line).RootElement.GetProperty("url").GetString()!);
    }

    public string Hook(string name) => $"{Url}/hooks/{name}";

    /// <summary>(Re)configures an endpoint: its secret, and how many deliveries it answers with failStatus first.</summary>
    public async Task ConfigureAsync(string name, string secret, int failFirst = 0, int failStatus = 500)
    {
        using var response = await Http.PutAsJsonAsync($"{Url}/control/endpoints/{name}", new { secret, failFirst, failStatus });
        response.EnsureSuccessStatusCode();
    }

    public sealed record Seen(IReadOnlyList<JsonElement> Events, IReadOnlyList<JsonElement> Rejected, int Attempts);

    public async Task<Seen> SeenAsync(string name)
    {
        var json = await Http.GetFromJsonAsync<JsonElement>($"{Url}/control/endpoints/{name}");
        return new Seen(json.GetProperty("events").EnumerateArray().ToList(), json.GetProperty("rejected").EnumerateArray().ToList(),
            json.GetProperty("attempts").GetInt32());
    }

    /// <summary>What the endpoint has seen once the condition holds (checked every 20 ms; fails after the timeout).</summary>
    public async Task<Seen> WaitAsync(string name, Func<Seen, bool> condition, TimeSpan? timeout = null, Action? poke = null)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var seen = await SeenAsync(name);
            if (condition(seen)) return seen;
            if (deadline.Elapsed > (timeout ?? TimeSpan.FromSeconds(30)))
                throw new TimeoutException($"Endpoint {name} did not see what was expected: {seen.Events.Count} events, {seen.Rejected.Count} rejected, {seen.Attempts} attempts.");
            poke?.Invoke();
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(5000)) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        await Task.CompletedTask;
    }
}
