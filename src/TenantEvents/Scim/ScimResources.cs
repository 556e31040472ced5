using System.Text.Json;
using System.Text.Json.Nodes;
using TenantEvents.Infrastructure.Security;
using Wolverine.Runtime;

namespace TenantEvents.Scim;

/// <summary>The query of a list or .search: filter, paging, sorting, attribute selection.</summary>
public sealed record ScimQuery(ScimFilter? Filter, int StartIndex, int Count, AttrPath? SortBy, bool Descending,
    IReadOnlyList<AttrPath>? Attributes, IReadOnlyList<AttrPath>? Excluded);

/// <summary>
/// Create, read, replace, patch, delete and list of users and groups (RFC 7644 section 3), shared by both resource
/// types. Every answer is application/scim+json; every error is in SCIM's error schema.
/// </summary>
public static class ScimResources
{
    public const int DefaultCount = 100;
    public const int MaxCount = 1000;
    private const int ParallelScanFrom = 20_000;

    public const string SearchRequestUrn = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

    private static ScimSchema SchemaOf(string kind) => kind == ScimResource.User ? ScimSchema.User : ScimSchema.Group;

    private static (JsonElement? Body, ScimError? Error) Validate(string kind, JsonObject body, ScimSnapshot snapshot, Guid? self) =>
        kind == ScimResource.User ? ScimRules.User(body, snapshot, self) : ScimRules.Group(body, snapshot, self);

    public static async Task<IResult> Create(HttpContext http, Guid tenantId, string kind, ScimStore store, MessageContext context, CancellationToken cancellation)
    {
        var (actor, refusal) = await ScimHttp.EnterAsync(http, store.Streams, tenantId, writing: true, cancellation);
        if (refusal is not null) return refusal;
        var (body, bad) = await ScimHttp.ReadBodyAsync(http, cancellation);
        if (bad is not null) return bad;
        var id = Guid.CreateVersion7();
        var (error, _) = await store.ExecuteAsync(context, tenantId, actor!, snapshot =>
        {
            var (stored, invalid) = Validate(kind, body!, snapshot, null);
            return invalid is not null ? ScimDecision.Refuse(invalid) : ScimDecision.Make(new ScimChange(id, kind, "created", stored));
        }, cancellation);
        if (error is not null) return error.ToResult();
        return await Answer(store, tenantId, id, kind, 201, cancellation);
    }

    public static async Task<IResult> Get(HttpContext http, Guid tenantId, Guid id, string kind, ScimStore store, CancellationToken cancellation)
    {
        var (_, refusal) = await ScimHttp.EnterAsync(http, store.Streams, tenantId, writing: false, cancellation);
        if (refusal is not null) return refusal;
        if (!ScimHttp.TryAttributeList(http.Request.Query["attributes"], out var attributes, out var error)
            || !ScimHttp.TryAttributeList(http.Request.Query["excludedAttributes"], out var excluded, out error)) return error!;
        var baseUrl = ScimHttp.Base(tenantId);
        var found = await store.ReadAsync(tenantId, s => Find(s, id, kind) is { } r ? (r.Version, Json: ScimHttp.Render(r, s, baseUrl)) : default, cancellation);
        if (found.Json is null) return ScimError.NotFound(kind.ToLowerInvariant()).ToResult();
        var etag = ScimHttp.ETag(found.Version);
        if (http.Request.Headers.IfNoneMatch.ToString() is { Length: > 0 } noneMatch && noneMatch.Split(',').Any(t => t.Trim() == etag || t.Trim() == "*"))
        {
            http.Response.Headers.ETag = etag;
            return Results.StatusCode(304);
        }
        return new ScimJson(ScimHttp.Project(found.Json, attributes, excluded, SchemaOf(kind)), 200, etag);
    }

    public static async Task<IResult> Replace(HttpContext http, Guid tenantId, Guid id, string kind, ScimStore store, MessageContext context,
        CancellationToken cancellation) =>
        await Change(http, tenantId, id, kind, store, context, cancellation, async () =>
        {
            var (body, bad) = await ScimHttp.ReadBodyAsync(http, cancellation);
            return (body, bad);
        }, (current, body, snapshot) =>
        {
            // A replace that changes userName keeps the id; an id in the body that differs is a client error.
            if (ScimNodes.Text(body, "id") is { } givenId && givenId != id.ToString())
                return ScimDecision.Refuse(ScimError.Mutability("id cannot change."));
            var (stored, invalid) = Validate(kind, body, snapshot, id);
            return invalid is not null ? ScimDecision.Refuse(invalid) : ScimDecision.Make(new ScimChange(id, kind, "replaced", stored));
        });

