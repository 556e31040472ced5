using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using Wolverine.Runtime;

namespace TenantEvents.Domains;

/// <summary>
/// The edge of every domain command: the tenant's names read, the pure decision, its events appended to the tenant's
/// domains stream (sealed, at the version read, so a concurrent change fails cleanly) with the record in the same
/// transaction; and the answer as the API shows a tenant's names.
/// </summary>
public static class DomainWrites
{
    public static async Task<(TenantDomainsRecord? Record, Problem? Refusal)> ExecuteAsync(TenantStreams streams, MessageContext context,
        Guid tenantId, TenantDomainsRecord? record, Func<TenantDomainsRecord?, DomainDecision> decide, CancellationToken cancellation)
    {
        var decision = decide(record);
        if (decision.Refusal is not null) return (null, decision.Refusal);
        if (decision.Events.Count == 0) return (record, null);
        await using var tx = await streams.BeginAsync(context, tenantId, cancellation, begin: false);
        var at = record?.Version ?? 0;
        await tx.AppendAsync(DomainEventTypes.Stream(tenantId), decision.Events, cancellation, versionAfter: at + decision.Events.Count, start: at == 0);
        var next = TenantDomainsRecord.Fold(tenantId, record, decision.Events);
        tx.Session.Store(next);
        return await tx.TryCommitAsync(cancellation) ? (next, null) : (null, Problem.ConcurrentWrite());
    }

    /// <summary>
    /// Points the name at the tenant (as the platform role), then runs the write; if the write refuses or fails, the
    /// binding this call made is taken back (one made by an earlier call, a retry's first attempt, stays). A name an
    /// identity provider's issuer is at cannot be bound: its tokens and the name's would be taken for one another.
    /// </summary>
    public static async Task<(TenantDomainsRecord? Record, Problem? Refusal)> BoundAsync(DomainIndex index, string name, Guid tenant, string kind,
        Func<Task<(TenantDomainsRecord? Record, Problem? Refusal)>> write, CancellationToken cancellation)
    {
        if (await index.UsedByIdentityProviderAsync(name, cancellation))
            return (null, new Problem("domain-used-by-identity-provider", 409, "An identity provider is at this name",
                $"A tenant's identity provider has its issuer at {name}; a name the platform answers for cannot be a provider's too.").With("domain", name));
        var bound = await index.BindAsync(name, tenant, kind, cancellation);
        if (bound.Holder != tenant) return (null, Taken(name));
        var written = false;
        try
        {
            var result = await write();
            written = result.Refusal is null;
            return result;
        }
        finally
        {
            if (!written && bound.Inserted) await index.UnbindAsync(name, tenant, CancellationToken.None);
        }
    }

    public static Problem Taken(string name) =>
        new Problem("domain-taken", 409, "Another tenant holds this name", $"{name} serves another tenant; a name serves one tenant at most.")
            .With("domain", name);

    public static async Task<TenantDomainsRecord?> LoadAsync(TenantStreams streams, Guid tenantId, CancellationToken cancellation)
    {
        await using var session = streams.Store.QuerySession(tenantId.ToString());
        return await session.LoadAsync<TenantDomainsRecord>(tenantId, cancellation);
    }

    /// <summary>A name as the API shows it: while pending, what to publish to prove it.</summary>
    public static object View(DomainEntry entry, DomainIndex index, DomainVerification verification) => new
    {
        domain = entry.Name,
        kind = entry.Kind,
        state = entry.State,
        origin = index.Origin(entry.Name),
        claimedAt = entry.ClaimedAt,
        claimedBy = entry.ClaimedBy,
        verifiedAt = entry.VerifiedAt,
        method = entry.Method,
        verification = entry.State == DomainEntry.Pending
            ? new
            {
                http = new { url = verification.HttpUrl(entry.Name, entry.Challenge), body = entry.Challenge },
                dns = verification.OffersDns ? new { name = DomainVerification.DnsName(entry.Name), type = "TXT", value = entry.Challenge } : null,
            }
            : null,
    };

    public static IResult Answer(HttpContext http, TenantDomainsRecord record, DomainEntry entry, DomainIndex index, DomainVerification verification,
        int status = 200)
    {
        http.Response.Headers.ETag = TenantHttp.ETag(record.Version);
        return Results.Json(View(entry, index, verification), Json.Options, statusCode: status);
    }

    /// <summary>The name in a route, in its one spelling (404 for what is not a name: nobody holds it).</summary>
    public static string? RouteName(string domain) => DomainNames.Normalise("domain", Uri.UnescapeDataString(domain)).Name;
}
