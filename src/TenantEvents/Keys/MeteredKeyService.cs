using System.Diagnostics;
using Azure.Core.Cryptography;
using TenantEvents.Operations;

namespace TenantEvents.Keys;

/// <summary>
/// Any key service, measured: each call's duration and each failure, by operation (create, destroy, resolve, wrap, unwrap),
/// in <see cref="OperationsMetrics.KeyServiceDuration"/> and <see cref="OperationsMetrics.KeyServiceErrors"/>. A key that
/// is not found (destroyed: a shredded tenant) is the expected answer, not a failure. The calls themselves are unchanged.
/// </summary>
public sealed class MeteredKeyService(IKeyService inner) : IKeyService, IKeyEncryptionKeyResolver
{
    public string Provider => inner.Provider;
    public string WrapAlgorithm => inner.WrapAlgorithm;
    public IKeyEncryptionKeyResolver Resolver => this;

    public Task<string> CreateKeyAsync(Guid tenantId, CancellationToken cancellation) => Measure("create", () => inner.CreateKeyAsync(tenantId, cancellation));

    public Task DestroyKeysAsync(Guid tenantId, CancellationToken cancellation) =>
        Measure("destroy", async () => { await inner.DestroyKeysAsync(tenantId, cancellation); return true; });

    public IKeyEncryptionKey Resolve(string keyId, CancellationToken cancellation = default) =>
        new Metered(Measure("resolve", () => inner.Resolver.Resolve(keyId, cancellation)));

    public async Task<IKeyEncryptionKey> ResolveAsync(string keyId, CancellationToken cancellation = default) =>
        new Metered(await Measure("resolve", () => inner.Resolver.ResolveAsync(keyId, cancellation)));

    private static async Task<T> Measure<T>(string operation, Func<Task<T>> call)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            return await call();
        }
        catch (Exception e) when (Count(operation, e))
        {
            throw;
        }
        finally
        {
            Record(operation, started);
        }
    }

    private static T Measure<T>(string operation, Func<T> call)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            return call();
        }
        catch (Exception e) when (Count(operation, e))
        {
            throw;
        }
        finally
        {
            Record(operation, started);
        }
    }

    /// <summary>Counts a failure (never a missing key, never a cancellation); always false, so the exception goes on unchanged.</summary>
    private static bool Count(string operation, Exception e)
    {
        if (e is not (KeyNotFoundException or OperationCanceledException))
            OperationsMetrics.KeyServiceErrors.Add(1, new KeyValuePair<string, object?>("operation", operation));
        return false;
    }

    private static void Record(string operation, long started) =>
        OperationsMetrics.KeyServiceDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("operation", operation));

    private sealed class Metered(IKeyEncryptionKey key) : IKeyEncryptionKey
    {
        public string KeyId => key.KeyId;
        public byte[] WrapKey(string algorithm, ReadOnlyMemory<byte> plain, CancellationToken cancellation = default) =>
            Measure("wrap", () => key.WrapKey(algorithm, plain, cancellation));
        public Task<byte[]> WrapKeyAsync(string algorithm, ReadOnlyMemory<byte> plain, CancellationToken cancellation = default) =>
            Measure("wrap", () => key.WrapKeyAsync(algorithm, plain, cancellation));
        public byte[] UnwrapKey(string algorithm, ReadOnlyMemory<byte> wrapped, CancellationToken cancellation = default) =>
            Measure("unwrap", () => key.UnwrapKey(algorithm, wrapped, cancellation));
        public Task<byte[]> UnwrapKeyAsync(string algorithm, ReadOnlyMemory<byte> wrapped, CancellationToken cancellation = default) =>
            Measure("unwrap", () => key.UnwrapKeyAsync(algorithm, wrapped, cancellation));
    }
}
