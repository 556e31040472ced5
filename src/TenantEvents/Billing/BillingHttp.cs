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
/// root; of an organisation's, billing.manage granted at that organisation (an open one), not the tenant's administrators
/// (its seller). A platform administrator never approves for a buyer;</item>
/// <item>budgets: billing.manage at the parent of the organisation (an organisation does not raise its own budget).</item>
/// </list>
/// A document or organisation the caller may not read is a 404, as is any billing route of another tenant.
/// </summary>
/// <summary>Where a reader reads billing (<see cref="BillingHttp.Reach"/>).</summary>
public sealed record BillingReach(bool All, bool TenantWide, IReadOnlySet<Guid> Organisations)
{
    public static readonly BillingReach None = new(false, false, new HashSet<Guid>());

    public bool Any => All || TenantWide || Organisations.Count > 0;

    /// <summary>May read the documents of this organisation (null: the tenant's own).</summary>
    public bool Reads(Guid? organisation) => All || (organisation is { } org ? Organisations.Contains(org) : TenantWide);
}

public static class BillingHttp
{
    public const string Read = "billing.read";
    public const string Manage = "billing.manage";

    public static bool CanRead(Standing standing, AccessGraph graph, Guid? org) =>
        standing.Everything || standing.ReadEverything
        || (org ?? graph.Root) is { } at && graph.Find(at) is not null && (standing.Can(graph, Read, at) || standing.Can(graph, Manage, at));

    /// <summary>
    /// The seller of the tenant's invoice is the platform (its administrators); of an organisation's, the tenant (its own
    /// administrators, not the platform's, who may administer every tenant but are not its finance office).
    /// </summary>
    /// <summary>
    /// Where a reader reads billing, decided once on the tree: everything (platform staff, the tenant's administrators),
    /// the tenant-wide records (the account, the tenant's own invoice), and which organisations' documents. The one answer
    /// the lists, the budgets and the disclosure lens (Audit/ContentDisclosure.cs) all take.
    /// </summary>
    public static BillingReach Reach(Standing standing, AccessGraph graph) =>
        standing.Everything || standing.ReadEverything
            ? new BillingReach(true, true, new HashSet<Guid>())
            : new BillingReach(false, CanRead(standing, graph, null), graph.Root is { } root
                ? graph.SelfAndDescendants(root).Where(n => CanRead(standing, graph, n.Id)).Select(n => n.Id).ToHashSet() : new HashSet<Guid>());

    /// <summary>The authorisation of the seller's steps on an invoice of <paramref name="tenant"/> (for <see cref="InvoiceEdge"/>).</summary>
    public static Func<Caller, Standing, AccessGraph, Invoice, Problem?> SellerOf(Guid tenant) =>
        (caller, standing, _, document) => Seller(caller, standing, document, tenant);

    public static Problem? Seller(Caller caller, Standing standing, Invoice document, Guid tenant) =>
        (document.OrganisationId is null ? caller.Has(Roles.PlatformAdmin) : caller.AdministersTenant(tenant)) ? null
            : Problem.Forbidden(document.OrganisationId is null
                ? "The tenant's invoice is the platform's: its administrators finalise, void, credit it and record its payments."
                : "The tenant's administrators finalise, void and credit its organisations' invoices and record their payments.");

    /// <summary>
    /// The buyer of the tenant's invoice is the tenant: its administrators, or billing.manage at the root (never the
    /// platform, its seller). The buyer of an organisation's invoice is that organisation: billing.manage granted there
    /// (not inherited from above, and not the tenant's administrators: they are its seller).
    /// </summary>
    public static Problem? Buyer(Caller caller, Standing standing, AccessGraph graph, Invoice document)
    {
        if (document.OrganisationId is not { } org)
        {
            if (caller.Has(Roles.PlatformAdmin))
                return Problem.Forbidden("The platform is the seller of this invoice: the tenant approves it and gives its purchase order.");
            return standing.Everything || graph.Root is { } root && standing.Can(graph, Manage, root) ? null
                : Problem.Forbidden($"Approving the tenant's invoice and giving its purchase order needs {Manage} at the root.").With("permission", Manage);
        }
        return standing.Scopes is null && !standing.Everything && graph.Explain(standing.Principals, Manage, org) is { } why && why.Grant.OrganisationId == org ? null
            : Problem.Forbidden($"An organisation's invoice is approved by the organisation: {Manage} granted at it (the tenant's administrators are its seller).")
                .With("permission", Manage);
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
