using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.GraphQL;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Quotas;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.GraphQL;

/// <summary>
/// /graphql from an attacker's side (a tenant's own administrator with a small document and a lot of time): every
/// document is refused before the work it would cause grows, with an error that says which bound and by how much;
/// every REST-backed field is the API call it is; a caller who has left gets nothing run.
/// </summary>
public class GraphQLBoundsTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private QuotaLedger Ledger => Fixture.Host.Services.GetRequiredService<QuotaLedger>();

    private static async Task<Reply> Gql(HttpClient client, string query, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/graphql")
        {
            Content = content ?? new StringContent(JsonSerializer.Serialize(new { query }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd(GraphQLHttp.ResponseType);
        using var response = await client.SendAsync(request);
        return new Reply(response.StatusCode, response.Headers, response.Content.Headers, await response.Content.ReadAsStringAsync());
    }

    /// <summary>A request error: 400, no data, one error with this code; its message.</summary>
    private static string Refused(Reply reply, string code)
    {
        reply.Status.ShouldBe(HttpStatusCode.BadRequest, reply.Body);
        reply.Json.TryGetProperty("data", out _).ShouldBeFalse(reply.Body);
        var error = reply.Json.GetProperty("errors").EnumerateArray().ShouldHaveSingleItem();
        error.GetProperty("extensions").GetProperty("code").GetString().ShouldBe(code, reply.Body);
        var message = error.GetProperty("message").GetString()!;
        message.ShouldNotContain("bug");
        return message;
    }

    private async Task<long> ApiCallsUsedToday(Guid tenant)
    {
        await Ledger.FlushAsync(default);
        var usage = (await Admin.Get($"/api/tenants/{tenant}/quotas")).ShouldBe(HttpStatusCode.OK);
        return usage.Json.GetProperty("quotas").EnumerateArray().Single(q => q.GetProperty("kind").GetString() == QuotaKinds.ApiCallsPerDay)
            .GetProperty("used").GetInt64();
    }

    private static string Aliases(int count, string field) => "{ " + string.Concat(Enumerable.Range(0, count).Select(i => $"a{i}: {field} ")) + "}";

    [Fact]
    public async Task a_small_document_of_fragments_spreading_each_other_is_refused_by_its_cost_not_by_expanding_it()
    {
        var client = TenantAdminOf(await Active());
        // Under 2 KB: thirty fragments, each spreading the next twice (2^31 fields expanded).
        var chain = DocumentBoundsTests.FragmentChain(30);
        chain.Length.ShouldBeLessThan(2048);
        Refused(await Gql(client, chain), "TOO_MANY_FRAGMENTS").ShouldBe("The document defines 31 fragments; at most 20 are allowed.");
        // Within the fragment count, the cost of the expansion is computed once per fragment and refused with its figure.
        Refused(await Gql(client, DocumentBoundsTests.FragmentChain(15)), "TOO_COMPLEX").ShouldStartWith("The document costs 65,536 ");
        Refused(await Gql(client, "query { ...A } fragment A on Query { ...B } fragment B on Query { me { subject } ...A }"), "FRAGMENT_CYCLE");
    }

    [Fact]
    public async Task an_oversized_body_is_refused_before_it_is_read_whole()
    {
        var client = TenantAdminOf(await Active());
        var tenMegabytes = new string(' ', 10 * 1024 * 1024);
        (await Gql(client, "{ me { subject } }" + tenMegabytes)).ShouldBeProblem(HttpStatusCode.RequestEntityTooLarge, "request-too-large")
            .Str("detail").ShouldBe("A GraphQL request (its JSON body, or its query string with GET) is at most 102400 bytes.");
        // Without a declared length, reading stops at the limit.
        var streamed = new StreamContent(new UnseekableStream(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { query = "{ me { subject } }" + new string(' ', 200_000) }))));
        streamed.Headers.ContentType = new("application/json");
        streamed.Headers.ContentLength.ShouldBeNull();
        (await Gql(client, "", streamed)).ShouldBeProblem(HttpStatusCode.RequestEntityTooLarge, "request-too-large");
        // A query string with GET likewise.
        (await client.Get("/graphql?query=" + Uri.EscapeDataString("{ me { subject } }" + new string(' ', 110_000))))
            .ShouldBeProblem(HttpStatusCode.RequestUriTooLong, "request-too-large");
    }

    [Fact]
    public async Task a_document_of_one_field_repeated_is_refused_by_its_token_count_before_it_is_parsed()
    {
        var client = TenantAdminOf(await Active());
        var repeated = "{ " + string.Concat(Enumerable.Repeat("me { subject } ", 6000)) + "}";
        Refused(await Gql(client, repeated), "TOO_MANY_TOKENS").ShouldBe("The document has more than 2000 tokens (names, punctuation and values); at most 2000 are allowed.");
    }

    [Fact]
    public async Task depth_refusals_say_how_deep_and_what_is_allowed()
    {
        var tenant = await Active();
        var client = TenantAdminOf(tenant);
        var deep = "{ tenant(id: \"" + tenant + "\") { organisations { nodes { " + string.Concat(Enumerable.Repeat("children { nodes { ", 8)) + "id"
                   + string.Concat(Enumerable.Repeat(" } }", 8)) + " } } } }";
        Refused(await Gql(client, deep), "TOO_DEEP").ShouldBe("The document nests fields 20 deep; at most 12 are allowed.");
        // Nesting the parser would refuse as too deep (it said "this is a bug") is refused before parsing.
        var nested = "{ " + string.Concat(Enumerable.Repeat("me { ", 150)) + "subject" + new string('}', 151);
        Refused(await Gql(client, nested), "TOO_DEEP").ShouldContain("at most 64 are allowed");
    }

    [Fact]
    public async Task aliases_of_a_rest_backed_field_are_refused_up_front_when_too_many_and_nothing_runs()
    {
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 1000 });
        var client = TenantAdminOf(tenant);
        // estate is a REST-backed field (and forbidden to a tenant's administrator: it would not even be allowed to run).
        Refused(await Gql(client, Aliases(300, "estate")), "TOO_MANY_ALIASES")
            .ShouldBe("The document has 300 aliased fields; at most 50 are allowed.");
        var unpaged = "{ tenant(id: \"" + tenant + "\") { organisations { nodes { children { nodes { id } } } } } }";
        Refused(await Gql(client, unpaged), "TOO_MANY_API_CALLS").ShouldStartWith("The document could make 52 REST calls");
        // Only the two /graphql requests themselves were API calls: no field ran.
        (await ApiCallsUsedToday(tenant)).ShouldBe(2);
    }

    [Fact]
    public async Task each_rest_backed_field_is_an_api_call_metered_like_the_rest_call_it_is()
    {
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 10 });
        var client = TenantAdminOf(tenant);
        var five = Aliases(5, $"tenant(id: \"{tenant}\") {{ id }}");
        var first = await Gql(client, five);
        first.Status.ShouldBe(HttpStatusCode.OK, first.Body);
        first.Json.TryGetProperty("errors", out _).ShouldBeFalse(first.Body);
        // The /graphql request and its five REST calls.
        (await ApiCallsUsedToday(tenant)).ShouldBe(6);

        // Four calls are left: the document takes one, three fields run, two are refused by the quota like REST calls.
        var second = await Gql(client, five);
        second.Status.ShouldBe(HttpStatusCode.OK, second.Body);
        var data = second.Json.GetProperty("data");
        Enumerable.Range(0, 5).Count(i => data.GetProperty("a" + i).ValueKind == JsonValueKind.Object).ShouldBe(3);
        var errors = second.Json.GetProperty("errors").EnumerateArray().ToList();
        errors.Count.ShouldBe(2);
        errors.ShouldAllBe(e => e.GetProperty("extensions").GetProperty("code").GetString() == "QUOTA_EXCEEDED");
        (await ApiCallsUsedToday(tenant)).ShouldBe(10);
        (await Gql(client, "{ me { subject } }")).ShouldBeProblem(HttpStatusCode.TooManyRequests, "quota-exceeded");
    }

    [Fact]
    public async Task a_caller_who_leaves_stops_the_document_and_its_rest_calls()
    {
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 1000 });
        async Task<DefaultHttpContext> Request(IServiceProvider services)
        {
            var http = new DefaultHttpContext { RequestServices = services };
            http.Request.Method = "GET";
            http.Request.Path = GraphQLHttp.Path;
            http.Request.QueryString = QueryString.Create("query", Aliases(8, $"tenant(id: \"{tenant}\") {{ id }}"));
            http.Request.Headers.Authorization = "Bearer " + Fixture.Token(Roles.TenantAdmin, "tenant-admin", tenant);
            http.User = (await http.AuthenticateAsync()).Principal.ShouldNotBeNull();
            return http;
        }
        using var scope = Fixture.Host.Services.CreateScope();

        // Gone before it started: nothing runs.
        var before = await Request(scope.ServiceProvider);
        using var gone = new CancellationTokenSource();
        await gone.CancelAsync();
        before.RequestAborted = gone.Token;
        await Should.ThrowAsync<OperationCanceledException>(() => GraphQLHttp.Handle(before));
        (await ApiCallsUsedToday(tenant)).ShouldBe(0);

        // Gone while its first REST call is being metered: the calls waiting for their turn never run.
        var during = await Request(scope.ServiceProvider);
        using var leaving = new CancellationTokenSource();
        during.User = new LeavingWhenMetered(during.User, leaving);
        during.RequestAborted = leaving.Token;
        await Should.ThrowAsync<OperationCanceledException>(() => GraphQLHttp.Handle(during));
        (await ApiCallsUsedToday(tenant)).ShouldBeLessThanOrEqualTo(new GraphQLLimits().ApiCallConcurrency);
    }

    /// <summary>The caller, who disconnects the moment the metering first asks for its tenant (its first REST call).</summary>
    private sealed class LeavingWhenMetered(System.Security.Claims.ClaimsPrincipal caller, CancellationTokenSource connection)
        : System.Security.Claims.ClaimsPrincipal(caller)
    {
        public override System.Security.Claims.Claim? FindFirst(string type)
        {
            if (type == TenantEvents.Infrastructure.Security.Claims.TenantId) connection.Cancel();
            return base.FindFirst(type);
        }
    }

    /// <summary>A body of unknown length (as a chunked upload sends it).</summary>
    private sealed class UnseekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
    }
}
