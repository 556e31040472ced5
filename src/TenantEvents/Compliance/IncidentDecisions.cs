using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;

namespace TenantEvents.Compliance;

/// <summary>
/// The rules of an incident, pure: registering, assessing (a significant incident starts the reporting deadlines of the
/// rules that apply: NIS2's early warning at 24 hours and notification at 72 from awareness, CERT-In's report at 6, the
/// GDPR's breach notification at 72), reporting (NIS2's notification starts the final report's month), the job's tick
/// (reminder at a quarter of the window left, then missed and escalated), and closing.
/// </summary>
public static class IncidentDecisions
{
    public static readonly IReadOnlyList<string> Categories =
        ["availability", "confidentiality", "integrity", "ransomware", "phishing", "unauthorised-access", "data-breach", "denial-of-service", "other"];

    public static readonly IReadOnlyList<string> Severities = ["low", "medium", "high", "critical"];

    public static (IncidentRegistered? Event, IReadOnlyList<FieldError> Errors) Register(Guid id, string scope, string? title, string? description,
        string? category, DateTimeOffset? awareAt, IReadOnlyList<Guid> affected, Actor by, DateTimeOffset now)
    {
        var errors = new List<FieldError>();
        TenantRules.Name("title", title, errors);
        TenantRules.Reason("description", description, errors);
        if (category is null || !Categories.Contains(category))
            errors.Add(new FieldError("category", category is null ? "required" : "unknown-category", $"one of {string.Join(", ", Categories)}."));
        var aware = awareAt ?? now;
        if (aware > now) errors.Add(new FieldError("awareAt", "in-the-future", "the time the incident became known, not later than now."));
        if (aware < now.AddYears(-1)) errors.Add(new FieldError("awareAt", "too-old", "at most a year ago."));
        if (errors.Count > 0) return (null, errors);
        return (new IncidentRegistered(id, scope, title!.Trim(), description!.Trim(), category!, aware, affected, by, now), []);
    }

    public static (object? Event, Problem? Refusal) Assess(Incident i, IReadOnlyList<AppliedRule> rules, bool? significant, string? severity,
        string? reasons, bool malicious, bool crossBorder, bool personalData, Actor by, DateTimeOffset now)
    {
        var errors = new List<FieldError>();
        if (significant is null) errors.Add(new FieldError("significant", "required", "whether the incident is significant (NIS2 Art. 23(3))."));
        if (severity is null || !Severities.Contains(severity))
            errors.Add(new FieldError("severity", severity is null ? "required" : "unknown-severity", $"one of {string.Join(", ", Severities)}."));
        TenantRules.Reason("reasons", reasons, errors);
        if (errors.Count > 0) return (null, Problem.Validation(errors));
        if (i.Closed) return (null, new Problem("incident-closed", 409, "Incident closed", "A closed incident is not assessed again."));
        var deadlines = new List<IncidentDeadline>();
        void Add(string stage, DateTimeOffset due, string rule)
        {
            if (i.Deadlines.All(d => d.Stage != stage)) deadlines.Add(new IncidentDeadline(stage, due, rule));
        }
        foreach (var (rule, _) in rules.Where(r => r.Rule.Binding))
        {
            if (rule.Kind == "incident-reporting" && significant == true)
            {
                if (rule.EarlyWarningHours is { } warning) Add(IncidentStages.EarlyWarning, i.AwareAt.AddHours(warning), rule.Id);
                if (rule.NotificationHours is { } notification) Add(IncidentStages.Notification, i.AwareAt.AddHours(notification), rule.Id);
                if (rule.InitialReportHours is { } initial) Add(IncidentStages.Initial, i.AwareAt.AddHours(initial), rule.Id);
            }
            if (rule.Kind == "breach-notification" && personalData && rule.Hours is { } hours)
                Add(IncidentStages.Breach, i.AwareAt.AddHours(hours), rule.Id);
        }
        return (new IncidentAssessed(i.Id, significant!.Value, severity!, reasons!.Trim(), malicious, crossBorder, personalData, deadlines, by, now), null);
    }

