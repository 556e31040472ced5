using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Identity;

public sealed record CreateServiceAccount(string? Name, List<string>? Scopes);

public static class CreateServiceAccountEndpoint
{
    /// <summary>
    /// A service account of the tenant with explicit scopes (permissions), never more than the caller holds at the
    /// tenant's root. The secret is in this answer only; it is stored as a sealed hash.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/service-accounts", OperationId = "CreateServiceAccount")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Post(Guid tenantId, CreateServiceAccount? command, HttpContext http, ServiceAccountStore accounts,
        MessageContext context, CancellationToken cancellation)
    {
        var (standing, refusal) = await accounts.EnterAsync(http, tenantId, writing: true, null, cancellation);
        if (refusal is not null) return refusal;
        if (command is null) return Problem.Malformed("The body must be a JSON object with name and scopes.").ToResult();
        var errors = new List<FieldError>();
        ServiceAccountRules.Name(errors, command.Name);
        ServiceAccountRules.Scopes(errors, command.Scopes);
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        (standing, refusal) = await accounts.EnterAsync(http, tenantId, writing: true, command.Scopes, cancellation);
        if (refusal is not null) return refusal;

        var secret = ServiceAccountRules.NewSecret();
        var created = new ServiceAccountCreated(Guid.CreateVersion7(), command.Name!.Trim(), command.Scopes!.Order(StringComparer.Ordinal).ToList(),
            ServiceAccountRules.Hash(secret), standing!.Actor, accounts.Streams.Now);
        var record = await accounts.CreateAsync(context, tenantId, created, cancellation);
        http.Response.Headers.ETag = Tenants.TenantHttp.ETag(record.Version);
        http.Response.Headers.CacheControl = "no-store";
        return Results.Json(new ServiceAccountWithSecret(record.View(), record.Id.ToString(), secret, TokenEndpoint.Path,
            record.Scopes.Contains(ScimCredential.Scope) ? ScimCredential.For(record.Id, secret) : null), Json.Options,
            statusCode: StatusCodes.Status201Created);
    }
}
