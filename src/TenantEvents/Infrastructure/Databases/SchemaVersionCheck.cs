using Npgsql;

namespace TenantEvents.Infrastructure.Databases;

/// <summary>
/// At start-up, before anything else runs: the main database must hold every migration this release knows
/// (<see cref="SchemaRegistry"/>), or the service refuses to start and says to run `migrate`, instead of failing later
/// on a missing column. A database a newer release already migrated is allowed, with a warning: during a rolling upgrade
/// the previous release runs beside the new one on its expanded schema.
/// </summary>
public sealed class SchemaVersionCheck(NpgsqlDataSource main, TenantEventsOptions options, ILogger<SchemaVersionCheck> log) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var connection = await main.OpenConnectionAsync(cancellationToken);
        var versions = await SchemaRegistry.VersionsAsync(connection, options.DatabaseSchema, cancellationToken);
        foreach (var track in new[] { SchemaRegistry.DirectoryTrack, SchemaRegistry.TenantsTrack })
        {
            var needed = SchemaRegistry.Track(track)[^1].Version;
            var found = versions.GetValueOrDefault(track);
            if (found < needed)
                throw new InvalidOperationException($"Database {connection.Database} is at {track} schema version {found}; this release needs {needed}. " +
                                                    "Run `TenantEvents migrate` (as the schema owner) first.");
            if (found > needed)
                log.LogWarning("Database {Database} is at {Track} schema version {Found}, newer than this release's {Needed}: a newer release migrated it.",
                    connection.Database, track, found, needed);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
