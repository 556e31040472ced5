using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using TenantEvents.Keys;
using TenantEvents.Tests.Support;
using Wolverine.Tracking;

namespace TenantEvents.Tests.Isolation;

/// <summary>GDPR Art. 17: one person erased, nothing else of the tenant touched.</summary>
public class ErasureTests(AppFixture fixture) : IntegrationTest(fixture)
{
    [Fact]
    public async Task erasing_one_contact_makes_their_data_unreadable_everywhere_and_leaves_the_rest()
    {
        var reply = (await Admin.Post("/api/tenants", new
        {
            name = "Erasure Agency", slug = "erasure-agency", template = "government-services",
            residency = new { country = "US" },
            contacts = new[]
            {
                new { name = "Erin Gone", email = "erin.gone@erasure.example.gov", subjectId = Guid.Empty },
                new { name = "Kim Kept", email = "kim.kept@erasure.example.gov", subjectId = Guid.Empty },
            },
        })).ShouldBe(HttpStatusCode.Created);
        var id = Guid.Parse(reply.Str("id"));
        var contacts = reply.Json.GetProperty("contacts");
        var erin = contacts[0].GetProperty("subjectId").GetGuid();
        erin.ShouldNotBe(Guid.Empty); // the service assigns subject ids; a client's are replaced
        await Approver.Post($"/api/tenants/{id}/approve");

        var (_, erased) = await Track(() => TenantAdminOf(id).Post($"/api/tenants/{id}/contacts/{erin}/erase"));
        erased.ShouldBe(HttpStatusCode.OK);

        var read = (await Read(id)).Body;
        read.ShouldNotContain("Erin Gone");
        read.ShouldNotContain("erin.gone@");
        read.ShouldContain("Kim Kept");
        read.ShouldContain("[erased]");

        // The past events were sealed under Erin's own key, which is gone: they now read as erased too.
        var events = (await As("auditor").Get($"/api/tenants/{id}/events")).ShouldBe(HttpStatusCode.OK).Body;
        events.ShouldNotContain("Erin Gone");
        events.ShouldContain("Kim Kept");
        events.ShouldContain("contact_erased");
        (await Admin.Get($"/api/tenants/{id}/export")).Body.ShouldNotContain("erin.gone@");

        await using var owner = new NpgsqlConnection(TestDatabase.OwnerConnectionString);
        await owner.OpenAsync();
        await using var count = new NpgsqlCommand("select count(*) from tenantevents.subject_data_keys where tenant_id = @t", owner);
        count.Parameters.AddWithValue("t", id.ToString());
        ((long)(await count.ExecuteScalarAsync())!).ShouldBe(1); // Kim's only

        // Again: nothing more to do; an unknown person: refused.
        (await Admin.Post($"/api/tenants/{id}/contacts/{erin}/erase")).ShouldBe(HttpStatusCode.OK);
        (await Admin.Post($"/api/tenants/{id}/contacts/{Guid.NewGuid()}/erase")).ShouldBeProblem(HttpStatusCode.Conflict, "unknown-contact");
        (await Admin.Post($"/api/tenants/{id}/provision")).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("active");
    }

    [Fact]
    public async Task a_contact_whose_name_looks_like_protected_data_is_still_protected_and_read_back_as_given()
    {
        const string name = "pd1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        var reply = (await Admin.Post("/api/tenants", new
        {
            name = "Prefix Agency", slug = "prefix-agency", template = "commercial-saas", residency = new { country = "US" },
            contacts = new[] { new { name, email = "prefix@agency.example.gov" } },
        })).ShouldBe(HttpStatusCode.Created);
        var id = Guid.Parse(reply.Str("id"));
        (await Read(id)).Json.GetProperty("contacts")[0].GetProperty("name").GetString().ShouldBe(name);
        (await As("auditor").Get($"/api/tenants/{id}/events")).ShouldBe(HttpStatusCode.OK).Body.ShouldContain(name);

        await using var owner = new NpgsqlConnection(TestDatabase.OwnerConnectionString);
        await owner.OpenAsync();
        await using var count = new NpgsqlCommand("select count(*) from tenantevents.subject_data_keys where tenant_id = @t", owner);
        count.Parameters.AddWithValue("t", id.ToString());
        ((long)(await count.ExecuteScalarAsync())!).ShouldBe(1); // sealed under the person's key like any other name
    }

    private async Task<(ITrackedSession, Reply)> Track(Func<Task<Reply>> action)
    {
        Reply reply = null!;
        var tracked = await Fixture.Host.ExecuteAndWaitAsync(async () => { reply = await action(); });
        return (tracked, reply);
    }
}