    /// <param name="submittedAt">When the report reached the authority (default: now); between awareness and now.</param>
    public static (object? Event, Problem? Refusal) Report(Incident i, IReadOnlyList<AppliedRule> rules, string? stage, string? summary, string? authority,
        string? reference, Actor by, DateTimeOffset now, DateTimeOffset? submittedAt = null)
    {
        var submitted = (submittedAt ?? now).ToUniversalTime();
        var errors = new List<FieldError>();
        if (stage is null || !IncidentStages.All.Contains(stage))
            errors.Add(new FieldError("stage", stage is null ? "required" : "unknown-stage", $"one of {string.Join(", ", IncidentStages.All)}."));
        TenantRules.Reason("summary", summary, errors);
        TenantRules.OptionalText("authority", authority, errors, TenantRules.MaxNameLength);
        TenantRules.OptionalText("reference", reference, errors, 200);
        if (submitted > now || submitted < i.AwareAt)
            errors.Add(new FieldError("submittedAt", "out-of-range", "when the report reached the authority: not before the incident was known, not later than now."));
        if (errors.Count > 0) return (null, Problem.Validation(errors));
        if (i.Closed) return (null, new Problem("incident-closed", 409, "Incident closed", "A closed incident takes no more reports."));
        if (i.Significant is null) return (null, new Problem("incident-not-assessed", 409, "Not assessed", "Assess the incident's significance before reporting."));
        if (stage == IncidentStages.Final && i.Reports.All(r => r.Stage != IncidentStages.Notification) && i.Deadlines.Any(d => d.Stage == IncidentStages.Notification))
            return (null, new Problem("notification-first", 409, "Notification first", "The final report follows the incident notification (NIS2 Art. 23(4)(d))."));
        var deadlines = new List<IncidentDeadline>();
        if (stage == IncidentStages.Notification && i.Deadlines.All(d => d.Stage != IncidentStages.Final))
            foreach (var (rule, _) in rules.Where(r => r.Rule.Binding && r.Rule.Kind == "incident-reporting" && r.Rule.FinalReportMonths is not null))
                if (i.Deadlines.Any(d => d.RuleId == rule.Id))
                {
                    deadlines.Add(new IncidentDeadline(IncidentStages.Final, submitted.AddMonths(rule.FinalReportMonths!.Value), rule.Id));
                    break;
                }
        return (new IncidentReportSubmitted(i.Id, stage!, summary!.Trim(), authority?.Trim(), reference?.Trim(), deadlines, by, now,
            submittedAt is null ? null : submitted), null);
    }

    /// <summary>The job's step: a reminder when a quarter of a window is left, then the deadline missed and escalated.</summary>
    public static IReadOnlyList<object> Tick(Incident i, DateTimeOffset now)
    {
        var events = new List<object>();
        if (i.Closed) return events;
        foreach (var d in i.Deadlines.Where(d => d.MetAt is null && !d.Missed))
        {
            if (now >= d.DueAt)
            {
                events.Add(new IncidentDeadlineMissed(i.Id, d.Stage, d.DueAt, now));
                events.Add(new IncidentEscalated(i.Id, d.Stage, i.Scope == "platform" ? "platform-security-officers" : "tenant-and-platform-administrators", now));
            }
            else if (now >= d.RemindAt && !d.Reminded) events.Add(new IncidentReminderRaised(i.Id, d.Stage, d.DueAt, now));
        }
        return events;
    }

    public static (object? Event, Problem? Refusal) Close(Incident i, string? resolution, Actor by, DateTimeOffset now)
    {
        var errors = new List<FieldError>();
        TenantRules.Reason("resolution", resolution, errors);
        if (errors.Count > 0) return (null, Problem.Validation(errors));
        if (i.Closed) return (null, new Problem("incident-closed", 409, "Incident closed", "The incident is already closed."));
        var outstanding = i.Deadlines.Where(d => d.MetAt is null).Select(d => d.Stage).ToList();
        if (outstanding.Count > 0)
            return (null, new Problem("reports-outstanding", 409, "Reports outstanding",
                $"The incident still owes its {string.Join(", ", outstanding)}; submit them before closing.").With("outstanding", outstanding));
        return (new IncidentClosed(i.Id, resolution!.Trim(), by, now), null);
    }
}
