using System.Diagnostics.Metrics;
using Azure.Core.Cryptography;
using TenantEvents.Keys;

namespace TenantEvents.Tests.Operations;

/// <summary>What the key service's metrics count: failures by reason, a key not found apart, a caller's cancellation not at all.</summary>
public class MeteredKeyServiceTests
{
    private sealed class Failing(Exception failure) : IKeyService, IKeyEncryptionKeyResolver
    {
        public string Provider => "test";
        public string WrapAlgorithm => "A256KWP";
        public IKeyEncryptionKeyResolver Resolver => this;
        public Task<string> CreateKeyAsync(Guid tenantId, CancellationToken cancellation) => Task.FromException<string>(failure);
        public Task DestroyKeysAsync(Guid tenantId, CancellationToken cancellation) => Task.CompletedTask;
        public IKeyEncryptionKey Resolve(string keyId, CancellationToken cancellation = default) => throw failure;
        public Task<IKeyEncryptionKey> ResolveAsync(string keyId, CancellationToken cancellation = default) => Task.FromException<IKeyEncryptionKey>(failure);
    }

    /// <summary>What one failing resolve records on the two counters (operation "resolve"), with its reason.</summary>
    private static async Task<List<(string Instrument, string? Reason)>> Count(Exception failure, CancellationToken cancellation)
    {
        var seen = new List<(string, string?)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name is "tenantevents.key_service.errors" or "tenantevents.key_service.not_found") l.EnableMeasurementEvents(instrument);
        };
        var marker = Guid.NewGuid().ToString();
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (value == 0) return;
            string? reason = null, operation = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "reason") reason = tag.Value as string;
                if (tag.Key == "operation") operation = tag.Value as string;
            }
            if (operation == "resolve") lock (seen) seen.Add((instrument.Name, reason));
        });
        listener.Start();
        var metered = new MeteredKeyService(new Failing(failure));
        var thrown = await Record.ExceptionAsync(() => metered.ResolveAsync("local/tenants/" + marker, cancellation));
        thrown.ShouldBeSameAs(failure); // passed on unchanged
        return seen;
    }

    [Fact]
    public async Task a_key_not_found_is_counted_apart_from_failures()
    {
        var seen = await Count(new KeyNotFoundException("gone"), CancellationToken.None);
        seen.ShouldContain(("tenantevents.key_service.not_found", null));
        seen.ShouldNotContain(s => s.Instrument == "tenantevents.key_service.errors");
        (await Count(new KeyServiceException(404, "KeyNotFound", "gone"), CancellationToken.None)).ShouldContain(("tenantevents.key_service.not_found", null));
    }

    [Fact]
    public async Task a_failure_and_a_timeout_are_errors_a_callers_cancellation_is_not()
    {
        (await Count(new KeyServiceException(500, "InternalError", "down"), CancellationToken.None)).ShouldContain(("tenantevents.key_service.errors", "error"));
        (await Count(new TaskCanceledException("timed out"), CancellationToken.None)).ShouldContain(("tenantevents.key_service.errors", "timeout"));
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        (await Count(new OperationCanceledException(cancelled.Token), cancelled.Token)).ShouldBeEmpty();
    }
}
