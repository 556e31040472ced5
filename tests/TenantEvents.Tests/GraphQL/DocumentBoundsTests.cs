using System.Text;
using Microsoft.AspNetCore.Http;
using TenantEvents.GraphQL;

namespace TenantEvents.Tests.GraphQL;

/// <summary>
/// The bounds of a GraphQL document without a host: the token scan before parsing, the cost of the parsed document with
/// each fragment costed once, and the REST-call budget of a running document.
/// </summary>
public class DocumentBoundsTests
{
    private static readonly TenantEventsSchema Schema = CreateSchema();

    private static TenantEventsSchema CreateSchema()
    {
        var schema = new TenantEventsSchema();
        schema.Initialize();
        return schema;
    }

    private static DocumentRefusal? Cost(string query, GraphQLLimits? limits = null) =>
        DocumentCost.Check(Schema, GraphQLParser.Parser.Parse(query), null, limits ?? new GraphQLLimits());

    /// <summary>query { ...F0 }, each fragment spreading the next twice, the last asking for me { subject } (cost 2).</summary>
    public static string FragmentChain(int levels)
    {
        var text = new StringBuilder("query{...F0}");
        for (var i = 0; i < levels; i++) text.Append($"fragment F{i} on Query{{...F{i + 1} ...F{i + 1}}}");
        return text.Append($"fragment F{levels} on Query{{me{{subject}}}}").ToString();
    }

    [Fact]
    public void a_chain_of_sixty_fragments_each_spreading_the_next_twice_is_costed_once_per_fragment_and_refused()
    {
        // 2^61 fields if expanded: this returns only because each fragment is costed once.
        var refusal = Cost(FragmentChain(60), new GraphQLLimits { MaxFragments = 100 });
        refusal.ShouldNotBeNull();
        refusal.Code.ShouldBe("TOO_COMPLEX");
        refusal.Message.ShouldContain("costs more than 1,000,000,000,000,000");
    }

    [Fact]
    public void the_cost_of_a_fragment_chain_is_what_its_expansion_would_cost()
    {
        // F10 = me { subject } = 2; each level doubles: F0 = 2 * 2^10 = 2048 > 2000. One level less is 1024 and passes.
        var refusal = Cost(FragmentChain(10));
        refusal.ShouldNotBeNull();
        refusal.Code.ShouldBe("TOO_COMPLEX");
        refusal.Message.ShouldStartWith("The document costs 2,048 ");
        Cost(FragmentChain(9)).ShouldBeNull();
    }

    [Fact]
    public void fragments_that_spread_each_other_are_refused_as_a_cycle()
    {
        var refusal = Cost("query { ...A } fragment A on Query { me { subject } ...B } fragment B on Query { ...C } fragment C on Query { ...A }");
        refusal.ShouldNotBeNull();
        refusal.Code.ShouldBe("FRAGMENT_CYCLE");
        refusal.Message.ShouldContain("A -> B -> C -> A");
        // Also when no operation uses them.
        Cost("query { me { subject } } fragment X on Query { ...X }").ShouldNotBeNull().Code.ShouldBe("FRAGMENT_CYCLE");
    }

    [Fact]
    public void rest_backed_fields_cost_their_calls_times_the_items_of_the_lists_around_them()
    {
        var tenant = Guid.NewGuid();
        // tenant + organisations + 50 (the default page) children calls.
        var unpaged = Cost($$"""{ tenant(id: "{{tenant}}") { organisations { nodes { children { nodes { id } } } } } }""");
        unpaged.ShouldNotBeNull();
        unpaged.Code.ShouldBe("TOO_MANY_API_CALLS");
        unpaged.Message.ShouldStartWith("The document could make 52 REST calls");
        // With pages of 10: 12 calls.
        Cost($$"""{ tenant(id: "{{tenant}}") { organisations(first: 10) { nodes { children(first: 5) { nodes { id } } } } } }""").ShouldBeNull();
        var limits = new GraphQLLimits { MaxApiCalls = 11 };
        Cost($$"""{ tenant(id: "{{tenant}}") { organisations(first: 10) { nodes { children(first: 5) { nodes { id } } } } } }""", limits)
            .ShouldNotBeNull().Message.ShouldStartWith("The document could make 12 REST calls");
        // A page size given as a variable counts too.
        var document = GraphQLParser.Parser.Parse("query($n: Int) { tenant(id: \"" + tenant + "\") { organisations(first: $n) { nodes { children { nodes { id } } } } } }");
        DocumentCost.Check(Schema, document, new global::GraphQL.Inputs(new Dictionary<string, object?> { ["n"] = 3 }), new GraphQLLimits()).ShouldBeNull();
        // Mutations are REST calls.
        var mutations = string.Concat(Enumerable.Range(0, 6).Select(i => $$"""m{{i}}: approveTenant(id: "{{tenant}}") { id } """));
        Cost("mutation { " + mutations + "}", new GraphQLLimits { MaxApiCalls = 5 }).ShouldNotBeNull().Code.ShouldBe("TOO_MANY_API_CALLS");
    }

