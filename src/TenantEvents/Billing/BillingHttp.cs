using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;
using TenantEvents.Tenants;

namespace TenantEvents.Billing;

/// <summary>
/// Who may do what with billing, in one place:
/// <list type="bullet">
/// <item>read: platform staff, the tenant's administrators, and members holding billing.read at the organisation (or above;
/// at the root for the tenant's own invoice and account);</item>
/// <item>the seller's steps (finalise, record a payment, void, credit): of the tenant's invoice, the platform's
/// administrators; of an organisation's, the tenant's administrators;</item>
/// <item>the buyer's steps (approve, purchase order): of the tenant's invoice, its administrators or billing.manage at the
/// root; of an organisation's, billing.manage there or above. A platform administrator never approves for a buyer;</item>
/// <item>budgets: billing.manage at the parent of the organisation (an organisation does not raise its own budget).</item>
/// </list>
/// A document or organisation the caller may not read is a 404, as is any billing route of another tenant.
/// </summary>
public static class BillingHttp
{
    public const string Read = "billing.read";
    public const string Manage = "billing.manage";

    public static bool CanRead(Standing standing, AccessGraph graph, Guid? org) =>
        standing.Everything || standing.ReadEverything
        || (org ?? graph.Root) is { } at && graph.Find(at) is not null && (standing.Can(graph, Read, at) || standing.Can(graph, Manage, at));

    public static Problem? Seller(Caller caller, Standing standing, Invoice document) =>
        (document.OrganisationId is null ? caller.Has(Roles.PlatformAdmin) : standing.Everything) ? null
            : Problem.Forbidden(document.OrganisationId is null
                ? "The tenant's invoice is the platform's: its administrators finalise, void, credit it and record its payments."
                : "The tenant's administrators finalise, void and credit its organisations' invoices and record their payments.");

    public static Problem? Buyer(Caller caller, Standing standing, AccessGraph graph, Invoice document)
    {
        if (document.OrganisationId is null && caller.Has(Roles.PlatformAdmin))
            return Problem.Forbidden("The platform is the seller of this invoice: the tenant approves it and gives its purchase order.");
        var at = document.OrganisationId ?? graph.Root;
        return standing.Everything || at is { } org && standing.Can(graph, Manage, org) ? null
            : Problem.Forbidden($"Approving an invoice and giving its purchase order needs {Manage} at its organisation or above.").With("permission", Manage);
    }

    /// <summary>The caller's standing in the tenant (any state but shredded: billing goes on while a tenant is suspended), or the refusal.</summary>
    public static Task<(Standing? Standing, IResult? Refusal)> Enter(HttpContext http, TenantStreams streams, OrganisationStore store, Guid tenantId,
        CancellationToken cancellation) => OrgHttp.Enter(http, streams, store, tenantId, writing: false, cancellation);

    public static IResult Document(HttpContext http, Invoice document)
    {
        http.Response.Headers.ETag = TenantHttp.ETag(document.Version);
        return Results.Json(document, Json.Options);
    }
}
