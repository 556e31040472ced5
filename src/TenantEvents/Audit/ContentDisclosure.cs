using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using TenantEvents.Organisations;
using TenantEvents.Sharing;
using TenantEvents.Tenants;

namespace TenantEvents.Audit;

/// <summary>What part of a record is content (not metadata), and which rule reveals it.</summary>
public enum ContentGuard
{
    /// <summary>A case file's title, tags, body and entries (the last one in an audit state): case.read at the file's organisation, for the tenant's own people only.</summary>
    CaseFile,

    /// <summary>A person's directory record (SCIM users and groups): identity.manage or scim.provision at the root, the tenant's own people only.</summary>
    People,

    /// <summary>The tenant's contacts: whoever sees the tenant record itself (platform staff, its administrators), or identity.manage at the root.</summary>
    Contacts,

    /// <summary>
    /// Billing (the account's terms, rate cards, budgets and alerts; invoices and credit notes): whoever reads them through
    /// the billing routes (Billing/BillingHttp.cs): platform staff and the tenant's administrators, billing.read at the
    /// document's organisation or above (at the root for the account and the tenant's own invoice).
    /// </summary>
    Billing,

    /// <summary>
    /// Compliance records (an incident's description, assessment and reports; the tenant's processing activities and
    /// security baseline): whoever reads them through the compliance routes (platform staff, the tenant's administrators,
    /// compliance.read at the root).
    /// </summary>
    Compliance,
}

/// <param name="Content">The fields that are content (absent: every field that is not in <paramref name="Keep"/>).</param>
/// <param name="Keep">With <paramref name="Content"/> absent, the fields that stay (identifiers, actor, time).</param>
public sealed record ContentRule(ContentGuard Guard, IReadOnlySet<string>? Content, IReadOnlySet<string>? Keep = null)
{
    public bool IsContent(string field) => Content?.Contains(field) ?? !Keep!.Contains(field);
}

/// <summary>
/// Content disclosure, decided here and nowhere else: per kind of record (the audit trail's stream kinds), which fields
/// are content and which are metadata. Every outbound path shows an event or a state through a
/// <see cref="DisclosureLens"/>: audit entries (JSON, NDJSON, CSV, the export bundle), the tenant's event history, the
/// tenant export, the SSE stream, webhooks, RabbitMQ, and GraphQL (which runs those REST routes as the caller).
/// </summary>
public static class ContentRules
{
    private static readonly IReadOnlySet<string> CaseFileContent = new HashSet<string>(StringComparer.Ordinal) { "title", "tags", "body", "entries", "lastEntry", "text" };
    private static readonly IReadOnlySet<string> PersonKeep = new HashSet<string>(StringComparer.Ordinal)
        { "id", "userId", "groupId", "by", "at", "erased", "withheld" };
    private static readonly IReadOnlySet<string> ContactsContent = new HashSet<string>(StringComparer.Ordinal) { "contacts", "requestedFor" };
    private static readonly IReadOnlySet<string> BillingKeep = new HashSet<string>(StringComparer.Ordinal)
        { "id", "invoiceId", "creditNoteId", "organisationId", "month", "kind", "state", "by", "at", "version", "createdAt", "updatedAt" };

    private static readonly IReadOnlySet<string> RequestKeep = new HashSet<string>(StringComparer.Ordinal)
    {
        "id", "requestId", "kind", "state", "ruleId", "channel", "receivedAt", "firstDueAt", "dueAt", "overdue", "fulfilledAt", "found", "erased",
        "format", "digest", "packageDigest", "disclosures", "by", "at", "version", "createdAt", "updatedAt",
        // What an erasure removed, by id only: what a recipient needs to erase its copies (Art. 19).
        "records", "erasedRecords",
    };
    private static readonly IReadOnlySet<string> IncidentKeep = new HashSet<string>(StringComparer.Ordinal)
    {
        "id", "incidentId", "scope", "category", "state", "awareAt", "significant", "severity", "stage", "dueAt", "deadlines", "suspectedMalicious",
        "crossBorder", "personalDataBreach", "to", "by", "at", "version", "createdAt", "updatedAt",
    };
    private static readonly IReadOnlySet<string> ProfileContent = new HashSet<string>(StringComparer.Ordinal)
        { "activities", "processingActivities", "baseline", "securityBaseline" };