    public static async Task<IResult> Patch(HttpContext http, Guid tenantId, Guid id, string kind, ScimStore store, MessageContext context,
        CancellationToken cancellation) =>
        await Change(http, tenantId, id, kind, store, context, cancellation, async () =>
        {
            var (body, bad) = await ScimHttp.ReadBodyAsync(http, cancellation);
            return (body, bad);
        }, (current, request, snapshot) =>
        {
            JsonObject patched;
            try
            {
                patched = ScimPatch.Apply(JsonNode.Parse(current.Body.GetRawText())!.AsObject(), request, SchemaOf(kind));
            }
            catch (ScimPatchException e)
            {
                return ScimDecision.Refuse(e.Error);
            }
            var (stored, invalid) = Validate(kind, patched, snapshot, id);
            if (invalid is not null) return ScimDecision.Refuse(invalid);
            return JsonElementEquals(stored!.Value, current.Body) ? ScimDecision.Make() : ScimDecision.Make(new ScimChange(id, kind, "patched", stored));
        });

    public static async Task<IResult> Delete(HttpContext http, Guid tenantId, Guid id, string kind, ScimStore store, MessageContext context,
        CancellationToken cancellation)
    {
        var (actor, refusal) = await ScimHttp.EnterAsync(http, store.Streams, tenantId, writing: true, cancellation);
        if (refusal is not null) return refusal;
        if (!ScimHttp.TryIfMatch(http.Request, out var expected, out var error)) return error!;
        var (problem, _) = await store.ExecuteAsync(context, tenantId, actor!, snapshot => DeleteDecision(snapshot, id, kind, expected), cancellation);
        return problem is not null ? problem.ToResult() : Results.NoContent();
    }

    /// <summary>A user or group deleted, leaving every group it was a member of (also a data-subject erasure's step).</summary>
    public static ScimDecision DeleteDecision(ScimSnapshot snapshot, Guid id, string kind, long? expected)
    {
        if (Find(snapshot, id, kind) is not { } current) return ScimDecision.Refuse(ScimError.NotFound(kind.ToLowerInvariant()));
        if (expected is { } v && v != current.Version) return ScimDecision.Refuse(ScimError.PreconditionFailed(current.Version));
        var changes = new List<ScimChange> { new(id, kind, "deleted", null) };
        // (From the membership index: a scan of every group would hold the directory's lock, and every sign-in, for it.)
        foreach (var group in snapshot.GroupsOf(id).Where(g => g.Id != id).ToList())
        {
            var node = JsonNode.Parse(group.Body.GetRawText())!.AsObject();
            var members = (JsonArray)node["members"]!;
            foreach (var member in members.Where(m => m is JsonObject o && ScimNodes.Text(o, "value") == id.ToString()).ToList()) members.Remove(member);
            changes.Add(new ScimChange(group.Id, ScimResource.Group, "patched", JsonSerializer.SerializeToElement(node)));
        }
        return new ScimDecision(changes, null);
    }

    public static async Task<IResult> List(HttpContext http, Guid tenantId, string kind, ScimStore store, CancellationToken cancellation)
    {
        var (_, refusal) = await ScimHttp.EnterAsync(http, store.Streams, tenantId, writing: false, cancellation);
        if (refusal is not null) return refusal;
        var q = http.Request.Query;
        if (!TryQuery(q["filter"], q["startIndex"], q["count"], q["sortBy"], q["sortOrder"], q["attributes"], q["excludedAttributes"], out var query, out var error))
            return error!;
        return await Search(store, tenantId, kind, query!, cancellation);
    }

    /// <summary>POST .search (RFC 7644 section 3.4.3): the same query in a body, so that filters stay out of URLs and logs.</summary>
    public static async Task<IResult> SearchPost(HttpContext http, Guid tenantId, string kind, ScimStore store, CancellationToken cancellation)
    {
        var (_, refusal) = await ScimHttp.EnterAsync(http, store.Streams, tenantId, writing: false, cancellation);
        if (refusal is not null) return refusal;
        var (body, bad) = await ScimHttp.ReadBodyAsync(http, cancellation);
        if (bad is not null) return bad;
        if (!ScimNodes.Names(ScimNodes.Property(body!, "schemas"), SearchRequestUrn))
            return ScimError.InvalidValue($"A search request names the schema {SearchRequestUrn}.").ToResult();
        // Strings as they are, numbers as written, arrays of names joined (what the query string would carry).
        string? Text(string name) => ScimNodes.Property(body!, name) switch
        {
            JsonValue v => ScimNodes.Text(v) ?? v.ToJsonString(),
            JsonArray a => string.Join(",", a.Select(x => ScimNodes.Text(x) ?? x?.ToJsonString())),
            _ => null,
        };
        if (!TryQuery(Text("filter"), Text("startIndex"), Text("count"), Text("sortBy"), Text("sortOrder"), Text("attributes"), Text("excludedAttributes"),
                out var query, out var error)) return error!;
        return await Search(store, tenantId, kind, query!, cancellation);
    }

