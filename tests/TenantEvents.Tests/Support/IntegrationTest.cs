using System.Net;
using Marten;
using Npgsql;
using Wolverine.Marten;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tests.Support;

/// <summary>Base of the HTTP tests: the shared host, a clean database per test, and a few well-named steps.</summary>
[Collection(IntegrationCollection.Name)]
public abstract class IntegrationTest(AppFixture fixture) : IAsyncLifetime
{
    protected AppFixture Fixture { get; } = fixture;

    protected HttpClient Admin => Fixture.Client(Fixture.Token(Roles.PlatformAdmin, "alice"));
    protected HttpClient Approver => Fixture.Client(Fixture.Token(Roles.PlatformApprover, "bob"));
    protected HttpClient As(string role, string subject = "someone", Guid? tenant = null) => Fixture.Client(Fixture.Token(role, subject, tenant));
    protected HttpClient TenantAdminOf(Guid tenant) => As(Roles.TenantAdmin, "tenant-admin-" + tenant.ToString()[..8], tenant);
    /// <summary>A tenant member (what its grants give it, nothing by role), optionally in identity-provider groups.</summary>
    protected HttpClient Member(Guid tenant, string subject, params string[] groups) =>
        Fixture.Client(DevTokens.Issue(Fixture.TokenKey, subject, [Roles.TenantMember], tenant, TimeSpan.FromMinutes(30), DateTime.UtcNow, groups));

    public async Task InitializeAsync()
    {
        await TestDatabase.Reset();
        Fixture.Time.SetUtcNow(new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero));
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public static object TenantRequest(string slug = "travis-sheriff", string template = "law-enforcement", string country = "US",
        string? subdivision = "US-TX", string name = "Travis County Sheriff", object? overrides = null) => new
    {
        name,
        slug,
        template,
        residency = new { country, subdivision },
        contacts = new[] { new { name = "Sally Hemphill", email = "sally@travis.example.gov", role = "sheriff" } },
        overrides,
    };

    protected async Task<Guid> Requested(string slug = "travis-sheriff", string template = "law-enforcement", string country = "US",
        string? subdivision = "US-TX")
    {
        var reply = (await Admin.Post("/api/tenants", TenantRequest(slug, template, country, subdivision))).ShouldBe(HttpStatusCode.Created);
        return Guid.Parse(reply.Str("id"));
    }

    protected async Task<Guid> Approved(string slug = "travis-sheriff", string template = "law-enforcement", string country = "US",
        string? subdivision = "US-TX")
    {
        var id = await Requested(slug, template, country, subdivision);
        (await Approver.Post($"/api/tenants/{id}/approve")).ShouldBe(HttpStatusCode.OK);
        return id;
    }

    protected async Task<Guid> Active(string slug = "travis-sheriff", string template = "law-enforcement", string country = "US",
        string? subdivision = "US-TX")
    {
        var id = await Approved(slug, template, country, subdivision);
        (await Admin.Post($"/api/tenants/{id}/provision")).ShouldBe(HttpStatusCode.OK);
        return id;
    }

    /// <summary>An active tenant with these quota settings (a platform administrator's settings change).</summary>
    protected async Task<Guid> ActiveWithQuotas(object quotas, string slug = "travis-sheriff")
    {
        var tenant = await Active(slug);
        (await Admin.Patch($"/api/tenants/{tenant}/settings", new { quotas })).ShouldBe(HttpStatusCode.OK);
        return tenant;
    }

    /// <summary>The tenant's root organisation (from provisioning).</summary>
    protected async Task<Guid> RootOf(Guid tenant) =>
        (await Read(tenant)).Json.GetProperty("organisations").EnumerateArray()
            .Single(o => !o.TryGetProperty("parentId", out var p) || p.ValueKind == System.Text.Json.JsonValueKind.Null).GetProperty("id").GetGuid();

    protected async Task<Reply> Read(Guid id) => (await Admin.Get($"/api/tenants/{id}")).ShouldBe(HttpStatusCode.OK);

    /// <summary>
    /// Events stored (in every database of the platform), of all tenants, of one tenant's own stream, or with
    /// <paramref name="everyStream"/> of all its streams (organisations, domains, ...).
    /// </summary>
    protected static async Task<long> EventCount(Guid? tenant = null, bool everyStream = false)
    {
        long total = 0;
        foreach (var (_, _, connectionString) in await TestDatabase.Databases())
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                // Marten writes "tombstone" rows for appends that failed, to keep the sequence gap-free; they are not events.
                tenant is null
                    ? "select count(*) from tenantevents.mt_events where type <> 'tombstone'"
                    : everyStream
                        ? "select count(*) from tenantevents.mt_events where type <> 'tombstone' and tenant_id = @id"
                        : "select count(*) from tenantevents.mt_events where type <> 'tombstone' and stream_id = @id", connection);
            if (tenant is not null) command.Parameters.AddWithValue("id", everyStream ? tenant.Value.ToString() : tenant.Value);
            total += (long)(await command.ExecuteScalarAsync())!;
        }
        return total;
    }
}
