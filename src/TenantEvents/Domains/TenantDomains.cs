using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Domains;

/// <summary>One of a tenant's names: pending until proven, then verified.</summary>
public sealed record DomainEntry(string Name, string Kind, string State, string Challenge, DateTimeOffset ClaimedAt, string ClaimedBy,
    DateTimeOffset? VerifiedAt = null, string? Method = null)
{
    public const string Pending = "pending";
    public const string Verified = "verified";
}

/// <summary>
/// A tenant's names as its stream says (mt_doc_tenantdomainsrecord, under row-level security): written in the same
/// transaction as the events, so its version is the stream's (the ETag).
/// </summary>
public sealed class TenantDomainsRecord
{
    public Guid Id { get; set; }
    public long Version { get; set; }
    public List<DomainEntry> Domains { get; set; } = [];

    public DomainEntry? Find(string name) => Domains.FirstOrDefault(d => d.Name == name);

    /// <summary>The record after these events (a pure fold: the same events always give the same record).</summary>
    public static TenantDomainsRecord Fold(Guid tenant, TenantDomainsRecord? record, IEnumerable<object> events)
    {
        var next = new TenantDomainsRecord { Id = tenant, Version = record?.Version ?? 0, Domains = [.. record?.Domains ?? []] };
        foreach (var e in events)
        {
            next.Version++;
            switch (e)
            {
                case DomainClaimed x:
                    next.Domains.RemoveAll(d => d.Name == x.Domain);
                    next.Domains.Add(new DomainEntry(x.Domain, x.Kind, DomainEntry.Pending, x.Challenge, x.At, x.By.ToString()));
                    break;
                case DomainVerified x:
                    var i = next.Domains.FindIndex(d => d.Name == x.Domain);
                    if (i >= 0) next.Domains[i] = next.Domains[i] with { State = DomainEntry.Verified, VerifiedAt = x.At, Method = x.Method };
                    break;
                case DomainReleased x:
                    next.Domains.RemoveAll(d => d.Name == x.Domain);
                    break;
            }
        }
        return next;
    }
}

/// <summary>What a domain command came to: events to append (none: nothing to do), or a refusal.</summary>
public sealed record DomainDecision(IReadOnlyList<object> Events, Problem? Refusal = null)
{
    public static DomainDecision Refuse(Problem problem) => new([], problem);
}

/// <summary>The rules of a tenant's names, as pure functions of (its names now, the command, actor, time).</summary>
public static class DomainDecisions
{
    public static DomainDecision Claim(TenantDomainsRecord? record, string name, string kind, string challenge, int maxDomains, Actor by,
        DateTimeOffset now)
    {
        if (record?.Find(name) is { } known)
            return known.Kind == kind
                ? new DomainDecision([]) // claimed already: the same answer again
                : DomainDecision.Refuse(new Problem("domain-claimed", 409, "The tenant claimed this name already",
                    $"{name} is claimed as a {known.Kind} domain; release it first to claim it as a {kind} one.").With("domain", name));
        if ((record?.Domains.Count ?? 0) >= maxDomains)
            return DomainDecision.Refuse(Problem.LimitReached("too-many-domains", "The tenant holds as many names as it may",
                $"A tenant may hold at most {maxDomains} names (pending ones included); release one first.", maxDomains,
                "MaxDomainsPerTenant"));
        var claimed = new DomainClaimed(name, kind, kind == DomainKinds.Platform ? "" : challenge, by, now);
        // A subdomain of the platform's zone needs no proof: the platform holds the zone, and grants the name (if free).
        return kind == DomainKinds.Platform
            ? new DomainDecision([claimed, new DomainVerified(name, VerificationMethods.Platform, by, now)])
            : new DomainDecision([claimed]);
    }

    public static DomainDecision Verify(TenantDomainsRecord? record, string name, string method, Actor by, DateTimeOffset now) =>
        record?.Find(name) switch
        {
            null => DomainDecision.Refuse(Problem.NotFound("domain")),
            { State: DomainEntry.Verified } => new DomainDecision([]),
            _ => new DomainDecision([new DomainVerified(name, method, by, now)]),
        };

    public static DomainDecision Release(TenantDomainsRecord? record, string name, string? reason, Actor by, DateTimeOffset now) =>
        record?.Find(name) is null
            ? DomainDecision.Refuse(Problem.NotFound("domain"))
            : new DomainDecision([new DomainReleased(name, reason, by, now)]);
}
