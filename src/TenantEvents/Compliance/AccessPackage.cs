using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;

namespace TenantEvents.Compliance;

/// <summary>
/// What a person gets back for an access (Art. 15) or portability (Art. 20) request: everything the tenant holds about
/// them, as JSON (machine-readable, the portable format), as an HTML page and as a PDF for reading. Only their own
/// records: a case file appears as the passages that name them, an audit entry as its metadata.
/// </summary>
public static class AccessPackage
{
    public static object Build(Tenant tenant, DataSubjectRequest request, PersonRecords found, DateTimeOffset now) => new
    {
        type = "tenantevents.access-package",
        version = 1,
        requestId = request.Id,
        article = RequestKinds.Articles.GetValueOrDefault(request.Kind),
        controller = new { tenantId = tenant.Id, name = tenant.Name },
        subject = new { email = request.Subject.Email, name = request.Subject.Name },
        generatedAt = now,
        identifiers = found.Identifiers,
        counts = found.Counts,
        contacts = found.Contacts,
        directory = found.Directory,
        memberships = found.Memberships,
        grants = found.Grants,
        auditEntries = found.AuditEntries,
        caseFiles = found.CaseFiles,
        notes = new[]
        {
            $"Audit entries are listed as metadata (what was done, when, in which record), the newest {PersonalData.MaxAuditEntries} at most.",
            "Case files are shown as the passages that name you (by address or name, in the title, body, tags or entries), not as whole files; " +
            "where a file is beyond what the person preparing this package may read, it is listed with the number of passages withheld.",
        },
    };

    public static byte[] Json(object package) => JsonSerializer.SerializeToUtf8Bytes(package, Infrastructure.Json.Options);

    public static string Digest(byte[] json) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(json));

    public static string Html(Tenant tenant, DataSubjectRequest request, PersonRecords found, DateTimeOffset now)
    {
        var h = new StringBuilder();
        string E(object? v) => WebUtility.HtmlEncode(Convert.ToString(v, CultureInfo.InvariantCulture) ?? "");
        void Table(string title, string[] heads, IEnumerable<object?[]> rows)
        {
            var list = rows.ToList();
            h.Append("<h2>").Append(E(title)).Append(" (").Append(list.Count).Append(")</h2>");
            if (list.Count == 0) { h.Append("<p>None.</p>"); return; }
            h.Append("<table><thead><tr>");
            foreach (var head in heads) h.Append("<th scope=\"col\">").Append(E(head)).Append("</th>");
            h.Append("</tr></thead><tbody>");
            foreach (var row in list)
            {
                h.Append("<tr>");
                foreach (var cell in row) h.Append("<td>").Append(E(cell is DateTimeOffset d ? d.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) : cell)).Append("</td>");
                h.Append("</tr>");
            }
            h.Append("</tbody></table>");
        }
        h.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Your data held by ").Append(E(tenant.Name)).Append("</title>")
            .Append("<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.4}table{border-collapse:collapse;width:100%}")
            .Append("th,td{border:1px solid #888;padding:.3rem;text-align:left;vertical-align:top}</style></head><body><main>")
            .Append("<h1>Your data held by ").Append(E(tenant.Name)).Append("</h1>")
            .Append("<p>Request ").Append(E(request.Id)).Append(" (").Append(E(RequestKinds.Articles.GetValueOrDefault(request.Kind))).Append(" GDPR) for ")
            .Append(E(request.Subject.Email)).Append(", prepared ").Append(E(now.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture))).Append(".</p>");
        Table("Contact entries", ["Name", "E-mail", "Role", "As"], found.Contacts.Select(c => new object?[] { c.Name, c.Email, c.Role, c.As }));
        Table("Directory records", ["Id", "User name", "External id", "Record"], found.Directory.Select(d => new object?[] { d.Id, d.UserName, d.ExternalId, d.Resource.GetRawText() }));
        Table("Organisation memberships", ["Organisation", "As"], found.Memberships.Select(m => new object?[] { m.OrganisationName ?? m.OrganisationId.ToString(), m.UserId }));
        Table("Roles granted", ["Organisation", "Role", "Granted"], found.Grants.Select(g => new object?[] { g.OrganisationName ?? g.OrganisationId.ToString(), g.Role, g.At }));
        Table("Audit trail entries", ["Time", "What", "Record", "By"], found.AuditEntries.Select(a => new object?[] { a.At, a.Type, $"{a.StreamKind} {a.StreamId}", a.ActorSubject }));
        Table("Case files naming you", ["File", "Where", "Passage"],
            found.CaseFiles.SelectMany(f => f.Mentions.Select(m => new object?[] { f.Id, m.Field, m.Excerpt })));
        h.Append("</main></body></html>");
        return h.ToString();
    }

    public static byte[] Pdf(Tenant tenant, DataSubjectRequest request, PersonRecords found, DateTimeOffset now)
    {
        var doc = new ReportPdf($"Your data held by {tenant.Name}");
        doc.Facts([("Request", request.Id.ToString()), ("Kind", $"{request.Kind} ({RequestKinds.Articles.GetValueOrDefault(request.Kind)} GDPR)"),
            ("Person", request.Subject.Email), ("Prepared", now.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture))]);
        doc.Section($"Contact entries ({found.Contacts.Count})", found.Contacts.Select(c => $"{c.Name} <{c.Email}> {c.Role} ({c.As})"));
        doc.Section($"Directory records ({found.Directory.Count})", found.Directory.Select(d => $"{d.UserName} (id {d.Id}, external id {d.ExternalId})"));
        doc.Section($"Organisation memberships ({found.Memberships.Count})", found.Memberships.Select(m => $"{m.OrganisationName ?? m.OrganisationId.ToString()} as {m.UserId}"));
        doc.Section($"Roles granted ({found.Grants.Count})", found.Grants.Select(g => $"{g.Role} at {g.OrganisationName ?? g.OrganisationId.ToString()} since {g.At:yyyy-MM-dd}"));
        doc.Section($"Audit trail entries ({found.AuditEntries.Count})", found.AuditEntries.Select(a => $"{a.At:yyyy-MM-dd HH:mm} {a.Type} on {a.StreamKind} {a.StreamId}"));
        doc.Section($"Case files naming you ({found.CaseFiles.Count})", found.CaseFiles.SelectMany(f => f.Mentions.Select(m => $"{f.Id} {m.Field}: {m.Excerpt}")));
        return doc.Write();
    }
}
