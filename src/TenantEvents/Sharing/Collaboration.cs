using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;

namespace TenantEvents.Sharing;

public sealed record CollaborationMember(Guid TenantId, string State, DateTimeOffset Since, Actor By);

/// <summary>A COI channel or a joint investigation folded from its events (the sealed snapshot in collaborations).</summary>
public sealed class Collaboration
{
    public const string Channel = "channel";
    public const string Investigation = "investigation";
    public static readonly IReadOnlyList<string> Kinds = [Channel, Investigation];

    public Guid Id { get; set; }
    public string Kind { get; set; } = Channel;
    public string Name { get; set; } = "";
    public string Charter { get; set; } = "";
    public Guid ConvenorTenantId { get; set; }
    public bool Open { get; set; } = true;
    /// <summary>By tenant: invited, member, declined, left, removed.</summary>
    public Dictionary<Guid, CollaborationMember> Members { get; set; } = [];
    public DateTimeOffset CreatedAt { get; set; }
    public long Version { get; set; }

    public bool IsMember(Guid tenant) => Open && Members.TryGetValue(tenant, out var m) && m.State == "member";
    public bool IsInvited(Guid tenant) => Open && Members.TryGetValue(tenant, out var m) && m.State == "invited";

    // One method per event after the start (found by Fold<Collaboration>: no switch to extend).
    public void Apply(CollaborationMemberInvited x) => Members[x.TenantId] = new(x.TenantId, "invited", x.At, x.By);

    public void Apply(CollaborationInvitationAccepted x) => Members[x.TenantId] = new(x.TenantId, "member", x.At, x.By);

    public void Apply(CollaborationInvitationDeclined x) => Members[x.TenantId] = new(x.TenantId, "declined", x.At, x.By);

    public void Apply(CollaborationMemberLeft x) => Members[x.TenantId] = new(x.TenantId, "left", x.At, x.By);

    public void Apply(CollaborationMemberRemoved x) => Members[x.TenantId] = new(x.TenantId, "removed", x.At, x.By);

    public void Apply(CollaborationCharterRevised x) => Charter = x.Charter;

    public void Apply(CollaborationClosed x) => Open = false;

    /// <summary>The collaboration after one more event: the start makes it, every other goes to its Apply.</summary>
    public static Collaboration Apply(Collaboration? c, object e)
    {
        if (e is CollaborationStarted s)
            return new Collaboration
            {
                Id = s.CollaborationId, Kind = s.Kind, Name = s.Name, Charter = s.Charter, ConvenorTenantId = s.ConvenorTenantId, CreatedAt = s.At,
                Members = new() { [s.ConvenorTenantId] = new CollaborationMember(s.ConvenorTenantId, "member", s.At, s.By) },
            };
        ArgumentNullException.ThrowIfNull(c);
        Fold<Collaboration>.Apply(c, e);
        return c;
    }
}

/// <summary>
/// Pure decisions on collaborations. A channel is governed by its convenor (invites, removes, closes); an investigation
/// is co-owned: every member agency may invite and revise the brief, none may remove another, each may leave.
/// </summary>
public static class CollaborationDecisions
{
    public const int MaxName = 200;
    public const int MaxCharter = 10_000;

    public static List<FieldError> Validate(string? kind, string? name, string? charter)
    {
        var errors = new List<FieldError>();
        if (kind is null || !Collaboration.Kinds.Contains(kind)) errors.Add(new("kind", "unknown-kind", "channel or investigation."));
        if (string.IsNullOrWhiteSpace(name)) errors.Add(new("name", "required", "a name is required."));
        else if (name.Length > MaxName) errors.Add(new("name", "too-long", $"at most {MaxName} characters."));
        if (string.IsNullOrWhiteSpace(charter)) errors.Add(new("charter", "required", "a charter (or an investigation's brief) is required."));
        else if (charter.Length > MaxCharter) errors.Add(new("charter", "too-long", $"at most {MaxCharter} characters."));
        return errors;
    }

    public static OrgDecision Invite(Collaboration c, Guid caller, Guid invitee, Actor by, DateTimeOffset now)
    {
        if (Closed(c) is { } closed) return closed;
        if (!c.IsMember(caller)) return OrgDecision.Refuse(Problem.NotFound("collaboration"));
        if (c.Kind == Collaboration.Channel && caller != c.ConvenorTenantId)
            return OrgDecision.Refuse(Problem.Forbidden("Only the channel's convenor invites members."));
        if (c.IsMember(invitee)) return OrgDecision.Refuse(new Problem("already-member", 409, "Already a member", "That tenant is a member already."));
        if (c.IsInvited(invitee)) return OrgDecision.Accept();
        return OrgDecision.Accept(new CollaborationMemberInvited(c.Id, invitee, by, now));
    }

