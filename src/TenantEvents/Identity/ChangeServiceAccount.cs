using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Identity;

public sealed record RotateServiceAccountSecret(bool? RevokeTokens);

public sealed record ChangeServiceAccountScopes(List<string>? Scopes);

public sealed record DisableServiceAccount(string? Reason);

/// <summary>Rotate the secret, change the scopes, disable (every token dies at once) and enable again. If-Match honoured.</summary>
public static class ChangeServiceAccountEndpoints
{
    [WolverinePost("/api/tenants/{tenantId}/service-accounts/{accountId}/secret", OperationId = "RotateServiceAccountSecret")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Rotate(Guid tenantId, Guid accountId, RotateServiceAccountSecret? command, HttpContext http,
        ServiceAccountStore accounts, MessageContext context, CancellationToken cancellation)
    {
        var secret = ServiceAccountRules.NewSecret();
        var revoke = command?.RevokeTokens ?? false;
        var result = await Change(http, accounts, context, tenantId, accountId, null, (standing, _) =>
            new ServiceAccountSecretRotated(accountId, ServiceAccountRules.Hash(secret), revoke, standing.Actor, accounts.Streams.Now), cancellation);
        if (result.Record is null) return result.Response!;
        http.Response.Headers.CacheControl = "no-store";
        return Results.Json(new ServiceAccountWithSecret(result.Record.View(), accountId.ToString(), secret, TokenEndpoint.Path,
            result.Record.Scopes.Contains(ScimCredential.Scope) ? ScimCredential.For(accountId, secret) : null), Json.Options);
    }

    [WolverinePut("/api/tenants/{tenantId}/service-accounts/{accountId}/scopes", OperationId = "ChangeServiceAccountScopes")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Scopes(Guid tenantId, Guid accountId, ChangeServiceAccountScopes? command, HttpContext http,
        ServiceAccountStore accounts, MessageContext context, CancellationToken cancellation)
    {
        var errors = new List<FieldError>();
        ServiceAccountRules.Scopes(errors, command?.Scopes);
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        var scopes = command!.Scopes!.Order(StringComparer.Ordinal).ToList();
        return (await Change(http, accounts, context, tenantId, accountId, scopes, (standing, record) =>
            record.Scopes.SequenceEqual(scopes) ? null : new ServiceAccountScopesChanged(accountId, scopes, standing.Actor, accounts.Streams.Now),
            cancellation)).Response!;
    }

    [WolverinePost("/api/tenants/{tenantId}/service-accounts/{accountId}/disable", OperationId = "DisableServiceAccount")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Disable(Guid tenantId, Guid accountId, DisableServiceAccount? command, HttpContext http,
        ServiceAccountStore accounts, MessageContext context, CancellationToken cancellation)
    {
        if (command?.Reason is { Length: > 500 }) return Problem.Validation("reason", "too-long", "must be at most 500 characters.").ToResult();
        return (await Change(http, accounts, context, tenantId, accountId, null, (standing, record) =>
            record.Enabled ? new ServiceAccountDisabled(accountId, command?.Reason, standing.Actor, accounts.Streams.Now) : null,
            cancellation, bounded: false)).Response!;
    }

    [WolverinePost("/api/tenants/{tenantId}/service-accounts/{accountId}/enable", OperationId = "EnableServiceAccount")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Enable(Guid tenantId, Guid accountId, HttpContext http, ServiceAccountStore accounts, MessageContext context,
        CancellationToken cancellation) =>
        (await Change(http, accounts, context, tenantId, accountId, null, (standing, record) =>
            record.Enabled ? null : new ServiceAccountEnabled(accountId, standing.Actor, accounts.Streams.Now), cancellation)).Response!;

    /// <summary>
    /// A change decided on the account's current record. Rotating its secret, changing its scopes and enabling it each
    /// hand the account's power to whoever holds the secret: <paramref name="bounded"/> changes need the actor to hold
    /// every scope the account has (the grantor's bound), besides the new ones. Disabling takes power away: not bounded.
    /// </summary>
    private static async Task<(ServiceAccountRecord? Record, IResult? Response)> Change(HttpContext http, ServiceAccountStore accounts,
        MessageContext context, Guid tenantId, Guid accountId, IReadOnlyList<string>? scopes, Func<Standing, ServiceAccountRecord, object?> decide,
        CancellationToken cancellation, bool bounded = true)
    {
        var (standing, refusal) = await accounts.EnterAsync(http, tenantId, writing: true, scopes, cancellation);
        if (refusal is not null) return (null, refusal);
        if (!TenantHttp.TryExpectedVersion(http.Request, out var expected, out var error)) return (null, error);
        var (record, problem) = await accounts.ExecuteAsync(context, tenantId, accountId, expected,
            async r => bounded && await accounts.BoundAsync(standing!, tenantId, r.Scopes, cancellation) is { } beyond ? beyond : decide(standing!, r),
            cancellation);
        if (problem is not null)
        {
            if (record is not null) http.Response.Headers.ETag = TenantHttp.ETag(record.Version);
            return (null, problem.ToResult());
        }
        http.Response.Headers.ETag = TenantHttp.ETag(record!.Version);
        return (record, Results.Json(record.View(), Json.Options));
    }
}
