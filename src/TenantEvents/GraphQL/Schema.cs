using System.Globalization;
using System.Text.Json;
using global::GraphQL;
using global::GraphQL.Types;
using GraphQLParser.AST;

namespace TenantEvents.GraphQL;

/// <summary>A read model as REST returned it, with the tenant it belongs to (so nested fields can follow it).</summary>
public sealed record Node(Guid TenantId, JsonElement Json);

/// <summary>One page of a connection: the nodes, and where the next page starts (null: this is the last).</summary>
public sealed record Page(IReadOnlyList<Node> Nodes, string? EndCursor);

/// <summary>
/// The request a GraphQL operation runs for (its caller's identity, services and cancellation), and what its REST calls
/// may still spend: at most <see cref="GraphQLLimits.MaxApiCalls"/> of them (the static bound's backstop, for lists longer
/// than it could know), <see cref="GraphQLLimits.ApiCallConcurrency"/> at a time.
/// </summary>
public sealed class RequestContext(HttpContext http, GraphQLLimits limits) : Dictionary<string, object?>
{
    private readonly SemaphoreSlim _running = new(limits.ApiCallConcurrency, limits.ApiCallConcurrency);
    private int _calls;

    public HttpContext Http { get; } = http;

    /// <summary>Runs one REST call of the document when its budget allows and its turn comes; refused beyond the budget.</summary>
    public async Task<T> ApiCallAsync<T>(Func<Task<T>> call, CancellationToken cancellation)
    {
        if (Interlocked.Increment(ref _calls) > limits.MaxApiCalls)
            throw new ExecutionError($"This document has made its {limits.MaxApiCalls} REST calls; no more are run for it. Ask for smaller pages (first) or fewer fields.")
                { Code = "TOO_MANY_API_CALLS" };
        await _running.WaitAsync(cancellation);
        try
        {
            return await call();
        }
        finally
        {
            _running.Release();
        }
    }
}

/// <summary>Any JSON value, as the REST API returns it (quotas, settings, audit states, agreements).</summary>
public sealed class JsonGraphType : ScalarGraphType
{
    public JsonGraphType()
    {
        Name = "JSON";
        Description = "A JSON value exactly as the REST API returns it.";
    }

    public override object? ParseValue(object? value) => value;

    public override object? ParseLiteral(GraphQLValue value) => value switch
    {
        GraphQLNullValue => null,
        GraphQLBooleanValue b => b.BoolValue,
        GraphQLIntValue i => long.Parse(i.Value.Span, CultureInfo.InvariantCulture),
        GraphQLFloatValue f => double.Parse(f.Value.Span, CultureInfo.InvariantCulture),
        GraphQLStringValue s => s.Value.ToString(),
        GraphQLEnumValue e => e.Name.StringValue,
        GraphQLListValue l => l.Values?.Select(ParseLiteral).ToList() ?? [],
        GraphQLObjectValue o => o.Fields?.ToDictionary(f => f.Name.StringValue, f => ParseLiteral(f.Value)) ?? [],
        _ => ThrowLiteralConversionError(value),
    };

    public override object? Serialize(object? value) => value;
}

/// <summary>How fields read their data: a REST route run as the caller; a refusal becomes the field's error.</summary>
public static class Rest
{
    /// <summary>
    /// The REST route, run as the caller within the document's budget: metered and fair-shared like the REST call it is
    /// (<see cref="ApiInvoker"/>), and cancelled with the request (the caller left, or the document's time ran out).
    /// </summary>
    public static async Task<JsonElement> Call(IResolveFieldContext context, string method, string path, object? body = null)
    {
        var request = (RequestContext)context.UserContext;
        var http = request.Http;
        var invoker = http.RequestServices.GetRequiredService<ApiInvoker>();
        var reply = await request.ApiCallAsync(() => invoker.SendAsync(http, method, path, body, context.CancellationToken), context.CancellationToken);
        if (!reply.Ok) throw Error(reply);
        return reply.Body;
    }

    /// <summary>Resolves the field with REST calls: marked so that the document's cost counts it as one (<see cref="DocumentCost"/>).</summary>
    public static global::GraphQL.Builders.FieldBuilder<TSource, object> ResolveRest<TSource>(
        this global::GraphQL.Builders.FieldBuilder<TSource, object> field, Func<IResolveFieldContext<TSource>, Task<object?>> resolve) =>
        field.WithMetadata(DocumentCost.RestBacked, true).ResolveAsync(resolve);

    public static Task<JsonElement> Get(IResolveFieldContext context, string path) => Call(context, "GET", path);

