using System.Reflection;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Operations;

/// <summary>This build: its release version and the commit it was built from ("unknown" when built outside git).</summary>
public static class Release
{
    private static readonly string Informational =
        typeof(Release).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    /// <summary>The release (Directory.Build.props' Version).</summary>
    public static string Version => Informational.Split('+')[0];

    /// <summary>The commit (SourceRevisionId, set from git at build time).</summary>
    public static string Commit => Informational.Split('+') is [_, var commit, ..] && commit.Length > 0 ? commit : "unknown";
}

/// <summary>A schema track: the version this code needs (it runs on that one or any later one, expand-then-contract).</summary>
public sealed record SchemaTrackVersion(string Track, int Needs);

/// <summary>
/// One database as found: the version of each track recorded in it, and what that means for this code: current,
/// newer (a later release migrated it; this one keeps running on the expanded schema), behind (run `migrate`), or
/// unreachable.
/// </summary>
public sealed record DatabaseSchemaVersion(string Id, string Zone, bool Dedicated, IReadOnlyDictionary<string, int>? Tracks, string State, string? Error);

public sealed record VersionReport(string Version, string Commit, string Runtime, IReadOnlyList<SchemaTrackVersion> Schema,
    IReadOnlyList<DatabaseSchemaVersion> Databases);

public static class GetVersionEndpoint
{
    private static readonly TimeSpan PerDatabase = TimeSpan.FromSeconds(5);

    /// <summary>
    /// For operators, during an upgrade above all: which release this instance runs (version and commit), the schema version
    /// each track needs, and the version every database is at. Asked of each instance (behind a load balancer, each answers
    /// for itself), it shows the old and new releases serving side by side on one schema.
    /// </summary>
    [WolverineGet("/api/platform/version", OperationId = "GetVersion")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static async Task<IResult> Get(TenantDatabases databases, TenantEventsOptions options, CancellationToken cancellation)
    {
        var needs = new[] { SchemaRegistry.DirectoryTrack, SchemaRegistry.TenantsTrack }
            .Select(t => new SchemaTrackVersion(t, SchemaRegistry.Track(t)[^1].Version)).ToList();
        var found = await Task.WhenAll(databases.All.Select(d => ReadAsync(d, options.DatabaseSchema, needs, cancellation)));
        return Results.Json(new VersionReport(Release.Version, Release.Commit, System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            needs, found), Json.Options);
    }

    private static async Task<DatabaseSchemaVersion> ReadAsync(TenantDatabases.Database database, string schema, IReadOnlyList<SchemaTrackVersion> needs,
        CancellationToken cancellation)
    {
        var entry = database.Entry;
        var (tracks, failure) = await Bounded.ReadAsync(async token =>
        {
            await using var connection = await database.Service.OpenConnectionAsync(token);
            return await SchemaRegistry.VersionsAsync(connection, schema, token);
        }, PerDatabase, cancellation);
        if (tracks is not null)
            return new DatabaseSchemaVersion(entry.Id, entry.Zone, entry.Dedicated, tracks, State(tracks, needs, main: entry.Id == TenantDirectory.DefaultDatabaseId), null);
        if (!Bounded.IsUnreachable(failure!)) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure!);
        return new DatabaseSchemaVersion(entry.Id, entry.Zone, entry.Dedicated, null, "unreachable", failure is OperationCanceledException
            ? $"no answer within {PerDatabase.TotalSeconds:0} s" : failure!.Message);
    }

    /// <summary>
    /// Pure: a database is behind when a track this code needs is older than needed, or missing: the tenant data's in
    /// every database, the directory's in the main one (the others do not hold it); newer when any is later, else current.
    /// </summary>
    public static string State(IReadOnlyDictionary<string, int> tracks, IReadOnlyList<SchemaTrackVersion> needs, bool main = false)
    {
        if (tracks.Count == 0 || main && !tracks.ContainsKey(SchemaRegistry.DirectoryTrack)) return "behind";
        var held = needs.Where(n => tracks.ContainsKey(n.Track)).ToList();
        if (held.Any(n => tracks[n.Track] < n.Needs) || !tracks.ContainsKey(SchemaRegistry.TenantsTrack)) return "behind";
        return held.Any(n => tracks[n.Track] > n.Needs) ? "newer" : "current";
    }
}
