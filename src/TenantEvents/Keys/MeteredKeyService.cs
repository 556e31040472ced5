using System.Diagnostics;
using Azure.Core.Cryptography;
using TenantEvents.Operations;

namespace TenantEvents.Keys;

/// <summary>
/// Any key service, measured: each call's duration and each failure, by operation (create, destroy, resolve, wrap, unwrap),
/// in <see cref="OperationsMetrics.KeyServiceDuration"/> and <see cref="OperationsMetrics.KeyServiceErrors"/>. A key that
/// is not found (destroyed: a shredded tenant; Key Vault's 404) is the expected answer, not a failure: it is counted apart
/// (<see cref="OperationsMetrics.KeyServiceNotFound"/>), where many at once mean a lost key store or a wrong vault. A call
/// cancelled by its caller is no failure either, but one that timed out is (reason "timeout"). The calls are unchanged.
/// </summary>
public sealed class MeteredKeyService(IKeyService inner) : IKeyService, IKeyEncryptionKeyResolver
{
    public string Provider => inner.Provider;
    public string WrapAlgorithm => inner.WrapAlgorithm;
    public IKeyEncryptionKeyResolver Resolver => this;

    public Task<string> CreateKeyAsync(Guid tenantId, CancellationToken cancellation) =>
        Measure("create", cancellation, () => inner.CreateKeyAsync(tenantId, cancellation));

    public Task DestroyKeysAsync(Guid tenantId, CancellationToken cancellation) =>
        Measure("destroy", cancellation, async () => { await inner.DestroyKeysAsync(tenantId, cancellation); return true; });

    public IKeyEncryptionKey Resolve(string keyId, CancellationToken cancellation = default) =>
        new Metered(Measure("resolve", cancellation, () => inner.Resolver.Resolve(keyId, cancellation)));

    public async Task<IKeyEncryptionKey> ResolveAsync(string keyId, CancellationToken cancellation = default) =>
        new Metered(await Measure("resolve", cancellation, () => inner.Resolver.ResolveAsync(keyId, cancellation)));

    private static async Task<T> Measure<T>(string operation, CancellationToken cancellation, Func<Task<T>> call)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            return await call();
        }
        catch (Exception e) when (Count(operation, e, cancellation))
        {
            throw;
        }
        finally
        {
            Record(operation, started);
        }
    }

    private static T Measure<T>(string operation, CancellationToken cancellation, Func<T> call)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            return call();
        }
        catch (Exception e) when (Count(operation, e, cancellation))
        {
            throw;
        }
        finally
        {
            Record(operation, started);
        }
    }

    /// <summary>
    /// Counts a failure: not a missing key, not the caller's own cancellation; a timeout (cancelled while the caller was
    /// not) under its own reason. Always false, so the exception goes on unchanged.
    /// </summary>
    private static bool Count(string operation, Exception e, CancellationToken cancellation)
    {
        if (e is KeyNotFoundException or KeyServiceException { Status: 404 })
        {
            // Expected for a shredded tenant; counted apart, so that a lost key store or a wrong vault shows.
            OperationsMetrics.KeyServiceNotFound.Add(1, new KeyValuePair<string, object?>("operation", operation));
            return false;
        }
        var reason = e switch
        {
            OperationCanceledException when cancellation.IsCancellationRequested => null,
            OperationCanceledException or TimeoutException => "timeout",
            _ => "error",
        };
        if (reason is not null)
            OperationsMetrics.KeyServiceErrors.Add(1, new KeyValuePair<string, object?>("operation", operation), new KeyValuePair<string, object?>("reason", reason));
        return false;
    }

    private static void Record(string operation, long started) =>
        OperationsMetrics.KeyServiceDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("operation", operation));

    private sealed class Metered(IKeyEncryptionKey key) : IKeyEncryptionKey
    {
        public string KeyId => key.KeyId;
        public byte[] WrapKey(string algorithm, ReadOnlyMemory<byte> plain, CancellationToken cancellation = default) =>
            Measure("wrap", cancellation, () => key.WrapKey(algorithm, plain, cancellation));
        public Task<byte[]> WrapKeyAsync(string algorithm, ReadOnlyMemory<byte> plain, CancellationToken cancellation = default) =>
            Measure("wrap", cancellation, () => key.WrapKeyAsync(algorithm, plain, cancellation));
        public byte[] UnwrapKey(string algorithm, ReadOnlyMemory<byte> wrapped, CancellationToken cancellation = default) =>
            Measure("unwrap", cancellation, () => key.UnwrapKey(algorithm, wrapped, cancellation));
        public Task<byte[]> UnwrapKeyAsync(string algorithm, ReadOnlyMemory<byte> wrapped, CancellationToken cancellation = default) =>
            Measure("unwrap", cancellation, () => key.UnwrapKeyAsync(algorithm, wrapped, cancellation));
    }
}
