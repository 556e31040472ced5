using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;

namespace TenantEvents.Manifests;

// A tenant's manifest: one stream per tenant (ManifestEventTypes.Stream), sealed like every tenant event.

/// <summary>
/// A manifest was applied to the tenant: what it made (by kind, the ids: organisations, grants, roles, service accounts,
/// webhooks, domains; what "full" management may later remove, and nothing made by hand) and what it removed.
/// </summary>
/// <param name="Digest">The plan's digest (sha256 of its changes, the versions it was made at and the manifest).</param>
/// <param name="ManifestHash">The manifest's own digest: a manifest applied again unchanged by nothing is not recorded again.</param>
public sealed record ManifestApplied(string Name, string Digest, string ManifestHash, int Changes, IReadOnlyDictionary<string, IReadOnlyList<string>> Made,
    IReadOnlyDictionary<string, IReadOnlyList<string>> Removed, Actor By, DateTimeOffset At);

/// <summary>
/// The tenant differs from the manifest last applied to it (found by the scheduled plan, or one asked for): how many
/// changes of each kind a plan would make. Which ones is for a plan by someone who may see them; the event says only how many.
/// </summary>
/// <param name="Changes">How many changes a plan would make; 0: the tenant is as the manifest says again.</param>
/// <param name="Fingerprint">The digest of the differences (null when in sync): the same drift is reported once.</param>
public sealed record ManifestDrifted(string Name, int Changes, IReadOnlyDictionary<string, int> ByKind, string? Fingerprint, Actor By, DateTimeOffset At);

public static class ManifestEventTypes
{
    /// <summary>Every manifest event; the event model test compares this list with eventmodels/manifests.json.</summary>
    public static readonly IReadOnlyList<Type> All = [typeof(ManifestApplied), typeof(ManifestDrifted)];

    /// <summary>The stream of a tenant's manifest (stable, name-based).</summary>
    public static Guid Stream(Guid tenantId) => Infrastructure.StableIds.From(tenantId, "manifest");
}

/// <summary>
/// The tenant's manifest as last applied (mt_doc_tenantmanifestrecord, row-level security like every tenant document):
/// what it manages, by kind; the manifest itself, sealed with the tenant's key (it names organisations and contacts, so it is
/// shredded with the tenant), for the drift check; and the last drift reported.
/// </summary>
public sealed class TenantManifestRecord
{
    public const string SealedType = "tenant-manifest";

    public Guid Id { get; set; }
    public long Version { get; set; }
    public string Name { get; set; } = "";
    public string Digest { get; set; } = "";
    public string ManifestHash { get; set; } = "";
    public Dictionary<string, List<string>> Managed { get; set; } = new(StringComparer.Ordinal);
    public SealedPayload? Desired { get; set; }
    public string? DriftFingerprint { get; set; }
    public DateTimeOffset AppliedAt { get; set; }
    public DateTimeOffset? DriftCheckedAt { get; set; }

    public IReadOnlySet<string> ManagedOf(string kind) =>
        Managed.TryGetValue(kind, out var ids) ? ids.ToHashSet(StringComparer.Ordinal) : new HashSet<string>(StringComparer.Ordinal);

    public static TenantManifestRecord Fold(Guid tenant, TenantManifestRecord? current, IEnumerable<object> events)
    {
        var next = current ?? new TenantManifestRecord { Id = tenant };
        foreach (var e in events)
        {
            next.Version++;
            switch (e)
            {
                case ManifestApplied a:
                    next.Name = a.Name;
                    next.Digest = a.Digest;
                    next.ManifestHash = a.ManifestHash;
                    next.AppliedAt = a.At;
                    next.DriftFingerprint = null;
                    foreach (var (kind, ids) in a.Made)
                    {
                        if (!next.Managed.TryGetValue(kind, out var list)) next.Managed[kind] = list = [];
                        list.AddRange(ids.Where(id => !list.Contains(id)));
                    }
                    foreach (var (kind, ids) in a.Removed)
                        if (next.Managed.TryGetValue(kind, out var list)) list.RemoveAll(ids.Contains);
                    break;
                case ManifestDrifted d:
                    next.DriftFingerprint = d.Fingerprint;
                    next.DriftCheckedAt = d.At;
                    break;
            }
        }
        return next;
    }
}
