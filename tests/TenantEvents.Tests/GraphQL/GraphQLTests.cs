using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.GraphQL;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.GraphQL;

/// <summary>
/// /graphql: the published schema is the running one; the GraphQL-over-HTTP audit (npm graphql-http) passes every MUST;
/// queries follow the read models with cursor pages; mutations are the REST commands (same rules, same refusals);
/// nothing crosses tenants; depth and cost are bounded.
/// </summary>
public class GraphQLTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private static async Task<Reply> Gql(HttpClient client, string query, object? variables = null, string accept = GraphQLHttp.ResponseType)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/graphql")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { query, variables }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd(accept);
        using var response = await client.SendAsync(request);
        return new Reply(response.StatusCode, response.Headers, response.Content.Headers, await response.Content.ReadAsStringAsync());
    }

    private static JsonElement Data(Reply reply, string field)
    {
        reply.Status.ShouldBe(HttpStatusCode.OK, reply.Body);
        reply.Json.TryGetProperty("errors", out _).ShouldBeFalse(reply.Body);
        return reply.Json.GetProperty("data").GetProperty(field);
    }

    private static string ErrorCode(Reply reply) => reply.Json.TryGetProperty("errors", out var errors)
        ? errors[0].GetProperty("extensions").GetProperty("code").GetString()!
        : throw new ShouldAssertException("no errors in " + reply.Body);

    [Fact]
    public void the_schema_published_in_the_repository_is_the_running_schema()
    {
        var running = GraphQLHttp.Sdl(Fixture.Host.Services.GetRequiredService<TenantEventsSchema>());
        var path = Path.Combine(TestDatabase.RepositoryRoot(), "graphql", "schema.graphql");
        var published = File.Exists(path) ? File.ReadAllText(path).ReplaceLineEndings("\n") : "";
        running.ShouldBe(published, "graphql/schema.graphql differs from the running schema: if the change is meant, run `make graphql-schema` and commit it");
    }

    [Fact]
    public async Task the_graphql_over_http_audit_passes_every_must()
    {
        var db = await ServiceProcess.FreshDatabaseAsync("tenantevents_test_graphql");
        var folder = Directory.CreateTempSubdirectory("tenantevents-graphql-").FullName;
        await using var service = await ServiceProcess.StartAsync(db, folder);
        var folderOfAudit = Path.Combine(TestDatabase.RepositoryRoot(), "tests", "graphql");
        var start = new ProcessStartInfo("node") { WorkingDirectory = folderOfAudit, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "audit.mjs", service.Url + "/graphql", ServiceProcess.Token(folder, Roles.PlatformAdmin, "auditor-of-http") }) start.ArgumentList.Add(a);
        using var node = Process.Start(start)!;
        var output = await node.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromMinutes(2));
        await node.WaitForExitAsync();
        node.ExitCode.ShouldBe(0, await node.StandardError.ReadToEndAsync());
        var results = JsonDocument.Parse(output).RootElement.GetProperty("results").EnumerateArray().ToList();
        results.Count.ShouldBeGreaterThan(40);
        var failedMusts = results.Where(r => r.GetProperty("name").GetString()!.StartsWith("MUST") && r.GetProperty("status").GetString() != "ok")
            .Select(r => $"{r.GetProperty("id")} {r.GetProperty("name")}: {r.GetProperty("reason")}").ToList();
        failedMusts.ShouldBeEmpty();
        var failedShoulds = results.Where(r => r.GetProperty("name").GetString()!.StartsWith("SHOULD") && r.GetProperty("status").GetString() != "ok")
            .Select(r => $"{r.GetProperty("id")} {r.GetProperty("name")}").ToList();
        failedShoulds.ShouldBeEmpty();
    }

    [Fact]
    public async Task a_tenant_administrator_walks_the_tree_page_by_page()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var client = TenantAdminOf(tenant);
        for (var i = 0; i < 3; i++)
            (await client.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = $"Unit {i}", kind = "unit" })).ShouldBe(HttpStatusCode.Created);
        const string query = """
            query Tree($id: ID!, $org: ID!, $after: String) {
              tenant(id: $id) {
                name state
                organisation(id: $org) {
                  name depth version ancestors { id }
                  children(first: 2, after: $after) { nodes { id name parent { id } } pageInfo { hasNextPage endCursor } }
                }
              }
            }
            """;
        var first = Data(await Gql(client, query, new { id = tenant, org = root }), "tenant");
        first.GetProperty("state").GetString().ShouldBe("active");
        first.GetProperty("organisation").GetProperty("depth").GetInt32().ShouldBe(0);
        first.GetProperty("organisation").GetProperty("version").GetInt64().ShouldBeGreaterThan(0);
        var children = first.GetProperty("organisation").GetProperty("children");
        var names = children.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("name").GetString()).ToList();
        children.GetProperty("pageInfo").GetProperty("hasNextPage").GetBoolean().ShouldBeTrue();
        children.GetProperty("nodes")[0].GetProperty("parent").GetProperty("id").GetString().ShouldBe(root.ToString());
        var seen = new List<string?>(names);
        var after = children.GetProperty("pageInfo").GetProperty("endCursor").GetString();
        while (after is not null)
        {
            var page = Data(await Gql(client, query, new { id = tenant, org = root, after }), "tenant").GetProperty("organisation").GetProperty("children");
            seen.AddRange(page.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("name").GetString()));
            after = page.GetProperty("pageInfo").GetProperty("hasNextPage").GetBoolean() ? page.GetProperty("pageInfo").GetProperty("endCursor").GetString() : null;
        }
        seen.ShouldContain("Unit 0");
        seen.ShouldContain("Unit 2");
        seen.Distinct().Count().ShouldBe(seen.Count);
        (await client.Get($"/api/tenants/{tenant}/organisations/{root}/children?limit=200")).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("items").GetArrayLength().ShouldBe(seen.Count);
    }

    [Fact]
    public async Task mutations_are_the_rest_commands_with_their_rules()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var client = TenantAdminOf(tenant);
        const string create = """
            mutation Create($t: ID!, $p: ID!, $n: String!) { createOrganisation(tenantId: $t, parentId: $p, name: $n, kind: "unit") { id name parentId tenantId } }
            """;
        var created = Data(await Gql(client, create, new { t = tenant, p = root, n = "Gang Unit" }), "createOrganisation");
        created.GetProperty("name").GetString().ShouldBe("Gang Unit");
        var id = created.GetProperty("id").GetString();
        (await client.Get($"/api/tenants/{tenant}/organisations/{id}")).ShouldBe(HttpStatusCode.OK).Str("name").ShouldBe("Gang Unit");

        // The REST rule refuses it, with the REST problem's code and its field errors.
        var refused = await Gql(client, create, new { t = tenant, p = root, n = " " });
        refused.Status.ShouldBe(HttpStatusCode.OK);
        ErrorCode(refused).ShouldBe("VALIDATION_FAILED");
        refused.Json.GetProperty("data").GetProperty("createOrganisation").ValueKind.ShouldBe(JsonValueKind.Null);

        var renamed = Data(await Gql(client, """mutation { renameOrganisation(tenantId: "%t", id: "%o", name: "Gangs") { name version } }"""
            .Replace("%t", tenant.ToString()).Replace("%o", id)), "renameOrganisation");
        renamed.GetProperty("name").GetString().ShouldBe("Gangs");
        // Mutations are never sent with GET.
        (await client.Get("/graphql?query=" + Uri.EscapeDataString("mutation { approveTenant(id: \"" + tenant + "\") { id } }"))).Status
            .ShouldBe(HttpStatusCode.MethodNotAllowed);
    }

    [Fact]
    public async Task nothing_crosses_tenants_through_graphql()
    {
        var a = await Active("travis-sheriff");
        var b = await Active("bexar-sheriff");
        var rootA = await RootOf(a);
        var attacker = TenantAdminOf(b);
        var read = await Gql(attacker, "query($id: ID!) { tenant(id: $id) { name organisations { nodes { name } } } }", new { id = a });
        read.Status.ShouldBe(HttpStatusCode.OK);
        read.Json.GetProperty("data").GetProperty("tenant").ValueKind.ShouldBe(JsonValueKind.Null);
        ErrorCode(read).ShouldBe("NOT_FOUND");
        read.Body.ShouldNotContain("Travis");

        var write = await Gql(attacker, "mutation($t: ID!, $o: ID!) { renameOrganisation(tenantId: $t, id: $o, name: \"Owned\") { name } }", new { t = a, o = rootA });
        ErrorCode(write).ShouldBe("NOT_FOUND");
        (await TenantAdminOf(a).Get($"/api/tenants/{a}/organisations/{rootA}")).ShouldBe(HttpStatusCode.OK).Str("name").ShouldNotBe("Owned");
        // A tenant's administrator lists its own tenant only (as over REST); the platform's staff every tenant.
        Data(await Gql(attacker, "{ tenants { nodes { id } } }"), "tenants").GetProperty("nodes").EnumerateArray()
            .Select(n => n.GetProperty("id").GetString()).ShouldBe([b.ToString()]);
        var all = Data(await Gql(Admin, "{ tenants(first: 1) { nodes { id slug } pageInfo { hasNextPage endCursor } } }"), "tenants");
        all.GetProperty("pageInfo").GetProperty("hasNextPage").GetBoolean().ShouldBeTrue();
        // Nobody anonymous.
        (await Gql(Fixture.Client(null), "{ me { subject } }")).Status.ShouldBe(HttpStatusCode.Unauthorized);
        Data(await Gql(attacker, "{ me { tenantId roles } }"), "me").GetProperty("tenantId").GetString().ShouldBe(b.ToString());
    }

    [Fact]
    public async Task deep_or_costly_documents_are_refused_before_anything_runs()
    {
        var tenant = await Active();
        var client = TenantAdminOf(tenant);
        var deep = "{ tenant(id: \"" + tenant + "\") { organisations { nodes { " + string.Concat(Enumerable.Repeat("children { nodes { ", 8)) + "id"
                   + string.Concat(Enumerable.Repeat(" } }", 8)) + " } } } }";
        var refused = await Gql(client, deep);
        refused.Status.ShouldBe(HttpStatusCode.BadRequest);
        refused.Json.TryGetProperty("data", out _).ShouldBeFalse();
        (await Gql(client, deep, accept: "application/json")).Status.ShouldBe(HttpStatusCode.OK);
        (await Gql(client, "{ nope }")).Status.ShouldBe(HttpStatusCode.BadRequest);
        (await Gql(client, "{ tenant(id: ")).Status.ShouldBe(HttpStatusCode.BadRequest);
    }
    [Fact]
    public async Task analytics_are_fields_of_the_tenant_and_the_estate_is_for_platform_staff()
    {
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 10 });
        var other = await Active("bexar-sheriff");
        await Fixture.Host.Services.GetRequiredService<TenantEvents.Analytics.AnalyticsProjector>().CatchUpAsync(CancellationToken.None);
        const string query = """
            query($id: ID!) { tenant(id: $id) { health utilisation(from: "2026-11-28", to: "2026-11-28") activeUsers(granularity: "week") adoption } }
            """;
        var own = Data(await Gql(TenantAdminOf(tenant), query, new { id = tenant }), "tenant");
        own.GetProperty("health").GetProperty("state").GetString().ShouldBe("active");
        own.GetProperty("health").GetProperty("status").GetString().ShouldBe("healthy");
        // The tenant administrator's own GraphQL call was an API call of the tenant.
        own.GetProperty("utilisation").GetProperty("kinds").EnumerateArray()
            .Single(k => k.GetProperty("kind").GetString() == "apiCallsPerDay").GetProperty("limit").GetInt64().ShouldBe(10);
        own.GetProperty("activeUsers").GetProperty("granularity").GetString().ShouldBe("week");
        own.GetProperty("adoption").GetProperty("areas").GetArrayLength().ShouldBeGreaterThan(5);
        // Another tenant's administrator: not found, as over REST.
        ErrorCode(await Gql(TenantAdminOf(other), "query($id: ID!) { tenant(id: $id) { id } }", new { id = tenant })).ShouldBe("NOT_FOUND");

        const string estate = "{ estate(months: 2) analyticsProjections estateAdoption }";
        var data = (await Gql(As(Roles.Analyst, "ann"), estate)).Json.GetProperty("data");
        data.GetProperty("estate").GetProperty("tenants").GetInt32().ShouldBe(2);
        data.GetProperty("estate").GetProperty("growth").GetArrayLength().ShouldBe(2);
        data.GetProperty("analyticsProjections").GetProperty("eventsBehind").GetInt64().ShouldBe(0);
        data.GetProperty("estateAdoption").GetProperty("areas").GetArrayLength().ShouldBeGreaterThan(5);
        ErrorCode(await Gql(TenantAdminOf(tenant), estate)).ShouldBe("FORBIDDEN");
        ErrorCode(await Gql(Admin, "{ estate(months: 0) }")).ShouldBe("VALIDATION_FAILED");
    }
}
