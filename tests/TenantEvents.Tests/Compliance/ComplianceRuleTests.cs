using TenantEvents.Compliance;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;

namespace TenantEvents.Tests.Compliance;

/// <summary>The jurisdiction catalogue and the pure rules of requests and incidents (no database).</summary>
public class ComplianceRuleTests
{
    private static readonly Actor Officer = new("privacy-officer", "user");
    private static readonly DateTimeOffset Received = new(2027, 1, 31, 10, 0, 0, TimeSpan.Zero);

    private static TenantSettings Settings(int retention) => new(retention, [], new QuotaDefaults(10, 1000, 1000, 10000, QuotaMode.Hard, [80]), false);

    private static IReadOnlyList<AppliedRule> For(string country, string? subdivision = null, string? template = null) =>
        Jurisdictions.Catalogue.For(new ResidencyZone(country, subdivision), template);

    [Fact]
    public void an_eu_member_state_gets_the_gdpr_and_nis2_and_says_why()
    {
        var rules = For("DE", "DE-BE");
        rules.Select(r => r.Rule.Id).ShouldBe(["gdpr-art12-requests", "gdpr-art33-breach", "gdpr-chapter5-transfers", "nis2-art23-reporting", "nis2-art21-measures"],
            ignoreOrder: true);
        rules.First(r => r.Rule.Id == "nis2-art23-reporting").Why.ShouldBe("the tenant's residency country DE is in the EU");
        // Norway is in the EEA (GDPR) but not the EU (NIS2 is a directive of the Union).
        For("NO").Select(r => r.Rule.Framework).ShouldContain("GDPR");
        For("NO").Select(r => r.Rule.Framework).ShouldNotContain("NIS2");
    }

    [Fact]
    public void a_subdivision_rule_applies_to_that_subdivision_only_and_elsewhere_the_platform_default_does()
    {
        For("US", "US-CA").Select(r => r.Rule.Id).ShouldContain("us-ca-ccpa-requests");
        var texas = For("US", "US-TX");
        texas.Select(r => r.Rule.Id).ShouldNotContain("us-ca-ccpa-requests");
        RequestDecisions.Rule(texas).Id.ShouldBe("platform-default-requests");
        // A template-bound rule (CJIS, advisory) applies only to tenants made from that template.
        texas.Select(r => r.Rule.Id).ShouldNotContain("us-cjis-audit-retention");
        For("US", "US-TX", "law-enforcement").Single(r => r.Rule.Id == "us-cjis-audit-retention").Rule.Binding.ShouldBeFalse();
    }

    [Fact]
    public void a_retention_below_a_binding_minimum_is_refused_naming_the_rule_and_an_advisory_one_only_advises()
    {
        var errors = new List<TenantEvents.Infrastructure.FieldError>();
        JurisdictionChecks.Settings("", new ResidencyZone("IN"), "commercial-saas", Settings(90), errors);
        errors.ShouldHaveSingleItem().Code.ShouldBe("below-jurisdiction-minimum");
        errors[0].Detail.ShouldContain("in-certin-log-retention");
        errors.Clear();
        JurisdictionChecks.Settings("", new ResidencyZone("IN"), "commercial-saas", Settings(180), errors);
        errors.ShouldBeEmpty();
        JurisdictionChecks.Settings("", new ResidencyZone("FR"), "commercial-saas", Settings(2555), errors);
        errors.ShouldBeEmpty();
        JurisdictionChecks.Advice(For("FR"), Settings(2555)).Single().Rule.Id.ShouldBe("fr-cnil-logging");
    }

    [Fact]
    public void a_request_is_due_a_month_after_receipt_and_the_31st_falls_on_the_last_day_of_a_shorter_month()
    {
        var gdpr = RequestDecisions.Rule(For("DE"));
        RequestDecisions.Due(gdpr, Received).ShouldBe(new DateTimeOffset(2027, 2, 28, 10, 0, 0, TimeSpan.Zero));
        RequestDecisions.Due(gdpr, new DateTimeOffset(2027, 3, 9, 8, 0, 0, TimeSpan.Zero)).ShouldBe(new DateTimeOffset(2027, 4, 9, 8, 0, 0, TimeSpan.Zero));
        RequestDecisions.Due(RequestDecisions.Rule(For("US", "US-CA")), Received).ShouldBe(Received.AddDays(45));
        RequestDecisions.Due(RequestDecisions.Rule(For("BR")), Received).ShouldBe(Received.AddDays(15));
    }

