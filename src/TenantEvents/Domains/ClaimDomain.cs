using System.Security.Cryptography;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Identity;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Domains;

/// <summary>Either the tenant's own domain, or a label under the platform's zone (TenantEvents:TenantDomainZone).</summary>
public sealed record ClaimDomain(string? Domain, string? Subdomain);

/// <summary>
/// A tenant claims a name (identity.manage at its root: the name becomes the issuer of its tokens). Its own domain stays
/// pending until proven (<see cref="VerifyDomainEndpoint"/>): the answer says what to publish. A subdomain of the
/// platform's zone is verified at once if no other tenant holds it. Claiming a name one holds already answers it again.
/// </summary>
public static class ClaimDomainEndpoint
{
    [WolverinePost("/api/tenants/{tenantId}/domains", OperationId = "ClaimDomain")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Post(Guid tenantId, ClaimDomain? command, HttpContext http, ServiceAccountStore access, DomainIndex index,
        DomainVerification verification, TenantEventsOptions options, MessageContext context, CancellationToken cancellation)
    {
        var (standing, refusal) = await access.EnterAsync(http, tenantId, writing: true, null, cancellation);
        if (refusal is not null) return refusal;
        var (name, kind, error) = DomainClaimRules.Check(command, index, options);
        if (error is not null) return Problem.Validation([error]).ToResult();
        var streams = access.Streams;
        var record = await DomainWrites.LoadAsync(streams, tenantId, cancellation);

        var challenge = Base64Url(RandomNumberGenerator.GetBytes(32));
        Task<(TenantDomainsRecord? Record, Problem? Refusal)> Write() => DomainWrites.ExecuteAsync(streams, context, tenantId, record,
            r => DomainDecisions.Claim(r, name!, kind!, challenge, options.MaxDomainsPerTenant, standing!.Actor, streams.Now), cancellation);
        // A platform subdomain is the platform's to grant: into the index first (as the platform role), so two tenants
        // claiming one label at once cannot both have it; a refused or failed write gives it back.
        var (next, problem) = kind == DomainKinds.Platform && record?.Find(name!) is null
            ? await DomainWrites.BoundAsync(index, name!, tenantId, kind, Write, cancellation)
            : await Write();
        if (problem is not null) return problem.ToResult();
        var created = record?.Find(name!) is null;
        return DomainWrites.Answer(http, next!, next!.Find(name!)!, index, verification, created ? 201 : 200);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>
/// The rules of a claim, shared by the route and a manifest's plan (not on the endpoint class, where Wolverine would take
/// a public Validate for middleware).
/// </summary>
public static class DomainClaimRules
{
    /// <summary>The claim's name in its one spelling, its kind, or why not (the route, and a manifest's plan).</summary>
    public static (string? Name, string? Kind, FieldError? Error) Check(ClaimDomain? command, DomainIndex index, TenantEventsOptions options)
    {
        if (command is null) return (null, null, new FieldError("domain", "required", "send {\"domain\": \"events.agency.gov\"} or {\"subdomain\": \"label\"}."));
        if ((command.Domain is null) == (command.Subdomain is null))
            return (null, null, new FieldError("domain", "one-of", "give exactly one of domain (your own) and subdomain (under the platform's zone)."));
        if (command.Subdomain is not null)
        {
            var (sub, subError) = DomainNames.Subdomain("subdomain", command.Subdomain, index.SubdomainZone, options.ReservedSubdomains);
            return (sub, DomainKinds.Platform, subError);
        }
        var (name, error) = DomainNames.Normalise("domain", command.Domain);
        if (error is not null) return (null, null, error);
        return (name, DomainKinds.Custom, DomainNames.Custom("domain", name!, index.PlatformHost, index.SubdomainZone));
    }

}
