using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Compliance;

/// <summary>
/// Who a data-subject request is about: an e-mail address, and a name where given. Inside the request's events it is
/// sealed under a key of the request's own (<see cref="RequestProtection"/>), destroyed when an erasure is fulfilled.
/// </summary>
public sealed record DataSubject(string Email, string? Name = null, bool Erased = false);

/// <summary>A request (GDPR Art. 15 access, 16 rectification, 17 erasure, 18 restriction, 20 portability) was received, due by <paramref name="DueAt"/> under <paramref name="RuleId"/>.</summary>
public sealed record DataSubjectRequestReceived(Guid RequestId, string Kind, DataSubject Subject, string Channel, DateTimeOffset ReceivedAt,
    DateTimeOffset DueAt, string RuleId, Actor By, DateTimeOffset At);

/// <summary>The requester was confirmed to be the person (how: the method, never the evidence itself).</summary>
public sealed record DataSubjectIdentityVerified(Guid RequestId, string Method, Actor By, DateTimeOffset At);

/// <summary>The answer was put off to <paramref name="DueAt"/>, for the reasons given to the person, within the first period (Art. 12(3)).</summary>
public sealed record DataSubjectRequestExtended(Guid RequestId, string Reasons, DateTimeOffset DueAt, Actor By, DateTimeOffset At);

/// <summary>What a fulfilled request found (records per category), erased (categories), and kept back with the legal basis.</summary>
public sealed record DataSubjectRequestFulfilled(Guid RequestId, IReadOnlyDictionary<string, int> Found, IReadOnlyList<string> Erased,
    IReadOnlyList<RetainedRecords> Retained, string? PackageDigest, string? Note, Actor By, DateTimeOffset At);

/// <summary>Records about the person kept despite an erasure, and why (GDPR Art. 17(3)).</summary>
public sealed record RetainedRecords(string Category, IReadOnlyList<string> Ids, string Basis);

/// <summary>
/// Whom an erasure was told to (Art. 19): partner tenants the person's records were shared with, webhook subscribers; and
/// which records went (<paramref name="Records"/>: the ids the recipients saw in earlier events, so they can erase their
/// copies; identifiers only, no personal data).
/// </summary>
public sealed record DataSubjectErasureNotified(Guid RequestId, IReadOnlyList<ErasureRecipient> Recipients, Actor By, DateTimeOffset At,
    IReadOnlyList<ErasedRecord>? Records = null);

/// <param name="Kind">directory-user, contact, case-file (redacted), membership or grant.</param>
public sealed record ErasedRecord(string Kind, string Id, Guid? OrganisationId = null);

/// <param name="Kind">partner-tenant or webhook.</param>
public sealed record ErasureRecipient(string Kind, string Id, IReadOnlyList<Guid>? CaseFileIds = null);

/// <summary>The access package was read (each read is recorded: it holds the person's data from every capability).</summary>
public sealed record DataSubjectPackageDisclosed(Guid RequestId, string Format, string Digest, Actor By, DateTimeOffset At);

/// <summary>The request was refused (manifestly unfounded or excessive, Art. 12(5); or the identity could not be confirmed), with the reason given.</summary>
public sealed record DataSubjectRequestRefused(Guid RequestId, string Reason, Actor By, DateTimeOffset At);

/// <summary>Nothing more is done on the request.</summary>
public sealed record DataSubjectRequestClosed(Guid RequestId, string? Note, Actor By, DateTimeOffset At);

/// <summary>The request's due date passed without an answer (raised by the compliance job).</summary>
public sealed record DataSubjectRequestOverdue(Guid RequestId, DateTimeOffset DueAt, DateTimeOffset At);

/// <summary>A deadline of an incident: its stage (early-warning, notification, final-report, initial-report, breach-notification), when it is due, under which rule.</summary>
public sealed record IncidentDeadline(string Stage, DateTimeOffset DueAt, string RuleId);

/// <summary>An incident was registered: the tenant's own, or (scope platform) the platform's, touching the tenants named.</summary>
public sealed record IncidentRegistered(Guid IncidentId, string Scope, string Title, string Description, string Category, DateTimeOffset AwareAt,
    IReadOnlyList<Guid> AffectedTenants, Actor By, DateTimeOffset At);

/// <summary>The incident's significance was assessed (NIS2 Art. 23(3)); a significant one starts the deadlines of the rules that apply.</summary>
public sealed record IncidentAssessed(Guid IncidentId, bool Significant, string Severity, string Reasons, bool SuspectedMalicious, bool CrossBorder,
    bool PersonalDataBreach, IReadOnlyList<IncidentDeadline> Deadlines, Actor By, DateTimeOffset At);

/// <summary>
/// A report of a stage was submitted to the authority at <paramref name="SubmittedAt"/> (recorded at <paramref name="At"/>);
/// a notification starts the final report's deadline from when it was submitted.
/// </summary>
public sealed record IncidentReportSubmitted(Guid IncidentId, string Stage, string Summary, string? Authority, string? Reference,
    IReadOnlyList<IncidentDeadline> Deadlines, Actor By, DateTimeOffset At, DateTimeOffset? SubmittedAt = null);

