using System.Text.Json.Serialization;

namespace TenantEvents.Infrastructure;

/// <summary>One offending field of a request: where, a stable code, and a sentence for a human.</summary>
public sealed record FieldError(string Field, string Code, string Detail);

/// <summary>
/// An RFC 9457 problem. Every error the API returns is one of these, with a stable <see cref="Type"/> per error
/// so that clients can branch on it without parsing prose.
/// </summary>
public sealed class Problem
{
    public const string ContentType = "application/problem+json";
    private const string TypePrefix = "urn:tenantevents:problem:";

    public Problem(string code, int status, string title, string? detail = null)
    {
        Code = code;
        Status = status;
        Title = title;
        Detail = detail;
    }

    [JsonIgnore] public string Code { get; }
    public string Type => TypePrefix + Code;
    public string Title { get; }
    public int Status { get; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Detail { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Instance { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyList<FieldError>? Errors { get; init; }

    /// <summary>Extra members (RFC 9457 section 3.2): current state, version, quota figures and so on.</summary>
    [JsonExtensionData] public Dictionary<string, object?> Extensions { get; } = new();

    public Problem With(string key, object? value)
    {
        Extensions[key] = value;
        return this;
    }

    /// <summary>The same problem with its field errors named differently (e.g. by the manifest's paths).</summary>
    public Problem WithErrors(IReadOnlyList<FieldError> errors)
    {
        var copy = new Problem(Code, Status, Title, Detail) { Errors = errors, Instance = Instance };
        foreach (var (key, value) in Extensions) copy.Extensions[key] = value;
        return copy;
    }

    /// <summary>A problem as a route answered it in JSON (an in-process call, GraphQL.ApiInvoker): type, title, detail, errors, members.</summary>
    public static Problem FromJson(int status, System.Text.Json.JsonElement body)
    {
        if (body.ValueKind != System.Text.Json.JsonValueKind.Object)
            return new Problem(status == 404 ? "not-found" : "bad-request", status, "Request failed");
        string? Text(string name) => body.TryGetProperty(name, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString() : null;
        var type = Text("type") ?? "bad-request";
        var problem = new Problem(type.StartsWith(TypePrefix, StringComparison.Ordinal) ? type[TypePrefix.Length..] : type, status,
            Text("title") ?? "Request failed", Text("detail"))
        {
            Errors = body.TryGetProperty("errors", out var errors) && errors.ValueKind == System.Text.Json.JsonValueKind.Array
                ? System.Text.Json.JsonSerializer.Deserialize<List<FieldError>>(errors, Json.Options) : null,
        };
        foreach (var member in body.EnumerateObject())
            if (member.Name is not ("type" or "title" or "status" or "detail" or "errors" or "instance" or "traceId")) problem.Extensions[member.Name] = member.Value.Clone();
        return problem;
    }

    public static Problem Validation(IReadOnlyList<FieldError> errors) =>
        new("validation-failed", 400, "The request is not valid",
            string.Join(" ", errors.Select(e => $"{e.Field}: {e.Detail}")))
        { Errors = errors };

    public static Problem Validation(string field, string code, string detail) =>
        Validation([new FieldError(field, code, detail)]);

    public static Problem Malformed(string detail) =>
        new("malformed-request", 400, "The request body could not be read", detail);

    public static Problem NotFound(string what) =>
        new("not-found", 404, "Not found", $"No {what} with that identifier is visible to you.");

    public static Problem Unauthenticated(string detail) =>
        new("unauthenticated", 401, "Authentication is required", detail);

    public static Problem Forbidden(string detail) =>
        new("forbidden", 403, "You may not do this", detail);

    /// <summary>
    /// A bound on what one tenant or partner can grow was reached (TenantEventsOptions, README "Limits"): a stable type per
    /// bound, the limit and the setting that holds it in the problem. 409: the request is fine, the state it meets is full.
    /// </summary>
    public static Problem LimitReached(string code, string title, string detail, long limit, string setting, int status = 409) =>
        new Problem(code, status, title, detail).With("limit", limit).With("setting", "TenantEvents:" + setting);

    public static Problem StaleVersion(long expected, long actual) =>
        new Problem("stale-version", 412, "The resource has changed since you read it",
                $"If-Match named version {expected}; the current version is {actual}. Read it again and retry.")
            .With("expectedVersion", expected).With("currentVersion", actual);

    public static Problem Gone() =>
        new("tenant-decommissioned", 410, "The tenant was decommissioned",
            "Its data was crypto-shredded: the events remain in the immutable audit trail but can no longer be read.");

    public static Problem ConcurrentWrite() =>
        new("concurrent-write", 409, "Another write got there first",
            "The resource was changed by a concurrent request. Read it again and retry.");
}

/// <summary>Writes a <see cref="Problem"/> as application/problem+json.</summary>
public sealed class ProblemResult(Problem problem) : IResult, IStatusCodeHttpResult, IValueHttpResult
{
    public Problem Problem { get; } = problem;
    public int? StatusCode => Problem.Status;
    public object? Value => Problem;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        Problem.Instance ??= httpContext.Request.Path;
        httpContext.Response.StatusCode = Problem.Status;
        return httpContext.Response.WriteAsJsonAsync(Problem, Json.Options, Problem.ContentType);
    }
}

public static class ProblemExtensions
{
    public static IResult ToResult(this Problem problem) => new ProblemResult(problem);
}
