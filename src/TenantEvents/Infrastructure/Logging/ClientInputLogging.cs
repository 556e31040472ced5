using System.Text.Json;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace TenantEvents.Infrastructure.Logging;

/// <summary>
/// What a client sent wrong is the client's 4xx, not our failure. Wolverine.Http logs a request body that is not valid
/// JSON for its type as an error with the exception's stack (through ILogger&lt;TBody&gt;), before it answers 400: that
/// entry is written at Debug here instead, so an operator's error log holds what is ours to fix. Everything else passes
/// through unchanged. ASP.NET Core's per-request lines are left out unless Logging:LogLevel:Microsoft.AspNetCore asks for them.
/// </summary>
public sealed class ClientInputLogger<T>(ILoggerFactory factory) : ILogger<T>
{
    private readonly ILogger _inner = new Logger<T>(factory);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => _inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => _inner.IsEnabled(logLevel);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (logLevel >= LogLevel.Error && IsBadClientInput(exception, state))
        {
            if (_inner.IsEnabled(LogLevel.Debug)) _inner.Log(LogLevel.Debug, eventId, state, null, (s, _) => formatter(s, null) + ": " + exception!.Message);
            return;
        }
        _inner.Log(logLevel, eventId, state, exception, formatter);
    }

    // Only what the client's bytes caused (JsonException): a NotSupportedException from the serializer means one of our
    // request types cannot be read at all, which is ours to fix and stays an error.
    private static bool IsBadClientInput<TState>(Exception? exception, TState state) =>
        exception is JsonException
        && state?.ToString()?.StartsWith("Error trying to deserialize JSON from incoming HTTP body", StringComparison.Ordinal) == true;
}

public static class ClientInputLogging
{
    public static void AddClientInputLogging(this WebApplicationBuilder builder)
    {
        builder.Services.Replace(ServiceDescriptor.Singleton(typeof(ILogger<>), typeof(ClientInputLogger<>)));
        // ASP.NET Core's lines for every request ("Request starting", "Executing endpoint", "Writing value of type"): left
        // out unless the configuration asks for them (Logging:LogLevel:Microsoft.AspNetCore=Information).
        if (builder.Configuration["Logging:LogLevel:Microsoft.AspNetCore"] is null)
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
    }
}
