using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Manifests;

/// <summary>
/// Bulk import: organisations, members and grants from a CSV in one call, decided as a manifest is (all or nothing, as
/// the caller), with errors by CSV line; and from the other side.
/// </summary>
public class ImportCsvTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private static async Task<Reply> Import(HttpClient client, Guid tenant, string csv, bool dryRun = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/tenants/{tenant}/import" + (dryRun ? "?dryRun=true" : ""))
        {
            Content = new StringContent(csv, Encoding.UTF8, "text/csv"),
        };
        using var response = await client.SendAsync(request);
        return new Reply(response.StatusCode, response.Headers, response.Content.Headers, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Three organisations (one under another), 600 people members of them, a grant to each group.</summary>
    private static string Csv()
    {
        var csv = new StringBuilder("organisation,kind,member,principal,role\r\n");
        csv.Append("/Travis County Sheriff/Lake Patrol,unit,,,\r\n");
        csv.Append("/Travis County Sheriff/Lake Patrol/Dive Team,unit,,group:divers,investigator\r\n");
        csv.Append("\"/Travis County Sheriff/Courts, Warrants\",department,,,\r\n");
        for (var i = 0; i < 600; i++)
            csv.Append((i % 3) switch
            {
                0 => "/Travis County Sheriff/Lake Patrol",
                1 => "/Travis County Sheriff/Lake Patrol/Dive Team",
                _ => "\"/Travis County Sheriff/Courts, Warrants\"",
            }).Append($",,deputy-{i:D3},,\r\n");
        return csv.ToString();
    }

    [Fact]
    public async Task six_hundred_people_three_organisations_and_a_grant_are_one_call_and_a_dry_run_writes_nothing()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        var events = await EventCount(tenant, everyStream: true);

        var plan = (await Import(admin, tenant, Csv(), dryRun: true)).ShouldBe(HttpStatusCode.OK);
        plan.Json.GetProperty("summary").GetProperty("create").GetInt32().ShouldBe(3 + 600 + 1);
        (await EventCount(tenant, everyStream: true)).ShouldBe(events);

        var imported = (await Import(admin, tenant, Csv())).ShouldBe(HttpStatusCode.OK);
        imported.Json.GetProperty("rows").GetInt32().ShouldBe(603);
        var orgs = (await admin.Get($"/api/tenants/{tenant}/organisations?limit=200")).Json.GetProperty("items").EnumerateArray()
            .ToDictionary(o => o.GetProperty("name").GetString()!, o => o.GetProperty("id").GetGuid());
        var dive = orgs["Dive Team"];
        (await admin.Get($"/api/tenants/{tenant}/organisations/{dive}")).Json.GetProperty("parentId").GetGuid().ShouldBe(orgs["Lake Patrol"]);
        (await admin.Get($"/api/tenants/{tenant}/organisations/{orgs["Courts, Warrants"]}/members?limit=200")).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("items").GetArrayLength().ShouldBe(200);
        (await admin.Get($"/api/tenants/{tenant}/organisations/{dive}/grants")).Json.GetProperty("items")[0].GetProperty("role").GetString().ShouldBe("investigator");
        // An import is applied, not recorded as the tenant's manifest.
        (await Fixture.Host.Services.GetRequiredService<TenantEvents.Manifests.ManifestService>().LoadRecordAsync(tenant, CancellationToken.None)).ShouldBeNull();
        // The same file again changes nothing.
        (await Import(admin, tenant, Csv(), dryRun: true)).ShouldBe(HttpStatusCode.OK).Json.GetProperty("changes").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task an_error_names_its_csv_line_and_nothing_is_written()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        var events = await EventCount(tenant, everyStream: true);
        var csv = "organisation,kind,principal,role\n/Travis County Sheriff/Lake Patrol,unit,,\n/Travis County Sheriff/Lake Patrol,,group:divers,no-such-role\n";
        var refused = (await Import(admin, tenant, csv)).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        refused.Json.GetProperty("errors")[0].GetProperty("field").GetString().ShouldBe("line 3");
        // A new organisation without a kind, on line 2.
        (await Import(admin, tenant, "organisation,member\n/Travis County Sheriff/Nowhere,deputy-1\n"))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Json.GetProperty("errors")[0].GetProperty("field").GetString()!.ShouldStartWith("line 2");
        (await Import(admin, tenant, "organisation,colour\n/Travis County Sheriff,blue\n")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed")
            .Body.ShouldContain("unknown-column");
        (await Import(admin, tenant, "organisation,kind\n/Travis County Sheriff/A,unit,extra\n")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed")
            .Body.ShouldContain("column-count");
        (await Import(admin, tenant, "")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Import(admin, tenant, "organisation,kind\n" + string.Concat(Enumerable.Repeat("/Travis County Sheriff/A,unit\n", 100_001))))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Body.ShouldContain("too-many-rows");
        (await Import(admin, tenant, "organisation,kind\n" + string.Concat(Enumerable.Repeat("/a", 20_000)) + ",unit\n"))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Body.ShouldContain("too-deep");
        (await EventCount(tenant, everyStream: true)).ShouldBe(events);
    }

    [Fact]
    public async Task an_import_goes_to_the_tenant_of_its_route_only()
    {
        // A request rejected gives its slug back; another tenant takes it. The rejected tenant's import reaches nobody.
        var rejected = await Requested("travis-sheriff");
        (await Approver.Post($"/api/tenants/{rejected}/reject", new { reason = "duplicate" })).ShouldBe(HttpStatusCode.OK);
        var taker = await Active("travis-sheriff");
        var events = await EventCount(taker, everyStream: true);
        (await Import(Admin, rejected, "organisation,kind\n/Travis County Sheriff/Planted,unit\n")).Status.ShouldBeOneOf(HttpStatusCode.Conflict, HttpStatusCode.Gone);
        (await EventCount(taker, everyStream: true)).ShouldBe(events);
    }

    [Fact]
    public async Task another_tenants_import_is_a_tenant_that_does_not_exist()
    {
        var a = await Active("travis-sheriff");
        var b = await Active("hays-sheriff");
        var events = await EventCount(b, everyStream: true);
        (await Import(TenantAdminOf(a), b, "organisation,kind\n/Hays County Sheriff/Stolen,unit\n")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Import(Member(b, "nobody"), b, "organisation,kind\n/Hays County Sheriff/Stolen,unit\n")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await EventCount(b, everyStream: true)).ShouldBe(events);
    }
}
