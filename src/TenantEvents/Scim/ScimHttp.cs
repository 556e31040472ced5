using System.Text.Json;
using System.Text.Json.Nodes;
using Marten;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;

namespace TenantEvents.Scim;

/// <summary>An error in SCIM's own error schema (RFC 7644 section 3.12).</summary>
public sealed record ScimError(int Status, string? ScimType, string Detail)
{
    public static ScimError NotFound(string what) => new(404, null, $"No {what} with that identifier is visible to you.");
    public static ScimError InvalidValue(string detail) => new(400, "invalidValue", detail);
    public static ScimError InvalidSyntax(string detail) => new(400, "invalidSyntax", detail);
    public static ScimError Uniqueness(string detail) => new(409, "uniqueness", detail);
    public static ScimError Mutability(string detail) => new(400, "mutability", detail);
    public static ScimError PreconditionFailed(long actual) => new(412, null, $"The resource has changed: its version is W/\"{actual}\".");

    /// <summary>Members beyond SCIM's (a quota refusal's figures: quota, used, limit, resetAt).</summary>
    public IReadOnlyDictionary<string, object?>? Extra { get; init; }

    public IResult ToResult()
    {
        var body = new JsonObject
        {
            ["schemas"] = new JsonArray(ScimSchema.ErrorUrn),
            ["status"] = Status.ToString(),
            ["scimType"] = ScimType,
            ["detail"] = Detail,
        };
        foreach (var (key, value) in Extra ?? new Dictionary<string, object?>())
            body[key] = JsonSerializer.SerializeToNode(value, TenantEvents.Infrastructure.Json.Options);
        return new ScimJson(body, Status);
    }
}

/// <summary>A SCIM response: application/scim+json.</summary>
public sealed class ScimJson(JsonNode body, int status = 200, string? etag = null, string? location = null) : IResult
{
    public const string ContentType = "application/scim+json";

    public async Task ExecuteAsync(HttpContext http)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = ContentType + "; charset=utf-8";
        if (etag is not null) http.Response.Headers.ETag = etag;
        if (location is not null) http.Response.Headers.Location = location;
        await using var writer = new Utf8JsonWriter(http.Response.Body);
        body.WriteTo(writer);
        await writer.FlushAsync();
    }
}

public static class ScimHttp
{
    public const string Permission = "scim.provision";
    public const string Roles = $"{Infrastructure.Security.Roles.PlatformAdmin},{Infrastructure.Security.Roles.TenantAdmin},{Infrastructure.Security.Roles.TenantMember}";

    /// <summary>The base of a tenant's SCIM service.</summary>
    public static string Base(Guid tenantId) => $"/api/tenants/{tenantId}/scim/v2";

    /// <summary>
    /// Who may provision: the tenant's SCIM credential (a service account holding scim.provision, as a bearer token or its
    /// long-lived SCIM credential), the tenant's administrators, platform administrators. 404 for any other tenant's
    /// caller; the tenant must exist (and be active to write).
    /// </summary>
    public static async Task<(Actor? Actor, IResult? Refusal)> EnterAsync(HttpContext http, TenantStreams streams, Guid tenantId, bool writing,
        CancellationToken cancellation)
    {
        var caller = http.Caller();
        var allowed = caller.Has(Infrastructure.Security.Roles.PlatformAdmin) || caller.AdministersTenant(tenantId)
                      || (caller.IsService && caller.IsMemberOf(tenantId) && caller.Scopes.Contains(Permission));
        if (!allowed)
            return (null, caller.Actor.TenantId == tenantId
                ? new ScimError(403, null, $"Provisioning needs the {Permission} scope (a SCIM credential of this tenant) or tenant administration.").ToResult()
                : ScimError.NotFound("tenant").ToResult());
        await using var session = streams.Store.QuerySession(tenantId.ToString());
        var tenant = await session.LoadAsync<TenantRecord>(tenantId, cancellation);
        if (tenant is null) return (null, ScimError.NotFound("tenant").ToResult());
        if (tenant.Shredded) return (null, new ScimError(410, null, "The tenant was decommissioned and its data crypto-shredded.").ToResult());
        if (writing && tenant.State != TenantState.Active)
            return (null, new ScimError(409, null, $"The tenant is {TenantHttp.Kebab(tenant.State)}: its directory changes only while it is active.").ToResult());
        return (caller.Actor, null);
    }

    /// <summary>The request body as a JSON object (SCIM clients send application/scim+json or application/json).</summary>
    public static async Task<(JsonObject? Body, IResult? Refusal)> ReadBodyAsync(HttpContext http, CancellationToken cancellation)
    {
        if (http.Request.ContentLength is > 1_000_000) return (null, new ScimError(413, null, "The request body is larger than 1 MB.").ToResult());
        try
        {
            var node = await JsonNode.ParseAsync(http.Request.Body, new JsonNodeOptions { PropertyNameCaseInsensitive = false }, cancellationToken: cancellation);
            return node is JsonObject obj ? (obj, null) : (null, ScimError.InvalidSyntax("The body must be a JSON object.").ToResult());
        }
        catch (JsonException e)
        {
            return (null, ScimError.InvalidSyntax("The body is not valid JSON: " + e.Message).ToResult());
        }
    }

