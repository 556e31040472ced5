using TenantEvents.CaseFiles;
using TenantEvents.Infrastructure;
using TenantEvents.Sharing;

namespace TenantEvents.Tests.Sharing;

/// <summary>
/// No switch lists the events of a case file, an agreement or a collaboration: every event type but the one that makes
/// the record has an Apply on it, found by Fold, and no Apply is for an event of another aggregate.
/// </summary>
public class SharingFoldTests
{
    private static void Covers<T>(IReadOnlyList<Type> events, Type making) where T : class
    {
        events.Where(t => t != making).Where(t => !Fold<T>.Applies(t)).ShouldBeEmpty();
        Fold<T>.EventTypes.ShouldBeSubsetOf(events);
        Fold<T>.Applies(making).ShouldBeFalse();
    }

    [Fact]
    public void every_case_file_event_but_the_opening_has_an_apply() => Covers<CaseFile>(CaseFileEventTypes.All, typeof(CaseFileOpened));

    [Fact]
    public void every_agreement_event_but_the_offer_has_an_apply() =>
        Covers<SharingAgreement>(SharingEventTypes.Agreements, typeof(SharingAgreementOffered));

    [Fact]
    public void every_collaboration_event_but_the_start_has_an_apply() =>
        Covers<Collaboration>(SharingEventTypes.Collaborations, typeof(CollaborationStarted));

    [Fact]
    public void an_event_of_another_aggregate_is_refused_not_ignored()
    {
        var collaboration = Collaboration.Apply(null, new CollaborationStarted(Guid.NewGuid(), "channel", "Channel", "Charter", Guid.NewGuid(),
            TenantEvents.Infrastructure.Security.Actor.System, DateTimeOffset.UnixEpoch));
        Should.Throw<ArgumentException>(() => Collaboration.Apply(collaboration, new CaseFileUnshared(Guid.NewGuid(), Guid.NewGuid(),
            TenantEvents.Infrastructure.Security.Actor.System, DateTimeOffset.UnixEpoch)));
    }
}
