using System.Collections.Concurrent;
using TenantEvents.Infrastructure.Databases;

namespace TenantEvents.Keys;

/// <summary>
/// Destroyed keys are forgotten by every instance, not only by the one that destroyed them: otherwise another instance
/// keeps opening a shredded tenant's (or an erased person's) data with the key it holds in memory until that expires.
/// The instance that destroys keys notifies on <see cref="Channel"/> in the transaction that deletes them (PostgreSQL
/// delivers it when that commits); every instance listens on every database and drops the keys named. A notification
/// missed while a listening connection was down is caught by the key ring's recheck
/// (<see cref="Infrastructure.TenantEventsOptions.KeyRecheckInterval"/>), and each reconnection drops every cached key,
/// since what was missed is unknown. Databases added after start (a dedicated database provisioned later) rely on the recheck.
/// </summary>
public sealed class KeyRevocations(TenantDatabases databases, TenantKeyRing keys, ILogger<KeyRevocations> logger) : BackgroundService
{
    public const string Channel = "tenantevents_keys";

    /// <summary>The notification's payload: the tenant (shredded), or tenant/subject (one person erased).</summary>
    public static string Payload(Guid tenant, Guid? subject = null) => subject is { } s ? $"{tenant}/{s}" : tenant.ToString();

    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _heard = new();
    private int _connected;

    /// <summary>Completes once this instance listens on every database it started with.</summary>
    public Task Listening => _listening.Task;

    /// <summary>Completes when this instance next hears that keys of the tenant were destroyed (for whoever must know it has).</summary>
    public Task Heard(Guid tenant) =>
        _heard.GetOrAdd(tenant, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var all = databases.All;
        return Task.WhenAll(all.Select(d => ListenAsync(d, all.Count, stoppingToken)));
    }

    private Task ListenAsync(TenantDatabases.Database database, int count, CancellationToken stoppingToken) =>
        Notifications.ListenAsync(database, Channel, Revoked, first =>
        {
            // Keys destroyed while this connection was down are unknown: drop them all (each is unwrapped again on use).
            if (!first) keys.ForgetAll();
            else if (Interlocked.Increment(ref _connected) == count) _listening.TrySetResult();
        }, logger, "destroyed keys", stoppingToken);

    private void Revoked(string payload)
    {
        var parts = payload.Split('/');
        if (!Guid.TryParse(parts[0], out var tenant)) return;
        if (parts.Length == 2 && Guid.TryParse(parts[1], out var subject)) keys.ForgetSubject(tenant, subject);
        else keys.Forget(tenant);
        if (_heard.TryRemove(tenant, out var heard)) heard.TrySetResult();
    }
}