    /// <summary>Fields no outbound path ever carries, whoever asks (credential hashes; the secrets themselves are never stored).</summary>
    public static readonly IReadOnlySet<string> Secrets = new HashSet<string>(StringComparer.Ordinal) { "secretHash" };

    /// <summary>The rule of a stream kind (<see cref="AuditEventTypes.StreamKind"/>); null: nothing in it is content beyond metadata.</summary>
    public static ContentRule? For(string streamKind) => streamKind switch
    {
        "case-file" => new ContentRule(ContentGuard.CaseFile, CaseFileContent),
        "user" or "group" => new ContentRule(ContentGuard.People, null, PersonKeep),
        "tenant" => new ContentRule(ContentGuard.Contacts, ContactsContent),
        "billing" or "invoice" or "credit-note" => new ContentRule(ContentGuard.Billing, null, BillingKeep),
        // A data-subject request's person, and every word written while handling it (reasons, method, notes, what was kept
        // and who was told), are shown to whoever sees the tenant's contacts; the rest is when and what kind.
        "data-subject-request" => new ContentRule(ContentGuard.Contacts, null, RequestKeep),
        "incident" => new ContentRule(ContentGuard.Compliance, null, IncidentKeep),
        "compliance" => new ContentRule(ContentGuard.Compliance, ProfileContent),
        _ => null,
    };
}

/// <summary>
/// What one reader may see of one tenant's content, decided once (per request, or per cycle of a long-lived stream).
/// Withheld fields are removed and named in a "withheld" object with a keyed digest of each value (HMAC-SHA-256 under a
/// key derived from the tenant's data key): the tenant, holding the key, can check a copy of the content against the
/// trail; anyone else cannot confirm a guess. The ledger itself commits to the sealed payloads, so it verifies offline
/// whatever a lens withheld.
/// </summary>
public sealed class DisclosureLens
{
    private readonly Guid _tenant;
    private readonly DataKey _key;
    private readonly bool _people;
    private readonly bool _contacts;
    private readonly bool _allCaseFiles;
    private readonly IReadOnlySet<Guid> _caseFileOrganisations;
    private readonly Func<Guid, CancellationToken, Task<Guid?>> _caseFileOrganisation;
    private readonly Dictionary<Guid, Guid?> _knownFiles = [];
    private readonly Billing.BillingReach _billing;
    private readonly bool _compliance;
    private readonly Func<Guid, CancellationToken, Task<Guid?>> _invoiceOrganisation;
    private readonly Dictionary<Guid, Guid?> _knownInvoices = [];

    internal DisclosureLens(Guid tenant, DataKey key, bool people, bool contacts, bool allCaseFiles, IReadOnlySet<Guid> caseFileOrganisations,
        Func<Guid, CancellationToken, Task<Guid?>> caseFileOrganisation, Billing.BillingReach? billing = null,
        Func<Guid, CancellationToken, Task<Guid?>>? invoiceOrganisation = null, bool compliance = false)
    {
        _compliance = compliance;
        _billing = billing ?? Billing.BillingReach.None;
        _invoiceOrganisation = invoiceOrganisation ?? ((_, _) => Task.FromResult<Guid?>(null));
        _tenant = tenant;
        _key = key;
        _people = people;
        _contacts = contacts;
        _allCaseFiles = allCaseFiles;
        _caseFileOrganisations = caseFileOrganisations;
        _caseFileOrganisation = caseFileOrganisation;
    }

    /// <summary>Whether nothing is withheld from this reader (a tenant administrator).</summary>
    public bool RevealsEverything => _people && _contacts && _allCaseFiles && _billing.All && _compliance;

    /// <summary>A record's state or an event's data, as JSON, with what this reader may not see withheld.</summary>
    public async Task<JsonNode?> ShowAsync(string streamKind, JsonNode? content, CancellationToken cancellation)
    {
        if (content is not JsonObject obj) return content;
        if (obj.Any(p => ContentRules.Secrets.Contains(p.Key)))
        {
            obj = (JsonObject)obj.DeepClone();
            foreach (var secret in ContentRules.Secrets) obj.Remove(secret);
            content = obj;
        }
        if (ContentRules.For(streamKind) is not { } rule) return content;
        if (await RevealsAsync(rule.Guard, obj, streamKind, cancellation)) return content;
        var shown = new JsonObject();
        var withheld = new JsonObject();
        var record = Id(obj, "caseFileId") ?? Id(obj, "creditNoteId") ?? Id(obj, "invoiceId") ?? Id(obj, "userId") ?? Id(obj, "groupId") ?? Id(obj, "tenantId")
                     ?? Id(obj, "id");
        foreach (var (name, value) in obj)
            if (rule.IsContent(name)) withheld[name] = Digest(record, name, value);
            else shown[name] = value?.DeepClone();
        if (withheld.Count == 0) return shown;
        shown["withheld"] = new JsonObject { ["because"] = Because(rule.Guard), ["digests"] = withheld };
        return shown;
    }

