using System.Text.Json;
using TenantEvents.CaseFiles;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;
using TenantEvents.Sharing;

namespace TenantEvents.Tests.EventModels;

/// <summary>Keeps eventmodels/sharing.json and casefiles.json true to the code: events, routes, and the examples against the pure decisions.</summary>
public class SharingEventModelTests
{
    private static readonly JsonElement Sharing = EventModelFile.Load("sharing.json");
    private static readonly JsonElement CaseFiles = EventModelFile.Load("casefiles.json");
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 9, 0, 0, TimeSpan.Zero);
    private static readonly Actor Alice = new("alice", "user");
    private static readonly Guid Owner = Guid.CreateVersion7(), Recipient = Guid.CreateVersion7(), Stranger = Guid.CreateVersion7();

    [Fact]
    public void every_event_in_the_models_is_in_the_code_and_the_reverse()
    {
        EventModelFile.Events(Sharing).ShouldBe(EventModelFile.Names(SharingEventTypes.All));
        EventModelFile.Events(CaseFiles).ShouldBe(EventModelFile.Names(CaseFileEventTypes.All));
    }

    [Fact]
    public void every_route_in_the_models_is_served_and_every_route_is_modelled()
    {
        EventModelFile.ModelledRoutes(Sharing).ShouldBe(EventModelFile.ServedRoutes(typeof(SharingEventTypes)));
        EventModelFile.ModelledRoutes(CaseFiles).ShouldBe(EventModelFile.ServedRoutes(typeof(CaseFileEventTypes)));
    }

    public static IEnumerable<object[]> Examples() =>
        new[] { ("sharing", Sharing), ("casefiles", CaseFiles) }
            .SelectMany(m => m.Item2.GetProperty("examples").EnumerateArray().Select(e => new object[] { m.Item1, e.GetProperty("name").GetString()! }));

    [Theory]
    [MemberData(nameof(Examples))]
    public void the_examples_hold(string model, string name)
    {
        var example = (model == "sharing" ? Sharing : CaseFiles).GetProperty("examples").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var args = example.GetProperty("args").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        var given = example.TryGetProperty("given", out var g) ? g.EnumerateArray().Select(x => x.GetString()!).ToList() : [];
        List<string> Csv(string key, List<string> fallback) =>
            args.TryGetValue(key, out var v) ? v.Split(',', StringSplitOptions.RemoveEmptyEntries).ToList() : fallback;
        var caller = args.GetValueOrDefault("caller") switch
        {
            "owner" or "convenor" => Owner, "recipient" or "member" => Recipient, _ => Stranger,
        };
        var at = Now.AddDays(int.Parse(args.GetValueOrDefault("days") ?? "0"));
        var when = example.GetProperty("when").GetString();
        OrgDecision decision;
        if (when!.Contains("Agreement"))
        {
            var agreement = Agreement(given);
            decision = when switch
            {
                "AcceptSharingAgreement" => AgreementDecisions.Accept(agreement, caller, [], Alice, at),
                "RevokeSharingAgreement" => AgreementDecisions.Revoke(agreement, caller, null, Alice, at),
                "NarrowSharingAgreement" => AgreementDecisions.Narrow(agreement, caller,
                    new SharingScope([], Csv("tags", [.. agreement.Scope.Tags]), Csv("classifications", [.. agreement.Scope.Classifications])),
                    Csv("permissions", agreement.Permissions), args.TryGetValue("expiresInDays", out var d) ? Now.AddDays(int.Parse(d)) : agreement.ExpiresAt,
                    Alice, at),
                _ => throw new InvalidOperationException(when),
            };
        }
        else if (when.Contains("Collaboration"))
        {
            var c = CollaborationOf(args["kind"], given);
            decision = when switch
            {
                "InviteToCollaboration" => CollaborationDecisions.Invite(c, caller, Guid.CreateVersion7(), Alice, at),
                "AcceptCollaborationInvitation" => CollaborationDecisions.AcceptInvitation(c, caller, Alice, at),
                "RemoveCollaborationMember" => CollaborationDecisions.Remove(c, caller, Recipient, null, Alice, at),
                "LeaveCollaboration" => CollaborationDecisions.Leave(c, caller, Alice, at),
                _ => throw new InvalidOperationException(when),
            };
        }
        else
        {
            var id = Guid.CreateVersion7();
            var file = given.Count == 0 ? null : CaseFile.Apply(null, new CaseFileOpened(id, Guid.NewGuid(), "Roster", "official", ["gang-unit"], "", Alice, Now), Owner);
            decision = when switch
            {
                "OpenCaseFile" => CaseFileDecisions.Open(id, Guid.NewGuid(), "Roster", args["classification"], Csv("tags", []), "", Alice, at),
                "ReviseCaseFile" => CaseFileDecisions.Revise(file!, null, null, Csv("tags", []), null, Alice, at),
                _ => throw new InvalidOperationException(when),
            };
        }
        if (example.TryGetProperty("refused", out var refused))
            decision.Refusal.ShouldNotBeNull(name).Type.ShouldBe("urn:tenantevents:problem:" + refused.GetString());
        else
        {
            decision.Refusal.ShouldBeNull(decision.Refusal?.Detail);
            decision.Events.Select(e => e.GetType().Name).ShouldBe(example.GetProperty("then").EnumerateArray().Select(t => t.GetString()!));
        }
    }

    /// <summary>An agreement offered by the owner to the recipient: gang-unit and secret files, read and comment, for 30 days.</summary>
    private static SharingAgreement Agreement(IEnumerable<string> given)
    {
        SharingAgreement? a = null;
        foreach (var e in given)
            a = SharingAgreement.Apply(a, e switch
            {
                "SharingAgreementOffered" => new SharingAgreementOffered(Guid.CreateVersion7(), Owner, Recipient, new SharingScope([], ["gang-unit"], ["secret"]),
                    ["read", "comment"], "Operation Lone Star", Now.AddDays(30), null, Alice, Now),
                "SharingAgreementAccepted" => new SharingAgreementAccepted(a!.Id, [], Alice, Now),
                "SharingAgreementRevoked" => new SharingAgreementRevoked(a!.Id, "owner", null, Alice, Now),
                _ => throw new InvalidOperationException(e),
            });
        return a!;
    }

    /// <summary>A collaboration convened by the owner; the recipient is the one invited.</summary>
    private static Collaboration CollaborationOf(string kind, IEnumerable<string> given)
    {
        Collaboration? c = null;
        var id = Guid.CreateVersion7();
        foreach (var e in given)
            c = Collaboration.Apply(c, e switch
            {
                "CollaborationStarted" => new CollaborationStarted(id, kind, "I-35", "Charter", Owner, Alice, Now),
                "CollaborationMemberInvited" => new CollaborationMemberInvited(id, Recipient, Alice, Now),
                "CollaborationInvitationAccepted" => new CollaborationInvitationAccepted(id, Recipient, Alice, Now),
                "CollaborationClosed" => new CollaborationClosed(id, Alice, Now),
                _ => throw new InvalidOperationException(e),
            });
        return c!;
    }
}
