using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;

namespace TenantEvents.Compliance;

/// <summary>
/// The rules of a data-subject request, pure: when it is due (the jurisdiction's period from receipt; a period in months
/// ends on the same day of the later month, or that month's last day, as Regulation 1182/71 counts), when and how far it
/// may be extended, and which step may follow which.
/// </summary>
public static class RequestDecisions
{
    public const int MaxText = 2000;

    /// <summary>The rule that sets the periods for a tenant's requests (the jurisdiction's, or the platform's default).</summary>
    public static JurisdictionRule Rule(IEnumerable<AppliedRule> rules, string kind = "access") =>
        rules.Select(a => a.Rule).Where(r => r.Kind == "data-subject-requests" && r.Covers(kind)).OrderByDescending(r => r.Binding)
            .FirstOrDefault() ?? Jurisdictions.Catalogue.Defaults.First(d => d.Kind == "data-subject-requests");

    public static DateTimeOffset Due(JurisdictionRule rule, DateTimeOffset received) =>
        rule.ResponseMonths is { } months ? received.AddMonths(months) : received.AddDays(rule.ResponseDays ?? 30);

    /// <summary>
    /// The latest an extension may reach, counted from receipt (one month and two further months: three months, so 31
    /// January reaches 30 April); where the rule sets no bound (the date announced), a year from receipt at most.
    /// </summary>
    public static DateTimeOffset LatestExtension(JurisdictionRule rule, DateTimeOffset received, DateTimeOffset firstDue) =>
        rule.ExtensionMonths is { } months ? received.AddMonths((rule.ResponseMonths ?? 0) + months)
        : rule.ExtensionDays is { } days ? firstDue.AddDays(days)
        : received.AddYears(1);

    public static bool Bounded(JurisdictionRule rule) => rule.ExtensionMonths is not null || rule.ExtensionDays is not null;

    public static bool Extendable(JurisdictionRule rule) =>
        rule.ExtensionMonths is not null || rule.ExtensionDays is not null || (rule.ExtensionNoticeWithinResponse && rule.ResponseDays is not null);

    public static (DataSubjectRequestReceived? Event, IReadOnlyList<FieldError> Errors) Receive(Guid id, string? kind, string? email, string? name,
        string? channel, DateTimeOffset? receivedAt, JurisdictionRule rule, Actor by, DateTimeOffset now)
    {
        var errors = new List<FieldError>();
        if (kind is null || !RequestKinds.Articles.ContainsKey(kind))
            errors.Add(new FieldError("kind", kind is null ? "required" : "unknown-kind", $"one of {string.Join(", ", RequestKinds.Articles.Keys)}."));
        TenantRules.Email("email", email, errors);
        TenantRules.OptionalText("name", name, errors, TenantRules.MaxNameLength);
        TenantRules.OptionalText("channel", channel, errors, 100);
        // In UTC before counting: the same moment gives the same due date whatever offset it was written with.
        var received = (receivedAt ?? now).ToUniversalTime();
        if (received > now) errors.Add(new FieldError("receivedAt", "in-the-future", "a request cannot be received later than now."));
        if (received < now.AddYears(-1)) errors.Add(new FieldError("receivedAt", "too-old", "at most a year ago."));
        if (errors.Count > 0) return (null, errors);
        return (new DataSubjectRequestReceived(id, kind!, new DataSubject(email!.Trim(), name?.Trim()), channel?.Trim() ?? "api", received,
            Due(rule, received), rule.Id, by, now), []);
    }

