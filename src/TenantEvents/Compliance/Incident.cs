namespace TenantEvents.Compliance;

public static class IncidentStages
{
    public const string EarlyWarning = "early-warning", Notification = "notification", Intermediate = "intermediate", Final = "final-report",
        Initial = "initial-report", Breach = "breach-notification";

    public static readonly IReadOnlyList<string> All = [EarlyWarning, Notification, Intermediate, Final, Initial, Breach];
}

/// <summary>A deadline as the incident tracks it: due, reminded, missed, met (the report's time).</summary>
public sealed record DeadlineState(string Stage, DateTimeOffset DueAt, DateTimeOffset RemindAt, string RuleId, bool Reminded = false, bool Missed = false,
    DateTimeOffset? MetAt = null);

public sealed record IncidentReport(string Stage, string Summary, string? Authority, string? Reference, string By, DateTimeOffset At);

/// <summary>An incident as its stream says it is (the snapshot in compliance_records).</summary>
public sealed class Incident
{
    public Guid Id { get; set; }
    public long Version { get; set; }
    public string Scope { get; set; } = "tenant";
    public string Title { get; set; } = "";
    public string Description { get; set; } = "";
    public string Category { get; set; } = "";
    public DateTimeOffset AwareAt { get; set; }
    public IReadOnlyList<Guid> AffectedTenants { get; set; } = [];
    public string State { get; set; } = "registered";
    public bool? Significant { get; set; }
    public string? Severity { get; set; }
    public string? Assessment { get; set; }
    public bool SuspectedMalicious { get; set; }
    public bool CrossBorder { get; set; }
    public bool PersonalDataBreach { get; set; }
    public List<DeadlineState> Deadlines { get; set; } = [];
    public List<IncidentReport> Reports { get; set; } = [];
    public List<string> Escalations { get; set; } = [];
    public string? Resolution { get; set; }
    public string RegisteredBy { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    public bool Closed => State == "closed";

    /// <summary>A quarter of a deadline's window before it is due: when the reminder is raised.</summary>
    public static DateTimeOffset RemindAt(DateTimeOffset from, DateTimeOffset due) => due - (due - from) / 4;

    public static Incident Apply(Incident? incident, object e)
    {
        var i = incident ?? new Incident();
        switch (e)
        {
            case IncidentRegistered x:
                i.Id = x.IncidentId; i.Scope = x.Scope; i.Title = x.Title; i.Description = x.Description; i.Category = x.Category; i.AwareAt = x.AwareAt;
                i.AffectedTenants = x.AffectedTenants; i.RegisteredBy = x.By.ToString(); i.CreatedAt = i.UpdatedAt = x.At;
                break;
            case IncidentAssessed x:
                i.State = "assessed"; i.Significant = x.Significant; i.Severity = x.Severity; i.Assessment = x.Reasons; i.SuspectedMalicious = x.SuspectedMalicious;
                i.CrossBorder = x.CrossBorder; i.PersonalDataBreach = x.PersonalDataBreach; i.UpdatedAt = x.At;
                foreach (var d in x.Deadlines) i.Deadlines.Add(new DeadlineState(d.Stage, d.DueAt, RemindAt(x.At < d.DueAt ? i.AwareAt : x.At, d.DueAt), d.RuleId));
                break;
            case IncidentReportSubmitted x:
                var submitted = x.SubmittedAt ?? x.At;
                i.Reports.Add(new IncidentReport(x.Stage, x.Summary, x.Authority, x.Reference, x.By.ToString(), submitted));
                for (var n = 0; n < i.Deadlines.Count; n++)
                    if (i.Deadlines[n].Stage == x.Stage && i.Deadlines[n].MetAt is null) i.Deadlines[n] = i.Deadlines[n] with { MetAt = submitted };
                foreach (var d in x.Deadlines) i.Deadlines.Add(new DeadlineState(d.Stage, d.DueAt, RemindAt(submitted, d.DueAt), d.RuleId));
                i.UpdatedAt = x.At;
                break;
            case IncidentReminderRaised x:
                Change(i, x.Stage, d => d with { Reminded = true });
                i.UpdatedAt = x.At;
                break;
            case IncidentDeadlineMissed x:
                Change(i, x.Stage, d => d with { Missed = true, Reminded = true });
                i.UpdatedAt = x.At;
                break;
            case IncidentEscalated x:
                i.Escalations.Add($"{x.Stage} to {x.To}");
                i.UpdatedAt = x.At;
                break;
            case IncidentClosed x:
                i.State = "closed"; i.Resolution = x.Resolution; i.UpdatedAt = x.At;
                break;
        }
        return i;
    }

    private static void Change(Incident i, string stage, Func<DeadlineState, DeadlineState> change)
    {
        var n = i.Deadlines.FindIndex(d => d.Stage == stage && d.MetAt is null);
        if (n >= 0) i.Deadlines[n] = change(i.Deadlines[n]);
    }

    /// <summary>What the compliance job watches: each deadline not met, until it is missed; its reminder until raised.</summary>
    public IEnumerable<(string Name, DateTimeOffset DueAt, DateTimeOffset? RemindAt)> OpenDeadlines() =>
        Closed ? [] : Deadlines.Where(d => d.MetAt is null && !d.Missed).Select(d => (d.Stage, d.DueAt, d.Reminded ? (DateTimeOffset?)null : d.RemindAt));
}
