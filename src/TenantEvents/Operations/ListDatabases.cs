using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Operations;

/// <summary>One of the platform's databases as an operator plans with it: where it is, what it is for, how full.</summary>
public sealed record DatabaseCapacity(string Id, string Zone, string Database, string? Host, int? Port, string Kind, Guid? DedicatedTo,
    long Tenants, int? Capacity, double? Fill);

/// <summary>
/// GET /api/platform/databases (platform administrators): every registered database with its tenants and capacity, so
/// that an operator sees a zone fill up before new tenants are refused, and adds a shared database in time
/// (TenantEvents:Zones:{zone}:Shared, then `migrate`; docs/operations.md). Routing metadata only: counts, no tenant.
/// </summary>
public static class ListDatabasesEndpoint
{
    [WolverineGet("/api/platform/databases", OperationId = "ListDatabases")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static async Task<IResult> Get(TenantDirectory directory, CancellationToken cancellation)
    {
        var databases = await directory.DatabasesAsync(cancellation);
        var tenants = await directory.TenantsPerDatabaseAsync(cancellation);
        return Results.Json(new
        {
            databases = databases.Select(d =>
            {
                var count = tenants.GetValueOrDefault(d.Id);
                int? capacity = d.Dedicated ? 1 : d.Capacity ?? ZoneOptions.DefaultCapacity;
                return new DatabaseCapacity(d.Id, d.Zone, d.Database, d.Host, d.Port, d.Dedicated ? "dedicated" : "shared", d.DedicatedTo, count, capacity,
                    Math.Round((double)count / capacity.Value, 4));
            }),
        }, Json.Options);
    }
}