    /// <summary>An event's data shown through the lens (serialised as the API serialises it).</summary>
    public async Task<JsonNode?> ShowEventAsync(object data, CancellationToken cancellation) =>
        await ShowAsync(AuditEventTypes.StreamKind(data.GetType()), JsonSerializer.SerializeToNode(data, data.GetType(), Infrastructure.Json.Options),
            cancellation);

    /// <summary>An audit entry with its before and after shown through the lens, and the patch between what is shown.</summary>
    public async Task<AuditEntry> ShowAsync(AuditEntry entry, CancellationToken cancellation)
    {
        var before = await ShowAsync(entry.StreamKind, entry.Before, cancellation);
        var after = await ShowAsync(entry.StreamKind, entry.After, cancellation);
        return ReferenceEquals(before, entry.Before) && ReferenceEquals(after, entry.After)
            ? entry
            : entry with { Before = before, After = after, Patch = Ledger.JsonPatch.Diff(before, after) };
    }

    private async Task<bool> RevealsAsync(ContentGuard guard, JsonObject content, string streamKind, CancellationToken cancellation)
    {
        switch (guard)
        {
            case ContentGuard.Compliance: return _compliance;
            case ContentGuard.Billing:
                if (_billing.All) return true;
                // The account's events of one organisation (its budget, its alerts) to who reads billing there; the rest tenant-wide.
                if (streamKind == "billing") return _billing.TenantWide || Id(content, "organisationId") is { } budgeted && _billing.Organisations.Contains(budgeted);
                // An invoice's organisation: in its draft and its state; its other events name only the invoice.
                var invoiceOrg = Id(content, "organisationId");
                if (invoiceOrg is null && content["seller"] is null && (Id(content, "creditNoteId") ?? Id(content, "invoiceId") ?? Id(content, "id")) is { } document)
                {
                    if (!_knownInvoices.TryGetValue(document, out var found)) _knownInvoices[document] = found = await _invoiceOrganisation(document, cancellation);
                    invoiceOrg = found;
                }
                return _billing.Reads(invoiceOrg);
            case ContentGuard.People: return _people;
            case ContentGuard.Contacts: return _contacts;
            case ContentGuard.CaseFile:
                if (_allCaseFiles) return true;
                if (_caseFileOrganisations.Count == 0) return false;
                if (Id(content, "organisationId") is { } org) return _caseFileOrganisations.Contains(org);
                if ((Id(content, "caseFileId") ?? Id(content, "id")) is not { } file) return false;
                if (!_knownFiles.TryGetValue(file, out var at)) _knownFiles[file] = at = await _caseFileOrganisation(file, cancellation);
                return at is { } o && _caseFileOrganisations.Contains(o);
            default: return false;
        }
    }

    private static Guid? Id(JsonObject content, string name) =>
        content[name] is JsonValue v && v.TryGetValue<string>(out var text) && Guid.TryParse(text, out var id) ? id
        : content[name] is JsonValue g && g.TryGetValue<Guid>(out var guid) ? guid : null;

    /// <summary>Bound to the record: equal values in two records give different digests, so a digest cannot be matched across records.</summary>
    private string Digest(Guid? record, string field, JsonNode? value)
    {
        var text = Encoding.UTF8.GetBytes($"{_tenant:D}\n{record?.ToString("D") ?? "-"}\n{field}\n{value?.ToJsonString() ?? "null"}");
        return $"hmac-sha256:k{_key.Version}:{_key.ContentDigest(text)}";
    }

    private static string Because(ContentGuard guard) => guard switch
    {
        ContentGuard.CaseFile => "case.read at the case file's organisation",
        ContentGuard.People => "identity.manage at the tenant's root",
        ContentGuard.Compliance => "compliance.read at the tenant's root (or the tenant's administrators, or platform staff)",
        ContentGuard.Billing => "billing.read at the document's organisation (the root for the account and the tenant's own invoice)",
        _ => "visibility of the tenant record or identity.manage at the tenant's root",
    };
}