    public static (object? Event, Problem? Refusal) Verify(DataSubjectRequest r, string? method, Actor by, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(method) || method.Length > 200)
            return (null, Problem.Validation("method", "required", "how the identity was confirmed (e.g. \"signed-in account\", \"id document seen\"), at most 200 characters."));
        if (r.State != RequestStates.Received) return (null, Conflict(r, "verify"));
        return (new DataSubjectIdentityVerified(r.Id, method.Trim(), by, now), null);
    }

    /// <summary>
    /// An extension: once, with reasons, announced before the first due date (Art. 12(3): "within one month of receipt"),
    /// to at most the rule's bound (the latest allowed when no date is given).
    /// </summary>
    public static (object? Event, Problem? Refusal) Extend(DataSubjectRequest r, JurisdictionRule rule, string? reasons, DateTimeOffset? until,
        Actor by, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(reasons) || reasons.Length > MaxText)
            return (null, Problem.Validation("reasons", "required", $"the reasons given to the person (Art. 12(3)), at most {MaxText} characters."));
        if (!r.Open) return (null, Conflict(r, "extend"));
        if (!Extendable(rule))
            return (null, new Problem("extension-not-allowed", 409, "No extension allowed",
                $"Rule {rule.Id} ({rule.Source}) allows no extension of the {r.Kind} request's period."));
        if (r.ExtensionReasons is not null)
            return (null, new Problem("already-extended", 409, "Already extended", $"The request was already extended to {r.DueAt:O}; it may be extended once."));
        if (now >= r.FirstDueAt)
            return (null, new Problem("extension-too-late", 409, "Extension too late",
                $"An extension must be announced before the first due date ({r.FirstDueAt:O}) under rule {rule.Id}."));
        var latest = LatestExtension(rule, r.ReceivedAt, r.FirstDueAt);
        if (until is null && !Bounded(rule))
            return (null, Problem.Validation("until", "required", $"rule {rule.Id} sets no bound: give the date the answer is put off to."));
        var due = (until ?? latest).ToUniversalTime();
        if (due <= r.FirstDueAt) return (null, Problem.Validation("until", "not-later", "must be later than the first due date."));
        if (due > latest)
            return (null, Problem.Validation("until", "beyond-extension", Bounded(rule)
                ? $"rule {rule.Id} ({rule.Source}) allows an extension to {latest:O} at the latest."
                : $"rule {rule.Id} sets no bound; the platform allows a year from receipt at most ({latest:O})."));
        return (new DataSubjectRequestExtended(r.Id, reasons.Trim(), due, by, now), null);
    }

    public static (object? Event, Problem? Refusal) Refuse(DataSubjectRequest r, string? reason, Actor by, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(reason) || reason.Length > MaxText)
            return (null, Problem.Validation("reason", "required", $"the reason given to the person (Art. 12(4)), at most {MaxText} characters."));
        if (!r.Open) return (null, Conflict(r, "refuse"));
        return (new DataSubjectRequestRefused(r.Id, reason.Trim(), by, now), null);
    }

    public static (object? Event, Problem? Refusal) Close(DataSubjectRequest r, string? note, Actor by, DateTimeOffset now)
    {
        if (note is { Length: > MaxText }) return (null, Problem.Validation("note", "too-long", $"at most {MaxText} characters."));
        if (r.State is not (RequestStates.Fulfilled or RequestStates.Refused)) return (null, Conflict(r, "close"));
        return (new DataSubjectRequestClosed(r.Id, note?.Trim(), by, now), null);
    }

    /// <summary>
    /// Fulfilment needs a confirmed identity (nobody gets or erases a person's data on an unverified claim); an erasure,
    /// which cannot be undone, needs a second person besides the one who verified the identity (four eyes).
    /// </summary>
    public static Problem? CanFulfil(DataSubjectRequest r, Actor by) =>
        r.State == RequestStates.Received ? new Problem("identity-not-verified", 409, "Identity not verified",
            "The requester's identity must be verified before the request is fulfilled.")
        : r.State != RequestStates.Verified ? Conflict(r, "fulfil")
        : r.Kind == "erasure" && (by.Kind != "user" || r.VerifiedBy is not { } verifier || !verifier.StartsWith("user:", StringComparison.Ordinal)
                                  || verifier == by.ToString())
            ? new Problem("four-eyes", 409, "A second person is needed",
                "An erasure cannot be undone: a person other than the one who verified the identity fulfils it (two people, neither a service account).")
        : null;

    /// <summary>The overdue event when the due date has passed on an open request (the compliance job's step).</summary>
    public static IReadOnlyList<object> Tick(DataSubjectRequest r, DateTimeOffset now) =>
        r.Open && !r.Overdue && now >= r.DueAt ? [new DataSubjectRequestOverdue(r.Id, r.DueAt, now)] : [];

    private static Problem Conflict(DataSubjectRequest r, string step) =>
        new("request-state", 409, "Not in this state", $"A {r.State} request cannot be {(step.EndsWith('e') ? step + "d" : step + "ed")}.");
}
