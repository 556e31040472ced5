using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Sharing;

/// <summary>
/// What an agreement shares: the named case files, and every file (present or future) with one of the tags or one of
/// the classifications. Empty lists share nothing by that criterion.
/// </summary>
public sealed record SharingScope(IReadOnlyList<Guid> CaseFileIds, IReadOnlyList<string> Tags, IReadOnlyList<string> Classifications);

/// <summary>
/// The owner offered to share a scope of its case files with another tenant, for a purpose, until a time; narrowed
/// optionally to the files of one of its organisations (and below) and to readers in some of the recipient's
/// organisations (the recipient names those when it accepts). Nothing is visible until the recipient accepts. The
/// agreement's stream is in the owner's tenant.
/// </summary>
public sealed record SharingAgreementOffered(Guid AgreementId, Guid OwnerTenantId, Guid RecipientTenantId, SharingScope Scope,
    IReadOnlyList<string> Permissions, string Purpose, DateTimeOffset ExpiresAt, Guid? OwnerOrganisationId, Actor By, DateTimeOffset At);

/// <summary>
/// An administrator of the recipient accepted: the scope is visible to the recipient from now until expiry or revocation,
/// to its readers in <paramref name="RecipientOrganisationIds"/> (and below; none named: anywhere in the tenant).
/// </summary>
public sealed record SharingAgreementAccepted(Guid AgreementId, IReadOnlyList<Guid> RecipientOrganisationIds, Actor By, DateTimeOffset At);

/// <summary>The recipient declined the offer.</summary>
public sealed record SharingAgreementDeclined(Guid AgreementId, string? Reason, Actor By, DateTimeOffset At);

/// <summary>Either side ended the agreement (<paramref name="Side"/>: owner or recipient); nothing of it is visible from now on.</summary>
public sealed record SharingAgreementRevoked(Guid AgreementId, string Side, string? Reason, Actor By, DateTimeOffset At);

/// <summary>The owner narrowed the agreement (less scope, fewer permissions or an earlier expiry): no new consent is needed to share less.</summary>
public sealed record SharingAgreementNarrowed(Guid AgreementId, SharingScope Scope, IReadOnlyList<string> Permissions, DateTimeOffset ExpiresAt,
    Actor By, DateTimeOffset At);

/// <summary>
/// A collaboration began: a Community of Interest channel (kind "channel": a convenor manages membership) or a joint
/// investigation (kind "investigation": co-owned, every member agency may invite and revise the brief). The convening
/// tenant is its first member; its stream is in that tenant.
/// </summary>
public sealed record CollaborationStarted(Guid CollaborationId, string Kind, string Name, string Charter, Guid ConvenorTenantId, Actor By,
    DateTimeOffset At);

public sealed record CollaborationMemberInvited(Guid CollaborationId, Guid TenantId, Actor By, DateTimeOffset At);

public sealed record CollaborationInvitationAccepted(Guid CollaborationId, Guid TenantId, Actor By, DateTimeOffset At);

public sealed record CollaborationInvitationDeclined(Guid CollaborationId, Guid TenantId, Actor By, DateTimeOffset At);

/// <summary>A member left: it sees nothing shared into the collaboration from now on, and what it shared is no longer visible to the others.</summary>
public sealed record CollaborationMemberLeft(Guid CollaborationId, Guid TenantId, Actor By, DateTimeOffset At);

/// <summary>The convenor removed a member (channels only): the same effect as leaving.</summary>
public sealed record CollaborationMemberRemoved(Guid CollaborationId, Guid TenantId, string? Reason, Actor By, DateTimeOffset At);

/// <summary>The charter (a channel's) or brief (an investigation's) was revised.</summary>
public sealed record CollaborationCharterRevised(Guid CollaborationId, string Charter, Actor By, DateTimeOffset At);

/// <summary>The convenor closed the collaboration: nothing shared into it is visible any more.</summary>
public sealed record CollaborationClosed(Guid CollaborationId, Actor By, DateTimeOffset At);

public static class SharingEventTypes
{
    public static readonly IReadOnlyList<Type> Agreements =
    [
        typeof(SharingAgreementOffered), typeof(SharingAgreementAccepted), typeof(SharingAgreementDeclined), typeof(SharingAgreementRevoked),
        typeof(SharingAgreementNarrowed),
    ];

    public static readonly IReadOnlyList<Type> Collaborations =
    [
        typeof(CollaborationStarted), typeof(CollaborationMemberInvited), typeof(CollaborationInvitationAccepted),
        typeof(CollaborationInvitationDeclined), typeof(CollaborationMemberLeft), typeof(CollaborationMemberRemoved),
        typeof(CollaborationCharterRevised), typeof(CollaborationClosed),
    ];

    public static readonly IReadOnlyList<Type> All = [.. Agreements, .. Collaborations];
}
