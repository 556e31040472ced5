using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Compliance;

public sealed record SetProcessingActivities(IReadOnlyList<ProcessingActivity?>? Activities);

/// <summary>
/// Records of processing (GDPR Art. 30(1)): the tenant's own activities (purposes, categories of people and data, legal
/// basis, recipients, retention: tenant-editable data) beside those the platform knows it performs for the tenant (its
/// directory and access control, its audit trail with the retention in force, case files and the partners they are shared
/// with, event delivery to webhook subscribers), the controller's contacts, transfers by the partners' countries, and the
/// security measures in place (Art. 32). JSON, CSV or PDF.
/// </summary>
public static class ProcessingRecordsEndpoints
{
    private const string Path = "/api/tenants/{tenantId}/compliance";
    public const int MaxActivities = 100;

    [WolverinePut(Path + "/processing-activities", OperationId = "SetProcessingActivities")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static async Task<IResult> Put(Guid tenantId, SetProcessingActivities? command, HttpContext http, ComplianceStore store, CancellationToken cancellation)
    {
        if (await ComplianceHttp.EnterAsync(http, tenantId, write: true, cancellation) is { } refusal) return refusal;
        if (command?.Activities is null) return Problem.Malformed("The body must be a JSON object: {\"activities\": [...]}.").ToResult();
        var errors = new List<FieldError>();
        if (command.Activities.Count > MaxActivities) errors.Add(new FieldError("activities", "too-many", $"at most {MaxActivities}."));
        for (var i = 0; i < command.Activities.Count && errors.Count < 50; i++)
        {
            var a = command.Activities[i];
            var at = $"activities[{i}]";
            if (a is null) { errors.Add(new FieldError(at, "required", "may not be null.")); continue; }
            TenantRules.Name($"{at}.name", a.Name, errors);
            void List(string field, IReadOnlyList<string>? values, bool required)
            {
                if (values is null || values.Count == 0) { if (required) errors.Add(new FieldError($"{at}.{field}", "required", "at least one.")); return; }
                if (values.Count > 20) errors.Add(new FieldError($"{at}.{field}", "too-many", "at most 20."));
                if (values.Any(v => string.IsNullOrWhiteSpace(v) || v.Length > 300 || v.Any(char.IsControl)))
                    errors.Add(new FieldError($"{at}.{field}", "invalid", "each a non-blank text of at most 300 characters."));
            }
            List("purposes", a.Purposes, true);
            List("dataSubjects", a.DataSubjects, true);
            List("dataCategories", a.DataCategories, true);
            List("recipients", a.Recipients, false);
            TenantRules.OptionalText($"{at}.legalBasis", a.LegalBasis, errors, 300);
            TenantRules.OptionalText($"{at}.retention", a.Retention, errors, 300);
        }
        if (command.Activities.Where(a => a?.Name is not null).GroupBy(a => a!.Name.Trim()).Any(g => g.Count() > 1))
            errors.Add(new FieldError("activities", "duplicate-name", "each activity's name once."));
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        if (!TenantHttp.TryExpectedVersion(http.Request, out var expected, out var versionError)) return versionError!;
        await using var tx = await store.Streams.BeginAsync(null, tenantId, cancellation);
        await tx.LockAsync("compliance-profile", cancellation);
        var profile = await store.LoadProfileAsync(tx.Session, tenantId, cancellation);
        if (expected is { } v && v != profile.Version) return Problem.StaleVersion(v, profile.Version).ToResult();
        var activities = command.Activities.Select(a => a! with { Name = a.Name.Trim() }).ToList();
        // The same list again changes nothing (and appends nothing: the profile is read on every administrator's request).
        if (System.Text.Json.JsonSerializer.Serialize(activities, Json.Options) != System.Text.Json.JsonSerializer.Serialize(profile.Activities, Json.Options))
        {
            await store.AppendProfileAsync(tx, profile, [new ProcessingActivitiesSet(activities, http.Caller().Actor, store.Now)], cancellation);
            if (!await tx.TryCommitAsync(cancellation)) return Problem.ConcurrentWrite().ToResult();
        }
        http.Response.Headers.ETag = TenantHttp.ETag(profile.Version);
        return Results.Json(new { activities = profile.Activities, changedAt = profile.ActivitiesChangedAt, changedBy = profile.ActivitiesChangedBy, version = profile.Version },
            Json.Options);
    }

    public sealed record Activity(string Name, string Source, IReadOnlyList<string> Purposes, IReadOnlyList<string> DataSubjects,
        IReadOnlyList<string> DataCategories, string? LegalBasis, IReadOnlyList<string> Recipients, string? Retention);

    [WolverineGet(Path + "/records-of-processing", OperationId = "GetRecordsOfProcessing")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, ComplianceStore store, CancellationToken cancellation)
    {
        if (await ComplianceHttp.EnterAsync(http, tenantId, write: false, cancellation) is { } refusal) return refusal;
        var format = http.Request.Query["format"].ToString() is { Length: > 0 } f ? f : "json";
        if (format is not ("json" or "csv" or "pdf")) return Problem.Validation("format", "unknown-format", "json, csv or pdf.").ToResult();
        var (tenant, rules) = await ComplianceHttp.TenantAsync(store.Streams, tenantId, cancellation);
        if (tenant is null) return Problem.NotFound("tenant").ToResult();
        var profile = await store.LoadProfileAsync(tenantId, cancellation);
        var schema = store.Schema;
        var partners = new List<(Guid Tenant, string Via)>();
        var webhooks = new List<string>();
        await using (var scope = await TenantReadScope.OpenAsync(store.Streams.Databases, tenantId, cancellation))
        {
            await using (var command = Sql.Command(scope.Connection, scope.Transaction,
                             $"select distinct recipient_tenant from {schema}.sharing_agreements where tenant_id = $1 and recipient_tenant <> $1 and state = 'active'", tenantId.ToString()))
            await using (var reader = await command.ExecuteReaderAsync(cancellation))
                while (await reader.ReadAsync(cancellation)) if (Guid.TryParse(reader.GetString(0), out var p)) partners.Add((p, "sharing agreement"));
            await using (var command = Sql.Command(scope.Connection, scope.Transaction,
                             $"select distinct member_tenant from {schema}.collaboration_members where tenant_id = $1 and member_tenant <> $1", tenantId.ToString()))
            await using (var reader = await command.ExecuteReaderAsync(cancellation))
                while (await reader.ReadAsync(cancellation)) if (Guid.TryParse(reader.GetString(0), out var p)) partners.Add((p, "collaboration"));
            await using (var command = Sql.Command(scope.Connection, scope.Transaction,
                             $"select url from {schema}.webhook_subscriptions where tenant_id = $1 and state = 'active' order by url", tenantId.ToString()))
            await using (var reader = await command.ExecuteReaderAsync(cancellation))
                while (await reader.ReadAsync(cancellation)) webhooks.Add(Uri.TryCreate(reader.GetString(0), UriKind.Absolute, out var u) ? u.Host : "(invalid)");
        }
        var transfers = new List<object>();
        foreach (var (partner, via) in partners.DistinctBy(p => p.Tenant))
        {
            var (other, _) = await ComplianceHttp.TenantAsync(store.Streams, partner, cancellation);
            if (other is null) continue;
            var allowed = rules.Where(a => a.Rule.Kind == "transfers").Select(a => a.Rule).FirstOrDefault();
            transfers.Add(new
            {
                recipient = other.Name, tenantId = partner, country = other.Residency.Country, via,
                basis = other.Residency.Country == tenant.Residency.Country ? "same country"
                    : allowed is null ? "no transfer rule catalogued for the tenant's jurisdiction"
                    : allowed.AllowedDestinations!.Contains(other.Residency.Country)
                        ? $"permitted destination under {allowed.Id}" + (allowed.Conditions?.GetValueOrDefault(other.Residency.Country) is { } condition ? $", for {condition} only" : "")
                    : $"third country under {allowed.Id}: needs Art. 46 safeguards",
            });
        }
        var platform = new List<Activity>
        {
            new("Identity and access management", "platform", ["sign-in of the tenant's people", "access control by organisation and role"],
                ["the tenant's users"], ["directory records (SCIM)", "sign-in identifiers", "organisation memberships", "role grants"], null,
                ["the tenant's identity provider"], "while the person is in the directory; erased on request"),
            new("Audit trail", "platform", ["accountability", "security monitoring", "legal claims"], ["the tenant's users", "the tenant's contacts"],
                ["actions taken, with the actor's identifier and time", "before and after states"],
                "GDPR Art. 6(1)(c) (a legal obligation to keep records) or 6(1)(f) (the security of the service): the tenant states which",
                [], $"{tenant.Settings.AuditRetentionDays} days (the tenant's audit retention)"),
            new("Tenant administration", "platform", ["contacting the tenant's responsible people"], ["the tenant's contacts"], ["name", "e-mail", "role"], null, [],
                "while a contact; erased on request"),
        };
        if (tenant.Settings.Features.Contains("case-files"))
            platform.Add(new Activity("Case files", "platform", ["the tenant's case work"], ["people named in case files"], ["case file text"], null,
                partners.Select(p => $"partner tenant {p.Tenant} ({p.Via})").Distinct().ToList(), "as the tenant decides; redacted on erasure"));
        if (webhooks.Count > 0)
            platform.Add(new Activity("Event delivery", "platform", ["informing the tenant's connected systems"], ["the tenant's users", "the tenant's contacts"],
                ["event content the subscription may see"], null, webhooks.Distinct().Select(h => $"webhook subscriber at {h}").ToList(), "delivered, then kept as the audit trail"));
        var activities = platform.Concat(profile.Activities.Select(a => new Activity(a.Name, "tenant", a.Purposes, a.DataSubjects, a.DataCategories, a.LegalBasis,
            a.Recipients ?? [], a.Retention))).ToList();
        var measures = new List<string>
        {
            "Each tenant's data sealed under its own keys (AES-256-GCM), each person's under a key of their own (erasure by key destruction)",
            "Row-level security in the database per tenant; residency " + tenant.Residency,
            "Tamper-evident audit ledger (RFC 9162 Merkle log) that verifies offline",
        };
        if (profile.Baseline.RequiredAmr.Count > 0 || profile.Baseline.RequiredAcr.Count > 0) measures.Add("Required sign-in strength: " +
            string.Join(", ", profile.Baseline.RequiredAcr.Concat(profile.Baseline.RequiredAmr)));
        if (profile.Baseline.AdminNetworks.Count > 0) measures.Add("Administration only from " + string.Join(", ", profile.Baseline.AdminNetworks));
        if (profile.Baseline.KeyRotationDays is { } days) measures.Add($"Data key rotated at least every {days} days");
        var record = new
        {
            controller = new { tenantId, name = tenant.Name, contacts = tenant.Contacts.Where(c => !c.Erased).Select(c => new { c.Name, c.Email, c.Role }) },
            generatedAt = store.Now, activities, transfers, securityMeasures = measures, changedAt = profile.ActivitiesChangedAt, changedBy = profile.ActivitiesChangedBy,
        };
        switch (format)
        {
            case "csv":
                var csv = new StringBuilder("name,source,purposes,dataSubjects,dataCategories,legalBasis,recipients,retention\r\n");
                foreach (var a in activities)
                    csv.Append(CsvText.Row([a.Name, a.Source, string.Join("; ", a.Purposes), string.Join("; ", a.DataSubjects), string.Join("; ", a.DataCategories),
                        a.LegalBasis, string.Join("; ", a.Recipients), a.Retention]));
                return Results.Text(csv.ToString(), "text/csv; charset=utf-8");
            case "pdf":
                var pdf = new ReportPdf($"Records of processing: {tenant.Name}");
                pdf.Facts([("Controller", tenant.Name), ("Generated", store.Now.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture))]);
                foreach (var a in activities)
                    pdf.Section($"{a.Name} ({a.Source})", [
                        "Purposes: " + string.Join("; ", a.Purposes), "People: " + string.Join("; ", a.DataSubjects), "Data: " + string.Join("; ", a.DataCategories),
                        "Legal basis: " + (a.LegalBasis ?? "-"), "Recipients: " + (a.Recipients.Count == 0 ? "-" : string.Join("; ", a.Recipients)), "Retention: " + (a.Retention ?? "-")]);
                pdf.Section("Security measures", measures);
                return Results.File(pdf.Write(), "application/pdf", "records-of-processing.pdf");
            default:
                return Results.Json(record, Json.Options);
        }
    }
}
