using System.Text;
using System.Text.Json;
using global::GraphQL;
using global::GraphQL.SystemTextJson;
using global::GraphQL.Types;
using global::GraphQL.Validation;
using global::GraphQL.Validation.Complexity;
using global::GraphQL.Validation.Rules.Custom;
using GraphQLParser.AST;
using TenantEvents.Infrastructure;

namespace TenantEvents.GraphQL;

/// <summary>
/// /graphql over the GraphQL-over-HTTP specification: GET (queries only) and POST (application/json), answered as
/// application/graphql-response+json when the client accepts it (a request error is then a 400) or as
/// application/json (always 200 for a well-formed request). Every operation is bounded in depth and cost, and runs as the
/// authenticated caller: its fields are REST routes run in process (<see cref="ApiInvoker"/>).
/// </summary>
public static class GraphQLHttp
{
    public const string Path = "/graphql";
    public const string ResponseType = "application/graphql-response+json";
    public const int MaxDepth = 12;
    public const int MaxComplexity = 2000;

    private static readonly GraphQLSerializer Serializer = new();
    private static readonly DocumentExecuter Executer = new();
    private static readonly IValidationRule[] Rules =
        [.. DocumentValidator.CoreRules, new ComplexityValidationRule(new ComplexityOptions { MaxDepth = MaxDepth, MaxComplexity = MaxComplexity })];

    public static void Map(WebApplication app) => app.Map(Path, Handle).RequireAuthorization();

    private sealed record Request(string? Query, string? OperationName, Inputs? Variables, Inputs? Extensions);

    public static async Task Handle(HttpContext http)
    {
        var schema = http.RequestServices.GetRequiredService<TenantEventsSchema>();
        var cancellation = http.RequestAborted;
        if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsPost(http.Request.Method))
        {
            http.Response.Headers.Allow = "GET, POST";
            await Problem(http, new Problem("method-not-allowed", 405, "Use GET (queries) or POST (queries and mutations)."));
            return;
        }
        var mediaType = Negotiate(http.Request.Headers.Accept.ToString());
        if (mediaType is null)
        {
            await Problem(http, new Problem("not-acceptable", 406, $"This endpoint answers {ResponseType} or application/json."));
            return;
        }

        Request request;
        try
        {
            if (HttpMethods.IsGet(http.Request.Method))
            {
                var q = http.Request.Query;
                request = new Request(q["query"].ToString() is { Length: > 0 } query ? query : null,
                    q["operationName"].ToString() is { Length: > 0 } op ? op : null,
                    q["variables"].ToString() is { Length: > 0 } v ? Serializer.Deserialize<Inputs>(v) : null,
                    q["extensions"].ToString() is { Length: > 0 } x ? Serializer.Deserialize<Inputs>(x) : null);
            }
            else
            {
                var contentType = http.Request.ContentType ?? "";
                if (!contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase)
                    || (contentType.Contains("charset=", StringComparison.OrdinalIgnoreCase) && !contentType.Contains("charset=utf-8", StringComparison.OrdinalIgnoreCase)))
                {
                    await Problem(http, new Problem("unsupported-media-type", 415, "POST a JSON body: Content-Type application/json (UTF-8)."));
                    return;
                }
                using var document = await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: cancellation);
                request = Parse(document.RootElement);
            }
        }
        catch (Exception e) when (e is JsonException or GraphQLRequestException or InvalidOperationException or FormatException)
        {
            await Problem(http, new Problem("malformed-request", 400, "The request is not a GraphQL request", e.Message));
            return;
        }
        if (request.Query is null)
        {
            await Problem(http, new Problem("malformed-request", 400, "The request is not a GraphQL request", "A query (a string) is required."));
            return;
        }
        if (HttpMethods.IsGet(http.Request.Method) && IsMutation(request.Query, request.OperationName))
        {
            http.Response.Headers.Allow = "POST";
            await Problem(http, new Problem("method-not-allowed", 405, "Mutations are sent with POST, never GET."));
            return;
        }

        var result = await Executer.ExecuteAsync(options =>
        {
            options.Schema = schema;
            options.Query = request.Query;
            options.OperationName = request.OperationName;
            options.Variables = request.Variables;
            options.Extensions = request.Extensions;
            options.UserContext = new RequestContext(http);
            options.User = http.User;
            options.RequestServices = http.RequestServices;
            options.ValidationRules = Rules;
            options.CancellationToken = cancellation;
            options.ThrowOnUnhandledException = false;
            options.UnhandledExceptionDelegate = context =>
            {
                // A bug, not a refusal: logged with its trace id; the caller sees the id, nothing of the data.
                var trace = System.Diagnostics.Activity.Current?.TraceId.ToString() ?? http.TraceIdentifier;
                http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("TenantEvents.GraphQL")
                    .LogError(context.OriginalException, "GraphQL field failed (trace {Trace})", trace);
                context.ErrorMessage = $"Something went wrong on our side (trace id {trace}); this is a bug.";
                return Task.CompletedTask;
            };
        });
        // A request error (the document did not parse or validate, variables did not coerce): nothing was executed.
        http.Response.StatusCode = !result.Executed && mediaType == ResponseType ? 400 : 200;
        http.Response.ContentType = mediaType + "; charset=utf-8";
        await Serializer.WriteAsync(http.Response.Body, result, cancellation);
    }

    private static Request Parse(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object) throw new GraphQLRequestException("The body must be a JSON object.");
        string? Text(string name)
        {
            if (!body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            return v.ValueKind == JsonValueKind.String ? v.GetString() : throw new GraphQLRequestException($"{name} must be a string.");
        }
        Inputs? Map(string name)
        {
            if (!body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            return v.ValueKind == JsonValueKind.Object ? Serializer.Deserialize<Inputs>(v.GetRawText()) : throw new GraphQLRequestException($"{name} must be an object.");
        }
        return new Request(Text("query"), Text("operationName"), Map("variables"), Map("extensions"));
    }

    private sealed class GraphQLRequestException(string message) : Exception(message);

    private static bool IsMutation(string query, string? operationName)
    {
        try
        {
            var document = GraphQLParser.Parser.Parse(query);
            var operations = document.Definitions.OfType<GraphQLOperationDefinition>().ToList();
            var operation = operationName is null ? operations.FirstOrDefault() : operations.FirstOrDefault(o => o.Name?.StringValue == operationName);
            return operation?.Operation == OperationType.Mutation;
        }
        catch (GraphQLParser.Exceptions.GraphQLSyntaxErrorException)
        {
            return false; // the executer reports it
        }
    }

    /// <summary>The response's media type: graphql-response+json when accepted, else application/json (also for */* or none).</summary>
    private static string? Negotiate(string accept)
    {
        if (string.IsNullOrWhiteSpace(accept)) return "application/json";
        var types = accept.Split(',').Select(t => t.Split(';')[0].Trim().ToLowerInvariant()).ToList();
        if (types.Contains(ResponseType)) return ResponseType;
        if (types.Contains("application/json") || types.Contains("*/*") || types.Contains("application/*")) return "application/json";
        return null;
    }

    private static async Task Problem(HttpContext http, Problem problem)
    {
        http.Response.StatusCode = problem.Status;
        http.Response.ContentType = TenantEvents.Infrastructure.Problem.ContentType;
        await http.Response.WriteAsync(JsonSerializer.Serialize(problem, Json.Options), Encoding.UTF8);
    }

    /// <summary>The schema in SDL, as published in graphql/schema.graphql.</summary>
    public static string Sdl(ISchema schema) => schema.Print().ReplaceLineEndings("\n").TrimEnd() + "\n";
}
