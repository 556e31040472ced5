using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Identity;

/// <summary>
/// Platform staff signed in at the platform's own OpenID provider (a real provider process, tests/idp): their groups
/// map to platform roles and to nothing else; a group mapped to nothing, another audience, another key or another
/// issuer gets 401; no tenant can register the staff's issuer; the console's sign-in page offers the provider.
/// </summary>
public class PlatformStaffTests
{
    private const string Audience = "tenantevents-staff";

    [Fact]
    public async Task staff_groups_confer_the_mapped_platform_roles_and_nothing_else()
    {
        await using var staffIdp = await TestIdentityProvider.StartAsync();
        await using var impostor = await TestIdentityProvider.StartAsync();
        var db = await ServiceProcess.FreshDatabaseAsync("tenantevents_test_staff");
        var folder = Directory.CreateTempSubdirectory("tenantevents-staff-").FullName;
        await using var service = await ServiceProcess.StartAsync(db, folder, new Dictionary<string, string>
        {
            ["TenantEvents:AllowInsecureIdentityProviders"] = "true",
            ["TenantEvents:PlatformIdentityProvider:Issuer"] = staffIdp.Issuer,
            ["TenantEvents:PlatformIdentityProvider:Audience"] = Audience,
            ["TenantEvents:PlatformIdentityProvider:Roles:platform-operators"] = "platform-admin, platform-approver",
            ["TenantEvents:PlatformIdentityProvider:Roles:internal-audit"] = "auditor",
        });
        HttpClient As(string token) => service.Client(token);
        var request = new
        {
            name = "Staff County", slug = "staff-county", template = "law-enforcement", residency = new { country = "US", subdivision = "US-TX" },
            contacts = new[] { new { name = "Lee Park", email = "lee@staff.example.gov", role = "sheriff" } },
        };

        var operatorToken = await staffIdp.UserTokenAsync("olga", Audience, ["platform-operators", "unrelated"]);
        (await As(operatorToken).GetAsync("/api/tenants")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var created = await As(operatorToken).PostAsJsonAsync("/api/tenants", request);
        created.StatusCode.ShouldBe(HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        var body = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement;
        var tenant = body.GetProperty("id").GetGuid();
        // Recorded as who she is at the provider.
        body.GetProperty("requestedBy").GetProperty("subject").GetString().ShouldBe("olga");

        var auditorToken = await staffIdp.UserTokenAsync("ian", Audience, ["internal-audit"]);
        (await As(auditorToken).GetAsync($"/api/tenants/{tenant}/events")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await As(auditorToken).PostAsJsonAsync("/api/tenants", request)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await As(auditorToken).PostAsJsonAsync($"/api/tenants/{tenant}/approve", new { })).StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        // Refused: groups that map to nothing, no groups, another audience, the right claims signed by another key under
        // the same issuer name, and a tenant role named in a claim (roles come from the mapping only).
        foreach (var refused in new[]
                 {
                     await staffIdp.UserTokenAsync("nina", Audience, ["staff"]),
                     await staffIdp.UserTokenAsync("nina", Audience),
                     await staffIdp.UserTokenAsync("olga", "another-audience", ["platform-operators"]),
                     await impostor.TokenAsync(new Dictionary<string, object?> { ["iss"] = staffIdp.Issuer, ["sub"] = "olga", ["aud"] = Audience, ["groups"] = new[] { "platform-operators" } }),
                     await staffIdp.TokenAsync(new Dictionary<string, object?> { ["sub"] = "eve", ["aud"] = Audience, ["role"] = new[] { "platform-admin" }, ["groups"] = Array.Empty<string>() }),
                 })
            (await As(refused).GetAsync("/api/tenants")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        // No tenant may take the staff's issuer for its own users.
        var approver = ServiceProcess.Token(folder, "platform-approver", "bob");
        (await As(approver).PostAsJsonAsync($"/api/tenants/{tenant}/approve", new { })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await As(operatorToken).PostAsJsonAsync($"/api/tenants/{tenant}/provision", new { })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var admin = ServiceProcess.Token(folder, "tenant-admin", "sally", tenant);
        var taken = await As(admin).PutAsJsonAsync($"/api/tenants/{tenant}/identity-provider", new { issuer = staffIdp.Issuer, audience = "x" });
        taken.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await taken.Content.ReadAsStringAsync()).ShouldContain("reserved-issuer");

        // The console's sign-in page offers the staff's provider (its client id is the audience).
        var options = await (await service.Client(null).GetAsync("/api/console/sign-in")).Content.ReadFromJsonAsync<JsonElement>();
        options.GetProperty("platform").GetProperty("issuer").GetString().ShouldBe(staffIdp.Issuer);
        options.GetProperty("platform").GetProperty("clientId").GetString().ShouldBe(Audience);
    }

    [Fact]
    public void the_staff_algorithms_set_replace_the_defaults_instead_of_adding_to_them()
    {
        static TenantEvents.Infrastructure.TenantEventsOptions With(Dictionary<string, string?> settings) =>
            TenantEvents.Infrastructure.TenantEventsOptions.From(new Microsoft.Extensions.Configuration.ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        var staff = new Dictionary<string, string?>
        {
            ["TenantEvents:PlatformIdentityProvider:Issuer"] = "https://login.example.gov",
            ["TenantEvents:PlatformIdentityProvider:Audience"] = Audience,
            ["TenantEvents:PlatformIdentityProvider:Roles:ops"] = "platform-admin",
        };
        With(staff).PlatformIdentityProvider.Algorithms.ShouldBe(["RS256", "PS256", "ES256"]);
        staff["TenantEvents:PlatformIdentityProvider:Algorithms:0"] = "ES256";
        With(staff).PlatformIdentityProvider.Algorithms.ShouldBe(["ES256"]);
    }

    [Fact]
    public async Task a_staff_provider_mapping_to_a_tenant_role_does_not_start()
    {
        var db = await ServiceProcess.FreshDatabaseAsync("tenantevents_test_staff_bad", migrate: false);
        var (exit, output) = await ServiceProcess.CommandAsync(db, ["migrate"], new Dictionary<string, string>
        {
            ["TenantEvents:PlatformIdentityProvider:Issuer"] = "https://login.example.gov",
            ["TenantEvents:PlatformIdentityProvider:Audience"] = Audience,
            ["TenantEvents:PlatformIdentityProvider:Roles:helpdesk"] = "tenant-admin",
        });
        exit.ShouldNotBe(0);
        output.ShouldContain("tenant-admin not a platform role");
    }
}
