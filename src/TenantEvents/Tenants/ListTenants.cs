using Marten;
using Npgsql;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tenants;

/// <summary>A page of tenants: each a <see cref="Tenant"/>, or a <see cref="ShreddedTenant"/> once decommissioned.</summary>
public sealed record TenantPage(IReadOnlyList<object> Items, string? NextCursor);

public static class ListTenantsEndpoint
{
    /// <summary>
    /// Tenants in request order, filtered by state, template, residency country or subdivision and storage zone, keyset-paginated
    /// (the cursor is the last id seen; ids are UUID v7, so id order is creation order and pages never shift).
    /// A tenant administrator sees only its own tenant.
    /// </summary>
    [WolverineGet("/api/tenants", OperationId = "ListTenants")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.PlatformApprover},{Roles.Auditor},{Roles.Analyst},{Roles.TenantAdmin}")]
    public static async Task<IResult> Get(HttpContext http, IDocumentStore store, TenantDatabases databases, TenantStreams streams,
        TenantEventsOptions options, CancellationToken cancellation)
    {
        var query = http.Request.Query;
        var errors = new List<FieldError>();
        TenantState? state = null;
        if (query["state"].ToString() is { Length: > 0 } s)
        {
            state = Enum.GetValues<TenantState>().Cast<TenantState?>().FirstOrDefault(v => TenantHttp.Kebab(v!.Value) == s);
            if (state is null) errors.Add(new FieldError("state", "unknown-state", $"must be one of {string.Join(", ", Enum.GetValues<TenantState>().Select(TenantHttp.Kebab))}."));
        }
        var limit = 50;
        if (query["limit"].ToString() is { Length: > 0 } l && (!int.TryParse(l, out limit) || limit < 1 || limit > options.MaxPageSize))
            errors.Add(new FieldError("limit", "out-of-range", $"must be a whole number from 1 to {options.MaxPageSize}."));
        Guid? cursor = null;
        if (query["cursor"].ToString() is { Length: > 0 } c)
        {
            if (Guid.TryParse(c, out var g)) cursor = g;
            else errors.Add(new FieldError("cursor", "invalid-cursor", "must be a nextCursor value from a previous page."));
        }
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();

        var caller = http.Caller();
        Guid? onlyTenant = caller.HasAny(Roles.PlatformWide) ? null : caller.Actor.TenantId;
        if (!caller.HasAny(Roles.PlatformWide) && onlyTenant is null) return Results.Json(new TenantPage([], null), Json.Options);

        var (sql, parameters) = Build(store.Options.Schema.For<TenantRecord>(), state, query["template"], query["country"], query["subdivision"], query["zone"],
            cursor, onlyTenant, limit + 1);
        // A tenant administrator reads through its own tenant's session (row-level security applies); the
        // platform-wide roles read across tenants under the platform role, which may read past it, in every database
        // (each answers its first page; ids are merged in order).
        var rows = onlyTenant is { } own
            ? await ReadOwn(store, own, sql, parameters, cancellation)
            : await ReadAcrossTenants(databases, store.Options.Serializer(), sql, parameters, limit + 1, cancellation);
        var page = rows.Take(limit).ToList();
        var items = new List<object>();
        foreach (var record in page)
            items.Add(record.Shredded
                ? record.Summary()
                : await streams.ReadAsync(record, cancellation));
        return Results.Json(new TenantPage(items, rows.Count > limit ? page[^1].Id.ToString() : null), Json.Options);
    }

    private static async Task<IReadOnlyList<TenantRecord>> ReadOwn(IDocumentStore store, Guid tenant, string sql, object[] parameters,
        CancellationToken cancellation)
    {
        await using var session = store.QuerySession(tenant.ToString());
        return await session.QueryAsync<TenantRecord>(sql, cancellation, parameters);
    }

    private static async Task<IReadOnlyList<TenantRecord>> ReadAcrossTenants(TenantDatabases databases, ISerializer serializer, string sql,
        object[] parameters, int take, CancellationToken cancellation)
    {
        await databases.RefreshAsync(cancellation);
        var reads = databases.All.Select(async database =>
        {
            var platform = database.Platform.Value ?? throw new InvalidOperationException("No platform connection for cross-tenant reads.");
            await using var command = platform.CreateCommand(PositionalParameters(sql));
            TenantEvents.Infrastructure.Databases.Sql.Bind(command, parameters);
            await using var reader = await command.ExecuteReaderAsync(cancellation);
            var tenants = new List<TenantRecord>();
            while (await reader.ReadAsync(cancellation))
                tenants.Add(serializer.FromJson<TenantRecord>(reader.GetStream(0)));
            return tenants;
        });
        // UUID v7 ids order by creation; PostgreSQL orders uuid bytewise, as Guid's comparison here does not: compare as PostgreSQL does.
        return (await Task.WhenAll(reads)).SelectMany(t => t)
            .OrderBy(t => t.Id.ToString("N"), StringComparer.Ordinal).Take(take).ToList();
    }

    /// <summary>Marten's '?' placeholders as PostgreSQL's $1, $2, ...</summary>
    private static string PositionalParameters(string sql)
    {
        var n = 0;
        return System.Text.RegularExpressions.Regex.Replace(sql, @"\?", _ => "$" + ++n);
    }

    /// <summary>One parameterised statement over the tenant documents (all tenants, or one under row-level security).</summary>
    private static (string Sql, object[] Parameters) Build(string table, TenantState? state, string? template, string? country,
        string? subdivision, string? zone, Guid? cursor, Guid? onlyTenant, int take)
    {
        var where = new List<string>();
        var parameters = new List<object>();
        void Add(string clause, object value) { where.Add(clause); parameters.Add(value); }
        if (state is { } st) Add("d.data ->> 'State' = ?", st.ToString());
        if (!string.IsNullOrEmpty(template)) Add("d.data ->> 'Template' = ?", template);
        if (!string.IsNullOrEmpty(country)) Add("d.data ->> 'Country' = ?", country);
        if (!string.IsNullOrEmpty(subdivision)) Add("d.data ->> 'Subdivision' = ?", subdivision);
        if (!string.IsNullOrEmpty(zone)) Add("d.data ->> 'Zone' = ?", zone);
        if (cursor is { } after) Add("d.id > ?", after);
        if (onlyTenant is { } t) Add("d.id = ?", t);
        var filter = where.Count == 0 ? "" : "where " + string.Join(" and ", where);
        return ($"select d.data from {table} as d {filter} order by d.id limit {take}", parameters.ToArray());
    }
}