    [Fact]
    public void aliases_fragments_and_depth_are_counted_in_the_document_and_refused_with_their_figures()
    {
        var aliases = "{ " + string.Concat(Enumerable.Range(0, 51).Select(i => $"a{i}: me {{ subject }} ")) + "}";
        Cost(aliases).ShouldNotBeNull().Message.ShouldBe("The document has 51 aliased fields; at most 50 are allowed.");
        Cost(FragmentChain(21)).ShouldNotBeNull().Message.ShouldBe("The document defines 22 fragments; at most 20 are allowed.");
        var deep = "{ tenant(id: \"" + Guid.NewGuid() + "\") { organisations(first: 1) { nodes { "
                   + string.Concat(Enumerable.Repeat("children(first: 1) { nodes { ", 8)) + "id" + string.Concat(Enumerable.Repeat(" } }", 8)) + " } } } }";
        var refusal = Cost(deep).ShouldNotBeNull();
        refusal.Code.ShouldBe("TOO_DEEP");
        refusal.Message.ShouldBe("The document nests fields 20 deep; at most 12 are allowed.");
    }

    [Fact]
    public void a_field_repeated_in_one_selection_set_is_refused_before_validation_compares_every_two_of_them()
    {
        Cost("{ " + string.Concat(Enumerable.Repeat("__typename ", 1998)) + "}").ShouldNotBeNull().Message
            .ShouldBe("A selection set repeats __typename more than 4 times; a field or fragment spread may appear at most 4 times in one selection set.");
        Cost("{ me { subject subject subject subject subject } }").ShouldNotBeNull().Code.ShouldBe("TOO_MANY_REPEATS");
        Cost("query { ...A ...A ...A ...A ...A } fragment A on Query { me { subject } }").ShouldNotBeNull().Message.ShouldContain("repeats ...A");
        // Aliases are response keys of their own; four repeats are allowed.
        Cost("{ a: me { subject } b: me { subject } me { subject subject subject subject } }").ShouldBeNull();
    }

    [Fact]
    public void a_clients_standard_introspection_query_passes_and_nested_introspection_lists_do_not()
    {
        Cost(IntrospectionQuery).ShouldBeNull();
        Cost("{ __schema { types { fields { type { fields { name } } } } } }").ShouldBeNull();
        var nested = Cost("{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }").ShouldNotBeNull();
        nested.Code.ShouldBe("TOO_DEEP");
        nested.Message.ShouldContain("introspection lists 4 deep");
    }

    [Fact]
    public void the_scan_counts_tokens_outside_strings_and_comments_and_stops_at_the_limit()
    {
        // { a b ( x : "..." y : """...""" ) }: 12 tokens; braces inside strings and comments are not tokens.
        const string text = "{ a # a comment { { {\n b(x: \"{{{ \\\" }}}\", y: \"\"\" {{ \\\"\"\" }} \"\"\") }";
        DocumentScan.Check(text, 12).ShouldBeNull();
        DocumentScan.Check(text, 11).ShouldNotBeNull().Code.ShouldBe("TOO_MANY_TOKENS");
        DocumentScan.Check("query($n: Int = -12.5e3) { a(n: $n) ...F } # ...", 100).ShouldBeNull();
        DocumentScan.Check(string.Concat(Enumerable.Repeat("me { subject } ", 200_000)), 2000).ShouldNotBeNull()
            .Message.ShouldBe("The document has more than 2000 tokens (names, punctuation and values); at most 2000 are allowed.");
        var nested = DocumentScan.Check(new string('{', 65) + new string('}', 65), 2000).ShouldNotBeNull();
        nested.Code.ShouldBe("TOO_DEEP");
        nested.Message.ShouldContain("at most 64");
    }

    [Fact]
    public async Task a_running_document_makes_no_more_rest_calls_than_its_budget()
    {
        var request = new RequestContext(new DefaultHttpContext(), new GraphQLLimits { MaxApiCalls = 2 });
        (await request.ApiCallAsync(() => Task.FromResult(1), CancellationToken.None)).ShouldBe(1);
        (await request.ApiCallAsync(() => Task.FromResult(2), CancellationToken.None)).ShouldBe(2);
        var ran = false;
        var refused = await Should.ThrowAsync<global::GraphQL.ExecutionError>(() => request.ApiCallAsync(() => Task.FromResult(ran = true), CancellationToken.None));
        refused.Code.ShouldBe("TOO_MANY_API_CALLS");
        ran.ShouldBeFalse();
    }

    private const string IntrospectionQuery = """
        query IntrospectionQuery {
          __schema {
            queryType { name } mutationType { name } subscriptionType { name }
            types { ...FullType }
            directives { name description locations args { ...InputValue } }
          }
        }
        fragment FullType on __Type {
          kind name description
          fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
          inputFields { ...InputValue }
          interfaces { ...TypeRef }
          enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
          possibleTypes { ...TypeRef }
        }
        fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
        fragment TypeRef on __Type {
          kind name
          ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
        }
        """;
}
