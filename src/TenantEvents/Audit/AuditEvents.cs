using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Audit;

/// <summary>
/// A cross-tenant access, recorded in both tenants' trails (the owner's and the accessor's), each in its own sealed
/// access stream: who (and from which tenant) did what to which resource of whom. Sharing records every
/// read or write of a shared resource through <see cref="CrossTenantAccess"/>.
/// </summary>
public sealed record CrossTenantAccessRecorded(
    Guid OwnerTenantId, Guid AccessorTenantId, string Side, string Action, string ResourceType, string ResourceId, string? Purpose, Actor By,
    DateTimeOffset At);

public static class AuditEventTypes
{
    public static readonly IReadOnlyList<Type> All = [typeof(CrossTenantAccessRecorded)];

    /// <summary>The stream of a tenant's cross-tenant access records (stable, name-based).</summary>
    public static Guid AccessStream(Guid tenantId) => Infrastructure.StableIds.From(tenantId, "cross-tenant-access");

    /// <summary>Every event type a tenant stream may hold, by its stored name.</summary>
    public static readonly IReadOnlyDictionary<string, Type> ByStoredName =
        Tenants.TenantEventTypes.All.Concat(Organisations.OrganisationEventTypes.All).Concat(Identity.IdentityEventTypes.All)
            .Concat(Scim.ScimEventTypes.All).Concat(All).Concat(Quotas.QuotaEventTypes.All)
            .Concat(CaseFiles.CaseFileEventTypes.All).Concat(Sharing.SharingEventTypes.All).Concat(Delivery.DeliveryEventTypes.All)
            .Concat(Domains.DomainEventTypes.All)
            .Concat(Manifests.ManifestEventTypes.All).Concat(Billing.BillingEventTypes.All).Concat(Compliance.ComplianceEventTypes.All)
            .ToDictionary(Tenants.TenantEventTypes.StoredName, t => t);

    /// <summary>What kind of record a stream holding this event is (tenant, organisation, roles, user, ...).</summary>
    public static string StreamKind(Type type) => type.Name switch
    {
        _ when Tenants.TenantEventTypes.All.Contains(type) => "tenant",
        nameof(Organisations.RoleDefined) or nameof(Organisations.RoleRemoved) => "roles",
        _ when Organisations.OrganisationEventTypes.All.Contains(type) => "organisation",
        _ when type.Name.StartsWith("ServiceAccount", StringComparison.Ordinal) => "service-account",
        _ when type.Name.StartsWith("IdentityProvider", StringComparison.Ordinal) => "identity-provider",
        _ when type.Name.StartsWith("ScimUser", StringComparison.Ordinal) => "user",
        _ when type.Name.StartsWith("ScimGroup", StringComparison.Ordinal) => "group",
        nameof(CrossTenantAccessRecorded) => "cross-tenant-access",
        nameof(Quotas.QuotaThresholdCrossed) => "quota",
        _ when CaseFiles.CaseFileEventTypes.All.Contains(type) => "case-file",
        _ when Sharing.SharingEventTypes.Agreements.Contains(type) => "sharing-agreement",
        _ when Sharing.SharingEventTypes.Collaborations.Contains(type) => "collaboration",
        _ when Delivery.DeliveryEventTypes.All.Contains(type) => "webhook",
        _ when Domains.DomainEventTypes.All.Contains(type) => "domains",
        _ when Manifests.ManifestEventTypes.All.Contains(type) => "manifests",
        _ when Billing.BillingEventTypes.Account.Contains(type) => "billing",
        nameof(Billing.CreditNoteIssued) => "credit-note",
        _ when Billing.BillingEventTypes.Documents.Contains(type) => "invoice",
        _ when Compliance.ComplianceEventTypes.Requests.Contains(type) => "data-subject-request",
        _ when Compliance.ComplianceEventTypes.Incidents.Contains(type) => "incident",
        _ when Compliance.ComplianceEventTypes.Profile.Contains(type) => "compliance",
        _ => "other",
    };
}
