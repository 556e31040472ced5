using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using Wolverine.Http;

namespace TenantEvents.Compliance;

public static class GetComplianceEndpoint
{
    /// <summary>
    /// Which rules of the jurisdiction catalogue apply to the tenant and why (its residency zone, its template), with their
    /// figures and sources, and how the tenant stands against each (compliance.read): a binding rule its settings break is
    /// refused when set, so only advice can show as not followed here.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/compliance", OperationId = "GetCompliance")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, ComplianceStore store, CancellationToken cancellation)
    {
        if (await ComplianceHttp.EnterAsync(http, tenantId, write: false, cancellation) is { } refusal) return refusal;
        var (tenant, rules) = await ComplianceHttp.TenantAsync(store.Streams, tenantId, cancellation);
        if (tenant is null) return Problem.NotFound("tenant").ToResult();
        var profile = await store.LoadProfileAsync(tenantId, cancellation);
        var advice = JurisdictionChecks.Advice(rules, tenant.Settings).ToList();
        var requests = RequestDecisions.Rule(rules);
        return Results.Json(new
        {
            tenantId,
            catalogueVersion = Jurisdictions.Catalogue.Version,
            jurisdiction = new
            {
                country = tenant.Residency.Country, subdivision = tenant.Residency.Subdivision,
                name = Tenants.Residency.Iso3166.Instance.CountryName(tenant.Residency.Country), template = tenant.Template,
            },
            rules = rules.Select(a => new { rule = a.Rule, why = a.Why }),
            dataSubjectRequests = new
            {
                ruleId = requests.Id,
                answerWithin = requests.ResponseMonths is { } m ? $"{m} month(s)" : $"{requests.ResponseDays} days",
                extension = requests.ExtensionMonths is { } em ? $"up to {em} month(s) more, with reasons, announced before the first due date"
                    : requests.ExtensionDays is { } ed ? $"up to {ed} days more, with notice before the first due date"
                    : RequestDecisions.Extendable(requests) ? "a later date announced before the first due date" : "none",
            },
            incidentReporting = rules.Where(a => a.Rule.Kind is "incident-reporting" or "breach-notification")
                .Select(a => new { ruleId = a.Rule.Id, a.Rule.EarlyWarningHours, a.Rule.NotificationHours, a.Rule.FinalReportMonths, a.Rule.InitialReportHours, a.Rule.Hours }),
            findings = rules.Where(a => a.Rule.Kind == "audit-retention").Select(a =>
            {
                var finding = advice.FirstOrDefault(x => x.Rule.Id == a.Rule.Id).Finding;
                return new
                {
                    ruleId = a.Rule.Id, severity = a.Rule.Severity, status = finding is null ? "followed" : "not-followed",
                    detail = finding ?? $"audit retention of {tenant.Settings.AuditRetentionDays} days is within the rule", a.Rule.Advice,
                };
            }),
            securityBaseline = profile.Baseline,
            processingActivities = profile.Activities.Count,
            // What others told this tenant: platform incidents that touch it, erasures at partners of people in files shared with it.
            incidentNotices = profile.IncidentNotices,
            erasureNotices = profile.ErasureNotices,
        }, Json.Options);
    }
}
