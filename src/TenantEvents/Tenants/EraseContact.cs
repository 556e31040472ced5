using Microsoft.AspNetCore.Authorization;
using Wolverine;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;

namespace TenantEvents.Tenants;

/// <summary>Sent through the outbox with ContactErased: the person's key is deleted once that commit is certain.</summary>
public sealed record EraseSubjectKey(Guid TenantId, Guid SubjectId);

public static class EraseContactEndpoint
{
    /// <summary>
    /// Erases one contact (GDPR Art. 17): their name and e-mail become "[erased]" everywhere, in the read model at once
    /// and in every past event by destroying the key they were sealed under. The rest of the tenant is untouched.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/contacts/{subjectId}/erase", OperationId = "EraseContact")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.TenantAdmin}")]
    public static Task<IResult> Post(Guid tenantId, Guid subjectId, HttpContext http, TenantStreams streams, MessageContext context,
        CancellationToken cancellation) =>
        TenantHttp.Command(http, streams, context, tenantId, "erase contact", TenantHttp.NoErrors,
            (by, tenant, now) => TenantDecisions.EraseContact(tenant, subjectId, by, now), cancellation,
            alongside: async (tenant, events, _, outbox) =>
            {
                foreach (var erased in events.OfType<ContactErased>())
                    await outbox.PublishAsync(new EraseSubjectKey(tenant.Id, erased.SubjectId), new DeliveryOptions { TenantId = tenant.Id.ToString() });
            });
}

public static class EraseSubjectKeyHandler
{
    public static Task Handle(EraseSubjectKey message, TenantKeyRing keys, CancellationToken cancellation) =>
        keys.EraseSubjectAsync(message.TenantId, message.SubjectId, cancellation);
}
