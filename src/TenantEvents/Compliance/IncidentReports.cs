using System.Globalization;
using TenantEvents.Infrastructure;

namespace TenantEvents.Compliance;

/// <summary>
/// The document of an incident report at a stage, with what NIS2 Art. 23(4) asks each stage to say: the early warning
/// whether the incident is suspected to be malicious and may have a cross-border impact; the notification an initial
/// assessment (severity, impact); the final report a detailed description, the type of threat or root cause, the
/// mitigation and the cross-border impact. Built from the incident as recorded; a stage not yet submitted is a draft.
/// </summary>
public static class IncidentReports
{
    public sealed record Report(Guid IncidentId, string Stage, string Status, string Entity, string Scope, string Title, string Category,
        DateTimeOffset AwareAt, DateTimeOffset? DueAt, string? RuleId, DateTimeOffset? SubmittedAt, string? Authority, string? Reference,
        bool? Significant, string? Severity, bool SuspectedMalicious, bool CrossBorder, bool PersonalDataBreach, string? Assessment, string Description,
        string? Summary, IReadOnlyList<IncidentReport> EarlierReports, DateTimeOffset GeneratedAt);

    public static Report Build(Incident i, string stage, string entity, DateTimeOffset now)
    {
        var submitted = i.Reports.LastOrDefault(r => r.Stage == stage);
        var deadline = i.Deadlines.LastOrDefault(d => d.Stage == stage);
        return new Report(i.Id, stage, submitted is null ? "draft" : "submitted", entity, i.Scope, i.Title, i.Category, i.AwareAt, deadline?.DueAt,
            deadline?.RuleId, submitted?.At, submitted?.Authority, submitted?.Reference, i.Significant, i.Severity, i.SuspectedMalicious, i.CrossBorder,
            i.PersonalDataBreach, i.Assessment, i.Description, submitted?.Summary, i.Reports.Where(r => r != submitted).ToList(), now);
    }

    public static byte[] Pdf(Report r)
    {
        string T(DateTimeOffset? t) => t?.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) ?? "-";
        var doc = new ReportPdf($"Incident report: {r.Stage} ({r.Status})");
        doc.Facts([
            ("Entity", r.Entity), ("Incident", $"{r.Title} ({r.IncidentId})"), ("Category", r.Category), ("Aware since", T(r.AwareAt)),
            ("Due", T(r.DueAt) + (r.RuleId is null ? "" : $" under {r.RuleId}")), ("Submitted", T(r.SubmittedAt)),
            ("Authority", r.Authority ?? "-"), ("Reference", r.Reference ?? "-"),
            ("Significant", r.Significant switch { true => "yes", false => "no", null => "not assessed" }), ("Severity", r.Severity ?? "-"),
            ("Suspected malicious", r.SuspectedMalicious ? "yes" : "no"), ("Cross-border impact", r.CrossBorder ? "yes" : "no"),
            ("Personal data breach", r.PersonalDataBreach ? "yes" : "no"),
        ]);
        doc.Section("Description", [r.Description]);
        if (r.Assessment is not null) doc.Section("Assessment", [r.Assessment]);
        doc.Section("This report", [r.Summary ?? "(not yet submitted)"]);
        doc.Section("Earlier reports", r.EarlierReports.Select(x => $"{T(x.At)} {x.Stage}: {x.Summary}"));
        return doc.Write();
    }
}