    public static OrgDecision AcceptInvitation(Collaboration c, Guid caller, Actor by, DateTimeOffset now) =>
        Closed(c) ?? (c.IsMember(caller) ? OrgDecision.Accept()
            : c.IsInvited(caller) ? OrgDecision.Accept(new CollaborationInvitationAccepted(c.Id, caller, by, now))
            : OrgDecision.Refuse(Problem.NotFound("invitation")));

    public static OrgDecision DeclineInvitation(Collaboration c, Guid caller, Actor by, DateTimeOffset now) =>
        Closed(c) ?? (c.IsInvited(caller) ? OrgDecision.Accept(new CollaborationInvitationDeclined(c.Id, caller, by, now))
            : OrgDecision.Refuse(Problem.NotFound("invitation")));

    /// <summary>Any member may leave, except a channel's convenor (it closes the channel instead).</summary>
    public static OrgDecision Leave(Collaboration c, Guid caller, Actor by, DateTimeOffset now)
    {
        if (Closed(c) is { } closed) return closed;
        if (!c.IsMember(caller)) return OrgDecision.Refuse(Problem.NotFound("collaboration"));
        if (c.Kind == Collaboration.Channel && caller == c.ConvenorTenantId)
            return OrgDecision.Refuse(new Problem("convenor-cannot-leave", 409, "The convenor cannot leave its channel", "Close the channel instead."));
        return OrgDecision.Accept(new CollaborationMemberLeft(c.Id, caller, by, now));
    }

    public static OrgDecision Remove(Collaboration c, Guid caller, Guid member, string? reason, Actor by, DateTimeOffset now)
    {
        if (Closed(c) is { } closed) return closed;
        if (!c.IsMember(caller)) return OrgDecision.Refuse(Problem.NotFound("collaboration"));
        if (c.Kind != Collaboration.Channel || caller != c.ConvenorTenantId)
            return OrgDecision.Refuse(Problem.Forbidden(c.Kind == Collaboration.Investigation
                ? "An investigation is co-owned: no agency removes another; each may leave."
                : "Only the channel's convenor removes members."));
        if (member == c.ConvenorTenantId) return OrgDecision.Refuse(new Problem("convenor-cannot-leave", 409, "The convenor cannot be removed", "Close the channel instead."));
        if (!c.IsMember(member) && !c.IsInvited(member)) return OrgDecision.Refuse(Problem.NotFound("member"));
        if (reason is { Length: > MaxName }) return OrgDecision.Refuse(Problem.Validation("reason", "too-long", $"at most {MaxName} characters."));
        return OrgDecision.Accept(new CollaborationMemberRemoved(c.Id, member, reason, by, now));
    }

    public static OrgDecision ReviseCharter(Collaboration c, Guid caller, string? charter, Actor by, DateTimeOffset now)
    {
        if (Closed(c) is { } closed) return closed;
        if (!c.IsMember(caller)) return OrgDecision.Refuse(Problem.NotFound("collaboration"));
        if (c.Kind == Collaboration.Channel && caller != c.ConvenorTenantId)
            return OrgDecision.Refuse(Problem.Forbidden("Only the channel's convenor revises its charter."));
        if (string.IsNullOrWhiteSpace(charter)) return OrgDecision.Refuse(Problem.Validation("charter", "required", "the charter is required."));
        if (charter.Length > MaxCharter) return OrgDecision.Refuse(Problem.Validation("charter", "too-long", $"at most {MaxCharter} characters."));
        return charter == c.Charter ? OrgDecision.Accept() : OrgDecision.Accept(new CollaborationCharterRevised(c.Id, charter, by, now));
    }

    public static OrgDecision Close(Collaboration c, Guid caller, Actor by, DateTimeOffset now)
    {
        if (Closed(c) is { } closed) return closed;
        if (!c.IsMember(caller)) return OrgDecision.Refuse(Problem.NotFound("collaboration"));
        if (caller != c.ConvenorTenantId) return OrgDecision.Refuse(Problem.Forbidden("Only the convening agency closes it."));
        return OrgDecision.Accept(new CollaborationClosed(c.Id, by, now));
    }

    private static OrgDecision? Closed(Collaboration c) =>
        c.Open ? null : OrgDecision.Refuse(new Problem("collaboration-closed", 409, "The collaboration is closed", "Nothing changes in a closed collaboration."));
}
