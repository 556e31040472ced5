using TenantEvents.Keys;

namespace TenantEvents.Tenants;

/// <summary>
/// The tenant read model as stored (mt_doc_tenantrecord, under row-level security): the fields the list filters on stay
/// clear (id, slug, state, template, residency country and subdivision, storage zone, version, times); everything else, names and
/// contacts included, is the sealed <see cref="Tenant"/>. After crypto-shredding only the clear fields remain.
/// </summary>
public sealed class TenantRecord
{
    public const string SealedType = "tenant-read-model";

    public Guid Id { get; set; }
    public string Slug { get; set; } = "";
    public TenantState State { get; set; }
    public string Template { get; set; } = "";
    public string Country { get; set; } = "";
    public string? Subdivision { get; set; }
    public string? Zone { get; set; }
    public int Version { get; set; }
    public DateTimeOffset RequestedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>The whole tenant, sealed under its current data key; null once the tenant is crypto-shredded.</summary>
    public SealedPayload? Sealed { get; set; }

    public bool Shredded => Sealed is null;

    /// <summary>The record of a tenant: its clear fields, and the sealed whole (null once shredded).</summary>
    public static TenantRecord Of(Tenant tenant, SealedPayload? sealedTenant) => new()
    {
        Id = tenant.Id, Slug = tenant.Slug, State = tenant.State, Template = tenant.Template, Country = tenant.Residency.Country,
        Subdivision = tenant.Residency.Subdivision, Zone = tenant.Storage?.Zone, Version = tenant.Version, RequestedAt = tenant.RequestedAt, UpdatedAt = tenant.UpdatedAt,
        Sealed = sealedTenant,
    };

    public ShreddedTenant Summary() => new(Id, Slug, State, Template, Version, UpdatedAt);
}

/// <summary>What a decommissioned, crypto-shredded tenant still shows: that it existed, and when it ended.</summary>
public sealed record ShreddedTenant(Guid Id, string Slug, TenantState State, string Template, int Version, DateTimeOffset UpdatedAt);