    public static bool TryQuery(string? filter, string? startIndex, string? count, string? sortBy, string? sortOrder, string? attributes, string? excluded,
        out ScimQuery? query, out IResult? error)
    {
        query = null;
        ScimFilter? parsed = null;
        if (!string.IsNullOrWhiteSpace(filter))
        {
            try
            {
                parsed = ScimFilter.Parse(filter);
            }
            catch (ScimFilterException e)
            {
                error = new ScimError(400, "invalidFilter", e.Message).ToResult();
                return false;
            }
        }
        // RFC 7644 section 3.4.2.4: a startIndex below 1 is 1, a negative count is 0; we serve at most MaxCount per page.
        var start = int.TryParse(startIndex, out var s) ? Math.Max(1, s) : 1;
        var take = int.TryParse(count, out var c) ? Math.Clamp(c, 0, MaxCount) : DefaultCount;
        if ((!string.IsNullOrEmpty(startIndex) && !int.TryParse(startIndex, out _)) || (!string.IsNullOrEmpty(count) && !int.TryParse(count, out _)))
        {
            error = ScimError.InvalidValue("startIndex and count are integers.").ToResult();
            return false;
        }
        AttrPath? sort = null;
        if (!string.IsNullOrWhiteSpace(sortBy))
        {
            try { sort = AttrPath.Parse(sortBy); }
            catch (ScimFilterException e) { error = ScimError.InvalidValue(e.Message).ToResult(); return false; }
        }
        if (sortOrder is { Length: > 0 } && sortOrder is not ("ascending" or "descending"))
        {
            error = ScimError.InvalidValue("sortOrder is ascending or descending.").ToResult();
            return false;
        }
        if (!ScimHttp.TryAttributeList(attributes, out var selected, out error) || !ScimHttp.TryAttributeList(excluded, out var dropped, out error)) return false;
        query = new ScimQuery(parsed, start, take, sort, sortOrder == "descending", selected, dropped);
        error = null;
        return true;
    }

