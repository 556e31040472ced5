using System.Collections.Concurrent;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;

namespace TenantEvents.Analytics;

/// <summary>
/// Captures who was active, without an event or a write per request: each instance remembers (tenant, day, user,
/// feature) once in memory and writes what is new in batches (<see cref="TenantEventsOptions.AnalyticsFlushInterval"/>);
/// the table's key keeps one row however many instances saw the same user that day. Users are stored as blind-index
/// tokens under the tenant's key.
/// </summary>
public sealed class ActivityRecorder(TenantDatabases databases, TenantEvents.Sharing.SharingStore sharing, Clock clock, TenantEventsOptions options, ILogger<ActivityRecorder> logger) : BackgroundService
{
    private readonly record struct Key(Guid Tenant, DateOnly Day, string User, string Feature);

    private readonly ConcurrentDictionary<Key, byte> _seen = new();
    private readonly ConcurrentQueue<Key> _pending = new();
    private DateOnly _seenDay;

    private string Schema => options.DatabaseSchema;

    public static string UserTerm(string subject) => "analytics-user:" + subject;

    /// <summary>A tenant's user used a feature area now (cheap: a dictionary lookup unless it is the first time today).</summary>
    public void Record(Guid tenant, string subject, string feature)
    {
        var day = DateOnly.FromDateTime(clock.UtcNow.UtcDateTime);
        if (day != _seenDay)
        {
            // A new day: yesterday's memory is of no more use (its rows are written or queued).
            _seenDay = day;
            foreach (var key in _seen.Keys.Where(k => k.Day < day)) _seen.TryRemove(key, out _);
        }
        var entry = new Key(tenant, day, subject, feature);
        if (_seen.TryAdd(entry, 0)) _pending.Enqueue(entry);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.AnalyticsFlushInterval, stoppingToken);
                await FlushAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Writing activity records failed; they are written at the next interval");
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await FlushAsync(cancellationToken);
        }
        catch (ObjectDisposedException)
        {
            // A tenant database's connections were closed before this service stopped (its database was removed, or the
            // host is tearing down out of order): these day's records are lost for this instance only; another instance
            // or the next sign-in records the same (day, person, feature) again.
            logger.LogInformation("Activity records not written at shutdown: a tenant database was already closed");
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Activity records not written at shutdown");
        }
    }

    /// <summary>Writes what was recorded since the last flush; returns how many records were new to this instance.</summary>
    public async Task<int> FlushAsync(CancellationToken cancellation)
    {
        var batch = new List<Key>();
        while (_pending.TryDequeue(out var key)) batch.Add(key);
        foreach (var group in batch.GroupBy(k => k.Tenant))
        {
            try
            {
                var token = await TokenizerAsync(group.Key, cancellation);
                var rows = group.ToList();
                var source = (await databases.ForAsync(group.Key, cancellation)).Service;
                await using var connection = await source.OpenConnectionAsync(cancellation);
                await using var transaction = await connection.BeginTransactionAsync(cancellation);
                await TenantEvents.Infrastructure.Databases.Sql.SetTenantAsync(connection, transaction, group.Key, cancellation);
                await using (var insert = new NpgsqlCommand($"""
                    insert into {Schema}.analytics_activity (tenant_id, day, user_token, feature)
                    select $1, u.day, u.token, u.feature from unnest($2::date[], $3::text[], $4::text[]) as u(day, token, feature)
                    on conflict do nothing
                    """, connection, transaction))
                {
                    insert.Parameters.Add(new NpgsqlParameter { Value = group.Key.ToString() });
                    insert.Parameters.Add(new NpgsqlParameter { Value = rows.Select(r => r.Day).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Date });
                    insert.Parameters.Add(new NpgsqlParameter { Value = rows.Select(r => token(UserTerm(r.User))).ToArray() });
                    insert.Parameters.Add(new NpgsqlParameter { Value = rows.Select(r => r.Feature).ToArray() });
                    await insert.ExecuteNonQueryAsync(cancellation);
                }
                await transaction.CommitAsync(cancellation);
            }
            catch (TenantEvents.Keys.KeyDestroyedException)
            {
                // The tenant was shredded: its activity is not recorded.
            }
            catch (Exception) when (!cancellation.IsCancellationRequested)
            {
                // Kept for the next flush (the memory of having seen them is dropped so they are queued again).
                foreach (var key in group) _seen.TryRemove(key, out _);
                throw;
            }
        }
        return batch.Count;
    }

    /// <summary>The tenant's blind index (the one case file search uses): the same user, the same token, on every instance.</summary>
    public Task<Func<string, string>> TokenizerAsync(Guid tenant, CancellationToken cancellation) => sharing.TokenizerAsync(tenant, cancellation);
}

/// <summary>After authentication and authorisation: the caller's tenant user and the route's feature area, to the recorder.</summary>
public sealed class ActivityCapture(RequestDelegate next, ActivityRecorder recorder)
{
    public async Task InvokeAsync(HttpContext http)
    {
        await next(http);
        if (http.Response.StatusCode is < 200 or >= 400 || http.User.Identity?.IsAuthenticated != true) return;
        if (http.User.FindFirst(Claims.TenantId)?.Value is not { } claim || !Guid.TryParse(claim, out var tenant)) return;
        var actor = http.Caller().Actor;
        if (actor.Kind != "user") return; // service accounts and directories are not users
        var route = (http.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? http.Request.Path.Value;
        if (FeatureAreas.Of(route) is { } feature) recorder.Record(tenant, actor.Subject, feature);
    }
}