    /// <summary>A problem as a GraphQL error: its detail, and its stable code and status in the extensions.</summary>
    public static ExecutionError Error(ApiReply reply)
    {
        var body = reply.Body;
        string? Text(string name) => body.ValueKind == JsonValueKind.Object && body.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        var code = Text("type") is { } type ? type[(type.LastIndexOf(':') + 1)..] : "error";
        var error = new ExecutionError(Text("detail") ?? Text("title") ?? "The request failed.") { Code = code.ToUpperInvariant().Replace('-', '_') };
        error.Data["status"] = reply.Status;
        if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("errors", out var fields)) error.Data["fields"] = fields;
        return error;
    }

    /// <summary>The limit and cursor of a page request (first, after), as REST query parameters.</summary>
    public static string Paging(IResolveFieldContext context, string cursorName = "cursor")
    {
        var parts = new List<string>();
        if (context.GetArgument<int?>("first") is { } first) parts.Add("limit=" + first.ToString(CultureInfo.InvariantCulture));
        if (context.GetArgument<string?>("after") is { Length: > 0 } after) parts.Add(cursorName + "=" + Uri.EscapeDataString(after));
        return string.Join("&", parts);
    }

    public static string Join(string path, params string?[] query)
    {
        var q = string.Join("&", query.Where(p => !string.IsNullOrEmpty(p)));
        return q.Length == 0 ? path : path + (path.Contains('?') ? "&" : "?") + q;
    }

    public static Page ItemsPage(Guid tenant, JsonElement body) => new(
        body.GetProperty("items").EnumerateArray().Select(e => new Node(tenant, e)).ToList(),
        body.TryGetProperty("nextCursor", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null);

    public static object? Value(JsonElement json, string name) =>
        json.ValueKind == JsonValueKind.Object && json.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Number => v.TryGetInt64(out var l) ? (object)l : v.GetDouble(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Null or JsonValueKind.Undefined => null,
            _ => v,
        } : null;

    public static void Connection<TNode>(this ObjectGraphType<Node> type, string name, string description,
        Func<IResolveFieldContext<Node>, Task<Page>> resolve, params (string Name, Type GraphType)[] filters) where TNode : IGraphType
    {
        var field = type.Field<NonNullGraphType<ConnectionType<TNode>>>(name).Description(description)
            .Argument<IntGraphType>("first", "How many (1 to the service's page size; its default if absent).")
            .Argument<StringGraphType>("after", "The endCursor of the page before.");
        foreach (var (filter, graphType) in filters) field = field.Argument(graphType, filter);
        field.ResolveRest(async c => await resolve(c));
    }
}

/// <summary>A page of nodes and where the next begins.</summary>
public sealed class ConnectionType<TNode> : ObjectGraphType<Page> where TNode : IGraphType
{
    public ConnectionType()
    {
        var nodeName = typeof(TNode).Name.Replace("GraphType", "").Replace("Type", "");
        Name = nodeName + "Connection";
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<TNode>>>>("nodes").Resolve(c => c.Source.Nodes);
        Field<NonNullGraphType<PageInfoType>>("pageInfo").Resolve(c => c.Source);
    }
}

public sealed class PageInfoType : ObjectGraphType<Page>
{
    public PageInfoType()
    {
        Name = "PageInfo";
        Field<NonNullGraphType<BooleanGraphType>>("hasNextPage").Resolve(c => c.Source.EndCursor is not null);
        Field<StringGraphType>("endCursor").Resolve(c => c.Source.EndCursor);
    }
}

/// <summary>Fields read straight from the REST shape.</summary>
public abstract class JsonObjectType : ObjectGraphType<Node>
{
    protected void Str(string name, bool required = false, string? description = null)
    {
        if (required) Field<NonNullGraphType<StringGraphType>>(name).Description(description).Resolve(c => Rest.Value(c.Source.Json, name)?.ToString());
        else Field<StringGraphType>(name).Description(description).Resolve(c => Rest.Value(c.Source.Json, name)?.ToString());
    }

    protected void Id(string name, bool required = false)
    {
        if (required) Field<NonNullGraphType<IdGraphType>>(name).Resolve(c => Rest.Value(c.Source.Json, name)?.ToString());
        else Field<IdGraphType>(name).Resolve(c => Rest.Value(c.Source.Json, name)?.ToString());
    }

    protected void Long(string name) => Field<LongGraphType>(name).Resolve(c => Rest.Value(c.Source.Json, name) is long l ? l : null);

    protected void Json(string name, string? description = null) =>
        Field<JsonGraphType>(name).Description(description).Resolve(c =>
            c.Source.Json.ValueKind == JsonValueKind.Object && c.Source.Json.TryGetProperty(name, out var v) ? v : (object?)null);
}
