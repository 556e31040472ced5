using Microsoft.AspNetCore.Authorization;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Identity;

public sealed record IdentityProviderView(IdentityProviderSettings Settings, long Version, DateTimeOffset ConfiguredAt, string ConfiguredBy,
    string SignInHint);

/// <summary>
/// The tenant's OpenID provider: set (PUT; its discovery document and keys must be reachable, so a typo is caught now,
/// not at the first sign-in), read, remove. identity.manage at the tenant's root. An issuer belongs to one tenant only.
/// </summary>
public static class IdentityProviderEndpoints
{
    private const string Path = "/api/tenants/{tenantId}/identity-provider";

    [WolverinePut(Path, OperationId = "ConfigureIdentityProvider")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Put(Guid tenantId, ConfigureIdentityProvider? command, HttpContext http, ServiceAccountStore access,
        FederationRegistry federation, TenantEventsOptions options, OrganisationStore organisations, TenantEvents.Domains.DomainIndex domains,
        MessageContext context, CancellationToken cancellation)
    {
        var (standing, refusal) = await access.EnterAsync(http, tenantId, writing: true, null, cancellation);
        if (refusal is not null) return refusal;
        var (settings, errors) = IdentityProviderRules.Validate(command, options);
        if (settings is null) return Problem.Validation(errors).ToResult();
        // At a name the platform answers for (a tenant's verified name, the subdomain zone), the platform is the issuer.
        if (settings.Issuer == options.PlatformIdentityProvider.Issuer)
            return Problem.Validation("issuer", "reserved-issuer", "is the platform staff's identity provider.").ToResult();
        if (await domains.ServesIssuerAsync(settings.Issuer, cancellation))
            return Problem.Validation("issuer", "reserved-issuer", "is at a name this platform answers for (a tenant's domain or the platform's subdomain zone).").ToResult();
        if (!TenantHttp.TryExpectedVersion(http.Request, out var expected, out var error)) return error!;
        try
        {
            await federation.FetchKeysAsync(settings.Issuer, cancellation);
        }
        catch (IdentityProviderUnreachableException e)
        {
            return new Problem("identity-provider-unreachable", 422, "The identity provider's discovery document or keys could not be read",
                e.Message).With("issuer", settings.Issuer).ToResult();
        }

        var streams = access.Streams;
        var schema = options.DatabaseSchema;

        // Read once; the append below expects the stream at this version, so a concurrent change still fails cleanly.
        IdentityProviderRecord? record;
        await using (var read = streams.Store.QuerySession(tenantId.ToString()))
            record = await read.LoadAsync<IdentityProviderRecord>(tenantId, cancellation);
        if (expected is { } v && v != (record?.Version ?? 0)) return Problem.StaleVersion(v, record?.Version ?? 0).ToResult();
        if (record is not null && Same(record.Settings, settings)) return Answer(http, record);

        // The mapping rules' grants, through the organisation engine (its lock, its events, the grantor's bound): they
        // are kept exactly as the rules say, so a rule removed is a grant revoked.
        var reconciled = await organisations.Execute(context, tenantId,
            graph => GroupMappingDecisions.Reconcile(graph, standing!, tenantId, record?.Settings, settings, standing!.Actor, streams.Now), cancellation);
        if (reconciled is OrgRefused refused) return refused.Problem.ToResult();

        // The issuer index first, in its own transaction: a failure after it leaves an index entry the validator
        // ignores (it checks the tenant's own record names the issuer).
        // (As the platform role: the service's role may read the index, not bind an issuer to a tenant.)
        await using (var connection = await streams.Directory.Platform.OpenConnectionAsync(cancellation))
        await using (var transaction = await connection.BeginTransactionAsync(cancellation))
        {
            await using var claim = new NpgsqlCommand($"""
                insert into {schema}.identity_issuers (issuer, tenant, configured_at) values ($1, $2, clock_timestamp())
                on conflict (issuer) do update set configured_at = clock_timestamp() where {schema}.identity_issuers.tenant = excluded.tenant
                returning tenant
                """, connection, transaction);
            await using (var free = new NpgsqlCommand($"delete from {schema}.identity_issuers where tenant = $1 and issuer <> $2", connection, transaction))
            {
                free.Parameters.Add(new NpgsqlParameter { Value = tenantId });
                free.Parameters.Add(new NpgsqlParameter { Value = settings.Issuer });
                await free.ExecuteNonQueryAsync(cancellation);
            }
            claim.Parameters.Add(new NpgsqlParameter { Value = settings.Issuer });
            claim.Parameters.Add(new NpgsqlParameter { Value = tenantId });
            if (await claim.ExecuteScalarAsync(cancellation) is null)
                return new Problem("issuer-taken", 409, "Another tenant federates with this issuer",
                    "An identity provider's issuer can vouch for the users of one tenant only.").With("issuer", settings.Issuer).ToResult();
            await transaction.CommitAsync(cancellation);
        }

        await using var tx = await streams.BeginAsync(context, tenantId, cancellation, begin: false);
        var configured = new IdentityProviderConfigured(settings, standing!.Actor, streams.Now);
        var stream = IdentityEventTypes.ProviderStream(tenantId);
        // A provider removed earlier left its stream (configured ... removed): a new one continues it, and the record's
        // version (the ETag) stays the stream's version.
        var at = record?.Version ?? (await tx.Session.Events.FetchStreamStateAsync(stream, cancellation))?.Version ?? 0;
        await tx.AppendAsync(stream, [configured], cancellation, versionAfter: at + 1, start: at == 0);
        record = new IdentityProviderRecord
        {
            Id = tenantId, Settings = settings, Version = at + 1, ConfiguredAt = configured.At, ConfiguredBy = configured.By.ToString(),
        };
        tx.Session.Store(record);
        if (!await tx.TryCommitAsync(cancellation)) return Problem.ConcurrentWrite().ToResult();
        await federation.InvalidateAsync(tenantId, cancellation);
        return Answer(http, record);
    }

    [WolverineGet(Path, OperationId = "GetIdentityProvider")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, ServiceAccountStore access, CancellationToken cancellation)
    {
        var (_, refusal) = await access.EnterAsync(http, tenantId, writing: false, null, cancellation);
        if (refusal is not null) return refusal;
        await using var session = access.Streams.Store.QuerySession(tenantId.ToString());
        var record = await session.LoadAsync<IdentityProviderRecord>(tenantId, cancellation);
        return record is null ? Problem.NotFound("identity provider").ToResult() : Answer(http, record);
    }

    [WolverineDelete(Path, OperationId = "RemoveIdentityProvider")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Delete(Guid tenantId, HttpContext http, ServiceAccountStore access, FederationRegistry federation,
        MessageContext context, CancellationToken cancellation)
    {
        var (standing, refusal) = await access.EnterAsync(http, tenantId, writing: true, null, cancellation);
        if (refusal is not null) return refusal;
        var streams = access.Streams;
        // No transaction is held while the directory and the federation index are changed: the removal is appended at
        // the version read, so a configuration committed in between makes it a 409, never a silent removal of it (its
        // issuer is then out of the index: closed, until configured again).
        await using var tx = await streams.BeginAsync(context, tenantId, cancellation, begin: false);
        var record = await tx.Session.LoadAsync<IdentityProviderRecord>(tenantId, cancellation);
        if (record is null) return Problem.NotFound("identity provider").ToResult();
        // Removing a provider needs what configuring it needed: a removal and a new configuration make a replacement.
        if (await access.Organisations.ReadAsync(tenantId, g => GroupMappingDecisions.Bound(standing!, g, record.Settings, null), cancellation) is { } beyond)
            return beyond.ToResult();
        // Out of the index first: from this moment the provider's tokens are refused.
        await using (var free = streams.Directory.Platform.CreateCommand($"delete from {streams.Options.DatabaseSchema}.identity_issuers where tenant = $1 and issuer = $2"))
        {
            free.Parameters.Add(new NpgsqlParameter { Value = tenantId });
            free.Parameters.Add(new NpgsqlParameter { Value = record.Settings.Issuer });
            await free.ExecuteNonQueryAsync(cancellation);
        }
        await federation.InvalidateAsync(tenantId, cancellation);
        await tx.AppendAsync(IdentityEventTypes.ProviderStream(tenantId), [new IdentityProviderRemoved(record.Settings.Issuer, standing!.Actor, streams.Now)],
            cancellation, versionAfter: record.Version + 1);
        tx.Session.Delete<IdentityProviderRecord>(tenantId);
        if (!await tx.TryCommitAsync(cancellation)) return Problem.ConcurrentWrite().ToResult();
        return Results.NoContent();
    }

    private static bool Same(IdentityProviderSettings a, IdentityProviderSettings b) =>
        a.Issuer == b.Issuer && a.Audience == b.Audience && a.Claims == b.Claims && a.Algorithms.SequenceEqual(b.Algorithms)
        && a.AdminGroups.SequenceEqual(b.AdminGroups) && a.AllowedEmailDomains.SequenceEqual(b.AllowedEmailDomains) && a.Mappings.SequenceEqual(b.Mappings);

    private static IResult Answer(HttpContext http, IdentityProviderRecord record)
    {
        http.Response.Headers.ETag = TenantHttp.ETag(record.Version);
        return Results.Json(new IdentityProviderView(record.Settings, record.Version, record.ConfiguredAt, record.ConfiguredBy,
            $"Users sign in at {record.Settings.Issuer} and call this API with its tokens for audience '{record.Settings.Audience}'."), Json.Options);
    }
}
