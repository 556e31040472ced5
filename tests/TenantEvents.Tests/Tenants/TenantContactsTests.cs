using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Wolverine.Tracking;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Tenants;

/// <summary>PUT /api/tenants/{id}/contacts: the tenant's contacts replaced as a whole, each person sealed under their own key.</summary>
public class TenantContactsTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private static object Contacts(params (string Name, string Email)[] people) =>
        new { contacts = people.Select(p => new { name = p.Name, email = p.Email, role = "liaison" }).ToArray() };

    private static async Task<long> SubjectKeys(Guid tenant)
    {
        await using var owner = new NpgsqlConnection(TestDatabase.OwnerConnectionString);
        await owner.OpenAsync();
        await using var count = new NpgsqlCommand("select count(*) from tenantevents.subject_data_keys where tenant_id = @t", owner);
        count.Parameters.AddWithValue("t", tenant.ToString());
        return (long)(await count.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task the_tenant_admin_replaces_the_contacts_and_a_person_named_again_keeps_their_subject_and_key()
    {
        var tenant = await Active();
        var sally = (await Read(tenant)).Json.GetProperty("contacts")[0].GetProperty("subjectId").GetGuid();
        var admin = TenantAdminOf(tenant);

        // Sally again (her address in other case), and Noor new; a subject id sent by the client is not taken.
        var reply = (await admin.Put($"/api/tenants/{tenant}/contacts", new
        {
            contacts = new object[]
            {
                new { name = "Sally Hemphill", email = "SALLY@travis.example.gov", role = "sheriff" },
                new { name = "Noor Haddad", email = "noor.haddad@travis.example.gov", role = "records", subjectId = sally },
            },
        })).ShouldBe(HttpStatusCode.OK);
        var contacts = reply.Json.GetProperty("contacts");
        contacts.GetArrayLength().ShouldBe(2);
        contacts[0].GetProperty("subjectId").GetGuid().ShouldBe(sally);
        var noor = contacts[1].GetProperty("subjectId").GetGuid();
        noor.ShouldNotBe(sally);
        contacts[1].GetProperty("email").GetString().ShouldBe("noor.haddad@travis.example.gov");
        (await SubjectKeys(tenant)).ShouldBe(2);
        (await Read(tenant)).Body.ShouldContain("Noor Haddad");

        // Stored sealed under Noor's own key: the event row holds neither her name nor her address.
        await using (var owner = new NpgsqlConnection(TestDatabase.OwnerConnectionString))
        {
            await owner.OpenAsync();
            await using var find = new NpgsqlCommand(
                "select count(*) from tenantevents.mt_events where tenant_id = @t and type = 'tenant_contacts_replaced' and data::text not like '%noor%' and data::text not like '%Noor%'", owner);
            find.Parameters.AddWithValue("t", tenant.ToString());
            ((long)(await find.ExecuteScalarAsync())!).ShouldBe(1);
        }

        // The same list again changes nothing; a stale If-Match is refused.
        var version = reply.ETag;
        (await admin.Put($"/api/tenants/{tenant}/contacts", new
        {
            contacts = new[] { new { name = "Sally Hemphill", email = "SALLY@travis.example.gov", role = "sheriff" }, new { name = "Noor Haddad", email = "noor.haddad@travis.example.gov", role = "records" } },
        })).ShouldBe(HttpStatusCode.OK).ETag.ShouldBe(version);
        (await admin.Put($"/api/tenants/{tenant}/contacts", Contacts(("Late", "late@travis.example.gov")), new Dictionary<string, string> { ["If-Match"] = "\"1\"" }))
            .Status.ShouldBe(HttpStatusCode.PreconditionFailed);

        // Sally left out of the list is a former contact: still erasable, which destroys her key.
        (await admin.Put($"/api/tenants/{tenant}/contacts", Contacts(("Noor Haddad", "noor.haddad@travis.example.gov")))).ShouldBe(HttpStatusCode.OK);
        var keys = await SubjectKeys(tenant);
        Reply erased = null!;
        await Fixture.Host.ExecuteAndWaitAsync(async () => { erased = await admin.Post($"/api/tenants/{tenant}/contacts/{sally}/erase"); });
        erased.ShouldBe(HttpStatusCode.OK);
        (await SubjectKeys(tenant)).ShouldBe(keys - 1);
        (await Fixture.Host.Services.GetRequiredService<TenantEvents.Keys.TenantKeyRing>().SubjectKeyAsync(tenant, sally, create: false, CancellationToken.None))
            .ShouldBeNull();
        (await admin.Post($"/api/tenants/{tenant}/contacts/{Guid.NewGuid()}/erase")).ShouldBeProblem(HttpStatusCode.Conflict, "unknown-contact");

        // Erased, then named again by the same address: a new person to the service (erasure is not undone).
        (await admin.Post($"/api/tenants/{tenant}/contacts/{noor}/erase")).ShouldBe(HttpStatusCode.OK);
        var again = (await admin.Put($"/api/tenants/{tenant}/contacts", Contacts(("Noor Haddad", "noor.haddad@travis.example.gov")))).ShouldBe(HttpStatusCode.OK);
        again.Json.GetProperty("contacts")[0].GetProperty("subjectId").GetGuid().ShouldNotBeOneOf(noor, sally);
    }

    [Fact]
    public async Task bad_contacts_are_refused_naming_the_field_and_change_nothing()
    {
        var tenant = await Active();
        var before = await Read(tenant);
        var admin = TenantAdminOf(tenant);
        (await admin.Put($"/api/tenants/{tenant}/contacts", new { contacts = Array.Empty<object>() }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Body.ShouldContain("\"contacts\"");
        (await admin.Put($"/api/tenants/{tenant}/contacts", Contacts(("Noor", "not-an-address"))))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Body.ShouldContain("contacts[0].email");
        (await admin.Put($"/api/tenants/{tenant}/contacts", Contacts(Enumerable.Range(0, 21).Select(i => ($"P{i}", $"p{i}@travis.example.gov")).ToArray())))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Put($"/api/tenants/{tenant}/contacts", null)).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Put($"/api/tenants/{tenant}/contacts", Contacts(("Noor", "noor@travis.example.gov"), ("Noor H.", "NOOR@travis.example.gov"))))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Body.ShouldContain("contacts[1].email");
        (await Read(tenant)).Body.ShouldBe(before.Body);
    }

    /// <summary>
    /// From the attacker's side: another tenant's administrator and a member without identity.manage see nothing to change;
    /// a member granted identity.manage at the root may; a member reading the trail with audit.read only gets the new
    /// contacts withheld (people's data is identity's).
    /// </summary>
    [Fact]
    public async Task only_who_may_manage_the_tenants_people_replaces_its_contacts_and_readers_of_the_trail_do_not_see_them()
    {
        var tenant = await Active();
        var other = await Active("state-police");
        var root = await RootOf(tenant);
        (await TenantAdminOf(other).Put($"/api/tenants/{tenant}/contacts", Contacts(("Mallory", "mallory@evil.example.com"))))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Member(tenant, "clerk").Put($"/api/tenants/{tenant}/contacts", Contacts(("Mallory", "mallory@evil.example.com"))))
            .Status.ShouldBeOneOf(HttpStatusCode.NotFound, HttpStatusCode.Forbidden);
        (await As(Roles.Auditor).Put($"/api/tenants/{tenant}/contacts", Contacts(("Mallory", "mallory@evil.example.com")))).Status.ShouldBe(HttpStatusCode.Forbidden);
        (await Read(tenant)).Body.ShouldNotContain("mallory@");

        var admin = TenantAdminOf(tenant);
        (await admin.Put($"/api/tenants/{tenant}/roles/people-officer", new { permissions = new[] { "identity.manage", "audit.read" } }))
            .ShouldBe(HttpStatusCode.OK);
        (await admin.Post($"/api/tenants/{tenant}/organisations/{root}/grants", new { principal = new { kind = "user", id = "olga" }, role = "people-officer" }))
            .ShouldBe(HttpStatusCode.Created);
        (await admin.Post($"/api/tenants/{tenant}/organisations/{root}/grants", new { principal = new { kind = "user", id = "clerk" }, role = "records-clerk" }))
            .ShouldBe(HttpStatusCode.Created);
        (await Member(tenant, "olga").Put($"/api/tenants/{tenant}/contacts", Contacts(("Noor Haddad", "noor.haddad@travis.example.gov"))))
            .ShouldBe(HttpStatusCode.OK);
        (await Member(tenant, "clerk").Put($"/api/tenants/{tenant}/contacts", Contacts(("Mallory", "mallory@evil.example.com"))))
            .Status.ShouldBeOneOf(HttpStatusCode.NotFound, HttpStatusCode.Forbidden);

        var history = (await Member(tenant, "clerk").Get($"/api/tenants/{tenant}/events")).ShouldBe(HttpStatusCode.OK);
        history.Body.ShouldContain("tenant_contacts_replaced");
        history.Body.ShouldNotContain("noor.haddad@");
        var trail = (await Member(tenant, "clerk").Get($"/api/tenants/{tenant}/audit/entries?type=tenant_contacts_replaced")).ShouldBe(HttpStatusCode.OK);
        trail.Body.ShouldNotContain("noor.haddad@");
        (await Member(tenant, "olga").Get($"/api/tenants/{tenant}/audit/entries?type=tenant_contacts_replaced")).ShouldBe(HttpStatusCode.OK)
            .Body.ShouldContain("noor.haddad@");
    }
}