    private static DataSubjectRequest Request(JurisdictionRule rule)
    {
        var (received, errors) = RequestDecisions.Receive(Guid.CreateVersion7(), "access", "ada@example.de", "Ada", null, Received, rule, Officer, Received);
        errors.ShouldBeEmpty();
        return DataSubjectRequest.Apply(null, received!);
    }

    [Fact]
    public void an_extension_needs_reasons_comes_once_before_the_first_due_date_and_reaches_at_most_two_more_months()
    {
        var gdpr = RequestDecisions.Rule(For("DE"));
        var request = Request(gdpr);
        RequestDecisions.Extend(request, gdpr, " ", null, Officer, Received.AddDays(3)).Refusal!.Code.ShouldBe("validation-failed");
        RequestDecisions.Extend(request, gdpr, "Many requests", Received.AddMonths(4), Officer, Received.AddDays(3)).Refusal!.Errors![0].Code
            .ShouldBe("beyond-extension");
        RequestDecisions.Extend(request, gdpr, "Many requests", null, Officer, request.FirstDueAt).Refusal!.Code.ShouldBe("extension-too-late");
        var (extended, refusal) = RequestDecisions.Extend(request, gdpr, "Many requests this month", null, Officer, Received.AddDays(3));
        refusal.ShouldBeNull();
        // One month and two further months from receipt: 31 January reaches 30 April.
        ((DataSubjectRequestExtended)extended!).DueAt.ShouldBe(new DateTimeOffset(2027, 4, 30, 10, 0, 0, TimeSpan.Zero));
        request = DataSubjectRequest.Apply(request, extended);
        RequestDecisions.Extend(request, gdpr, "Again", null, Officer, Received.AddDays(4)).Refusal!.Code.ShouldBe("already-extended");
        // The same moment written with another offset is due at the same moment.
        var (atPlus14, _) = RequestDecisions.Receive(Guid.CreateVersion7(), "access", "ada@example.de", null, null,
            new DateTimeOffset(2027, 2, 1, 0, 30, 0, TimeSpan.FromHours(14)), gdpr, Officer, Received.AddHours(1));
        atPlus14!.DueAt.ShouldBe(new DateTimeOffset(2027, 1, 31, 10, 30, 0, TimeSpan.Zero).AddMonths(1));
        // Switzerland sets no bound on the date announced; the platform allows a year from receipt at most.
        var fadp = RequestDecisions.Rule(For("CH"));
        RequestDecisions.Extend(Request(fadp), fadp, "Archives", null, Officer, Received.AddDays(1)).Refusal!.Errors![0].Code.ShouldBe("required");
        RequestDecisions.Extend(Request(fadp), fadp, "Archives", Received.AddYears(2), Officer, Received.AddDays(1)).Refusal!.Errors![0].Code.ShouldBe("beyond-extension");
        // Brazil's 15 days allow no extension.
        var lgpd = RequestDecisions.Rule(For("BR"));
        RequestDecisions.Extend(Request(lgpd), lgpd, "Busy", null, Officer, Received.AddDays(1)).Refusal!.Code.ShouldBe("extension-not-allowed");
    }

    [Fact]
    public void a_rule_for_access_only_leaves_other_kinds_to_the_default()
    {
        RequestDecisions.Rule(For("BR"), "access").Id.ShouldBe("br-lgpd-access");
        RequestDecisions.Rule(For("BR"), "erasure").Id.ShouldBe("platform-default-requests");
        RequestDecisions.Rule(For("DE"), "erasure").Id.ShouldBe("gdpr-art12-requests");
    }

    [Fact]
    public void a_person_is_named_by_their_whole_address_or_full_name_never_a_word_inside_another()
    {
        var file = new TenantEvents.CaseFiles.CaseFile
        {
            Title = "Thefts", Body = "Reported by jimbob@x.com; the witness Bob Builder met bob@x.com.org, Bob Builder-Smith and later bob@x.com.", Tags = ["bob"],
        };
        PersonalData.Phrases(new DataSubject("bob@x.com", "the")).ShouldBe(["bob@x.com"]); // one word names nobody
        PersonalData.Phrases(new DataSubject("bob@x.com", "Al B")).ShouldBe(["bob@x.com"]);
        var mentions = PersonalData.Mentions(file, PersonalData.Phrases(new DataSubject("bob@x.com", "Bob Builder")));
        mentions.Count.ShouldBe(2);
        mentions.ShouldAllBe(m => m.Field == "body");
        PersonalData.Redact(file.Body, ["bob@x.com", "Bob Builder"])
            .ShouldBe("Reported by jimbob@x.com; the witness [erased] met bob@x.com.org, Bob Builder-Smith and later [erased].");
    }

