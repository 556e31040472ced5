using System.Text;
using System.Text.Json;
using global::GraphQL;
using global::GraphQL.SystemTextJson;
using global::GraphQL.Types;
using global::GraphQL.Validation;
using GraphQLParser.AST;
using TenantEvents.Infrastructure;

namespace TenantEvents.GraphQL;

/// <summary>
/// /graphql over the GraphQL-over-HTTP specification: GET (queries only) and POST (application/json), answered as
/// application/graphql-response+json when the client accepts it (a request error is then a 400) or as
/// application/json (always 200 for a well-formed request). Every request is bounded before the work it would cause
/// grows (<see cref="GraphQLLimits"/>): its body while it is read, its tokens before it is parsed, its aliases,
/// fragments, depth, cost and REST calls before it is validated or run (<see cref="DocumentCost"/>), its REST calls
/// and its time while it runs. It runs as the authenticated caller: its fields are REST routes run in process
/// (<see cref="ApiInvoker"/>), each metered like the REST call it is, and all of it stops when the caller leaves.
/// </summary>
public static class GraphQLHttp
{
    public const string Path = "/graphql";
    public const string ResponseType = "application/graphql-response+json";

    private static readonly GraphQLSerializer Serializer = new();
    private static readonly DocumentExecuter Executer = new();
    // The core rules only: cost and depth are bounded before validation, by DocumentCost (GraphQL.NET's complexity rule
    // expands every fragment spread, exponential in a chain of fragments that spread the next one twice).
    private static readonly IValidationRule[] Rules = [.. DocumentValidator.CoreRules];
    // The scan bounds bracket nesting; each bracket is a few AST levels (selection set, field, arguments, values).
    private static readonly GraphQLParser.ParserOptions ParserOptions = new() { MaxDepth = 4 * DocumentScan.MaxNesting + 16 };

    public static void Map(WebApplication app) => app.Map(Path, Handle).RequireAuthorization();

    private sealed record Request(string? Query, string? OperationName, Inputs? Variables, Inputs? Extensions);

    public static async Task Handle(HttpContext http)
    {
        var schema = http.RequestServices.GetRequiredService<TenantEventsSchema>();
        var limits = http.RequestServices.GetRequiredService<TenantEventsOptions>().GraphQL;
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
                if (http.Request.QueryString.Value?.Length > limits.MaxBodyBytes)
                {
                    await Problem(http, TooLarge(414, limits));
                    return;
                }
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
                // Refused on its declared length before a byte is read, or as soon as it grows past the limit.
                if (http.Request.ContentLength > limits.MaxBodyBytes || await ReadAtMostAsync(http.Request.Body, limits.MaxBodyBytes, cancellation) is not { } body)
                {
                    await Problem(http, TooLarge(413, limits));
                    return;
                }
                using var document = JsonDocument.Parse(body);
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

        // Bounded before parsing (tokens, nesting), then on the parsed document before validation (aliases, fragments,
        // depth, cost, REST calls): each refusal is a request error, nothing was run.
        GraphQLDocument parsed;
        try
        {
            if (DocumentScan.Check(request.Query, limits.MaxTokens) is { } tooBig)
            {
                await Answer(http, mediaType, Refused(tooBig.ToError()), cancellation);
                return;
            }
            parsed = GraphQLParser.Parser.Parse(request.Query, ParserOptions);
        }
        catch (GraphQLParser.Exceptions.GraphQLMaxDepthExceededException)
        {
            await Answer(http, mediaType, Refused(new ExecutionError("The document nests too deeply to be read.") { Code = "TOO_DEEP" }), cancellation);
            return;
        }
        catch (GraphQLParser.Exceptions.GraphQLSyntaxErrorException e)
        {
            await Answer(http, mediaType, Refused(new global::GraphQL.Execution.SyntaxError(e)), cancellation);
            return;
        }
        schema.Initialize();
        if (DocumentCost.Check(schema, parsed, request.Variables, limits) is { } refusal)
        {
            await Answer(http, mediaType, Refused(refusal.ToError()), cancellation);
            return;
        }
        if (HttpMethods.IsGet(http.Request.Method) && IsMutation(parsed, request.OperationName))
        {
            http.Response.Headers.Allow = "POST";
            await Problem(http, new Problem("method-not-allowed", 405, "Mutations are sent with POST, never GET."));
            return;
        }

        var result = await Executer.ExecuteAsync(options =>
        {
            options.Schema = schema;
            options.Query = request.Query;
            options.Document = parsed;
            options.OperationName = request.OperationName;
            options.Variables = request.Variables;
            options.Extensions = request.Extensions;
            options.UserContext = new RequestContext(http, limits);
            options.User = http.User;
            options.RequestServices = http.RequestServices;
            options.ValidationRules = Rules;
            // The caller leaving stops the document and its REST calls; so does its time running out (a TIMEOUT error).
            options.CancellationToken = cancellation;
            options.Timeout = limits.Timeout;
            options.TimeoutAction = global::GraphQL.Execution.TimeoutAction.ReturnTimeoutError;
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
        await Answer(http, mediaType, result, cancellation);
    }

    private static ExecutionResult Refused(ExecutionError error) => new() { Errors = [error] };

    private static Problem TooLarge(int status, GraphQLLimits limits) => new("request-too-large", status, "The request is too large",
        $"A GraphQL request (its JSON body, or its query string with GET) is at most {limits.MaxBodyBytes} bytes.");

    /// <summary>The body, or null as soon as it is longer than <paramref name="max"/> bytes (the rest is never read).</summary>
    private static async Task<ReadOnlyMemory<byte>?> ReadAtMostAsync(Stream body, int max, CancellationToken cancellation)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[Math.Min(max + 1, 16 * 1024)];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellation)) > 0)
        {
            if (buffer.Length + read > max) return null;
            buffer.Write(chunk, 0, read);
        }
        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    private static async Task Answer(HttpContext http, string mediaType, ExecutionResult result, CancellationToken cancellation)
    {
        // A request error (the document did not parse, validate or fit its bounds; variables did not coerce): nothing was executed.
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

    private static bool IsMutation(GraphQLDocument document, string? operationName)
    {
        var operations = document.Definitions.OfType<GraphQLOperationDefinition>().ToList();
        var operation = operationName is null ? operations.FirstOrDefault() : operations.FirstOrDefault(o => o.Name?.StringValue == operationName);
        return operation?.Operation == OperationType.Mutation;
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
