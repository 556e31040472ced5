namespace TenantEvents.GraphQL;

/// <summary>
/// What one GraphQL request may cost (settings TenantEvents:GraphQL:*, environment TenantEvents__GraphQL__*). Every
/// bound is checked in the order in which the work would grow, each before the work it bounds: the body's bytes while it
/// is read, the document's tokens and nesting before it is parsed, aliases, fragments, depth, cost and REST calls on the
/// parsed document before it is validated or run, REST calls again while it runs.
/// </summary>
public sealed class GraphQLLimits
{
    /// <summary>Largest request body (POST) or query string (GET), in bytes: 413 beyond it, read no further.</summary>
    public int MaxBodyBytes { get; set; } = 100 * 1024;

    /// <summary>Most lexical tokens in a document (names, punctuators, values), counted before it is parsed.</summary>
    public int MaxTokens { get; set; } = 2000;

    /// <summary>Most aliased fields in a document (aliases are how one field is asked for many times).</summary>
    public int MaxAliases { get; set; } = 50;

    /// <summary>Most fragment definitions in a document.</summary>
    public int MaxFragments { get; set; } = 20;

    /// <summary>Deepest nesting of fields (fragments count as the fields they hold).</summary>
    public int MaxDepth { get; set; } = 12;

    /// <summary>
    /// Highest cost of a document: each field costs 1 and each REST-backed field <see cref="DocumentCost.ApiCallCost"/>,
    /// times the items of the lists around it (a list's <c>first</c>, else the REST default page of 50).
    /// </summary>
    public int MaxComplexity { get; set; } = 2000;

    /// <summary>Most REST calls (fields run as REST routes in process) one document may make; each is metered as an API call.</summary>
    public int MaxApiCalls { get; set; } = 50;

    /// <summary>REST calls of one document that run at the same time.</summary>
    public int ApiCallConcurrency { get; set; } = 4;

    /// <summary>How long a document may run before it is stopped with a TIMEOUT error.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    public void Validate()
    {
        if (MaxBodyBytes is < 1024 or > 16 * 1024 * 1024) throw new InvalidOperationException("TenantEvents:GraphQL:MaxBodyBytes must be between 1 KB and 16 MB.");
        if (MaxTokens is < 10 or > 1_000_000) throw new InvalidOperationException("TenantEvents:GraphQL:MaxTokens must be between 10 and 1,000,000.");
        if (MaxAliases < 0 || MaxFragments < 0) throw new InvalidOperationException("TenantEvents:GraphQL:MaxAliases and MaxFragments must not be negative.");
        if (MaxDepth is < 1 or > 64) throw new InvalidOperationException("TenantEvents:GraphQL:MaxDepth must be between 1 and 64.");
        if (MaxComplexity < 1 || MaxApiCalls < 1) throw new InvalidOperationException("TenantEvents:GraphQL:MaxComplexity and MaxApiCalls must be at least 1.");
        if (ApiCallConcurrency is < 1 or > 64) throw new InvalidOperationException("TenantEvents:GraphQL:ApiCallConcurrency must be between 1 and 64.");
        if (Timeout <= TimeSpan.Zero) throw new InvalidOperationException("TenantEvents:GraphQL:Timeout must be more than 0.");
    }
}
