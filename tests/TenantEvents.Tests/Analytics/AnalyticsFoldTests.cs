using TenantEvents.Analytics;
using TenantEvents.Quotas;
using TenantEvents.Tenants;

namespace TenantEvents.Tests.Analytics;

/// <summary>The analytics decisions, pure: the fold of events, holes in the sequence, growth, health, utilisation periods.</summary>
public class AnalyticsFoldTests
{
    private static readonly DateTimeOffset Day1 = new(2026, 11, 30, 23, 59, 0, TimeSpan.Zero);
    private static string T(Type type) => TenantEventTypes.StoredName(type);

    private static List<EventFact> Lifecycle(string tenant, Guid stream, long firstSeq = 1) =>
    [
        new(firstSeq, tenant, T(typeof(TenantRequested)), stream, 1, Day1),
        new(firstSeq + 1, tenant, T(typeof(TenantApproved)), stream, 2, Day1.AddMinutes(1)), // 1 December, UTC
        new(firstSeq + 2, tenant, T(typeof(TenantProvisioned)), stream, 3, Day1.AddMinutes(2)),
        new(firstSeq + 3, tenant, "organisation_created", Guid.NewGuid(), 1, Day1.AddMinutes(2)),
        new(firstSeq + 4, tenant, T(typeof(TenantSuspended)), stream, 4, Day1.AddMinutes(3)),
        new(firstSeq + 5, tenant, T(typeof(TenantRenamed)), stream, 5, Day1.AddMinutes(4)),
        new(firstSeq + 6, tenant, AnalyticsFold.Tombstone, Guid.Empty, 1, Day1.AddMinutes(5)),
    ];

    [Fact]
    public void a_tenants_state_is_its_latest_lifecycle_events_whatever_the_order_they_are_folded_in()
    {
        var stream = Guid.NewGuid();
        var events = Lifecycle(stream.ToString(), stream);
        var inOrder = AnalyticsFold.Fold(events);
        var t = inOrder.Tenants[stream.ToString()];
        t.State.ShouldBe("suspended", "a rename does not move the state");
        t.StateVersion.ShouldBe(4);
        t.RequestedAt.ShouldBe(Day1);
        t.ProvisionedAt.ShouldBe(Day1.AddMinutes(2));
        t.Events.ShouldBe(6, "the tombstone is not an event");
        inOrder.Days[(stream.ToString(), new DateOnly(2026, 11, 30))].ShouldBe((1L, 1L));
        inOrder.Days[(stream.ToString(), new DateOnly(2026, 12, 1))].ShouldBe((5L, 1L));
        inOrder.Kinds[(stream.ToString(), "tenant")].ShouldBe((5L, 1L));
        inOrder.Kinds[(stream.ToString(), "organisation")].ShouldBe((1L, 1L));

        // Reversed, or in two batches with the earlier events second: the same.
        var reversed = AnalyticsFold.Fold(Enumerable.Reverse(events));
        reversed.Tenants[stream.ToString()].State.ShouldBe("suspended");
        var split = AnalyticsFold.Fold(events.Take(3), AnalyticsFold.Fold(events.Skip(3)));
        split.Tenants[stream.ToString()].State.ShouldBe("suspended");
        split.Days.ShouldBe(inOrder.Days, ignoreOrder: true);
        split.Kinds.ShouldBe(inOrder.Kinds, ignoreOrder: true);
    }

    [Theory]
    [InlineData(nameof(TenantDecommissionCancelled), "suspended")]
    [InlineData(nameof(TenantReactivated), "active")]
    [InlineData(nameof(TenantDecommissioned), "decommissioned")]
    [InlineData(nameof(TenantDecommissionScheduled), "decommission-scheduled")]
    [InlineData(nameof(TenantRejected), "rejected")]
    public void each_lifecycle_event_leaves_the_tenant_in_the_state_the_aggregate_would(string type, string state)
    {
        AnalyticsFold.StateAfterType(T(TenantEventTypes.All.Single(t => t.Name == type)))!.Value.ShouldBe(Enum.Parse<TenantState>(
            string.Concat(state.Split('-').Select(p => char.ToUpperInvariant(p[0]) + p[1..]))));
        AnalyticsFold.StateName(AnalyticsFold.StateAfterType(T(TenantEventTypes.All.Single(t => t.Name == type)))!.Value).ShouldBe(state);
    }

