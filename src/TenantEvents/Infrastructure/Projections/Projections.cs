namespace TenantEvents.Infrastructure.Projections;

/// <summary>
/// A read model fed by the events after their commit (the command's transaction never waits for it), run by the one
/// daemon (<see cref="ProjectionDaemon"/>): each keeps its own position in its database, applies a batch together with
/// the position it reached in one transaction (so a batch counts once across crashes and instances) and takes a lock per
/// database so that one instance at a time works on it. A capability registers one as a singleton
/// (<see cref="ProjectionServices.AddAsyncProjection{T}"/>); the daemon runs those <see cref="Enabled"/>.
/// </summary>
/// <remarks>
/// Why not Marten's async daemon: every tenant event is stored sealed under its tenant's key (Keys/Sealing.cs), so a
/// projection that reads content must open it through the key ring, and two of ours read positions Marten does not have:
/// the audit ledger follows the order transactions committed in (its pending rows, filled by a trigger at insert), and
/// the fan-outs follow each tenant's gap-free audit log rather than the global sequence. The analytics projection reads
/// only clear columns in sequence order and is the one that could move to Marten's daemon once Marten's tenancy and
/// our per-zone databases (Infrastructure/Databases/TenantDatabases.cs) are shown to agree on where its progress lives.
/// </remarks>
public interface IAsyncProjection
{
    /// <summary>The projection's name in the registry and in <c>GET /api/platform/projections</c>.</summary>
    string Name { get; }

    /// <summary>What it builds (tables, or what it sends on).</summary>
    string Builds { get; }

    /// <summary>Whether this instance runs it (a setting may turn it off, e.g. for a benchmark); it is reported either way.</summary>
    bool Enabled => true;

    /// <summary>How often a round runs when nothing woke it earlier.</summary>
    TimeSpan Interval { get; }

    /// <summary>Whether commit notifications wake it (else it runs at its interval, or when asked).</summary>
    bool FollowsCommits => false;

    /// <summary>Events of this tenant were committed (a commit notification of its database), for one that follows commits.</summary>
    void Committed(Guid tenant) { }

    /// <summary>One round over every database; true when there is more to do at once (the next round follows without waiting).</summary>
    Task<bool> RoundAsync(CancellationToken cancellation);

    /// <summary>How far behind the events it is, per database.</summary>
    Task<IReadOnlyList<ProjectionPosition>> LagAsync(CancellationToken cancellation);
}

/// <summary>
/// How far one projection is in one database: its position and the head it follows (in its own unit: sequence numbers,
/// pending events, log entries), how many events it still has to read, and how old the oldest of those is (null: none,
/// or not known). A projection that feeds several followers (the fan-out: webhooks and RabbitMQ) names each.
/// </summary>
public sealed record ProjectionPosition(string Database, long Position, long Head, long EventsBehind, double? LagSeconds, string? Follower = null);

/// <summary>A read model written in the command's own transaction by the edge (consistent with the write, never behind).</summary>
public sealed record InlineProjection(string Name, string Capability, string Builds, string WrittenBy);

/// <summary>
/// Every projection, in one place: the inline ones (declared here, per capability) and the asynchronous ones (the
/// <see cref="IAsyncProjection"/> services the daemon runs).
/// </summary>
public static class ProjectionRegistry
{
    public static readonly IReadOnlyList<InlineProjection> Inline =
    [
        new("tenant-record", "Tenants", "mt_doc_tenantrecord (the tenant, sealed), quota_limits_history", "TenantStreams.Execute"),
        new("access-state", "Organisations", "org_nodes, org_grants, org_policies, org_members, org_quota_allocations, tenant_roles, access_versions (MAC)",
            "OrganisationStore.Execute"),
        new("scim-directory", "Scim", "scim_resources (sealed), scim_versions", "ScimStore.ExecuteAsync"),
        new("service-accounts", "Identity", "mt_doc_serviceaccountrecord (secret hash sealed)", "ServiceAccountStore.ExecuteAsync"),
        new("identity-provider", "Identity", "mt_doc_identityproviderrecord (identity_issuers, the directory's index of issuers, is written just before, in the main database)",
            "ConfigureIdentityProvider"),
        new("tenant-domains", "Domains", "mt_doc_tenantdomainsrecord (tenant_domains, the directory's index of verified names, is written just before, in the main database)",
            "DomainWrites.ExecuteAsync"),
        new("tenant-manifests", "Manifests", "mt_doc_tenantmanifestrecord (what the last applied manifest manages, the manifest sealed, the last drift)",
            "ManifestService.RecordAsync, ManifestDrift"),
        new("case-files", "CaseFiles", "case_files (sealed, with blind-index terms), case_shares", "SharingStore.SaveCaseFileAsync"),
        new("sharing", "Sharing", "sharing_agreements, collaborations, collaboration_members (sealed)", "SharingStore"),
        new("webhook-subscriptions", "Delivery", "webhook_subscriptions (secret sealed; the platform's own, in the main database, have no events)", "WebhookStore"),
        new("quota-alerts", "Quotas", "quota_alerts", "QuotaAlerts"),
        new("audit-pending", "Audit", "audit_pending (a trigger on mt_events, in the appending transaction)", "audit_append()"),
        new("access-high-water", "Organisations", "access_high_water (a trigger on mt_events)", "access_note_version()"),
    ];
}
