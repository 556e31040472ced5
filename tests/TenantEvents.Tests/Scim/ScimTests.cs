using System.Net;
using Microsoft.Extensions.DependencyInjection;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Scim;

/// <summary>SCIM 2.0 over HTTP with a tenant's SCIM credential: the RFC 7644 operations, filters, PATCH, paging, ETags, errors.</summary>
public class ScimTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private const string UserUrn = "urn:ietf:params:scim:schemas:core:2.0:User";
    private const string GroupUrn = "urn:ietf:params:scim:schemas:core:2.0:Group";
    private const string EnterpriseUrn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    private const string PatchUrn = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

    private sealed class Scim(HttpClient client, string baseUrl)
    {
        public HttpClient Client => client;
        public string Base => baseUrl;

        public async Task<Reply> Send(HttpMethod method, string path, object? body = null, IDictionary<string, string>? headers = null)
        {
            using var request = new HttpRequestMessage(method, baseUrl + path);
            if (body is not null)
                request.Content = new StringContent(body as string ?? JsonSerializer.Serialize(body), Encoding.UTF8, "application/scim+json");
            foreach (var (name, value) in headers ?? new Dictionary<string, string>()) request.Headers.TryAddWithoutValidation(name, value);
            using var response = await client.SendAsync(request);
            return new Reply(response.StatusCode, response.Headers, response.Content.Headers, await response.Content.ReadAsStringAsync());
        }

        public Task<Reply> Get(string path, IDictionary<string, string>? headers = null) => Send(HttpMethod.Get, path, null, headers);
        public Task<Reply> Post(string path, object body) => Send(HttpMethod.Post, path, body);
        public Task<Reply> Put(string path, object body, IDictionary<string, string>? headers = null) => Send(HttpMethod.Put, path, body, headers);
        public Task<Reply> Patch(string path, object body, IDictionary<string, string>? headers = null) => Send(HttpMethod.Patch, path, body, headers);
        public Task<Reply> Delete(string path, IDictionary<string, string>? headers = null) => Send(HttpMethod.Delete, path, null, headers);
    }

    /// <summary>A tenant and its directory's SCIM credential (a service account holding scim.provision).</summary>
    private async Task<(Guid Tenant, Scim Scim, Guid Client, string Secret)> TenantWithScim(string slug = "travis-sheriff")
    {
        var tenant = await Active(slug);
        var created = (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts", new { name = "Entra ID provisioning", scopes = new[] { "scim.provision" } }))
            .ShouldBe(HttpStatusCode.Created);
        var token = created.Str("scimToken");
        token.ShouldStartWith("tescim.");
        return (tenant, new Scim(Fixture.Client(token), $"/api/tenants/{tenant}/scim/v2"), Guid.Parse(created.Str("clientId")), created.Str("clientSecret"));
    }

    private static object Barbara(string userName = "bjensen@example.com", string externalId = "bjensen") => new Dictionary<string, object>
    {
        ["schemas"] = new[] { UserUrn, EnterpriseUrn },
        ["externalId"] = externalId,
        ["userName"] = userName,
        ["name"] = new { formatted = "Ms. Barbara J Jensen III", familyName = "Jensen", givenName = "Barbara" },
        ["title"] = "Tour Guide",
        ["userType"] = "Employee",
        ["active"] = true,
        ["password"] = "t1meMa$heen",
        ["emails"] = new object[] { new { value = "bjensen@example.com", type = "work", primary = true }, new { value = "babs@jensen.org", type = "home" } },
        [EnterpriseUrn] = new { employeeNumber = "701984", department = "Tour Operations" },
    };

    private static void ShouldBeScimError(Reply reply, HttpStatusCode status, string? scimType = null)
    {
        reply.Status.ShouldBe(status, reply.Body);
        reply.ContentHeaders!.ContentType!.MediaType.ShouldBe("application/scim+json");
        reply.Json.GetProperty("schemas")[0].GetString().ShouldBe("urn:ietf:params:scim:api:messages:2.0:Error");
        reply.Json.GetProperty("status").GetString().ShouldBe(((int)status).ToString());
        if (scimType is not null) reply.Json.GetProperty("scimType").GetString().ShouldBe(scimType);
    }

    [Fact]
    public async Task a_user_is_created_read_replaced_and_deleted_as_in_rfc_7644()
    {
        var (_, scim, _, _) = await TenantWithScim();
        var created = await scim.Post("/Users", Barbara());
        created.ShouldBe(HttpStatusCode.Created);
        created.ContentHeaders!.ContentType!.MediaType.ShouldBe("application/scim+json");
        var id = created.Str("id");
        created.Headers.Location!.ToString().ShouldEndWith($"/Users/{id}");
        created.Headers.ETag!.ToString().ShouldBe("W/\"1\"");
        created.Json.GetProperty("meta").GetProperty("resourceType").GetString().ShouldBe("User");
        created.Json.GetProperty("meta").GetProperty("version").GetString().ShouldBe("W/\"1\"");
        created.Json.TryGetProperty("password", out _).ShouldBeFalse(); // writeOnly, never returned (and never stored)
        created.Json.GetProperty(EnterpriseUrn).GetProperty("employeeNumber").GetString().ShouldBe("701984");

        var read = (await scim.Get($"/Users/{id}")).ShouldBe(HttpStatusCode.OK);
        read.Str("userName").ShouldBe("bjensen@example.com");
        (await scim.Get($"/Users/{id}", new Dictionary<string, string> { ["If-None-Match"] = "W/\"1\"" })).Status.ShouldBe(HttpStatusCode.NotModified);

        var replacement = Barbara();
        ((Dictionary<string, object>)replacement)["title"] = "Senior Tour Guide";
        var replaced = (await scim.Put($"/Users/{id}", replacement, new Dictionary<string, string> { ["If-Match"] = "W/\"1\"" })).ShouldBe(HttpStatusCode.OK);
        replaced.Str("title").ShouldBe("Senior Tour Guide");
        replaced.Headers.ETag!.ToString().ShouldBe("W/\"2\"");
        ShouldBeScimError(await scim.Put($"/Users/{id}", replacement, new Dictionary<string, string> { ["If-Match"] = "W/\"1\"" }), HttpStatusCode.PreconditionFailed);

        (await scim.Delete($"/Users/{id}")).Status.ShouldBe(HttpStatusCode.NoContent);
        ShouldBeScimError(await scim.Get($"/Users/{id}"), HttpStatusCode.NotFound);
        ShouldBeScimError(await scim.Delete($"/Users/{id}"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task a_duplicate_user_name_is_a_uniqueness_conflict_and_bad_input_is_refused()
    {
        var (_, scim, _, _) = await TenantWithScim();
        (await scim.Post("/Users", Barbara())).ShouldBe(HttpStatusCode.Created);
        ShouldBeScimError(await scim.Post("/Users", Barbara("BJENSEN@example.com", "other")), HttpStatusCode.Conflict, "uniqueness");
        ShouldBeScimError(await scim.Post("/Users", new { schemas = new[] { UserUrn } }), HttpStatusCode.BadRequest, "invalidValue");
        ShouldBeScimError(await scim.Post("/Users", new { userName = "x" }), HttpStatusCode.BadRequest, "invalidValue");
        ShouldBeScimError(await scim.Post("/Users", new { schemas = new[] { UserUrn }, userName = "x", emails = "x@y" }), HttpStatusCode.BadRequest, "invalidValue");
        ShouldBeScimError(await scim.Post("/Users", new { schemas = new[] { UserUrn, "urn:made:up" }, userName = "x" }), HttpStatusCode.BadRequest, "invalidValue");
        ShouldBeScimError(await scim.Send(HttpMethod.Post, "/Users", "{not json"), HttpStatusCode.BadRequest, "invalidSyntax");
        ShouldBeScimError(await scim.Get($"/Users/{Guid.CreateVersion7()}"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task patch_adds_replaces_and_removes_with_paths_and_value_filters()
    {
        var (_, scim, _, _) = await TenantWithScim();
        var id = (await scim.Post("/Users", Barbara())).ShouldBe(HttpStatusCode.Created).Str("id");
        object Patch(params object[] operations) => new { schemas = new[] { PatchUrn }, Operations = operations };

        var patched = (await scim.Patch($"/Users/{id}", Patch(
            new { op = "add", path = "emails", value = new[] { new { value = "b@work.example", type = "other" } } },
            new { op = "replace", path = "emails[type eq \"work\"].value", value = "barbara@example.com" },
            new { op = "remove", path = "emails[type eq \"home\"]" },
            new { op = "replace", path = "name.givenName", value = "Babs" },
            new { op = "Replace", value = new Dictionary<string, object> { ["title"] = "Guide", [EnterpriseUrn] = new { department = "Tours" } } },
            new { op = "remove", path = "userType" },
            new { op = "replace", path = "active", value = "False" }))).ShouldBe(HttpStatusCode.OK);
        var emails = patched.Json.GetProperty("emails").EnumerateArray().Select(e => (e.GetProperty("type").GetString(), e.GetProperty("value").GetString())).ToList();
        emails.ShouldBe([("work", "barbara@example.com"), ("other", "b@work.example")]);
        patched.Json.GetProperty("name").GetProperty("givenName").GetString().ShouldBe("Babs");
        patched.Json.GetProperty("name").GetProperty("familyName").GetString().ShouldBe("Jensen");
        patched.Str("title").ShouldBe("Guide");
        patched.Json.GetProperty(EnterpriseUrn).GetProperty("department").GetString().ShouldBe("Tours");
        patched.Json.GetProperty(EnterpriseUrn).GetProperty("employeeNumber").GetString().ShouldBe("701984");
        patched.Json.TryGetProperty("userType", out _).ShouldBeFalse();
        patched.Json.GetProperty("active").GetBoolean().ShouldBeFalse();
        patched.Headers.ETag!.ToString().ShouldBe("W/\"2\"");

        ShouldBeScimError(await scim.Patch($"/Users/{id}", Patch(new { op = "remove", path = "emails[type eq \"pager\"]" })), HttpStatusCode.BadRequest, "noTarget");
        ShouldBeScimError(await scim.Patch($"/Users/{id}", Patch(new { op = "remove" })), HttpStatusCode.BadRequest, "noTarget");
        ShouldBeScimError(await scim.Patch($"/Users/{id}", Patch(new { op = "replace", path = "emails[type eq ]", value = "x" })), HttpStatusCode.BadRequest, "invalidPath");
        ShouldBeScimError(await scim.Patch($"/Users/{id}", Patch(new { op = "replace", path = "id", value = "x" })), HttpStatusCode.BadRequest, "mutability");
        ShouldBeScimError(await scim.Patch($"/Users/{id}", Patch(new { op = "move", path = "title" })), HttpStatusCode.BadRequest, "invalidSyntax");
        ShouldBeScimError(await scim.Patch($"/Users/{id}", Patch(new { op = "remove", path = "userName" })), HttpStatusCode.BadRequest, "invalidValue");
        ShouldBeScimError(await scim.Patch($"/Users/{id}", new { Operations = new[] { new { op = "remove", path = "title" } } }), HttpStatusCode.BadRequest, "invalidSyntax");
        ShouldBeScimError(await scim.Patch($"/Users/{id}", new { schemas = new object[] { 1, true }, Operations = new[] { new { op = "remove", path = "title" } } }),
            HttpStatusCode.BadRequest, "invalidSyntax");
        ShouldBeScimError(await scim.Patch($"/Users/{id}", Patch(new { op = 7, path = 8 })), HttpStatusCode.BadRequest, "invalidSyntax");
        ShouldBeScimError(await scim.Patch($"/Users/{id}", Patch(new { op = "replace", path = "title", value = "x" }),
            new Dictionary<string, string> { ["If-Match"] = "W/\"1\"" }), HttpStatusCode.PreconditionFailed);
        // Nothing of the refused patches was kept.
        (await scim.Get($"/Users/{id}")).Headers.ETag!.ToString().ShouldBe("W/\"2\"");
    }

    [Fact]
    public async Task groups_hold_members_and_users_show_their_groups()
    {
        var (_, scim, _, _) = await TenantWithScim();
        var barbara = (await scim.Post("/Users", Barbara())).Str("id");
        var jim = (await scim.Post("/Users", Barbara("jim@example.com", "jim"))).Str("id");
        var group = (await scim.Post("/Groups", new { schemas = new[] { GroupUrn }, displayName = "Tour Guides", members = new[] { new { value = barbara } } }))
            .ShouldBe(HttpStatusCode.Created);
        var groupId = group.Str("id");
        (await scim.Get($"/Users/{barbara}")).Json.GetProperty("groups")[0].GetProperty("display").GetString().ShouldBe("Tour Guides");

        var patched = (await scim.Patch($"/Groups/{groupId}", new
        {
            schemas = new[] { PatchUrn },
            Operations = new object[]
            {
                new { op = "add", path = "members", value = new[] { new { value = jim } } },
                new { op = "remove", path = $"members[value eq \"{barbara}\"]" },
            },
        })).ShouldBe(HttpStatusCode.OK);
        patched.Json.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("value").GetString()).ShouldBe([jim]);
        (await scim.Get($"/Users/{barbara}")).Json.TryGetProperty("groups", out _).ShouldBeFalse();

        ShouldBeScimError(await scim.Post("/Groups", new { schemas = new[] { GroupUrn }, displayName = "tour guides" }), HttpStatusCode.Conflict, "uniqueness");
        ShouldBeScimError(await scim.Post("/Groups", new { schemas = new[] { GroupUrn }, displayName = "X", members = new[] { new { value = Guid.CreateVersion7().ToString() } } }),
            HttpStatusCode.BadRequest, "invalidValue");
        // Deleting a user takes it out of its groups.
        (await scim.Delete($"/Users/{jim}")).Status.ShouldBe(HttpStatusCode.NoContent);
        (await scim.Get($"/Groups/{groupId}")).Json.TryGetProperty("members", out var members).ShouldBeTrue();
        members.GetArrayLength().ShouldBe(0);
        (await scim.Get($"/Groups?filter=displayName eq \"Tour Guides\"")).Json.GetProperty("totalResults").GetInt32().ShouldBe(1);
    }

    [Fact]
    public async Task lists_filter_page_sort_and_select_attributes()
    {
        var (_, scim, _, _) = await TenantWithScim();
        for (var i = 0; i < 12; i++) (await scim.Post("/Users", Barbara($"user{i:00}@example.com", $"ext{i}"))).ShouldBe(HttpStatusCode.Created);
        var page = (await scim.Get("/Users?startIndex=3&count=4&sortBy=userName")).ShouldBe(HttpStatusCode.OK);
        page.Json.GetProperty("schemas")[0].GetString().ShouldBe("urn:ietf:params:scim:api:messages:2.0:ListResponse");
        page.Json.GetProperty("totalResults").GetInt32().ShouldBe(12);
        page.Json.GetProperty("startIndex").GetInt32().ShouldBe(3);
        page.Json.GetProperty("itemsPerPage").GetInt32().ShouldBe(4);
        page.Json.GetProperty("Resources").EnumerateArray().Select(r => r.GetProperty("userName").GetString())
            .ShouldBe(["user02@example.com", "user03@example.com", "user04@example.com", "user05@example.com"]);
        (await scim.Get("/Users?sortBy=userName&sortOrder=descending&count=1")).Json.GetProperty("Resources")[0].GetProperty("userName").GetString()
            .ShouldBe("user11@example.com");

        var filtered = (await scim.Get("/Users?filter=" + Uri.EscapeDataString("userName sw \"user1\" and emails[type eq \"work\"]"))).ShouldBe(HttpStatusCode.OK);
        filtered.Json.GetProperty("totalResults").GetInt32().ShouldBe(2);
        (await scim.Get("/Users?filter=" + Uri.EscapeDataString("externalId eq \"ext7\""))).Json.GetProperty("totalResults").GetInt32().ShouldBe(1);
        // Answered from the directory's indexes, with the same results a scan gives.
        (await scim.Get("/Users?filter=" + Uri.EscapeDataString("userName eq \"USER03@EXAMPLE.COM\""))).Json.GetProperty("totalResults").GetInt32().ShouldBe(1);
        (await scim.Get("/Users?filter=" + Uri.EscapeDataString("externalId eq \"EXT7\""))).Json.GetProperty("totalResults").GetInt32().ShouldBe(0); // caseExact
        (await scim.Get("/Users?filter=" + Uri.EscapeDataString("userName sw \"USER0\" and title eq \"Tour Guide\""))).Json.GetProperty("totalResults").GetInt32().ShouldBe(10);
        (await scim.Get("/Users?filter=" + Uri.EscapeDataString("userName eq \"user01@example.com\" or externalId eq \"ext11\""))).Json
            .GetProperty("totalResults").GetInt32().ShouldBe(2);
        (await scim.Get("/Users?filter=" + Uri.EscapeDataString("userName sw \"user1\" or title pr"))).Json.GetProperty("totalResults").GetInt32().ShouldBe(12);
        (await scim.Get("/Users?filter=" + Uri.EscapeDataString("meta.created gt \"2000-01-01T00:00:00Z\" and not (title pr)"))).Json
            .GetProperty("totalResults").GetInt32().ShouldBe(0);
        (await scim.Get("/Users?count=0")).Json.GetProperty("Resources").GetArrayLength().ShouldBe(0);

        var selected = (await scim.Get("/Users?count=1&attributes=userName,name.familyName")).Json.GetProperty("Resources")[0];
        selected.EnumerateObject().Select(p => p.Name).Order().ShouldBe(["id", "name", "schemas", "userName"]);
        selected.GetProperty("name").EnumerateObject().Select(p => p.Name).ShouldBe(["familyName"]);
        var excluded = (await scim.Get("/Users?count=1&excludedAttributes=emails,name")).Json.GetProperty("Resources")[0];
        excluded.TryGetProperty("emails", out _).ShouldBeFalse();
        excluded.TryGetProperty("name", out _).ShouldBeFalse();
        excluded.TryGetProperty("userName", out _).ShouldBeTrue();

        var searched = (await scim.Post("/Users/.search", new
        {
            schemas = new[] { "urn:ietf:params:scim:api:messages:2.0:SearchRequest" },
            filter = "userName ew \"0@example.com\"", attributes = new[] { "userName" }, startIndex = 1, count = 10,
        })).ShouldBe(HttpStatusCode.OK);
        searched.Json.GetProperty("totalResults").GetInt32().ShouldBe(2);

        foreach (var bad in new[] { "userName eq", "userName xx \"a\"", "(userName eq \"a\"", "emails[type eq \"work\"", "userName eq 'a'" })
            ShouldBeScimError(await scim.Get("/Users?filter=" + Uri.EscapeDataString(bad)), HttpStatusCode.BadRequest, "invalidFilter");
        ShouldBeScimError(await scim.Get("/Users?count=abc"), HttpStatusCode.BadRequest, "invalidValue");
        ShouldBeScimError(await scim.Get("/Users?filter=" + Uri.EscapeDataString("meta.version gt 1e999")), HttpStatusCode.BadRequest, "invalidFilter");
        ShouldBeScimError(await scim.Post("/Users/.search", new { schemas = new object[] { 42 } }), HttpStatusCode.BadRequest, "invalidValue");
        ShouldBeScimError(await scim.Post("/Users/.search", new { schemas = new[] { "urn:ietf:params:scim:api:messages:2.0:SearchRequest" }, attributes = new object[] { 1 } }),
            HttpStatusCode.BadRequest, "invalidValue");
    }

    [Fact]
    public async Task discovery_endpoints_describe_the_service()
    {
        var (_, scim, _, _) = await TenantWithScim();
        var config = (await scim.Get("/ServiceProviderConfig")).ShouldBe(HttpStatusCode.OK);
        config.Json.GetProperty("patch").GetProperty("supported").GetBoolean().ShouldBeTrue();
        config.Json.GetProperty("filter").GetProperty("maxResults").GetInt32().ShouldBe(1000);
        config.Json.GetProperty("etag").GetProperty("supported").GetBoolean().ShouldBeTrue();
        (await scim.Get("/ResourceTypes")).Json.GetProperty("Resources").EnumerateArray().Select(r => r.GetProperty("endpoint").GetString())
            .ShouldBe(["/Users", "/Groups"]);
        (await scim.Get("/Schemas")).Json.GetProperty("Resources").EnumerateArray().Select(r => r.GetProperty("id").GetString())
            .ShouldBe([UserUrn, GroupUrn, EnterpriseUrn]);
    }

    [Fact]
    public async Task a_tenants_scim_credential_never_reaches_another_tenants_directory()
    {
        var (a, scimA, _, _) = await TenantWithScim("agency-a");
        var (b, scimB, _, _) = await TenantWithScim("agency-b");
        var userOfB = (await scimB.Post("/Users", Barbara())).Str("id");
        (await scimA.Post("/Users", Barbara())).ShouldBe(HttpStatusCode.Created); // the same userName in another tenant is fine
        var intoB = new Scim(scimA.Client, $"/api/tenants/{b}/scim/v2");
        foreach (var reply in new[]
                 {
                     await intoB.Get("/Users"), await intoB.Get($"/Users/{userOfB}"), await intoB.Post("/Users", Barbara("x@y.z")),
                     await intoB.Delete($"/Users/{userOfB}"), await intoB.Get("/ServiceProviderConfig"),
                     await intoB.Patch($"/Users/{userOfB}", new { schemas = new[] { PatchUrn }, Operations = new[] { new { op = "remove", path = "title" } } }),
                 })
            ShouldBeScimError(reply, HttpStatusCode.NotFound);
        // Within its own tenant, B's user is invisible to A: ids do not leak across.
        ShouldBeScimError(await scimA.Get($"/Users/{userOfB}"), HttpStatusCode.NotFound);
        (await scimA.Get("/Users")).Json.GetProperty("totalResults").GetInt32().ShouldBe(1);
        (await scimB.Get($"/Users/{userOfB}")).ShouldBe(HttpStatusCode.OK);
        _ = a;
    }

    [Fact]
    public async Task credentials_scope_and_revocation_are_enforced()
    {
        var (tenant, scim, client, secret) = await TenantWithScim();
        // An access token of the same account works too (scope scim.provision); a token without the scope does not.
        using var form = new FormUrlEncodedContent(new Dictionary<string, string>
            { ["grant_type"] = "client_credentials", ["client_id"] = client.ToString(), ["client_secret"] = secret });
        var token = JsonDocument.Parse(await (await Fixture.Client().PostAsync("/oauth2/token", form)).Content.ReadAsStringAsync()).RootElement
            .GetProperty("access_token").GetString()!;
        (await new Scim(Fixture.Client(token), scim.Base).Get("/Users")).ShouldBe(HttpStatusCode.OK);
        var reader = (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts", new { name = "reader", scopes = new[] { "org.read" } })).Json;
        using var readerForm = new FormUrlEncodedContent(new Dictionary<string, string>
            { ["grant_type"] = "client_credentials", ["client_id"] = reader.GetProperty("clientId").GetString()!, ["client_secret"] = reader.GetProperty("clientSecret").GetString()! });
        var readerToken = JsonDocument.Parse(await (await Fixture.Client().PostAsync("/oauth2/token", readerForm)).Content.ReadAsStringAsync()).RootElement
            .GetProperty("access_token").GetString()!;
        ShouldBeScimError(await new Scim(Fixture.Client(readerToken), scim.Base).Get("/Users"), HttpStatusCode.Forbidden);
        ShouldBeScimError(await new Scim(Fixture.Client(), scim.Base).Get("/Users"), HttpStatusCode.Unauthorized);
        ShouldBeScimError(await new Scim(Fixture.Client("tescim." + client.ToString("N") + ".tes_wrongwrongwrong"), scim.Base).Get("/Users"), HttpStatusCode.Unauthorized);

        // A rotated secret ends the old SCIM credential at once; the new one works.
        (await scim.Get("/Users")).ShouldBe(HttpStatusCode.OK);
        var rotated = (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts/{client}/secret")).ShouldBe(HttpStatusCode.OK);
        ShouldBeScimError(await scim.Get("/Users"), HttpStatusCode.Unauthorized);
        var renewed = new Scim(Fixture.Client(rotated.Str("scimToken")), scim.Base);
        (await renewed.Get("/Users")).ShouldBe(HttpStatusCode.OK);
        // Disabled: stopped at once.
        (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts/{client}/disable")).ShouldBe(HttpStatusCode.OK);
        ShouldBeScimError(await renewed.Get("/Users"), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task another_instance_catches_up_with_changes_and_deletions()
    {
        var (tenant, scim, _, _) = await TenantWithScim();
        // A second instance's view of the directory, over the same database.
        var other = new TenantEvents.Scim.ScimStore(Fixture.Host.Services.GetRequiredService<TenantEvents.Tenants.TenantStreams>(),
            Fixture.Host.Services.GetRequiredService<TenantEvents.Quotas.QuotaLedger>());
        var first = (await scim.Post("/Users", Barbara("first@example.com", "first"))).Str("id");
        var second = (await scim.Post("/Users", Barbara("second@example.com", "second"))).Str("id");
        (await other.ReadAsync(tenant, s => s.Users.Count, CancellationToken.None)).ShouldBe(2);

        (await scim.Delete($"/Users/{first}")).Status.ShouldBe(HttpStatusCode.NoContent);
        (await scim.Patch($"/Users/{second}", new { schemas = new[] { PatchUrn }, Operations = new[] { new { op = "replace", path = "title", value = "Chief" } } }))
            .ShouldBe(HttpStatusCode.OK);
        (await scim.Post("/Users", Barbara("third@example.com", "third"))).ShouldBe(HttpStatusCode.Created);

        var seen = await other.ReadAsync(tenant, s => s.Users.Values.Select(u => (u.Text("userName"), u.Text("title"))).OrderBy(x => x.Item1).ToList(),
            CancellationToken.None);
        seen.ShouldBe([("second@example.com", "Chief"), ("third@example.com", "Tour Guide")]);
        (await other.ReadAsync(tenant, s => s.UserNamed("first@example.com"), CancellationToken.None)).ShouldBeNull();
    }

    [Fact]
    public async Task personal_data_is_sealed_at_rest()
    {
        var (_, scim, _, _) = await TenantWithScim();
        (await scim.Post("/Users", Barbara("unmistakable.name@example.com"))).ShouldBe(HttpStatusCode.Created);
        foreach (var (_, _, connectionString) in await TestDatabase.Databases())
        {
            await using var connection = new Npgsql.NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var dump = new Npgsql.NpgsqlCommand(
                "select coalesce(string_agg(encode(ciphertext, 'escape'), ''), '') from tenantevents.scim_resources union all select coalesce(string_agg(data::text, ''), '') from tenantevents.mt_events",
                connection);
            await using var reader = await dump.ExecuteReaderAsync();
            while (await reader.ReadAsync()) reader.GetString(0).ShouldNotContain("unmistakable");
        }
    }
}