    [Fact]
    public void every_tenant_event_type_has_a_record_kind_and_unknown_types_are_other()
    {
        foreach (var name in TenantEvents.Audit.AuditEventTypes.ByStoredName.Keys) AnalyticsFold.KindOf(name).ShouldNotBe("other", name);
        AnalyticsFold.KindOf("something_else").ShouldBe("other");
    }

    [Fact]
    public void holes_are_the_numbers_skipped_between_the_position_and_what_was_read()
    {
        AnalyticsFold.Holes(10, [11, 12, 13]).ShouldBeEmpty();
        AnalyticsFold.Holes(10, [12, 13, 16]).ShouldBe([11L, 14L, 15L]);
        AnalyticsFold.Holes(0, []).ShouldBeEmpty();
        AnalyticsFold.Holes(5, [5, 7]).ShouldBe([6L]);
    }

    [Fact]
    public void growth_counts_each_month_and_who_was_live_at_its_end()
    {
        DateTimeOffset At(int month, int day) => new(2026, month, day, 12, 0, 0, TimeSpan.Zero);
        var months = AnalyticsFold.Growth(
        [
            (At(9, 30), At(10, 1), null),          // provisioned in October
            (At(10, 5), At(10, 6), At(11, 20)),    // lived October to November
            (At(10, 7), null, null),               // requested, never provisioned
            (At(11, 1), At(11, 2), null),
        ], new DateOnly(2026, 9, 1), new DateOnly(2026, 11, 1));
        months.ShouldBe([
            new GrowthMonth("2026-09", 1, 0, 0, 0),
            new GrowthMonth("2026-10", 2, 2, 0, 2),
            new GrowthMonth("2026-11", 1, 1, 1, 2),
        ]);
    }

    private static QuotaUsage Usage(string kind, long limit, long used, string mode = "hard") =>
        new(kind, "API calls", limit, mode, [80, 90, 100], DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, used, 0, limit - used,
            limit == 0 ? 0 : Math.Round(100.0 * used / limit, 2), [], []);

    [Fact]
    public void health_is_critical_for_a_hard_quota_exhausted_or_dead_deliveries_and_attention_for_the_softer_signs()
    {
        var none = new PendingApprovals(0, 0, 0, false, false);
        var ok = new DeliveryHealth(0, 0, 0, null);
        var steady = HealthDecisions.TrendOf(10, 10);
        HealthDecisions.Assess("active", steady, steady, [HealthDecisions.Pressure(Usage("apiCallsPerDay", 100, 50))], ok, none).Status.ShouldBe("healthy");
        HealthDecisions.Pressure(Usage("apiCallsPerDay", 100, 79)).Level.ShouldBe("ok");
        HealthDecisions.Pressure(Usage("apiCallsPerDay", 100, 80)).ShouldSatisfyAllConditions(
            p => p.Level.ShouldBe("high"), p => p.ThresholdReached.ShouldBe(80));
        HealthDecisions.Pressure(Usage("apiCallsPerDay", 100, 95)).ThresholdReached.ShouldBe(90);
        var over = HealthDecisions.Pressure(Usage("apiCallsPerDay", 100, 130, "observe-only"));
        over.Level.ShouldBe("exceeded");
        HealthDecisions.Assess("active", steady, steady, [over], ok, none).Status.ShouldBe("attention", "observe-only is not refused");
        HealthDecisions.Assess("active", steady, steady, [HealthDecisions.Pressure(Usage("apiCallsPerDay", 100, 100))], ok, none).Status.ShouldBe("critical");
        HealthDecisions.Assess("active", steady, steady, [], new DeliveryHealth(1, 0, 0, null), none).Status.ShouldBe("critical");
        HealthDecisions.Assess("active", steady, steady, [], new DeliveryHealth(0, 3, 0, null), none).Status.ShouldBe("attention");
        HealthDecisions.Assess("active", HealthDecisions.TrendOf(5, 10), steady, [], ok, none).Findings.Single().Code.ShouldBe("activity-falling");
        var (status, findings) = HealthDecisions.Assess("decommission-requested", steady, steady, [], new DeliveryHealth(0, 1, 0, null),
            new PendingApprovals(1, 0, 0, true, false));
        status.ShouldBe("attention");
        findings.Select(f => f.Code).ShouldBe(["decommission-requested", "deliveries-retrying", "approvals-pending"]);
        // Critical findings come first.
        HealthDecisions.Assess("suspended", steady, steady, [], new DeliveryHealth(0, 1, 0, null), none).Findings[0].Code.ShouldBe("tenant-suspended");
    }

