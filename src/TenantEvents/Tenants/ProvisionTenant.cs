using Microsoft.AspNetCore.Authorization;
using TenantEvents.Organisations;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants.Templates;

namespace TenantEvents.Tenants;

public static class ProvisionTenantEndpoint
{
    /// <summary>One command applies the tenant's template (organisations, roles, quotas, features) and makes it active.</summary>
    [WolverinePost("/api/tenants/{tenantId}/provision", OperationId = "ProvisionTenant")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> Post(Guid tenantId, HttpContext http, TenantStreams streams, TemplateCatalog templates,
        OrganisationStore organisations, MessageContext context, CancellationToken cancellation) =>
        TenantHttp.Command(http, streams, context, tenantId, "provision", TenantHttp.NoErrors,
            (by, tenant, now) => TenantDecisions.Provision(tenant, templates.Find(tenant.Template)
                ?? throw new InvalidOperationException($"Template {tenant.Template} of tenant {tenant.Id} is no longer in the catalogue."),
                Guid.CreateVersion7, by, now), cancellation,
            // The template's organisations and roles become the tenant's organisation streams, in the same transaction.
            alongside: async (_, events, tx, _) =>
            {
                foreach (var provisioned in events.OfType<TenantProvisioned>())
                    await organisations.SeedAsync(tx, provisioned, cancellation);
            });
}