    [Fact]
    public void a_request_is_overdue_once_at_its_due_date_and_not_before()
    {
        var request = Request(RequestDecisions.Rule(For("DE")));
        request.OpenDeadlines().ShouldHaveSingleItem().DueAt.ShouldBe(request.DueAt);
        RequestDecisions.Tick(request, request.DueAt.AddSeconds(-1)).ShouldBeEmpty();
        var overdue = RequestDecisions.Tick(request, request.DueAt).ShouldHaveSingleItem().ShouldBeOfType<DataSubjectRequestOverdue>();
        RequestDecisions.Tick(DataSubjectRequest.Apply(request, overdue), request.DueAt.AddDays(1)).ShouldBeEmpty();
        request.OpenDeadlines().ShouldBeEmpty();
    }

    [Fact]
    public void a_significant_incident_owes_an_early_warning_at_24_hours_a_notification_at_72_and_a_final_report_a_month_after_it()
    {
        var aware = new DateTimeOffset(2027, 1, 10, 6, 0, 0, TimeSpan.Zero);
        var rules = For("DE");
        var (registered, _) = IncidentDecisions.Register(Guid.CreateVersion7(), "tenant", "Ransomware on file servers", "Encrypted shares", "ransomware", aware, [], Officer, aware);
        var incident = Incident.Apply(null, registered!);
        var (assessed, refusal) = IncidentDecisions.Assess(incident, rules, true, "high", "Service disrupted", true, false, true, Officer, aware.AddHours(1));
        refusal.ShouldBeNull();
        incident = Incident.Apply(incident, assessed!);
        incident.Deadlines.Select(d => (d.Stage, d.DueAt)).ShouldBe([
            (IncidentStages.EarlyWarning, aware.AddHours(24)), (IncidentStages.Notification, aware.AddHours(72)), (IncidentStages.Breach, aware.AddHours(72))],
            ignoreOrder: true);
        // A quarter of the window before each: the reminder; at the deadline: missed and escalated.
        IncidentDecisions.Tick(incident, aware.AddHours(17)).ShouldBeEmpty();
        IncidentDecisions.Tick(incident, aware.AddHours(18)).ShouldHaveSingleItem().ShouldBeOfType<IncidentReminderRaised>().Stage.ShouldBe(IncidentStages.EarlyWarning);
        IncidentDecisions.Tick(incident, aware.AddHours(24)).Select(e => e.GetType().Name).ShouldBe(["IncidentDeadlineMissed", "IncidentEscalated"]);
        var (final, _) = IncidentDecisions.Report(incident, rules, IncidentStages.Final, "All done", null, null, Officer, aware.AddHours(30));
        final.ShouldBeNull();
        var notifiedAt = aware.AddHours(40);
        // Recorded later than it was sent: the final report's month runs from when the notification reached the authority.
        var (notification, _) = IncidentDecisions.Report(incident, rules, IncidentStages.Notification, "Initial assessment", "BSI", "BSI-2027-1", Officer,
            notifiedAt.AddHours(5), submittedAt: notifiedAt);
        incident = Incident.Apply(incident, notification!);
        incident.Deadlines.Single(d => d.Stage == IncidentStages.Final).DueAt.ShouldBe(notifiedAt.AddMonths(1));
        IncidentDecisions.Report(incident, rules, IncidentStages.Intermediate, "x", null, null, Officer, notifiedAt, submittedAt: notifiedAt.AddHours(1))
            .Refusal!.Errors![0].Field.ShouldBe("submittedAt");
        IncidentDecisions.Close(incident, "Restored", Officer, notifiedAt).Refusal!.Code.ShouldBe("reports-outstanding");
    }

    [Fact]
    public void an_incident_that_is_not_significant_owes_no_report()
    {
        var aware = new DateTimeOffset(2027, 1, 10, 6, 0, 0, TimeSpan.Zero);
        var incident = Incident.Apply(null, IncidentDecisions.Register(Guid.CreateVersion7(), "tenant", "Phishing mail", "Reported by staff", "phishing", aware, [], Officer, aware).Event!);
        var (assessed, _) = IncidentDecisions.Assess(incident, For("DE"), false, "low", "Nobody clicked", false, false, false, Officer, aware);
        incident = Incident.Apply(incident, assessed!);
        incident.Deadlines.ShouldBeEmpty();
        IncidentDecisions.Close(incident, "Blocked the sender", Officer, aware).Refusal.ShouldBeNull();
    }
}