    /// <summary>If-Match: W/"n" or "n" or *; null when absent. A malformed one is a 400.</summary>
    public static bool TryIfMatch(HttpRequest request, out long? version, out IResult? error)
    {
        version = null;
        error = null;
        var header = request.Headers.IfMatch.ToString().Trim();
        if (header.Length == 0 || header == "*") return true;
        var tag = header.StartsWith("W/", StringComparison.Ordinal) ? header[2..] : header;
        if (tag.Length >= 2 && tag[0] == '"' && tag[^1] == '"' && long.TryParse(tag[1..^1], out var v))
        {
            version = v;
            return true;
        }
        error = ScimError.InvalidSyntax("If-Match must be an entity tag as returned in ETag, such as W/\"3\".").ToResult();
        return false;
    }

    public static string ETag(long version) => $"W/\"{version}\"";

    /// <summary>The resource as served: its stored attributes plus id, meta and (for users) groups.</summary>
    public static JsonObject Render(ScimResource resource, ScimSnapshot snapshot, string baseUrl) =>
        Render(resource, resource.Kind == ScimResource.User ? snapshot.GroupsOf(resource.Id) : [], baseUrl);

    /// <summary>A resource as answered, with the groups a user is in given (a search renders outside the directory's lock).</summary>
    public static JsonObject Render(ScimResource resource, IEnumerable<ScimResource> groupsOf, string baseUrl)
    {
        var node = JsonNode.Parse(resource.Body.GetRawText())!.AsObject();
        var output = new JsonObject { ["schemas"] = node["schemas"]?.DeepClone(), ["id"] = resource.Id.ToString() };
        foreach (var (name, value) in node)
            if (name is not "schemas") output[name] = value?.DeepClone();
        if (resource.Kind == ScimResource.User)
        {
            var groups = groupsOf.Select(g => (JsonNode)new JsonObject
            {
                ["value"] = g.Id.ToString(), ["display"] = g.Text("displayName"), ["$ref"] = $"{baseUrl}/Groups/{g.Id}", ["type"] = "direct",
            }).ToArray();
            if (groups.Length > 0) output["groups"] = new JsonArray(groups);
        }
        output["meta"] = new JsonObject
        {
            ["resourceType"] = resource.Kind,
            ["created"] = resource.Created.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"),
            ["lastModified"] = resource.LastModified.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"),
            ["location"] = $"{baseUrl}/{resource.Kind}s/{resource.Id}",
            ["version"] = ETag(resource.Version),
        };
        return output;
    }

    /// <summary>attributes= / excludedAttributes= (RFC 7644 section 3.9): id and schemas are always returned.</summary>
    public static JsonObject Project(JsonObject resource, IReadOnlyList<AttrPath>? attributes, IReadOnlyList<AttrPath>? excluded, ScimSchema schema)
    {
        if (attributes is { Count: > 0 })
        {
            var output = new JsonObject();
            foreach (var (name, value) in resource)
            {
                if (name is "id" or "schemas") { output[name] = value?.DeepClone(); continue; }
                var wanted = attributes.Where(a => Names(a, name, schema)).ToList();
                if (wanted.Count == 0) continue;
                if (wanted.Any(a => a.SubAttribute is null) || value is not JsonObject and not JsonArray) output[name] = value?.DeepClone();
                else output[name] = Subset(value, wanted.Select(a => a.SubAttribute!).ToList());
            }
            return output;
        }
        if (excluded is { Count: > 0 })
        {
            var output = (JsonObject)resource.DeepClone();
            foreach (var a in excluded)
            {
                var name = output.Select(p => p.Key).FirstOrDefault(k => Names(a, k, schema));
                if (name is null || name is "id" or "schemas") continue;
                if (a.SubAttribute is null) output.Remove(name);
                else if (output[name] is JsonObject obj) RemoveSub(obj, a.SubAttribute);
                else if (output[name] is JsonArray array) foreach (var item in array.OfType<JsonObject>()) RemoveSub(item, a.SubAttribute);
            }
            return output;
        }
        return resource;

        static void RemoveSub(JsonObject obj, string sub)
        {
            if (ScimNodes.Key(obj, sub) is { } key) obj.Remove(key);
        }
    }

    private static bool Names(AttrPath path, string property, ScimSchema schema) =>
        path.Schema is { } urn && !schema.IsCore(urn)
            ? property.Equals(urn, StringComparison.OrdinalIgnoreCase) // an extension: its whole object
            : property.Equals(path.Attribute, StringComparison.OrdinalIgnoreCase);

    private static JsonNode? Subset(JsonNode? value, IReadOnlyList<string> subs)
    {
        JsonObject Pick(JsonObject obj)
        {
            var picked = new JsonObject();
            foreach (var (k, v) in obj)
                if (subs.Any(s => s.Equals(k, StringComparison.OrdinalIgnoreCase))) picked[k] = v?.DeepClone();
            return picked;
        }
        return value switch
        {
            JsonObject obj => Pick(obj),
            JsonArray array => new JsonArray(array.Select(i => i is JsonObject o ? (JsonNode)Pick(o) : i?.DeepClone()).ToArray()),
            _ => value?.DeepClone(),
        };
    }

    public static bool TryAttributeList(string? text, out IReadOnlyList<AttrPath>? paths, out IResult? error)
    {
        paths = null;
        error = null;
        if (string.IsNullOrWhiteSpace(text)) return true;
        try
        {
            paths = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(AttrPath.Parse).ToList();
            return true;
        }
        catch (ScimFilterException e)
        {
            error = ScimError.InvalidValue(e.Message).ToResult();
            return false;
        }
    }
}
