using System.Text.Json;
using Microsoft.Extensions.Logging;
using TenantEvents.Infrastructure.Logging;

namespace TenantEvents.Tests.Infrastructure;

/// <summary>A client's malformed body is logged at Debug without a stack; our own errors stay errors.</summary>
public class ClientInputLoggingTests
{
    private sealed class Capture : ILoggerProvider, ILogger
    {
        public readonly List<(string Category, LogLevel Level, string Message, Exception? Error)> Entries = [];
        private string _category = "";
        public ILogger CreateLogger(string categoryName) => new Capture { _category = categoryName, Shared = this };
        private Capture? Shared { get; init; }
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var target = Shared ?? this;
            lock (target.Entries) target.Entries.Add((_category, logLevel, formatter(state, exception), exception));
        }
        public void Dispose() { }
    }

    private sealed record SomeCommand(string Name);

    [Fact]
    public void bad_json_from_a_client_is_debug_and_anything_else_keeps_its_level()
    {
        var capture = new Capture();
        using var factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(capture));
        var logger = new ClientInputLogger<SomeCommand>(factory);
        var json = new JsonException("'n' is an invalid start of a property name.");
        logger.LogError(json, "Error trying to deserialize JSON from incoming HTTP body at {Url} to type {Type}", "/api/tenants", "SomeCommand");
        logger.LogError(new InvalidOperationException("ours"), "Writing the projection failed");
        logger.LogInformation("Tenant {Id} provisioned", Guid.Empty);

        capture.Entries.Count.ShouldBe(3);
        capture.Entries.ShouldAllBe(e => e.Category.EndsWith("SomeCommand"));
        capture.Entries[0].Level.ShouldBe(LogLevel.Debug);
        capture.Entries[0].Error.ShouldBeNull();
        capture.Entries[0].Message.ShouldContain("invalid start of a property name");
        capture.Entries[1].Level.ShouldBe(LogLevel.Error);
        capture.Entries[1].Error.ShouldBeOfType<InvalidOperationException>();
        capture.Entries[2].Level.ShouldBe(LogLevel.Information);
    }
}