    /// <summary>
    /// A list or .search. The directory's lock (the one every sign-in of the tenant takes) is held only to take what the
    /// search reads: the immutable arrays of users or groups (or the index's candidates), and at the end the groups of
    /// the page's users. Filtering, sorting and rendering run outside it, so a scan of a large directory delays no sign-in.
    /// </summary>
    public static async Task<IResult> Search(ScimStore store, Guid tenantId, string kind, ScimQuery query, CancellationToken cancellation)
    {
        var baseUrl = ScimHttp.Base(tenantId);
        var schema = SchemaOf(kind);
        var needsRendered = query.Filter is not null && References(query.Filter, "id", "meta", "groups");
        try
        {
            var snapshot = await store.CurrentAsync(tenantId, cancellation);
            ScimResource[] candidates;
            bool indexed;
            ScimResource[] groups = [];
            lock (snapshot)
            {
                var fromIndex = kind == ScimResource.User && query.Filter is { } f ? Candidates(f, snapshot, schema)?.ToArray() : null;
                indexed = fromIndex is not null;
                candidates = fromIndex ?? (kind == ScimResource.User ? snapshot.UserArray : snapshot.GroupArray);
                if (needsRendered && kind == ScimResource.User) groups = snapshot.GroupArray;
            }
            // A filter on groups/id/meta reads the resource as answered: users' groups from the groups taken above.
            Func<ScimResource, IEnumerable<ScimResource>> groupsOf = _ => [];
            if (needsRendered && kind == ScimResource.User)
            {
                var memberships = new Dictionary<Guid, List<ScimResource>>();
                foreach (var group in groups)
                    foreach (var member in group.MemberIds)
                    {
                        if (!memberships.TryGetValue(member, out var list)) memberships[member] = list = [];
                        list.Add(group);
                    }
                groupsOf = r => memberships.TryGetValue(r.Id, out var list) ? list : [];
            }
            IEnumerable<ScimResource> source = candidates;
            if (query.Filter is { } filter)
                source = needsRendered
                    ? candidates.Where(r => filter.Matches(JsonSerializer.SerializeToElement(ScimHttp.Render(r, groupsOf(r), baseUrl)), schema))
                    // A scan of a large directory uses every core (the stored JSON is read-only, so threads share it safely).
                    : !indexed && candidates.Length > ParallelScanFrom
                        ? candidates.AsParallel().WithCancellation(cancellation).Where(r => filter.Matches(r.Body, schema)).ToList()
                        : candidates.Where(r => filter.Matches(r.Body, schema));
            // Every match is counted (totalResults), but only the page's worth is kept in order: a bounded heap, not a sort.
            var wanted = (long)query.StartIndex - 1 + query.Count;
            var comparer = query.SortBy is { } by ? SortComparer(by, query.Descending, schema) : IdOrder;
            var heap = new PriorityQueue<ScimResource, ScimResource>(Comparer<ScimResource>.Create((x, y) => comparer.Compare(y, x)));
            var total = 0;
            foreach (var r in source)
            {
                total++;
                if (wanted == 0) continue;
                if (heap.Count < wanted) heap.Enqueue(r, r);
                else if (comparer.Compare(r, heap.Peek()) < 0) heap.EnqueueDequeue(r, r);
            }
            var ordered = new List<ScimResource>(heap.Count);
            while (heap.Count > 0) ordered.Add(heap.Dequeue());
            ordered.Reverse();
            var page = ordered.Skip(query.StartIndex - 1).ToList();
            // The page's users' groups, taken under the lock (lookups only); rendered outside it.
            IEnumerable<ScimResource>[] pageGroups;
            lock (snapshot) pageGroups = page.Select(r => (IEnumerable<ScimResource>)(r.Kind == ScimResource.User ? snapshot.GroupsOf(r.Id).ToArray() : [])).ToArray();
            var items = page.Select((r, i) => (JsonNode)ScimHttp.Project(ScimHttp.Render(r, pageGroups[i], baseUrl), query.Attributes, query.Excluded, schema))
                .ToArray();
            return new ScimJson(new JsonObject
            {
                ["schemas"] = new JsonArray(ScimSchema.ListResponseUrn),
                ["totalResults"] = total,
                ["startIndex"] = query.StartIndex,
                ["itemsPerPage"] = items.Length,
                ["Resources"] = new JsonArray(items),
            });
        }
        catch (ScimFilterException e)
        {
            return new ScimError(400, "invalidFilter", e.Message).ToResult();
        }
        catch (AggregateException e) when (e.InnerExceptions.All(x => x is ScimFilterException))
        {
            return new ScimError(400, "invalidFilter", e.InnerExceptions[0].Message).ToResult();
        }
    }

    private static readonly IComparer<ScimResource> IdOrder = Comparer<ScimResource>.Create((a, b) => a.Id.CompareTo(b.Id));

    /// <summary>By the attribute's first value, ignoring case, missing values last; ties by id (a stable page order).</summary>
    private static IComparer<ScimResource> SortComparer(AttrPath by, bool descending, ScimSchema schema) => Comparer<ScimResource>.Create((a, b) =>
    {
        var ka = SortKey(a, by, schema);
        var kb = SortKey(b, by, schema);
        var c = ka is null ? (kb is null ? 0 : 1) : kb is null ? -1 : string.Compare(ka, kb, StringComparison.OrdinalIgnoreCase) * (descending ? -1 : 1);
        return c != 0 ? c : a.Id.CompareTo(b.Id);
    });

    private static string? SortKey(ScimResource resource, AttrPath by, ScimSchema schema)
    {
        if (by.Attribute.Equals("id", StringComparison.OrdinalIgnoreCase)) return resource.Id.ToString();
        if (by.Attribute.Equals("meta", StringComparison.OrdinalIgnoreCase))
            return by.SubAttribute?.Equals("created", StringComparison.OrdinalIgnoreCase) == true ? resource.Created.UtcDateTime.ToString("O") : resource.LastModified.UtcDateTime.ToString("O");
        var values = ScimValues.Of(resource.Body, by, schema);
        return values.Count == 0 ? null : values[0].ValueKind == JsonValueKind.String ? values[0].GetString() : values[0].GetRawText();
    }

