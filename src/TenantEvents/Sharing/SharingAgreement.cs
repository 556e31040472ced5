using TenantEvents.CaseFiles;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;

namespace TenantEvents.Sharing;

/// <summary>A sharing agreement folded from its events (the sealed snapshot in sharing_agreements).</summary>
public sealed class SharingAgreement
{
    public Guid Id { get; set; }
    public Guid OwnerTenantId { get; set; }
    public Guid RecipientTenantId { get; set; }
    public SharingScope Scope { get; set; } = new([], [], []);
    public List<string> Permissions { get; set; } = [];
    public string Purpose { get; set; } = "";
    public DateTimeOffset ExpiresAt { get; set; }
    public Guid? OwnerOrganisationId { get; set; }
    public List<Guid> RecipientOrganisationIds { get; set; } = [];
    /// <summary>offered, active, declined, revoked (expired is derived from the time, see <see cref="StateAt"/>).</summary>
    public string State { get; set; } = "offered";
    public Actor OfferedBy { get; set; } = Actor.System;
    public DateTimeOffset OfferedAt { get; set; }
    public Actor? AcceptedBy { get; set; }
    public DateTimeOffset? AcceptedAt { get; set; }
    public Actor? EndedBy { get; set; }
    public DateTimeOffset? EndedAt { get; set; }
    public string? EndedReason { get; set; }
    public long Version { get; set; }

    /// <summary>Expiry takes effect by itself: an offered or active agreement past its time is expired.</summary>
    public string StateAt(DateTimeOffset now) => State is "offered" or "active" && ExpiresAt <= now ? "expired" : State;

    // One method per event after the offer (found by Fold<SharingAgreement>: no switch to extend).
    public void Apply(SharingAgreementAccepted x)
    {
        State = "active"; RecipientOrganisationIds = [.. x.RecipientOrganisationIds]; AcceptedBy = x.By; AcceptedAt = x.At;
    }

    public void Apply(SharingAgreementDeclined x) => End("declined", x.By, x.At, x.Reason);

    public void Apply(SharingAgreementRevoked x) => End("revoked", x.By, x.At, x.Reason);

    public void Apply(SharingAgreementNarrowed x)
    {
        Scope = x.Scope; Permissions = [.. x.Permissions]; ExpiresAt = x.ExpiresAt;
    }

    private void End(string state, Actor by, DateTimeOffset at, string? reason)
    {
        State = state; EndedBy = by; EndedAt = at; EndedReason = reason;
    }

    /// <summary>The agreement after one more event: the offer makes it, every other goes to its Apply.</summary>
    public static SharingAgreement Apply(SharingAgreement? a, object e)
    {
        if (e is SharingAgreementOffered o)
            return new SharingAgreement
            {
                Id = o.AgreementId, OwnerTenantId = o.OwnerTenantId, RecipientTenantId = o.RecipientTenantId, Scope = o.Scope,
                Permissions = [.. o.Permissions], Purpose = o.Purpose, ExpiresAt = o.ExpiresAt, OwnerOrganisationId = o.OwnerOrganisationId,
                OfferedBy = o.By, OfferedAt = o.At,
            };
        ArgumentNullException.ThrowIfNull(a);
        Fold<SharingAgreement>.Apply(a, e);
        return a;
    }
}

/// <summary>The body of an offer or a narrowing.</summary>
public sealed record ScopeInput(IReadOnlyList<Guid>? CaseFileIds, IReadOnlyList<string?>? Tags, IReadOnlyList<string?>? Classifications);

/// <summary>Pure decisions on sharing agreements.</summary>
public static class AgreementDecisions
{
    public const int MaxPurpose = 1000;
    public const int MaxScopeItems = 1000;
    public static readonly TimeSpan LongestTerm = TimeSpan.FromDays(5 * 366);

    /// <summary>The scope as stored (tags normalised, everything sorted and distinct), or the field errors.</summary>
    public static SharingScope? Scope(ScopeInput? input, List<FieldError> errors)
    {
        if (input is null)
        {
            errors.Add(new("scope", "required", "a scope is required: caseFileIds, tags and/or classifications."));
            return null;
        }
        var before = errors.Count;
        var ids = input.CaseFileIds ?? [];
        var tags = input.Tags ?? [];
        var classifications = input.Classifications ?? [];
        if (ids.Count + tags.Count + classifications.Count == 0)
            errors.Add(new("scope", "empty-scope", "name at least one case file, tag or classification."));
        if (ids.Count > MaxScopeItems || tags.Count > MaxScopeItems || classifications.Count > MaxScopeItems)
            errors.Add(new("scope", "too-many", $"at most {MaxScopeItems} of each."));
        if (ids.Any(id => id == Guid.Empty)) errors.Add(new("scope.caseFileIds", "invalid-id", "case file ids are UUIDs."));
        errors.AddRange(CaseFileDecisions.ValidateTags(tags.Count > CaseFileDecisions.MaxTags ? tags.Take(CaseFileDecisions.MaxTags).ToList() : tags, "scope.tags"));
        if (classifications.Any(c => c is null || !CaseFileDecisions.Classifications.Contains(c)))
            errors.Add(new("scope.classifications", "unknown-classification", $"each one of {string.Join(", ", CaseFileDecisions.Classifications)}."));
        if (errors.Count > before) return null;
        return new SharingScope(ids.Distinct().Order().ToList(), tags.Select(t => CaseFileDecisions.NormaliseTag(t!)).Distinct().Order(StringComparer.Ordinal).ToList(),
            classifications.Select(c => c!).Distinct().Order(StringComparer.Ordinal).ToList());
    }

