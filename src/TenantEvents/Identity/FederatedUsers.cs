using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Scim;
using Wolverine.Runtime;

namespace TenantEvents.Identity;

/// <summary>
/// Federated users are the tenant's users: the directory's SCIM record (matched by externalId, then userName, to the
/// token's subject, or userName to its e-mail when the provider vouches for the address: email_verified) decides whether the person may still sign in (active) and adds the
/// SCIM groups they belong to, so that grants to group:NAME apply whether the provider's token lists the groups or the
/// directory pushed them. Someone with no record yet gets one at first sign-in (just in time), so every person who
/// ever signed in appears in the tenant's user list.
/// </summary>
public sealed class FederatedUsers(ScimStore scim, TenantEvents.Organisations.OrganisationStore organisations, IWolverineRuntime runtime,
    ILogger<FederatedUsers> log)
{
    /// <summary>
    /// The provider's mapping rules for this person's groups: a member of a mapped group belongs to the organisation.
    /// Applied when a token is first seen; one in-memory read when nothing is missing.
    /// </summary>
    public async Task ApplyMembershipsAsync(ClaimsPrincipal principal, FederatedProvider provider, CancellationToken cancellation)
    {
        var groups = principal.FindAll(Claims.Groups).Select(c => c.Value).ToHashSet(StringComparer.Ordinal);
        var orgs = provider.Settings.Mappings.Where(m => groups.Contains(m.Group)).Select(m => m.OrganisationId).Distinct().ToList();
        if (orgs.Count == 0) return;
        var subject = principal.FindFirst(Claims.Subject)!.Value;
        var missing = await organisations.ReadAsync(provider.Tenant, g => orgs.Where(o => g.FindOpen(o) is not null && !g.IsMember(o, subject)).ToList(), cancellation);
        if (missing.Count == 0) return;
        var context = new MessageContext(runtime);
        var by = new Actor("federation", "system", provider.Tenant);
        var outcome = await organisations.Execute(context, provider.Tenant, g => TenantEvents.Organisations.OrgDecision.Accept(
            missing.Where(o => g.FindOpen(o) is not null && !g.IsMember(o, subject))
                .Select(o => (object)new TenantEvents.Organisations.MemberAdded(o, subject, by, DateTimeOffset.UtcNow)).ToArray()), cancellation);
        if (outcome is TenantEvents.Organisations.OrgRefused refused)
            log.LogWarning("Could not apply the membership rules of {Subject} in tenant {Tenant}: {Problem}", subject, provider.Tenant, refused.Problem.Detail);
    }

    /// <summary>How stale the directory may be on the sign-in path (writes on this instance show at once).</summary>
    private static readonly TimeSpan DirectoryMaxAge = TimeSpan.FromSeconds(2);

    /// <summary>The principal with the directory's groups, or null when the directory has deactivated the person.</summary>
    public async ValueTask<ClaimsPrincipal?> ApplyAsync(ClaimsPrincipal principal, CancellationToken cancellation)
    {
        var tenant = Guid.Parse(principal.FindFirst(Claims.TenantId)!.Value);
        var subject = principal.FindFirst(Claims.Subject)!.Value;
        var email = principal.FindFirst(Claims.Email)?.Value;
        var verifiedEmail = principal.HasClaim(Claims.EmailVerified, "true") ? email : null;
        var found = await scim.PeekAsync(tenant, DirectoryMaxAge, s => Match(s, subject, verifiedEmail) is { } user
            ? (Found: true, user.Active, Groups: s.GroupsOf(user.Id).Select(g => g.Text("displayName")).OfType<string>().ToList())
            : default, cancellation);
        if (!found.Found)
        {
            var error = await ProvisionAsync(tenant, subject, email, verifiedEmail, principal.FindFirst(Claims.Name)?.Value, cancellation);
            if (error is not { Status: 403, Extra: { } figures }) return principal;
            // No licence free for a new person: authenticated, but every request answers 403 with the figures
            // (Quotas/ApiMetering.cs). A copy: the verified principal itself is cached for the token's next requests.
            var refused = new ClaimsIdentity(principal.Claims, principal.Identity!.AuthenticationType, Claims.Subject, Claims.Role);
            refused.AddClaim(new Claim(Claims.QuotaRefusal, JsonSerializer.Serialize(figures, TenantEvents.Infrastructure.Json.Options)));
            return new ClaimsPrincipal(refused);
        }
        if (!found.Active) return null;
        if (found.Groups.Count == 0) return principal;
        var identity = (ClaimsIdentity)principal.Identity!;
        var known = principal.FindAll(Claims.Groups).Select(c => c.Value).ToHashSet(StringComparer.Ordinal);
        foreach (var group in found.Groups.Where(known.Add)) identity.AddClaim(new Claim(Claims.Groups, group));
        return principal;
    }

    /// <summary>
    /// The directory's record of the person: by the subject the provider vouches for, else by an e-mail address it
    /// verified. An unverified address is never matched: anyone able to type a colleague's address into their profile at
    /// the provider would otherwise take over that colleague's record (their groups, hence their grants).
    /// </summary>
    private static ScimResource? Match(ScimSnapshot snapshot, string subject, string? verifiedEmail)
    {
        var id = snapshot.UserWithExternalId(subject) ?? snapshot.UserNamed(subject) ?? (verifiedEmail is null ? null : snapshot.UserNamed(verifiedEmail));
        return id is { } found ? snapshot.Users[found] : null;
    }

    /// <summary>First sign-in: the person's user record, made by the federation (a concurrent first request may win; fine).</summary>
    private async Task<ScimError?> ProvisionAsync(Guid tenant, string subject, string? email, string? verifiedEmail, string? name,
        CancellationToken cancellation)
    {
        var user = new JsonObject
        {
            ["schemas"] = new JsonArray(ScimSchema.UserUrn),
            ["userName"] = subject,
            ["externalId"] = subject,
            ["active"] = true,
        };
        if (name is not null) user["displayName"] = name;
        if (email is not null) user["emails"] = new JsonArray(new JsonObject { ["value"] = email, ["primary"] = true });
        var body = JsonSerializer.SerializeToElement(user);
        var context = new MessageContext(runtime);
        var (error, _) = await scim.ExecuteAsync(context, tenant, new Actor("federation", "system", tenant), snapshot =>
            Match(snapshot, subject, verifiedEmail) is not null || snapshot.UserNamed(subject) is not null
                ? ScimDecision.Make()
                : ScimDecision.Make(new ScimChange(Guid.CreateVersion7(), ScimResource.User, "created", body)), cancellation);
        await context.FlushOutgoingMessagesAsync();
        if (error is not null) log.LogWarning("Could not record the first sign-in of {Subject} in tenant {Tenant}: {Error}", subject, tenant, error.Detail);
        return error;
    }
}
