using System.Collections.Concurrent;
using Npgsql;
using TenantEvents.Infrastructure;

namespace TenantEvents.Identity;

/// <summary>
/// Tokens of a service account issued before a point in time are dead (a disabled account: every token). Kept in the
/// main database (credential_revocations) and mirrored in memory: the instance that revokes knows at once, the
/// others on their next poll (every <see cref="TenantEventsOptions.RevocationPollInterval"/>, one indexed query), so
/// checking a token costs a dictionary lookup.
/// </summary>
public sealed class CredentialRevocations(NpgsqlDataSource main, TenantEventsOptions options, ILogger<CredentialRevocations> log,
    NpgsqlDataSource? platform = null)
    : BackgroundService
{
    private readonly ConcurrentDictionary<Guid, DateTimeOffset> _notBefore = new();
    private DateTimeOffset _watermark = DateTimeOffset.MinValue;
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private string Schema => options.DatabaseSchema;

    /// <summary>Not before the end of time: every token of the client is revoked (a disabled account).</summary>
    public static readonly DateTimeOffset Forever = new(9999, 12, 31, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Whether a token of this client issued at this time is revoked (before the first load: every token is).</summary>
    public bool IsRevoked(Guid clientId, DateTimeOffset issuedAt) =>
        !_loaded.Task.IsCompleted || (_notBefore.TryGetValue(clientId, out var notBefore) && issuedAt < notBefore);

    /// <summary>Waits for the first load (the service is not ready before it).</summary>
    public Task Loaded => _loaded.Task;

    /// <summary>Kills the client's tokens issued before <paramref name="notBefore"/> (<see cref="Forever"/>: all of them).</summary>
    public async Task RevokeAsync(Guid clientId, Guid tenant, DateTimeOffset notBefore, CancellationToken cancellation)
    {
        // Token times are whole milliseconds (their UUID v7 jti): a token made in the very millisecond after the change
        // must count as after it.
        notBefore = DateTimeOffset.FromUnixTimeMilliseconds(notBefore.ToUnixTimeMilliseconds());
        await using var command = main.CreateCommand($"""
            insert into {Schema}.credential_revocations (client_id, tenant, not_before) values ($1, $2, $3)
            on conflict (client_id) do update set not_before = excluded.not_before, changed_at = clock_timestamp()
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = clientId });
        command.Parameters.Add(new NpgsqlParameter { Value = tenant });
        command.Parameters.Add(new NpgsqlParameter { Value = notBefore >= Forever ? Forever.UtcDateTime : notBefore.UtcDateTime });
        await command.ExecuteNonQueryAsync(cancellation);
        _notBefore[clientId] = notBefore;
    }

    /// <summary>A decommissioned tenant: every client of it revoked for good, its issuer released.</summary>
    public async Task ForgetTenantAsync(Guid tenant, CancellationToken cancellation)
    {
        await using var command = main.CreateCommand($"""
            insert into {Schema}.credential_revocations (client_id, tenant, not_before)
              select client_id, tenant, $2 from {Schema}.oauth_clients where tenant = $1
            on conflict (client_id) do update set not_before = excluded.not_before, changed_at = clock_timestamp()
            returning client_id;
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = tenant });
        command.Parameters.Add(new NpgsqlParameter { Value = Forever.UtcDateTime });
        await using (var reader = await command.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation)) _notBefore[reader.GetGuid(0)] = Forever;
        // The issuer index is the platform role's to write (DatabasePrivileges).
        await using var release = (platform ?? main).CreateCommand($"delete from {Schema}.identity_issuers where tenant = $1");
        release.Parameters.Add(new NpgsqlParameter { Value = tenant });
        await release.ExecuteNonQueryAsync(cancellation);
    }

    public async Task PollAsync(CancellationToken cancellation)
    {
        // Rows committed a little after they were stamped are still seen: the window looks back two seconds.
        await using var command = main.CreateCommand(
            $"select client_id, not_before, changed_at from {Schema}.credential_revocations where changed_at > $1 order by changed_at");
        command.Parameters.Add(new NpgsqlParameter { Value = _watermark == DateTimeOffset.MinValue ? DateTime.MinValue : (_watermark - TimeSpan.FromSeconds(2)).UtcDateTime });
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            var notBefore = reader.GetDateTime(1);
            _notBefore[reader.GetGuid(0)] = new DateTimeOffset(DateTime.SpecifyKind(notBefore, DateTimeKind.Utc));
            var changed = reader.GetFieldValue<DateTimeOffset>(2);
            if (changed > _watermark) _watermark = changed;
        }
        _loaded.TrySetResult();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await PollAsync(stoppingToken);
            }
            catch (Exception e) when (e is NpgsqlException or PostgresException)
            {
                log.LogWarning(e, "Could not read credential revocations; tokens stay checked against what was last read.");
            }
            try
            {
                await Task.Delay(options.RevocationPollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
