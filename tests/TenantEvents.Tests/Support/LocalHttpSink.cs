using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace TenantEvents.Tests.Support;

/// <summary>
/// A real HTTP server on loopback (Kestrel, a free port) that answers with what the test says and records every request
/// it receives: to see whether the service reached it at all, and how often.
/// </summary>
public sealed class LocalHttpSink : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<string> _requests = new();

    private LocalHttpSink(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    /// <summary>http://127.0.0.1:port</summary>
    public string Url { get; }

    public int Port => new Uri(Url).Port;

    /// <summary>The paths requested so far, in order.</summary>
    public IReadOnlyList<string> Requests => [.. _requests];

    /// <summary>What the sink answers; replaceable while it runs.</summary>
    public Func<HttpContext, Task> Handler { get; set; } = http =>
    {
        http.Response.StatusCode = 404;
        return Task.CompletedTask;
    };

    public static async Task<LocalHttpSink> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        LocalHttpSink? sink = null;
        app.Run(async http =>
        {
            sink!._requests.Enqueue(http.Request.Path.Value ?? "");
            await sink.Handler(http);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        sink = new LocalHttpSink(app, address.TrimEnd('/'));
        return sink;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
