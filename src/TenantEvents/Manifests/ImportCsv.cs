using System.Text;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Manifests;

/// <summary>
/// POST /api/tenants/{tenantId}/import: organisations, members and grants from a CSV (RFC 4180, a header row) in one call,
/// however many rows (600 accounts are one request, not 600). The rows become an additive manifest of the tenant, planned
/// and applied as any manifest is (the same decisions, as the caller, the tree in one transaction, all or nothing);
/// ?dryRun=true answers the plan only. Errors name the CSV line.
/// Columns: organisation (a path, required), kind, jurisdiction, member (a user id), principal (user:ID, group:ID or
/// service:ID) with role.
/// </summary>
public static class ImportCsvEndpoint
{
    private static readonly string[] Columns = ["organisation", "kind", "jurisdiction", "member", "principal", "role"];

    [WolverinePost("/api/tenants/{tenantId}/import", OperationId = "ImportCsv")]
    [Authorize(Roles = PlanManifestEndpoint.Roles)]
    public static async Task<IResult> Post(Guid tenantId, HttpContext http, ManifestService manifests, MessageContext context,
        CancellationToken cancellation)
    {
        if (await TenantHttp.InvisibleAsync(http, tenantId, Organisations.Permissions.OrgRead, cancellation) is { } hidden) return hidden;
        var (text, error) = await ManifestHttp.ReadTextAsync(http, cancellation);
        if (error is not null) return error;
        var (rows, problem) = Parse(text!, manifests.Options.MaxOrganisationDepth);
        if (problem is not null) return problem.ToResult();
        await using var session = manifests.Streams.Store.QuerySession(tenantId.ToString());
        var record = await session.LoadAsync<TenantRecord>(tenantId, cancellation);
        if (record is null || record.Shredded) return Problem.NotFound("tenant").ToResult();
        var tenant = await manifests.Streams.ReadAsync(record, cancellation);
        var (manifest, lines) = ToManifest(tenant, rows!);
        var errors = Rules.Check(manifest);
        if (errors.Count > 0)
            return Problem.Validation(errors.Take(100).Select(e => new FieldError(Locate(e.Path, lines), e.Code, e.Detail)).ToList()).ToResult();

        var planned = await manifests.PlanAsync(http, manifest, allowDelete: false, cancellation);
        if (planned.Refusal is { } refusal) return Located(refusal, lines).ToResult();
        // The slug found the tenant of the route, not another that took a released slug (nor a request for a new one).
        if (planned.TenantId != tenantId)
            return new Problem("tenant-not-active", 409, "Only an active tenant imports", "The tenant is not active.").ToResult();
        if (http.Request.Query["dryRun"].ToString() is "true" or "1") return ManifestHttp.PlanResult(manifest, tenantId, planned.Plan!);
        // An import is not the tenant's manifest: it is applied, never recorded in its place.
        var (applied, refused) = await manifests.ApplyAsync(http, context, manifest, planned.Plan!.Digest, allowDelete: false, cancellation, record: false);
        if (refused is not null) return Located(refused, lines).ToResult();
        if (applied!.Failed is { } failed) return Located(failed, lines).With("applied", applied.Done).ToResult();
        return Results.Json(new { rows = rows!.Count, applied = applied.Done, accessVersion = applied.AccessVersion }, Json.Options);
    }

    /// <summary>How many rows one import takes (beyond: split it).</summary>
    public const int MaxRows = 100_000;

