using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tests.Support;

/// <summary>
/// Clients of service processes, at one address (a process, or a proxy in front of several), with development tokens
/// signed by the processes' data folder; and the step most of their tests begin with, an active tenant.
/// </summary>
public sealed class ProcessClients(Uri address, string dataFolder)
{
    public HttpClient As(string role, Guid? tenant = null)
    {
        var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ServiceProcess.Token(dataFolder, role, role + "-1", tenant));
        return client;
    }

    /// <summary>A tenant requested, approved (by someone else) and provisioned; its id and its root organisation's.</summary>
    public async Task<(Guid Tenant, Guid Root)> ActiveTenantAsync(string slug, string country = "US", string? subdivision = "US-TX",
        string template = "law-enforcement")
    {
        var tenant = Guid.Parse((await As(Roles.PlatformAdmin).Post("/api/tenants", IntegrationTest.TenantRequest(slug, template, country, subdivision)))
            .ShouldBe(HttpStatusCode.Created).Str("id"));
        (await As(Roles.PlatformApprover).Post($"/api/tenants/{tenant}/approve")).ShouldBe(HttpStatusCode.OK);
        (await As(Roles.PlatformAdmin).Post($"/api/tenants/{tenant}/provision")).ShouldBe(HttpStatusCode.OK);
        return (tenant, await RootAsync(tenant));
    }

    public async Task<Guid> RootAsync(Guid tenant) =>
        (await As(Roles.PlatformAdmin).Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("organisations").EnumerateArray()
        .Single(o => !o.TryGetProperty("parentId", out var p) || p.ValueKind == JsonValueKind.Null).GetProperty("id").GetGuid();
}
