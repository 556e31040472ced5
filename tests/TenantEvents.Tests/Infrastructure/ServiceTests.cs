using System.Net;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Infrastructure;

public class ServiceTests(AppFixture fixture) : IntegrationTest(fixture)
{
    [Fact]
    public async Task liveness_and_readiness_answer_without_a_token()
    {
        (await Fixture.Client().Get("/health/live")).ShouldBe(HttpStatusCode.OK).Body.ShouldBe("Healthy");
        (await Fixture.Client().Get("/health/ready")).ShouldBe(HttpStatusCode.OK).Body.ShouldBe("Healthy");
    }

    [Fact]
    public async Task the_openapi_document_describes_every_tenant_operation()
    {
        var doc = (await Fixture.Client().Get("/openapi/v1.json")).ShouldBe(HttpStatusCode.OK).Json;
        var operations = doc.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject().Where(o => o.Value.TryGetProperty("operationId", out _)).Select(o => o.Value.GetProperty("operationId").GetString()))
            .ToList();
        operations.ShouldContain("RequestTenant");
        operations.ShouldContain("ApproveTenant");
        operations.ShouldContain("ListTenants");
        operations.ShouldContain("ReceiveProvisioningWebhook");
        operations.Count.ShouldBeGreaterThanOrEqualTo(23);

        string Schema(string path, string method, string status) => doc.GetProperty("paths").GetProperty(path).GetProperty(method)
            .GetProperty("responses").GetProperty(status).GetProperty("content").EnumerateObject().Single().Value
            .GetProperty("schema").GetProperty("$ref").GetString()!;
        Schema("/api/tenants", "post", "201").ShouldEndWith("/Tenant");
        Schema("/api/tenants/{tenantId}/approve", "post", "200").ShouldEndWith("/Tenant");
        Schema("/api/tenants/{tenantId}/approve", "post", "409").ShouldEndWith("/Problem");
        Schema("/api/tenants/{tenantId}/suspend", "post", "412").ShouldEndWith("/Problem");
        Schema("/api/tenants", "get", "200").ShouldEndWith("/TenantPage");
        Schema("/api/tenants/{tenantId}/organisations", "post", "201").ShouldEndWith("/OrganisationView");
        Schema("/api/tenants/{tenantId}/organisations/{orgId}", "get", "200").ShouldEndWith("/OrganisationView");
        Schema("/api/tenants/{tenantId}/organisations/{orgId}/descendants", "get", "200").ShouldEndWith("/OrganisationPage");
        Schema("/api/tenants/{tenantId}/access/explain", "get", "200").ShouldEndWith("/AccessAnswer");
        Schema("/api/tenants/{tenantId}/organisations/{orgId}/move", "post", "409").ShouldEndWith("/Problem");
        operations.ShouldContain("CheckAccess");
        operations.ShouldContain("SetPolicy");
        Schema("/api/tenants/{tenantId}/keys/rotate", "post", "200").ShouldEndWith("/Tenant");
        Schema("/api/tenants/{tenantId}", "get", "200").ShouldEndWith("/Tenant");
        // Other capabilities' routes under a tenant answer their own views, never the tenant (a client generated from the
        // document would otherwise read a webhook list as a tenant).
        foreach (var (path, method) in new[] { ("/api/tenants/{tenantId}/webhooks", "get"), ("/api/tenants/{tenantId}/quotas", "get"),
                     ("/api/tenants/{tenantId}/service-accounts", "post"), ("/api/tenants/{tenantId}/audit/entries", "get"),
                     ("/api/tenants/{tenantId}/analytics/health", "get"), ("/api/tenants/{tenantId}/sharing/agreements", "get") })
        {
            var ok = doc.GetProperty("paths").GetProperty(path).GetProperty(method).GetProperty("responses").GetProperty("200");
            (ok.TryGetProperty("content", out var content) ? content.GetRawText() : "").ShouldNotContain("/Tenant\"", customMessage: $"{method} {path}");
        }
    }

    [Fact]
    public async Task an_unsupported_method_is_a_problem_not_a_blank_page()
    {
        (await Admin.Send(HttpMethod.Delete, "/api/tenants")).ShouldBeProblem(HttpStatusCode.MethodNotAllowed, "method-not-allowed");
    }
}

/// <summary>The same service in the Production environment: development tokens are forgeries there.</summary>
public class ProductionFixture : AppFixture
{
    protected override string Environment => "Production";
}

[CollectionDefinition("production")]
public class ProductionCollection : ICollectionFixture<ProductionFixture>;

[Collection("production")]
public class ProductionTests(ProductionFixture fixture)
{
    [Fact]
    public async Task development_tokens_are_refused_outside_development()
    {
        var admin = fixture.Client(fixture.Token("platform-admin", "alice"));
        (await admin.Get("/api/tenants")).ShouldBeProblem(HttpStatusCode.Unauthorized, "unauthenticated");
        (await fixture.Client().Get("/health/ready")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public void the_dev_token_command_refuses_outside_development()
    {
        var previous = System.Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT");
        System.Environment.SetEnvironmentVariable("ASPNETCORE_ENVIRONMENT", "Production");
        try
        {
            TenantEvents.Infrastructure.Security.DevTokenCommand.Run(["--role", "platform-admin"]).ShouldBe(2);
        }
        finally
        {
            System.Environment.SetEnvironmentVariable("ASPNETCORE_ENVIRONMENT", previous);
        }
    }
}