/// <summary>A stage's deadline is near (a quarter of its window is left).</summary>
public sealed record IncidentReminderRaised(Guid IncidentId, string Stage, DateTimeOffset DueAt, DateTimeOffset At);

/// <summary>A stage's deadline passed without its report.</summary>
public sealed record IncidentDeadlineMissed(Guid IncidentId, string Stage, DateTimeOffset DueAt, DateTimeOffset At);

/// <summary>A missed deadline was escalated (to the platform's administrators, for a tenant's incident).</summary>
public sealed record IncidentEscalated(Guid IncidentId, string Stage, string To, DateTimeOffset At);

/// <summary>The incident is closed.</summary>
public sealed record IncidentClosed(Guid IncidentId, string Resolution, Actor By, DateTimeOffset At);

/// <summary>
/// A notice to a tenant touched by a platform incident (in the tenant's compliance stream): the facts of one step of the
/// incident (<paramref name="Version"/>: the step's place in the incident's events, so each is told once).
/// </summary>
public sealed record IncidentNoticeReceived(Guid IncidentId, long Version, string Title, string Stage, string Summary, DateTimeOffset At);

/// <summary>A partner tenant told that a person was erased at the owner (Art. 19), naming the shared case files that named them.</summary>
public sealed record ErasureNoticeReceived(Guid FromTenantId, Guid RequestId, IReadOnlyList<Guid> CaseFileIds, DateTimeOffset At);

/// <summary>The tenant's processing activities (GDPR Art. 30(1)), as the tenant describes them.</summary>
public sealed record ProcessingActivitiesSet(IReadOnlyList<ProcessingActivity> Activities, Actor By, DateTimeOffset At);

public sealed record ProcessingActivity(string Name, IReadOnlyList<string> Purposes, IReadOnlyList<string> DataSubjects,
    IReadOnlyList<string> DataCategories, string? LegalBasis = null, IReadOnlyList<string>? Recipients = null, string? Retention = null);

/// <summary>The tenant's security baseline (NIS2 Art. 21 measures as settings).</summary>
public sealed record SecurityBaselineSet(SecurityBaseline Baseline, Actor By, DateTimeOffset At);

/// <param name="RequiredAcr">Federated tokens must carry one of these acr values (empty: any).</param>
/// <param name="RequiredAmr">Federated tokens must list all of these amr methods (e.g. "mfa").</param>
/// <param name="MaxTokenAgeMinutes">How long after sign-in (auth_time, else iat) a federated token is still accepted.</param>
/// <param name="AdminNetworks">CIDR ranges administrative requests must come from (empty: anywhere).</param>
/// <param name="KeyRotationDays">How often the tenant's data key must be rotated.</param>
public sealed record SecurityBaseline(IReadOnlyList<string> RequiredAcr, IReadOnlyList<string> RequiredAmr, int? MaxTokenAgeMinutes,
    IReadOnlyList<string> AdminNetworks, int? KeyRotationDays)
{
    public static readonly SecurityBaseline None = new([], [], null, [], null);
}

/// <summary>The tenant's data key is older than its baseline's rotation interval allows (raised by the compliance job, once per due date).</summary>
public sealed record KeyRotationOverdue(DateTimeOffset LastRotatedAt, DateTimeOffset DueAt, int KeyRotationDays, DateTimeOffset At);

public static class ComplianceEventTypes
{
    public static readonly IReadOnlyList<Type> Requests =
    [
        typeof(DataSubjectRequestReceived), typeof(DataSubjectIdentityVerified), typeof(DataSubjectRequestExtended), typeof(DataSubjectRequestFulfilled),
        typeof(DataSubjectErasureNotified), typeof(DataSubjectRequestRefused), typeof(DataSubjectRequestClosed), typeof(DataSubjectRequestOverdue),
        typeof(DataSubjectPackageDisclosed),
    ];

    public static readonly IReadOnlyList<Type> Incidents =
    [
        typeof(IncidentRegistered), typeof(IncidentAssessed), typeof(IncidentReportSubmitted), typeof(IncidentReminderRaised),
        typeof(IncidentDeadlineMissed), typeof(IncidentEscalated), typeof(IncidentClosed),
    ];

    public static readonly IReadOnlyList<Type> Profile =
    [
        typeof(ProcessingActivitiesSet), typeof(SecurityBaselineSet), typeof(KeyRotationOverdue), typeof(IncidentNoticeReceived),
        typeof(ErasureNoticeReceived),
    ];

    public static readonly IReadOnlyList<Type> All = [.. Requests, .. Incidents, .. Profile];

    /// <summary>What escalates to the platform (its subscriptions may receive these, metadata only).</summary>
    public static readonly IReadOnlyList<Type> Escalations =
        [typeof(IncidentDeadlineMissed), typeof(IncidentEscalated), typeof(DataSubjectRequestOverdue), typeof(KeyRotationOverdue)];

    /// <summary>The tenant's compliance profile stream (processing activities, security baseline, notices received).</summary>
    public static Guid ProfileStream(Guid tenant) => Infrastructure.StableIds.From(tenant, "compliance-profile");
}