    public static List<FieldError> Validate(string? purpose, DateTimeOffset? expiresAt, DateTimeOffset now)
    {
        var errors = new List<FieldError>();
        if (string.IsNullOrWhiteSpace(purpose)) errors.Add(new("purpose", "required", "say what the sharing is for."));
        else if (purpose.Length > MaxPurpose) errors.Add(new("purpose", "too-long", $"at most {MaxPurpose} characters."));
        if (expiresAt is null) errors.Add(new("expiresAt", "required", "an agreement ends at a time (ISO 8601)."));
        else if (expiresAt <= now) errors.Add(new("expiresAt", "in-the-past", "must be later than now."));
        else if (expiresAt > now + LongestTerm) errors.Add(new("expiresAt", "too-far", "at most five years from now."));
        return errors;
    }

    public static OrgDecision Accept(SharingAgreement a, Guid callerTenant, IReadOnlyList<Guid> recipientOrganisations, Actor by, DateTimeOffset now) =>
        callerTenant != a.RecipientTenantId ? OrgDecision.Refuse(OnlyRecipient())
        : a.StateAt(now) != "offered" ? OrgDecision.Refuse(NotInState(a, now, "offered"))
        : OrgDecision.Accept(new SharingAgreementAccepted(a.Id, recipientOrganisations.Distinct().Order().ToList(), by, now));

    public static OrgDecision Decline(SharingAgreement a, Guid callerTenant, string? reason, Actor by, DateTimeOffset now) =>
        callerTenant != a.RecipientTenantId ? OrgDecision.Refuse(OnlyRecipient())
        : a.StateAt(now) != "offered" ? OrgDecision.Refuse(NotInState(a, now, "offered"))
        : reason is { Length: > MaxPurpose } ? OrgDecision.Refuse(Problem.Validation("reason", "too-long", $"at most {MaxPurpose} characters."))
        : OrgDecision.Accept(new SharingAgreementDeclined(a.Id, reason, by, now));

    /// <summary>Either side may end an offered or active agreement.</summary>
    public static OrgDecision Revoke(SharingAgreement a, Guid callerTenant, string? reason, Actor by, DateTimeOffset now)
    {
        var side = callerTenant == a.OwnerTenantId ? "owner" : callerTenant == a.RecipientTenantId ? "recipient" : null;
        if (side is null) return OrgDecision.Refuse(Problem.NotFound("sharing agreement"));
        if (a.StateAt(now) is not ("offered" or "active")) return OrgDecision.Refuse(NotInState(a, now, "offered or active"));
        if (reason is { Length: > MaxPurpose }) return OrgDecision.Refuse(Problem.Validation("reason", "too-long", $"at most {MaxPurpose} characters."));
        return OrgDecision.Accept(new SharingAgreementRevoked(a.Id, side, reason, by, now));
    }

    /// <summary>
    /// The owner may share less without asking: a scope within the current one, fewer permissions, an earlier end. Anything
    /// wider needs the recipient's consent again (409 consent-required): offer a new agreement.
    /// </summary>
    public static OrgDecision Narrow(SharingAgreement a, Guid callerTenant, SharingScope scope, IReadOnlyList<string> permissions,
        DateTimeOffset expiresAt, Actor by, DateTimeOffset now)
    {
        if (callerTenant != a.OwnerTenantId) return OrgDecision.Refuse(Problem.Forbidden("Only the owner changes what it shares."));
        if (a.StateAt(now) is not ("offered" or "active")) return OrgDecision.Refuse(NotInState(a, now, "offered or active"));
        if (expiresAt <= now) return OrgDecision.Refuse(Problem.Validation("expiresAt", "in-the-past", "must be later than now; to end it now, revoke it."));
        var wider = new List<string>();
        if (scope.CaseFileIds.Except(a.Scope.CaseFileIds).Any()) wider.Add("caseFileIds");
        if (scope.Tags.Except(a.Scope.Tags).Any()) wider.Add("tags");
        if (scope.Classifications.Except(a.Scope.Classifications).Any()) wider.Add("classifications");
        if (permissions.Except(a.Permissions).Any()) wider.Add("permissions");
        if (expiresAt > a.ExpiresAt) wider.Add("expiresAt");
        if (wider.Count > 0)
            return OrgDecision.Refuse(new Problem("consent-required", 409, "Sharing more needs the recipient's consent",
                    "This change would widen the agreement (" + string.Join(", ", wider) + "); offer a new agreement for the recipient to accept.")
                .With("widened", wider));
        if (scope.CaseFileIds.Count + scope.Tags.Count + scope.Classifications.Count == 0)
            return OrgDecision.Refuse(Problem.Validation("scope", "empty-scope", "an agreement shares something; to share nothing, revoke it."));
        if (scope == a.Scope || (scope.CaseFileIds.SequenceEqual(a.Scope.CaseFileIds) && scope.Tags.SequenceEqual(a.Scope.Tags)
                                 && scope.Classifications.SequenceEqual(a.Scope.Classifications) && permissions.SequenceEqual(a.Permissions)
                                 && expiresAt == a.ExpiresAt))
            return OrgDecision.Accept();
        return OrgDecision.Accept(new SharingAgreementNarrowed(a.Id, scope, permissions, expiresAt, by, now));
    }

    private static Problem OnlyRecipient() =>
        Problem.Forbidden("Only an administrator of the recipient tenant accepts or declines an offer.");

    private static Problem NotInState(SharingAgreement a, DateTimeOffset now, string wanted) =>
        new Problem("agreement-not-" + (wanted.Contains(' ') ? "open" : wanted), 409, "The agreement is not " + wanted,
            $"The agreement is {a.StateAt(now)}.").With("currentState", a.StateAt(now));
}