    [Theory]
    [InlineData(0, 0, "none")]
    [InlineData(5, 0, "new")]
    [InlineData(11, 10, "steady")]
    [InlineData(12, 10, "rising")]
    [InlineData(9, 10, "steady")]
    [InlineData(8, 10, "falling")]
    [InlineData(0, 3, "falling")]
    public void trends_are_ten_percent_either_way(long last, long previous, string direction) =>
        HealthDecisions.TrendOf(last, previous).Direction.ShouldBe(direction);

    [Fact]
    public void utilisation_periods_are_days_for_the_daily_quota_and_whole_months_for_the_others()
    {
        var daily = new Dictionary<DateOnly, long> { [new(2026, 10, 31)] = 7, [new(2026, 11, 1)] = 30, [new(2026, 11, 2)] = 10, [new(2026, 11, 20)] = 60 };
        Utilisation.Periods(QuotaKinds.ApiCallsPerDay, 40, new(2026, 11, 1), new(2026, 11, 2), daily)
            .ShouldBe([new UtilisationPeriod("2026-11-01", new(2026, 11, 1), new(2026, 11, 1), 30, 40, 75), new UtilisationPeriod("2026-11-02", new(2026, 11, 2), new(2026, 11, 2), 10, 40, 25)]);
        // A month counts all its days, even those outside the range; licences are the month's peak, not a sum.
        Utilisation.Periods(QuotaKinds.ApiCallsPerMonth, 200, new(2026, 11, 1), new(2026, 11, 2), daily)
            .ShouldBe([new UtilisationPeriod("2026-11", new(2026, 11, 1), new(2026, 11, 30), 100, 200, 50)]);
        Utilisation.Periods(QuotaKinds.Licences, 100, new(2026, 10, 15), new(2026, 11, 2), daily).Select(p => p.Used).ShouldBe([7L, 60L]);
        Utilisation.Periods(QuotaKinds.AiCompute, 0, new(2026, 11, 1), new(2026, 11, 1), daily).Single().Percent.ShouldBeNull();
        // Against the limit in force at each period's end: 40 until the change during 2 November, 80 from then.
        var changes = new List<(DateTimeOffset, long)> { (new(2026, 10, 1, 0, 0, 0, TimeSpan.Zero), 40), (new(2026, 11, 2, 15, 0, 0, TimeSpan.Zero), 80) };
        Utilisation.Periods(QuotaKinds.ApiCallsPerDay, 999, new(2026, 11, 1), new(2026, 11, 3), daily, changes).Select(p => (p.Limit, p.Percent))
            .ShouldBe([(40L, (double?)75), (80L, 12.5), (80L, 0)]);
        Utilisation.LimitAt(changes, new(2026, 9, 1, 0, 0, 0, TimeSpan.Zero)).ShouldBe(40, "before the first change known: that one");
        Utilisation.LimitAt([], DateTimeOffset.UnixEpoch).ShouldBeNull();
    }
    [Fact]
    public void csv_cells_are_quoted_only_when_they_must_be_and_numbers_are_invariant()
    {
        var result = (Microsoft.AspNetCore.Http.HttpResults.FileContentHttpResult)AnalyticsHttp.Csv("x.csv", ["name", "value", "share"],
            [["plain", 3L, 0.25], ["with, comma", 1000000L, null], ["say \"hi\"", -1, 1.0 / 3]]);
        result.ContentType.ShouldBe("text/csv; charset=utf-8");
        System.Text.Encoding.UTF8.GetString(result.FileContents.Span).ShouldBe(
            "name,value,share\r\nplain,3,0.25\r\n\"with, comma\",1000000,\r\n\"say \"\"hi\"\"\",-1,0.3333\r\n");
    }
}