/// <summary>Builds the lens of a reader (from the same rules the routes enforce) or of a downstream system.</summary>
public sealed class ContentDisclosure(TenantDatabases databases, TenantKeyRing keys, TenantEventsOptions options, OrganisationStore organisations)
{
    /// <summary>
    /// The lens of a caller. Case files: exactly what GET case-files/{id} would show the caller of its own tenant's files
    /// (platform staff never see them). People: the tenant's own people holding identity.manage or scim.provision at the
    /// root. Contacts: whoever sees the tenant record (GET /api/tenants/{id}), or identity.manage at the root.
    /// </summary>
    public async Task<DisclosureLens> ForCallerAsync(Caller caller, Guid tenant, CancellationToken cancellation)
    {
        var key = await keys.CurrentAsync(tenant, cancellation);
        var contacts = caller.CanSeeTenant(tenant);
        var own = caller.AdministersTenant(tenant) || caller.IsMemberOf(tenant);
        if (!own || Standing.Of(caller, tenant) is not { } standing)
            return new DisclosureLens(tenant, key, people: false, contacts, allCaseFiles: false, new HashSet<Guid>(), NoFile,
                // Platform staff read every invoice through the billing routes (BillingHttp.CanRead), and so here; and
                // the compliance records through theirs (ComplianceHttp.EnterAsync).
                caller.HasAny(Roles.PlatformWide) ? new Billing.BillingReach(true, true, new HashSet<Guid>()) : null, compliance: contacts);
        var (people, whole, orgs, billing, compliance) = await organisations.ReadAsync(tenant, g =>
        {
            var (w, o) = Visibility.OwnReach(standing, g);
            var p = g.Root is { } root && (standing.Can(g, "identity.manage", root) || standing.Can(g, "scim.provision", root));
            var c = g.Root is { } r && standing.Can(g, Compliance.ComplianceHttp.Read, r);
            return (p, w, o, Billing.BillingHttp.Reach(standing, g), c);
        }, cancellation);
        return new DisclosureLens(tenant, key, people, contacts || people, whole, orgs.ToHashSet(), (file, ct) => CaseFileOrganisationAsync(tenant, file, ct),
            billing, (document, ct) => InvoiceOrganisationAsync(tenant, document, ct), compliance: contacts || compliance);
    }

    /// <summary>
    /// The lens of a downstream system (webhooks, RabbitMQ): metadata only. A subscription is held by a system, not by a
    /// person whose permissions could be checked at each delivery, so content goes out only through the API, to callers
    /// who may read it. A platform subscription (tenant lifecycle) carries what platform staff see of the tenant record.
    /// </summary>
    public async Task<DisclosureLens> DownstreamAsync(Guid tenant, bool platform, CancellationToken cancellation) =>
        new(tenant, await keys.CurrentAsync(tenant, cancellation), people: false, contacts: platform, allCaseFiles: false, new HashSet<Guid>(), NoFile);

    private static Task<Guid?> NoFile(Guid file, CancellationToken cancellation) => Task.FromResult<Guid?>(null);

    private Task<Guid?> CaseFileOrganisationAsync(Guid tenant, Guid file, CancellationToken cancellation) =>
        OrganisationOfAsync("case_files", tenant, file, cancellation);

    private Task<Guid?> InvoiceOrganisationAsync(Guid tenant, Guid document, CancellationToken cancellation) =>
        OrganisationOfAsync("billing_documents", tenant, document, cancellation);

    /// <summary>The organisation a record of the tenant belongs to (its plain column; null for none or the tenant as a whole).</summary>
    private async Task<Guid?> OrganisationOfAsync(string table, Guid tenant, Guid id, CancellationToken cancellation)
    {
        await using var scope = await Infrastructure.Databases.TenantReadScope.OpenAsync(databases, tenant, cancellation);
        await using var read = new NpgsqlCommand($"select org_id from {options.DatabaseSchema}.{table} where tenant_id = $1 and id = $2",
            scope.Connection, scope.Transaction);
        read.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
        read.Parameters.Add(new NpgsqlParameter { Value = id });
        return await read.ExecuteScalarAsync(cancellation) is Guid org ? org : null;
    }
}
