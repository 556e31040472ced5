using Microsoft.AspNetCore.Authorization;
using TenantEvents.Identity;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Domains;

/// <summary>Which proof to look for: http, dns, or (absent) every one offered.</summary>
public sealed record VerifyDomain(string? Method);

/// <summary>
/// Looks for the claim's proof now (identity.manage at the root). Proven and free: the name is the tenant's, it
/// resolves to the tenant from this moment, and DomainVerified is in its trail. Not proven: 422 saying what was looked
/// at, nothing written. Proven but another tenant proved it first: 409. Verifying a verified name proves it again and
/// points it at the tenant again (it heals an index a failed write left behind), writing no event.
/// </summary>
public static class VerifyDomainEndpoint
{
    [WolverinePost("/api/tenants/{tenantId}/domains/{domain}/verify", OperationId = "VerifyDomain")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Post(Guid tenantId, string domain, VerifyDomain? command, HttpContext http, ServiceAccountStore access,
        DomainIndex index, DomainVerification verification, TenantEventsOptions options, MessageContext context, CancellationToken cancellation)
    {
        var (standing, refusal) = await access.EnterAsync(http, tenantId, writing: true, null, cancellation);
        if (refusal is not null) return refusal;
        if (command?.Method is not (null or VerificationMethods.Http or VerificationMethods.Dns))
            return Problem.Validation("method", "invalid-method", "must be http or dns (or absent: every method offered).").ToResult();
        if (command?.Method == VerificationMethods.Dns && !verification.OffersDns)
            return Problem.Validation("method", "not-offered", "DNS verification needs a resolver (TenantEvents:DomainVerificationResolver); use http.").ToResult();
        var streams = access.Streams;
        var record = await DomainWrites.LoadAsync(streams, tenantId, cancellation);
        if (DomainWrites.RouteName(domain) is not { } name || record?.Find(name) is not { } entry) return Problem.NotFound("domain").ToResult();

        // Proof every time, also for a name the record says is verified (healing an index a failed write left behind): the
        // record is the service role's to write, so it never stands in for the proof.
        string method;
        if (entry.Kind == DomainKinds.Platform)
        {
            // A platform subdomain's proof is the platform's rules, applied again as a claim would.
            var label = name.EndsWith("." + index.SubdomainZone, StringComparison.Ordinal) ? name[..^(index.SubdomainZone!.Length + 1)] : null;
            if (DomainNames.Subdomain("domain", label, index.SubdomainZone, options.ReservedSubdomains).Name != name)
                return new Problem("domain-not-verified", 422, "The name is not a subdomain this platform grants",
                    $"{name} is not a label of the zone {index.SubdomainZone ?? "(none)"} that may be granted.").With("domain", name).ToResult();
            method = VerificationMethods.Platform;
        }
        else
        {
            var outcome = await verification.CheckAsync(name, entry.Challenge, command?.Method, cancellation);
            if (!outcome.Proven)
                return new Problem("domain-not-verified", 422, "The challenge was not found",
                        "Publish the challenge as described in verification, then ask again.")
                    .With("domain", name).With("checked", outcome.Checked).ToResult();
            method = outcome.Method!;
        }
        var (next, problem) = await DomainWrites.BoundAsync(index, name, tenantId, entry.Kind, () => DomainWrites.ExecuteAsync(streams, context, tenantId,
            record, r => DomainDecisions.Verify(r, name, method, standing!.Actor, streams.Now), cancellation), cancellation);
        return problem is not null ? problem.ToResult() : DomainWrites.Answer(http, next!, next!.Find(name)!, index, verification);
    }
}