    /// <summary>
    /// The users a filter can only match, from the directory's indexes (userName eq / sw, externalId eq, id eq; an and
    /// with one such side; an or of two), or null when the filter needs a scan. The whole filter is still applied to
    /// every candidate: the index narrows, it never decides.
    /// </summary>
    private static IEnumerable<ScimResource>? Candidates(ScimFilter filter, ScimSnapshot snapshot, ScimSchema schema)
    {
        switch (filter)
        {
            case ScimFilter.Compare { Value.ValueKind: System.Text.Json.JsonValueKind.String } c
                when c.Path.SubAttribute is null && (c.Path.Schema is null || schema.IsCore(c.Path.Schema)):
                var text = c.Value.GetString()!;
                var op = c.Op.ToLowerInvariant();
                if (c.Path.Attribute.Equals("userName", StringComparison.OrdinalIgnoreCase))
                    return op switch
                    {
                        "eq" => snapshot.UserNamed(text) is { } id ? [snapshot.Users[id]] : [],
                        "sw" => snapshot.UsersNamedFrom(text),
                        _ => null,
                    };
                if (c.Path.Attribute.Equals("externalId", StringComparison.OrdinalIgnoreCase) && op == "eq")
                    return snapshot.UserWithExternalId(text) is { } ext ? [snapshot.Users[ext]] : [];
                if (c.Path.Attribute.Equals("id", StringComparison.OrdinalIgnoreCase) && op == "eq")
                    return Guid.TryParse(text, out var g) && snapshot.Users.TryGetValue(g, out var user) && user.Id.ToString() == text ? [user] : [];
                return null;
            case ScimFilter.And a:
                return Candidates(a.Left, snapshot, schema) ?? Candidates(a.Right, snapshot, schema);
            case ScimFilter.Or o when Candidates(o.Left, snapshot, schema) is { } left && Candidates(o.Right, snapshot, schema) is { } right:
                return left.Concat(right).DistinctBy(r => r.Id);
            default:
                return null;
        }
    }

    private static bool References(ScimFilter filter, params string[] attributes) => filter switch
    {
        ScimFilter.Compare c => attributes.Contains(c.Path.Attribute, StringComparer.OrdinalIgnoreCase),
        ScimFilter.Present p => attributes.Contains(p.Path.Attribute, StringComparer.OrdinalIgnoreCase),
        ScimFilter.ValuePath v => attributes.Contains(v.Path.Attribute, StringComparer.OrdinalIgnoreCase),
        ScimFilter.And a => References(a.Left, attributes) || References(a.Right, attributes),
        ScimFilter.Or o => References(o.Left, attributes) || References(o.Right, attributes),
        ScimFilter.Not n => References(n.Inner, attributes),
        _ => false,
    };

    private static async Task<IResult> Change(HttpContext http, Guid tenantId, Guid id, string kind, ScimStore store, MessageContext context,
        CancellationToken cancellation, Func<Task<(JsonObject? Body, IResult? Bad)>> read, Func<ScimResource, JsonObject, ScimSnapshot, ScimDecision> decide)
    {
        var (actor, refusal) = await ScimHttp.EnterAsync(http, store.Streams, tenantId, writing: true, cancellation);
        if (refusal is not null) return refusal;
        if (!ScimHttp.TryIfMatch(http.Request, out var expected, out var error)) return error!;
        var (body, bad) = await read();
        if (bad is not null) return bad;
        var (problem, _) = await store.ExecuteAsync(context, tenantId, actor!, snapshot =>
        {
            if (Find(snapshot, id, kind) is not { } current) return ScimDecision.Refuse(ScimError.NotFound(kind.ToLowerInvariant()));
            if (expected is { } v && v != current.Version) return ScimDecision.Refuse(ScimError.PreconditionFailed(current.Version));
            return decide(current, body!, snapshot);
        }, cancellation);
        if (problem is not null) return problem.ToResult();
        return await Answer(store, tenantId, id, kind, 200, cancellation);
    }

    private static async Task<IResult> Answer(ScimStore store, Guid tenantId, Guid id, string kind, int status, CancellationToken cancellation)
    {
        var baseUrl = ScimHttp.Base(tenantId);
        var (version, json) = await store.ReadAsync(tenantId, s => Find(s, id, kind) is { } r ? (r.Version, ScimHttp.Render(r, s, baseUrl)) : (0, null), cancellation);
        if (json is null) return ScimError.NotFound(kind.ToLowerInvariant()).ToResult();
        return new ScimJson(json, status, ScimHttp.ETag(version), status == 201 ? $"{baseUrl}/{kind}s/{id}" : null);
    }

    private static ScimResource? Find(ScimSnapshot snapshot, Guid id, string kind) =>
        kind == ScimResource.User ? snapshot.Users.GetValueOrDefault(id) : snapshot.Groups.GetValueOrDefault(id);

    private static bool JsonElementEquals(JsonElement a, JsonElement b) => JsonNode.DeepEquals(JsonNode.Parse(a.GetRawText()), JsonNode.Parse(b.GetRawText()));
}