    /// <summary>The rows (header names to values), or why the text is not such a CSV.</summary>
    public static (List<(int Line, Dictionary<string, string> Cells)>? Rows, Problem? Problem) Parse(string text, int maxDepth)
    {
        var records = Records(text, MaxRows + 2);
        if (records.Count == 0) return (null, Problem.Validation("csv", "required", "a header row (organisation, kind, jurisdiction, member, principal, role) and rows."));
        var header = records[0].Cells.Select(h => h.Trim().ToLowerInvariant()).ToList();
        var errors = new List<FieldError>();
        foreach (var unknown in header.Where(h => !Columns.Contains(h))) errors.Add(new FieldError("line 1", "unknown-column", $"'{unknown}' is not one of {string.Join(", ", Columns)}."));
        if (!header.Contains("organisation")) errors.Add(new FieldError("line 1", "required", "the organisation column (a path) is required."));
        if (header.Distinct().Count() != header.Count) errors.Add(new FieldError("line 1", "duplicate-column", "each column once."));
        if (errors.Count > 0) return (null, Problem.Validation(errors));
        if (records.Count - 1 > MaxRows)
            return (null, Problem.Validation("csv", "too-many-rows", $"at most {MaxRows:N0} rows in one import; this one has more."));
        var rows = new List<(int, Dictionary<string, string>)>();
        foreach (var (line, cells) in records.Skip(1))
        {
            if (cells.Count == 1 && cells[0].Length == 0) continue; // a blank line
            if (cells.Count != header.Count)
            {
                errors.Add(new FieldError($"line {line}", "column-count", $"has {cells.Count} cells; the header has {header.Count}."));
                continue;
            }
            var row = header.Zip(cells).Where(p => p.Second.Trim().Length > 0).ToDictionary(p => p.First, p => p.Second.Trim());
            // A path no deeper than the tree may be (and so at most that many parents to add for it).
            if (row.GetValueOrDefault("organisation") is { } path && path.Count(c => c == '/') > maxDepth + 1)
            {
                errors.Add(new FieldError($"line {line}", "too-deep", $"names an organisation deeper than {maxDepth} levels below the root."));
                continue;
            }
            rows.Add((line, row));
        }
        return errors.Count > 0 ? (null, Problem.Validation(errors.Take(100).ToList())) : (rows, null);
    }

    /// <summary>RFC 4180 records with the line each starts on (quoted cells may hold commas, quotes and line breaks).</summary>
    /// <summary>At most <paramref name="max"/> records that are not blank (more is refused anyway: none are built past it).</summary>
    private static List<(int Line, List<string> Cells)> Records(string text, int max)
    {
        var records = new List<(int, List<string>)>();
        var cells = new List<string>();
        var cell = new StringBuilder();
        var (line, start, quoted, i) = (1, 1, false, 0);
        if (text.StartsWith('\uFEFF')) i = 1;
        for (; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { cell.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else { if (c == '\n') line++; cell.Append(c); }
                continue;
            }
            switch (c)
            {
                case '"' when cell.Length == 0: quoted = true; break;
                case ',': cells.Add(cell.ToString()); cell.Clear(); break;
                case '\r': break;
                case '\n':
                    cells.Add(cell.ToString());
                    cell.Clear();
                    if (cells.Count > 1 || cells[0].Length > 0) records.Add((start, cells));
                    if (records.Count >= max) return records;
                    cells = [];
                    start = ++line;
                    break;
                default: cell.Append(c); break;
            }
        }
        if (cell.Length > 0 || cells.Count > 0)
        {
            cells.Add(cell.ToString());
            records.Add((start, cells));
        }
        return records;
    }

    /// <summary>An additive manifest of the tenant holding the rows (each path's ancestors too), and the CSV line of each manifest path.</summary>
    public static (TenantManifest Manifest, Dictionary<string, int> Lines) ToManifest(Tenant tenant, List<(int Line, Dictionary<string, string> Cells)> rows)
    {
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        var organisations = new List<ManifestOrganisation>();
        var members = new List<List<string>>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var grants = new List<ManifestGrant>();
        int Organisation(string path, int line)
        {
            if (index.TryGetValue(path, out var at)) return at;
            // Its ancestors first, those not named yet, top down (a loop: a path is bounded, but not by the stack).
            var missing = new Stack<string>();
            for (var p = path; p is not null && path.StartsWith('/') && !index.ContainsKey(p); p = ManifestPaths.ParentOf(p)) missing.Push(p);
            if (missing.Count == 0) missing.Push(path);
            while (missing.TryPop(out var p))
            {
                index[p] = organisations.Count;
                lines[$"$.spec.organisations[{organisations.Count}]"] = line;
                organisations.Add(new ManifestOrganisation(p, null, null, null));
                members.Add([]);
            }
            return index[path];
        }
        foreach (var (line, cells) in rows)
        {
            var path = cells.GetValueOrDefault("organisation") ?? "";
            var i = Organisation(path, line);
            var org = organisations[i];
            if (cells.TryGetValue("kind", out var kind) || cells.TryGetValue("jurisdiction", out _))
            {
                organisations[i] = org = org with { Kind = kind ?? org.Kind, Jurisdiction = cells.GetValueOrDefault("jurisdiction") ?? org.Jurisdiction };
                lines[$"$.spec.organisations[{i}]"] = line;
            }
            if (cells.TryGetValue("member", out var member))
            {
                lines[$"$.spec.organisations[{i}].members[{members[i].Count}]"] = line;
                members[i].Add(member);
            }
            if (cells.TryGetValue("principal", out var principal) || cells.ContainsKey("role"))
            {
                var split = principal?.IndexOf(':') ?? -1;
                lines[$"$.spec.grants[{grants.Count}]"] = line;
                grants.Add(new ManifestGrant(path, new ManifestPrincipal(split > 0 ? principal![..split] : null, split > 0 ? principal![(split + 1)..] : principal),
                    cells.GetValueOrDefault("role")));
            }
        }
        // The root first: what the rows name hangs under it.
        var ordered = organisations.Select((o, i) => (o: o with { Members = members[i].Count > 0 ? members[i] : null }, i))
            .OrderBy(p => p.o.Path?.Count(c => c == '/') ?? 0).ThenBy(p => p.i).ToList();
        var position = new Dictionary<int, int>();
        for (var k = 0; k < ordered.Count; k++) position[ordered[k].i] = k;
        var remapped = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (key, line) in lines)
        {
            var m = System.Text.RegularExpressions.Regex.Match(key, @"^\$\.spec\.organisations\[(\d+)\](.*)$");
            remapped[m.Success ? $"$.spec.organisations[{position[int.Parse(m.Groups[1].Value)]}]{m.Groups[2].Value}" : key] = line;
        }
        var manifest = new TenantManifest(TenantManifest.Version, TenantManifest.TenantKind, new ManifestMetadata(tenant.Slug, null), new TenantSpec(
            tenant.Name, tenant.Template, new ManifestResidency(tenant.Residency.Country, tenant.Residency.Subdivision), null, null,
            ordered.Select(p => p.o).ToList(), null, grants, null, null, null, null, null));
        return (manifest, remapped);
    }

    /// <summary>"line N" for a manifest path made from the CSV (the nearest enclosing one that came from a row).</summary>
    private static string Locate(string path, Dictionary<string, int> lines)
    {
        for (var p = path; p.Length > 1; p = p[..Math.Max(p.LastIndexOf('.'), p.LastIndexOf('['))])
        {
            if (lines.TryGetValue(p, out var line)) return $"line {line}";
            if (Math.Max(p.LastIndexOf('.'), p.LastIndexOf('[')) <= 0) break;
        }
        return path;
    }

    private static Problem Located(Problem problem, Dictionary<string, int> lines)
    {
        if (problem.Extensions.TryGetValue("manifestPath", out var at) && at is string path) problem.With("line", Locate(path, lines));
        return problem.Errors is { Count: > 0 } errors
            ? problem.WithErrors(errors.Select(e => e.Field.StartsWith('$') ? e with { Field = Locate(e.Field, lines) } : e).ToList())
            : problem;
    }
}
